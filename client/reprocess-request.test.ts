import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidRequestError, TargetError } from '../common/errors';
import type { RunMetadata, RunStatus } from '../common/run-model';
import { validateFlowSpec } from '../flows/flow-spec';
import type { FlowVersion } from '../flows/flow-versions';
import { reprocessRequest, type ReprocessLookups } from './reprocess-request';

const version = (id: string, target: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): FlowVersion => {
  const [flow, v] = id.split(':v') as [string, string];
  return {
    id,
    flow,
    version: Number(v),
    contentHash: 'h',
    spec: validateFlowSpec({ name: flow, source: { connector: 'files' }, target: { connector: 'warehouse', table: flow, ...target }, fields: { id: { from: 'id', type: 'int64' } }, ...extra }),
    sourceText: '',
    sourceFile: null,
    createdAt: '2026-12-03T00:00:00Z',
  };
};

const metadata = (over: Partial<RunMetadata> = {}, runOver: Partial<RunMetadata['run']> = {}): RunMetadata => ({
  run: { id: 'movies-v1-aaaa', execution_id: 'exec-1', flow_version: 'movies:v1', source_path: 'movies.json', run_metadata: {}, ...runOver },
  status: 'PARTIAL_FAILED',
  rows: { read: 10, mapped: 7, rejected: 3, written: 7 },
  rejects: { location: 'warehouse:public.movies_rejects', by_rule: { 'rating:in': 3 } },
  steps: {},
  ...over,
});

const lookups = (runs: Record<string, { status: RunStatus; metadata?: RunMetadata }>, kinds: Record<string, string> = { warehouse: 'postgres' }): ReprocessLookups => {
  const versions = [version('movies:v1'), version('movies:v2'), version('other:v1'), version('movies:v3', { connector: 'lake' })];
  return {
    getRun: async (id) => {
      const run = runs[id];
      if (!run) throw new InvalidRequestError('RUN_NOT_FOUND', `no run ${id}`);
      return { status: run.status, metadata: run.metadata };
    },
    versions: { get: async (id) => versions.find((v) => v.id === id)! },
    connectorKind: (name) => kinds[name],
  };
};

const refusal = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TargetError || error instanceof InvalidRequestError);
    return { code: error.code, message: error.message };
  }
  throw new Error('not refused');
};

describe('reprocessRequest', () => {
  const loaded = { 'movies-v1-aaaa': { status: 'PARTIAL_FAILED' as const, metadata: metadata() } };

  it('names the earlier loaded execution and the original source_path', async () => {
    assert.deepEqual(await reprocessRequest(lookups(loaded), version('movies:v2'), 'movies-v1-aaaa'), {
      runId: 'movies-v1-aaaa',
      executionId: 'exec-1',
      flowVersion: 'movies:v1',
      sourcePath: 'movies.json',
    });
  });

  it('keeps the first source_path along a chain of reprocesses', async () => {
    const chain = {
      'movies-v2-bbbb': {
        status: 'PARTIAL_FAILED' as const,
        metadata: metadata(
          { rejects_of: { run_id: 'movies-v1-aaaa', execution_id: 'exec-1', flow_version: 'movies:v1', source_path: 'movies.json', recovered: 1, still_rejected: 2 } },
          { id: 'movies-v2-bbbb', execution_id: 'exec-2', flow_version: 'movies:v2', source_path: 'rejects-of:movies-v1-aaaa' },
        ),
      },
    };
    const ref = await reprocessRequest(lookups(chain), version('movies:v2'), 'movies-v2-bbbb');
    assert.deepEqual(ref, { runId: 'movies-v2-bbbb', executionId: 'exec-2', flowVersion: 'movies:v2', sourcePath: 'movies.json' });
  });

  it('refuses a run that does not exist, has not loaded, is a dry run or has no rejects', async () => {
    const runs = {
      running: { status: 'TRANSFORMING' as const, metadata: metadata({ status: 'TRANSFORMING' }) },
      failed: { status: 'FAILED' as const, metadata: metadata({ status: 'FAILED' }) },
      dry: { status: 'PARTIAL_FAILED' as const, metadata: metadata({ dry_run: true }) },
      clean: { status: 'SUCCEEDED' as const, metadata: metadata({ status: 'SUCCEEDED', rows: { read: 3, mapped: 3, rejected: 0, written: 3 } }) },
    };
    const v2 = version('movies:v2');
    assert.deepEqual(await refusal(reprocessRequest(lookups(runs), v2, 'nope')), { code: 'REJECTS_OF_INVALID', message: 'cannot reprocess the rejects of run nope: there is no run with that id' });
    assert.deepEqual(await refusal(reprocessRequest(lookups(runs), v2, 'running')), {
      code: 'REJECTS_OF_INVALID',
      message: 'cannot reprocess the rejects of run running: it is TRANSFORMING; only a run that loaded its target (SUCCEEDED or PARTIAL_FAILED) has rejects to reprocess',
    });
    assert.equal((await refusal(reprocessRequest(lookups(runs), v2, 'failed'))).code, 'REJECTS_OF_INVALID');
    assert.deepEqual(await refusal(reprocessRequest(lookups(runs), v2, 'dry')), { code: 'REJECTS_OF_INVALID', message: 'cannot reprocess the rejects of run dry: it is a dry run, which wrote no rejects' });
    assert.deepEqual(await refusal(reprocessRequest(lookups(runs), v2, 'clean')), { code: 'REJECTS_OF_INVALID', message: 'cannot reprocess the rejects of run clean: it has no rejects' });
    assert.deepEqual(await refusal(reprocessRequest(lookups(runs), v2, ' ')), { code: 'INVALID_SOURCE_PATH', message: 'rejects_of must be the id of an earlier run (e.g. movies-v1-8035273603c904cd)' });
  });

  it('refuses another flow, or another target connector', async () => {
    assert.deepEqual(await refusal(reprocessRequest(lookups(loaded), version('other:v1'), 'movies-v1-aaaa')), {
      code: 'REJECTS_OF_INVALID',
      message: 'cannot reprocess the rejects of run movies-v1-aaaa: it is a run of movies:v1, not of flow other; reprocess it with a version of movies',
    });
    const refused = await refusal(reprocessRequest(lookups(loaded, { warehouse: 'postgres', lake: 'mysql' }), version('movies:v3', { connector: 'lake' }), 'movies-v1-aaaa'));
    assert.equal(refused.code, 'REJECTS_OF_INVALID');
    assert.match(refused.message, /loaded into connector "warehouse", movies:v3 into "lake"/);
  });

  it('refuses an s3 target and a custom map as unsupported; a client without config leaves the kind to the worker', async () => {
    const s3 = await refusal(reprocessRequest(lookups(loaded, { warehouse: 's3' }), version('movies:v2'), 'movies-v1-aaaa'));
    assert.equal(s3.code, 'REJECTS_OF_UNSUPPORTED');
    assert.match(s3.message, /kind s3\); reprocessing rejects needs a target whose rejects are in a table the load resolves them in \(postgres, mysql\)/);
    const mapped = { ...version('movies:v2'), spec: { ...version('movies:v2').spec, transform: 'maps/movies.ts' } };
    assert.equal((await refusal(reprocessRequest(lookups(loaded), mapped, 'movies-v1-aaaa'))).code, 'REJECTS_OF_UNSUPPORTED');
    const noConfig = { ...lookups(loaded), connectorKind: () => undefined };
    assert.equal((await reprocessRequest(noConfig, version('movies:v2'), 'movies-v1-aaaa')).runId, 'movies-v1-aaaa');
  });
});
