/**
 * Fault test: a PostgreSQL server restarted under a running worker. The server is one this test
 * owns (tests/helpers/owned-postgres.ts: its own data dir and port), never the shared one; the
 * metadata database stays on `DATABASE_URL`. The worker is a `node dist/cli/main.js worker` process.
 *
 * 1. The target restarted (`pg_ctl stop -m immediate`, then start) during `syncTarget`'s COPY.
 * 2. The source restarted (`-m fast`) while a postgres source's cursor is being read.
 *
 * Each time: the worker process stays up with the same pid (no `Unhandled 'error' event`), the
 * interrupted activity fails with `CONNECTION_LOST` and is retried by Temporal on that same
 * process, and the run ends SUCCEEDED with every row exactly once.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Pool } from 'pg';
import { Sluice, type SluiceRun } from '../../client/sluice';
import type { RunMetadata } from '../../common/run-model';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { CLI_MAIN, createTestDatabase, killAll, startTemporal, tempProject, type TestDatabase } from '../helpers/services';
import { startOwnedPostgres, type OwnedPostgres } from '../helpers/owned-postgres';
import { writeEventsCsv, idCounts } from '../helpers/event-fixtures';

const ROWS = 400_000;
const FIELDS = `
fields:
  id:      { from: id, type: int64, required: true }
  kind:    { from: kind, type: string }
  amount:  { from: amount, type: float64 }
  note:    { from: note, type: string }
`;
const TARGET_FLOW = `
name: events
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.events }
${FIELDS}`;
const SOURCE_FLOW = `
name: erp_events
source: { connector: erp, query: "SELECT id, kind, amount, note FROM public.source_events WHERE batch = :source_path ORDER BY id" }
target: { connector: metadata_db, table: public.erp_events }
${FIELDS}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a worker whose PostgreSQL restarts mid-run', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let owned: OwnedPostgres;
  let ownedPool: Pool;
  let dir: string;
  let sluice: Sluice;
  let store: FlowVersionStore;
  let worker: ChildProcess;
  let stderr = '';
  let workerPid: number;
  const taskQueue = `pg-restart-${Date.now()}`;

  before(async () => {
    [env, db, owned] = await Promise.all([startTemporal(), createTestDatabase(), startOwnedPostgres()]);
    ownedPool = new Pool({ connectionString: owned.url, max: 2 });
    // This test's own idle connections are dropped by the restarts too.
    ownedPool.on('error', () => undefined);
    dir = tempProject();
    writeEventsCsv(dir, ROWS);
    await ownedPool.query(`CREATE TABLE public.source_events AS
      SELECT i AS id, CASE WHEN i % 3 = 0 THEN 'refund' ELSE 'sale' END AS kind, (i % 1000) / 10.0 AS amount,
             'note ' || i || ', with a comma' AS note, 'b1' AS batch
      FROM generate_series(1, ${ROWS}) AS i`);
    writeFileSync(
      path.join(dir, 'sluice.config.yaml'),
      [
        'connectors:',
        '  files: { kind: local, root: . }',
        '  warehouse: { kind: postgres, url: "${env:OWNED_PG_URL}" }',
        '  erp: { kind: postgres, url: "${env:OWNED_PG_URL}", fetch_rows: 20000 }',
        '  metadata_db: { kind: postgres }',
        '',
      ].join('\n'),
    );
    store = new FlowVersionStore(db.pool);
    sluice = new Sluice({ connection: env.connection, taskQueue, databaseUrl: db.url });
    worker = spawn(process.execPath, [CLI_MAIN, 'worker'], {
      cwd: dir,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        TEMPORAL_ADDRESS: env.address,
        SLUICE_TASK_QUEUE: taskQueue,
        SLUICE_STAGING_DIR: path.join(dir, '.staging'),
        SLUICE_CHUNK_ROWS: '20000',
        OWNED_PG_URL: owned.url,
        SLUICE_LOG_LEVEL: 'warn',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    worker.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    workerPid = worker.pid!;
  });

  after(async () => {
    killAll(worker ? [worker] : []);
    await sluice?.close();
    await ownedPool?.end().catch(() => undefined);
    await owned?.destroy();
    await env?.teardown();
    await db?.drop();
  });

  /** Polls the owned server until a statement matching `pattern` runs on it. */
  async function waitForStatement(pattern: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const active = await ownedPool
        .query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'sluice:%' AND state <> 'idle' AND query ILIKE $1`, [pattern])
        .catch(() => ({ rows: [{ n: 0 }] }));
      if (active.rows[0].n > 0) return;
      await sleep(10);
    }
    assert.fail(`no statement like ${pattern} was seen on the owned PostgreSQL within 60 s`);
  }

  /** The run's end, or a failure naming the worker's exit and its stderr when the worker died first. */
  async function runEnd(run: SluiceRun): Promise<RunMetadata> {
    const died = new Promise<never>((_resolve, reject) => {
      const exited = (code: number | null, signal: string | null) => reject(new Error(`the worker exited (code ${code}, signal ${signal}); its stderr:\n${stderr.slice(-3000)}`));
      if (worker.exitCode !== null || worker.signalCode !== null) exited(worker.exitCode, worker.signalCode);
      else worker.once('exit', exited);
    });
    return Promise.race([run.wait({ timeoutMs: 60_000, pollIntervalMs: 250 }), died]);
  }

  /** Asserts the worker is the one started first, still running, and never hit an unhandled error. */
  function assertSameWorker(): void {
    assert.equal(worker.exitCode, null, `the worker is still running; its stderr:\n${stderr.slice(-3000)}`);
    assert.equal(worker.signalCode, null);
    assert.equal(worker.pid, workerPid);
    process.kill(workerPid, 0);
    assert.ok(!stderr.includes("Unhandled 'error' event"), stderr.slice(-3000));
  }

  /**
   * The activity failed with `CONNECTION_LOST` (the worker's log says so) and its final attempt ran
   * on the same worker process (the history's started event names the worker, `pid@host`).
   */
  async function assertRetriedOnSameWorker(runId: string, activity: string, connector: string): Promise<void> {
    const failures = stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { activity?: string; code?: string; msg?: string; err?: { message?: string } })
      .filter((entry) => entry.activity === activity && entry.code === 'CONNECTION_LOST');
    assert.ok(failures.length > 0, `the worker logged ${activity} failing with CONNECTION_LOST; its stderr:\n${stderr.slice(-3000)}`);
    assert.equal(failures[0]!.msg, 'activity failed transiently; Temporal will retry it');
    assert.ok(
      failures[0]!.err?.message?.startsWith(`the connection to postgres connector "${connector}" was lost while in use: `),
      failures[0]!.err?.message,
    );
    const history = await env.client.workflow.getHandle(runId).fetchHistory();
    const scheduled = new Map<string, string>();
    for (const e of history.events ?? []) {
      if (e.activityTaskScheduledEventAttributes) scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
    }
    const started = (history.events ?? [])
      .map((e) => e.activityTaskStartedEventAttributes)
      .filter((a) => a && scheduled.get(String(a.scheduledEventId)) === activity);
    assert.equal(started.length, 1);
    assert.ok((started[0]!.attempt ?? 1) >= 2, `${activity} was retried (attempt ${started[0]!.attempt})`);
    assert.equal(started[0]!.identity, `${workerPid}@${os.hostname()}`, 'the retry ran on the same worker process');
  }

  it('the target restarted during the COPY: same worker, every row exactly once', { timeout: 90_000 }, async (t) => {
    const { version } = await store.publish(parseFlowSpec(TARGET_FLOW), { sourceText: TARGET_FLOW });
    const run = await sluice.run({ flowVersion: version.id, sourcePath: 'events.csv' });
    await waitForStatement('COPY "public"."events"%');
    // Into the COPY: some rows copied, not all.
    let copied = 0;
    const deadline = Date.now() + 30_000;
    while (copied === 0 && Date.now() < deadline) {
      const progress = await ownedPool.query(
        `SELECT coalesce(max(p.tuples_processed), 0)::int AS n FROM pg_stat_progress_copy p JOIN pg_class c ON c.oid = p.relid WHERE c.relname = 'events'`,
      );
      copied = progress.rows[0].n;
      if (copied === 0) await sleep(5);
    }
    assert.ok(copied > 0 && copied < ROWS, `the COPY was under way (${copied} of ${ROWS} rows)`);
    const stopping = Date.now();
    await owned.restart('immediate');
    t.diagnostic(`restarted after ${copied} of ${ROWS} rows were copied; down and up again in ${Date.now() - stopping} ms`);
    const metadata = await runEnd(run);
    assertSameWorker();
    assert.equal(metadata.status, 'SUCCEEDED', JSON.stringify(metadata.error));
    assert.deepEqual(metadata.rows, { read: ROWS, mapped: ROWS, rejected: 0, written: ROWS });
        assert.deepEqual(await idCounts(ownedPool, 'public.events'), { n: ROWS, ids: ROWS, lo: 1, hi: ROWS });
    // This flow takes the one-pass path: the activity running the COPY is transformAndLoad.
    await assertRetriedOnSameWorker(run.id, 'transformAndLoad', 'warehouse');
  });

  it('the source restarted while its cursor is read: same worker, every row exactly once', { timeout: 90_000 }, async (t) => {
    const { version } = await store.publish(parseFlowSpec(SOURCE_FLOW), { sourceText: SOURCE_FLOW });
    const run = await sluice.run({ flowVersion: version.id, sourcePath: 'b1' });
    await waitForStatement('SELECT id, kind, amount, note FROM public.source_events%');
    const stopping = Date.now();
    await owned.restart('fast');
    t.diagnostic(`restarted ${Date.now() - stopping} ms after the read began`);
    const metadata = await runEnd(run);
    assertSameWorker();
    assert.equal(metadata.status, 'SUCCEEDED', JSON.stringify(metadata.error));
    assert.deepEqual(metadata.rows, { read: ROWS, mapped: ROWS, rejected: 0, written: ROWS });
        assert.deepEqual(await idCounts(db.pool, 'public.erp_events'), { n: ROWS, ids: ROWS, lo: 1, hi: ROWS });
    await assertRetriedOnSameWorker(run.id, 'syncSource', 'erp');
  });
});
