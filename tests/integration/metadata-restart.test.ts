/**
 * Fault test: the METADATA database (the worker's `DATABASE_URL`: flow versions, run events, webhook
 * deliveries) restarted under a running worker. It lives on a PostgreSQL cluster this test owns
 * (tests/helpers/owned-postgres.ts); the run's target is a fresh database on the shared server. The
 * worker is a `node dist/cli/main.js worker` process.
 *
 * The metadata database is stopped (`pg_ctl stop -m immediate`: every connection of the worker's pool
 * dropped at once) while `syncTarget`'s COPY runs on the target, and kept down until the worker has
 * failed to publish the run's next event (SUCCEEDED) against it; then started again. The worker stays up
 * with the same pid (no `Unhandled 'error' event`), the event is published on a retry, and the run ends
 * SUCCEEDED with every row exactly once and every status event stored exactly once.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Pool } from 'pg';
import { Sluice } from '../../client/sluice';
import { migrate } from '../../db/migrations';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { createTestDatabase, startTemporal, tempProject, type TestDatabase } from '../helpers/services';
import { startOwnedPostgres, type OwnedPostgres } from '../helpers/owned-postgres';
import { spawnWatchedWorker, type WatchedWorker } from '../helpers/watched-worker';
import { eventsFlow, writeEventsCsv, idCounts } from '../helpers/event-fixtures';

const ROWS = 400_000;
const FLOW = eventsFlow('events', '{ connector: warehouse, table: public.events }');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a worker whose metadata database restarts mid-run', () => {
  let env: TestWorkflowEnvironment;
  let target: TestDatabase;
  let metadata: OwnedPostgres;
  let metadataPool: Pool;
  let dir: string;
  let sluice: Sluice;
  let worker: WatchedWorker;
  const taskQueue = `metadata-restart-${Date.now()}`;

  before(async () => {
    [env, target, metadata] = await Promise.all([startTemporal(), createTestDatabase(), startOwnedPostgres()]);
    metadataPool = new Pool({ connectionString: metadata.url, max: 2 });
    // This test's own idle connections are dropped by the restart too.
    metadataPool.on('error', () => undefined);
    await migrate(metadataPool);
    dir = tempProject();
    writeEventsCsv(dir, ROWS);
    writeFileSync(
      path.join(dir, 'sluice.config.yaml'),
      ['connectors:', '  files: { kind: local, root: . }', '  warehouse: { kind: postgres, url: "${env:TARGET_URL}" }', ''].join('\n'),
    );
    sluice = new Sluice({ connection: env.connection, taskQueue, databaseUrl: metadata.url });
    worker = spawnWatchedWorker(dir, {
      DATABASE_URL: metadata.url,
      TEMPORAL_ADDRESS: env.address,
      SLUICE_TASK_QUEUE: taskQueue,
      SLUICE_STAGING_DIR: path.join(dir, '.staging'),
      SLUICE_CHUNK_ROWS: '20000',
      TARGET_URL: target.url,
    });
  });

  after(async () => {
    if (worker && worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await sluice?.close();
    await metadataPool?.end().catch(() => undefined);
    await metadata?.destroy();
    await env?.teardown();
    await target?.drop();
  });

  it('stopped during the load and down across the next event: same worker, every row and every event exactly once', { timeout: 150_000 }, async (t) => {
    const { version } = await new FlowVersionStore(metadataPool).publish(parseFlowSpec(FLOW), { sourceText: FLOW });
    const run = await sluice.run({ flowVersion: version.id, sourcePath: 'events.csv' });
    // The COPY into the target (on the shared server) is running.
    const deadline = Date.now() + 90_000;
    let copying = false;
    while (!copying && Date.now() < deadline) {
      const active = await target.pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' AND query ILIKE 'COPY "public"."events"%'`,
      );
      copying = active.rows[0].n > 0;
      if (!copying) await sleep(10);
    }
    assert.ok(copying, 'the COPY into public.events was seen running within 90 s');
    const stopped = Date.now();
    await metadata.stop('immediate');
    // Down until the worker tried to store the SUCCEEDED event and could not.
    const failed = await worker.waitForLog((e) => e.activity === 'publishRunEvent' && e.msg === 'activity failed; Temporal will retry it', 90_000, 'publishRunEvent failing');
    assert.equal(failed.err?.code, 'ECONNREFUSED', JSON.stringify(failed.err));
    await metadata.start();
    t.diagnostic(`the metadata database was down ${Date.now() - stopped} ms`);

    const end = await worker.runEnd(run, 90_000);
    t.diagnostic(`the worker logged: ${worker.logSummary()}`);
    worker.assertSameWorker();
    assert.equal(end.status, 'SUCCEEDED', JSON.stringify(end.error));
    assert.deepEqual(end.rows, { read: ROWS, mapped: ROWS, rejected: 0, written: ROWS });
        assert.deepEqual(await idCounts(target.pool, 'public.events'), { n: ROWS, ids: ROWS, lo: 1, hi: ROWS });
    const events = await metadataPool.query<{ type: string }>(`SELECT type FROM sluice.events WHERE run_id = $1 ORDER BY seq`, [run.id]);
    assert.deepEqual(
      events.rows.map((r) => r.type),
      ['run.created', 'run.syncing_source', 'run.transforming', 'run.syncing_target', 'run.succeeded'],
    );
  });
});
