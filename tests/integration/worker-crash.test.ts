/**
 * Integration: a worker process killed (SIGKILL) in the middle of `syncTarget`'s COPY; the run
 * finishes on a new worker process with every row exactly once. Also: a `syncTarget` retried after
 * its transaction committed writes nothing (the load ledger).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import pl from 'nodejs-polars';
import { Sluice } from '../../client/sluice';
import { PostgresTarget } from '../../connectors/postgres/postgres-target';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { emptyRejected, ROW_COLUMN } from '../../transform/map-chunk';
import { createTestDatabase, startTemporal, tempProject, type TestDatabase, killAll, spawnCliWorker } from '../helpers/services';
import { eventsFlow, writeEventsCsv, idCounts } from '../helpers/event-fixtures';

const ROWS = 600_000;
const FLOW = eventsFlow('events', '{ connector: warehouse, table: public.events }');

const startWorker = spawnCliWorker;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a worker killed during syncTarget', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let dir: string;
  const workers: ChildProcess[] = [];

  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    dir = tempProject();
    writeEventsCsv(dir, ROWS);
  });

  after(async () => {
    killAll(workers);
    await env?.teardown();
    await db?.drop();
  });

  it('finishes on a new worker with every row exactly once', { timeout: 240_000 }, async () => {
    const taskQueue = `crash-${Date.now()}`;
    const workerEnv = {
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: env.address,
      SLUICE_TASK_QUEUE: taskQueue,
      SLUICE_STAGING_DIR: path.join(dir, '.staging'),
      SLUICE_CHUNK_ROWS: '50000',
    };
    const store = new FlowVersionStore(db.pool);
    const { version } = await store.publish(parseFlowSpec(FLOW), { sourceText: FLOW });
    const first = startWorker(dir, workerEnv);
    workers.push(first);
    const sluice = new Sluice({ connection: env.connection, taskQueue, databaseUrl: db.url });
    try {
      const run = await sluice.run({ flowVersion: version.id, sourcePath: 'events.csv' });

      // Wait until the COPY into the target is running, then kill the worker process outright.
      const deadline = Date.now() + 120_000;
      let copying = false;
      while (!copying && Date.now() < deadline) {
        const active = await db.pool.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query ILIKE 'COPY "public"."events"%'`,
        );
        copying = active.rows[0].n > 0;
        if (!copying) await sleep(20);
      }
      assert.ok(copying, 'the COPY into public.events was seen running');
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));
      assert.equal((await run.refresh()).status, 'SYNCING_TARGET');

      // Nothing of the interrupted transaction is visible.
      await sleep(500);
      const during = await db.pool.query(`SELECT count(*)::int AS n FROM public.events`);
      assert.equal(during.rows[0].n, 0, 'the killed load left no rows behind');

      const second = startWorker(dir, workerEnv);
      workers.push(second);
      const metadata = await run.wait({ timeoutMs: 180_000, pollIntervalMs: 500 });
      assert.equal(metadata.status, 'SUCCEEDED');
      assert.deepEqual(metadata.rows, { read: ROWS, mapped: ROWS, rejected: 0, written: ROWS });

            assert.deepEqual(await idCounts(db.pool, 'public.events'), { n: ROWS, ids: ROWS, lo: 1, hi: ROWS });
      const ledger = await db.pool.query(`SELECT count(*)::int AS n FROM sluice.load_ledger WHERE run_id = $1`, [run.id]);
      assert.equal(ledger.rows[0].n, 1);

      // The history shows syncTarget ran a second attempt.
      const history = await env.client.workflow.getHandle(run.id).fetchHistory();
      const attempts = (history.events ?? [])
        .filter((e) => e.activityTaskStartedEventAttributes)
        .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
      assert.ok(attempts.some((a) => a >= 2), `an activity was retried (attempts: ${attempts.join(', ')})`);
      second.kill('SIGTERM');
      await new Promise((resolve) => second.once('exit', resolve));

      // With no worker left, a finished run still reports its status and metadata (from its result).
      const started = Date.now();
      const finished = await sluice.getRun(run.id);
      assert.equal(finished.status, 'SUCCEEDED');
      assert.equal(finished.metadata?.rows.written, ROWS);
      assert.ok(Date.now() - started < 5_000, 'answered without waiting for a worker');
    } finally {
      await sluice.close();
    }
  });

  it('a syncTarget retried after its commit writes nothing (ledger hit)', async () => {
    const spec = parseFlowSpec(FLOW.replace('public.events', 'public.events_ledger'));
    const staging = tempProject();
    const mapped = path.join(staging, 'mapped.parquet');
    const rejected = path.join(staging, 'rejected.parquet');
    pl.DataFrame({
      [ROW_COLUMN]: pl.Series(ROW_COLUMN, [1, 2], pl.Int64),
      id: pl.Series('id', [1, 2], pl.Int64),
      kind: ['a', 'b'],
      amount: [1.5, 2.5],
      note: ['x', null],
    }).writeParquet(mapped);
    emptyRejected().writeParquet(rejected);
    const target = new PostgresTarget(db.pool, 'warehouse');
    const request = {
      runId: 'events-v9-ledger',
      executionId: 'execution-1',
      flowVersion: 'events:v9',
      sourcePath: 'x.csv',
      spec,
      mappedFiles: [mapped],
      rejectedFiles: [rejected],
      onProgress: () => undefined,
      signal: new AbortController().signal,
    };
    const first = await target.load(request);
    const again = await target.load(request);
    assert.deepEqual(
      { written: first.rowsWritten, already: first.alreadyLoaded },
      { written: 2, already: false },
    );
    assert.deepEqual({ written: again.rowsWritten, already: again.alreadyLoaded }, { written: 2, already: true });
    const count = await db.pool.query('SELECT count(*)::int AS n FROM public.events_ledger');
    assert.equal(count.rows[0].n, 2);
  });
});
