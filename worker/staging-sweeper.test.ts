/**
 * The worker's hourly staging sweep is housekeeping's: on local staging and a local data store, a finished
 * execution past the window is deleted, but the `data.pipeline` scope of a run id that is in flight again stays.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pl from 'nodejs-polars';
import pino from 'pino';
import { loadConfig } from '../config/sluice-config';
import type { InFlightRun } from '../ops/housekeeping';
import { createDataStore } from '../storage/data-store';
import { LocalStaging } from '../storage/local-staging';
import { sweepStagingOnce } from './staging-sweeper';

const DAY = 86_400_000;
const logger = pino({ level: 'silent' });

describe('the worker staging sweep', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-staging-sweeper-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A project with `staging_days: 1`; `staged` stages an execution finished `daysAgo` days ago. */
  async function project(name: string) {
    const projectDir = path.join(dir, name);
    mkdirSync(projectDir);
    writeFileSync(path.join(projectDir, 'sluice.config.yaml'), 'retention: { staging_days: 1 }\n');
    const config = loadConfig({ projectDir, env: {} });
    const staging = new LocalStaging(config.staging.dir);
    const staged = async (runKey: string, daysAgo: number) => {
      await staging.writeParquet(pl.DataFrame({ a: [1] }), `${runKey}/mapped/part-00000.parquet`);
      await staging.markFinished(runKey);
      writeFileSync(path.join(config.staging.dir, ...runKey.split('/'), 'finished.json'), JSON.stringify({ finished_at: new Date(Date.now() - daysAgo * DAY).toISOString() }));
    };
    return { config, staging, staged };
  }

  it('keeps the data.pipeline scope of a run id in flight again, and deletes the rest of what expired', async () => {
    const { config, staging, staged } = await project('in-flight');
    await staged('again-v1-aaaaaaaaaaaaaaaa/exec-old', 3);
    await staged('done-v1-bbbbbbbbbbbbbbbb/exec-1', 3);
    await staged('fresh-v1-cccccccccccccccc/exec-1', 0.1);
    const again = createDataStore(config, 'again-v1-aaaaaaaaaaaaaaaa');
    const done = createDataStore(config, 'done-v1-bbbbbbbbbbbbbbbb');
    try {
      await again.pipeline.put('lookup.csv', Buffer.from('id\n1\n'));
      await done.pipeline.put('lookup.csv', Buffer.from('id\n2\n'));
      const inFlight: InFlightRun[] = [{ workflowId: 'again-v1-aaaaaaaaaaaaaaaa', runId: 'exec-new', workflowType: 'runFlow' }];

      const result = await sweepStagingOnce({ config, staging, logger, listInFlight: async () => inFlight });

      assert.ok(result);
      assert.equal(result.windowDays, 1);
      assert.deepEqual(result.deleted.paths.sort(), ['again-v1-aaaaaaaaaaaaaaaa/exec-old', 'done-v1-bbbbbbbbbbbbbbbb/exec-1']);
      assert.deepEqual(result.pipelineDataPurged, ['done-v1-bbbbbbbbbbbbbbbb']);
      assert.deepEqual(result.kept, [
        { path: 'data.pipeline again-v1-aaaaaaaaaaaaaaaa', reason: 'runFlow again-v1-aaaaaaaaaaaaaaaa is in flight again: its data.pipeline scope is kept' },
      ]);
      assert.equal(await staging.exists('again-v1-aaaaaaaaaaaaaaaa/exec-old/mapped/part-00000.parquet'), false);
      assert.equal(await staging.exists('fresh-v1-cccccccccccccccc/exec-1/mapped/part-00000.parquet'), true);
      assert.deepEqual(await again.pipeline.list(), ['lookup.csv'], 'the scope of the run in flight again survives');
      assert.deepEqual(await done.pipeline.list(), [], 'the scope of a swept run that is not in flight is deleted');
    } finally {
      await again.close();
      await done.close();
    }
  });

  it('deletes nothing when the runs in flight cannot be listed', async () => {
    const { config, staging, staged } = await project('no-visibility');
    await staged('old-v1-dddddddddddddddd/exec-1', 3);
    const result = await sweepStagingOnce({
      config,
      staging,
      logger,
      listInFlight: async () => {
        throw new Error('Temporal is not reachable');
      },
    });
    assert.equal(result, undefined);
    assert.equal(await staging.exists('old-v1-dddddddddddddddd/exec-1/mapped/part-00000.parquet'), true);
  });
});
