/**
 * Unit tests of the client's rejects reader up to the connector: which runs have rejects to read, and which target
 * kinds can read them back. The run source and the target are plain objects (the reader's own small interfaces), so
 * no service is needed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunMetadata, RunStatus } from '../common/run-model';
import { loadConfig } from '../config/sluice-config';
import { parseFlowSpec } from '../flows/flow-spec';
import type { FlowVersionStore } from '../flows/flow-versions';
import { createLogger } from '../common/logger';
import type { TargetConnector } from '../connectors/connector';
import { RejectsReader, type RejectsRunSource } from './rejects';

const spec = parseFlowSpec(`
name: orders
source: { connector: files, format: csv }
target: { connector: shop, table: orders, write: append }
fields:
  id: { from: id, type: int64 }
`);

function metadata(status: RunStatus, location: string | null, error?: RunMetadata['error']): RunMetadata {
  return {
    run: { id: 'orders-v1-abc', execution_id: 'e1', flow_version: 'orders:v1', source_path: 'orders.csv', run_metadata: {} },
    status,
    rows: { read: 3, mapped: 2, rejected: 1, written: 2 },
    rejects: { location, by_rule: {} },
    steps: {},
    ...(error ? { error } : {}),
  };
}

function reader(status: RunStatus, meta: RunMetadata | undefined, targetOf?: (name: string) => TargetConnector): RejectsReader {
  const runs: RejectsRunSource = {
    getRun: async (id) => ({ id, status, metadata: meta }),
    flowVersions: async () => ({ get: async () => ({ spec }) }) as unknown as FlowVersionStore,
  };
  const config = { ...loadConfig({ projectDir: '/nonexistent', env: {} }), connectors: {} };
  return new RejectsReader(runs, { config, environment: 'dev', logger: createLogger('test', 'silent'), ...(targetOf ? { targetOf } : {}) });
}

describe('RejectsReader', () => {
  it('refuses a run that is still going, or ended before its load, with REJECTS_NOT_READY saying why', async () => {
    await assert.rejects(reader('TRANSFORMING', metadata('TRANSFORMING', null)).summary('orders-v1-abc'), {
      code: 'REJECTS_NOT_READY',
      message: 'run orders-v1-abc has no rejects to read: it is still TRANSFORMING; read its rejects once it has loaded its target',
    });
    await assert.rejects(reader('FAILED', metadata('FAILED', null, { code: 'SOURCE_NOT_FOUND', message: 'x', step: 'sync_source' })).list('orders-v1-abc'), {
      code: 'REJECTS_NOT_READY',
      message: 'run orders-v1-abc has no rejects to read: it ended FAILED (SOURCE_NOT_FOUND in sync_source) before loading its target, so it wrote no rejects',
    });
    await assert.rejects(reader('CREATED', undefined).list('orders-v1-abc'), { code: 'REJECTS_NOT_READY' });
  });

  it('refuses a target kind that cannot read rejects back with REJECTS_NOT_SUPPORTED', async () => {
    // A target kind without listRejects (every kind Sluice ships has it; a new kind may not yet).
    const plain: TargetConnector = { kind: 'warehouse9', check: async () => ({ ok: true, reason: 'ok' }), load: async () => assert.fail('not loaded') };
    const r = reader('PARTIAL_FAILED', metadata('PARTIAL_FAILED', 'shop:orders_rejects'), () => plain);
    try {
      await assert.rejects(r.list('orders-v1-abc'), {
        code: 'REJECTS_NOT_SUPPORTED',
        message:
          'run orders-v1-abc loaded into connector "shop" (kind warehouse9), whose rejects Sluice cannot read back yet; read them in shop:orders_rejects directly (postgres, s3 and mysql targets are supported)',
      });
    } finally {
      await r.close();
    }
  });

  it('answers no rejects for a loaded run that wrote nothing (no rejects location), and checks the page size first', async () => {
    const r = reader('SUCCEEDED', metadata('SUCCEEDED', null));
    assert.deepEqual(await r.list('orders-v1-abc'), { rows: [] });
    const summary = await r.summary('orders-v1-abc');
    assert.deepEqual(summary, { runId: 'orders-v1-abc', executionId: 'e1', flowVersion: 'orders:v1', status: 'SUCCEEDED', location: null, rowsRejected: 0, byFieldRule: [], topMessages: [] });
    await assert.rejects(r.list('orders-v1-abc', { limit: 0 }), { code: 'INVALID_LIMIT' });
  });
});
