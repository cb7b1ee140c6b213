/**
 * Integration: the one-pass path (transform and load overlapped in one target transaction), on the
 * real Temporal dev server and PostgreSQL:
 * - a worker killed (SIGKILL) while chunks are still being mapped and the COPY is running: the run
 *   finishes on a new worker with every row and every reject exactly once, and one ledger row;
 * - a run that crosses `max_reject_ratio` only in its last chunk, after the earlier chunks were
 *   COPYed: FAILED, the open transaction rolled back, nothing in the target;
 * - `dedupe` with duplicates in later chunks than their first row, which was already loaded;
 * - a source held in the first worker's memory that changed before the next worker read it again: FAILED with
 *   SOURCE_CHANGED, nothing written.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { RunFailedError, Sluice } from '../../client/sluice';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { createTestDatabase, startTemporal, tempProject, type TestDatabase, killAll, spawnCliWorker } from '../helpers/services';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Sends `signal` to a worker and waits until it has exited. */
const stop = async (worker: ChildProcess, signal: NodeJS.Signals) => {
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  worker.kill(signal);
  await exited;
};

/** Files under `dir` (recursively) whose path contains `/rejected/`. */
function rejectedParts(dir: string): number {
  if (!existsSync(dir)) return 0;
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.split(path.sep).includes('rejected') && f.endsWith('.parquet')).length;
}

describe('the one-pass path (transform and load overlapped)', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let dir: string;
  let store: FlowVersionStore;
  const workers: ChildProcess[] = [];

  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    dir = tempProject();
    store = new FlowVersionStore(db.pool);
  });

  after(async () => {
    killAll(workers);
    await env?.teardown();
    await db?.drop();
  });

  const publish = async (yaml: string) => (await store.publish(parseFlowSpec(yaml), { sourceText: yaml })).version.id;
  const workerEnv = (taskQueue: string, chunkRows: number, staging: string) => ({
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: env.address,
    SLUICE_TASK_QUEUE: taskQueue,
    SLUICE_STAGING_DIR: staging,
    SLUICE_CHUNK_ROWS: String(chunkRows),
  });

  it('a worker killed while the load and the transform overlap: the run finishes on a new worker, every row exactly once', { timeout: 240_000 }, async () => {
    const rows = 600_000;
    const chunkRows = 25_000;
    const chunks = rows / chunkRows;
    // One bad amount per chunk, so each chunk leaves a staged rejected part as it is mapped.
    const lines = ['id,kind,amount,note'];
    for (let i = 1; i <= rows; i++) lines.push(`${i},${i % 3 === 0 ? 'refund' : 'sale'},${i % chunkRows === 7 ? 'x' : (i % 1000) / 10},"note ${i}, with a comma"`);
    writeFileSync(path.join(dir, 'overlap.csv'), `${lines.join('\n')}\n`);
    const version = await publish(`
name: overlap
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.overlap }
fields:
  id:     { from: id, type: int64, required: true }
  kind:   { from: kind, type: string }
  amount: { from: amount, type: float64 }
  note:   { from: note, type: string }
`);
    const taskQueue = `one-pass-crash-${Date.now()}`;
    const staging = path.join(dir, '.staging-crash');
    const first = spawnCliWorker(dir, workerEnv(taskQueue, chunkRows, staging));
    workers.push(first);
    const sluice = new Sluice({ connection: env.connection, taskQueue, databaseUrl: db.url });
    try {
      const run = await sluice.run({ flowVersion: version, sourcePath: 'overlap.csv' });
      // Wait until the COPY into the target runs while chunks are still being mapped, then kill.
      const deadline = Date.now() + 120_000;
      let seen = { copying: false, parts: 0 };
      while (!(seen.copying && seen.parts > 0) && Date.now() < deadline) {
        const active = await db.pool.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query ILIKE 'COPY "public"."overlap"%'`,
        );
        seen = { copying: active.rows[0].n > 0, parts: rejectedParts(staging) };
        if (!seen.copying) await sleep(10);
      }
      assert.ok(seen.copying, 'the COPY into public.overlap was seen running');
      await stop(first, 'SIGKILL');
      const mappedAtKill = rejectedParts(staging);
      assert.ok(mappedAtKill < chunks, `killed while chunks were still being mapped (${mappedAtKill} of ${chunks} mapped)`);
      assert.equal((await run.refresh()).status, 'SYNCING_TARGET');
      await sleep(500);
      const during = await db.pool.query(`SELECT count(*)::int AS n FROM public.overlap`);
      assert.equal(during.rows[0].n, 0, 'the killed load left no rows behind');

      const second = spawnCliWorker(dir, workerEnv(taskQueue, chunkRows, staging));
      workers.push(second);
      const metadata = await run.wait({ timeoutMs: 180_000, pollIntervalMs: 500 });
      assert.equal(metadata.status, 'PARTIAL_FAILED');
      assert.deepEqual(metadata.rows, { read: rows, mapped: rows - chunks, rejected: chunks, written: rows - chunks });
      assert.deepEqual(metadata.rejects.by_rule, { 'amount:type': chunks });
      // The first worker held the source in memory; the second read the file again.
      assert.equal(metadata.steps.sync_source?.held, true);
      const counts = await db.pool.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids, min(id)::int AS lo, max(id)::int AS hi FROM public.overlap`);
      assert.deepEqual(counts.rows[0], { n: rows - chunks, ids: rows - chunks, lo: 1, hi: rows });
      const rejects = await db.pool.query(`SELECT count(*)::int AS n, count(DISTINCT row_number)::int AS distinct_rows FROM public.overlap_rejects WHERE run_id = $1`, [run.id]);
      assert.deepEqual(rejects.rows[0], { n: chunks, distinct_rows: chunks });
      const ledger = await db.pool.query(`SELECT count(*)::int AS n FROM sluice.load_ledger WHERE run_id = $1`, [run.id]);
      assert.equal(ledger.rows[0].n, 1);
      const history = await env.client.workflow.getHandle(run.id).fetchHistory();
      const retried = (history.events ?? []).some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) >= 2);
      assert.ok(retried, 'the one-pass activity ran a second attempt');
      await stop(second, 'SIGTERM');
    } finally {
      await sluice.close();
    }
  });

  it('a held source changed before another worker reads it again: FAILED with SOURCE_CHANGED, nothing written', { timeout: 240_000 }, async () => {
    const version = await publish(`
name: changed
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.changed }
fields:
  id:   { from: id, type: int64, required: true }
  note: { from: note, type: string }
`);
    const taskQueue = `one-pass-changed-${Date.now()}`;
    const staging = path.join(dir, '.staging-changed');
    const first = spawnCliWorker(dir, workerEnv(taskQueue, 1_000, staging));
    workers.push(first);
    const sluice = new Sluice({ connection: env.connection, taskQueue, databaseUrl: db.url });
    const lock = await db.pool.connect();
    try {
      // A first run makes the tables, so that the second run's load can be held up by a lock the test takes on them.
      writeFileSync(path.join(dir, 'changed-seed.csv'), 'id,note\n1,seed\n');
      const seed = await (await sluice.run({ flowVersion: version, sourcePath: 'changed-seed.csv' })).wait({ timeoutMs: 90_000, pollIntervalMs: 200 });
      assert.equal(seed.status, 'SUCCEEDED');
      const file = path.join(dir, 'changed.csv');
      // More rows than a small run (SMALL_RUN_ROWS), whose pass is a local activity: this one's status shows as it moves.
      writeFileSync(file, `id,note\n${Array.from({ length: 20_000 }, (_, i) => `${i + 1},row ${i + 1}`).join('\n')}\n`);
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE public.changed IN ACCESS EXCLUSIVE MODE');
      const run = await sluice.run({ flowVersion: version, sourcePath: 'changed.csv' });
      // The source was read and held by the first worker; its load now waits for the lock.
      const deadline = Date.now() + 60_000;
      let waiting = 0;
      while (waiting === 0 && Date.now() < deadline) {
        const found = await db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1`, [
          (await lock.query('SELECT pg_backend_pid() AS pid')).rows[0].pid,
        ]);
        waiting = found.rows[0].n;
        if (waiting === 0) await sleep(50);
      }
      assert.ok(waiting > 0, "the run's load waited for the test's lock");
      assert.equal((await run.refresh()).status, 'SYNCING_TARGET');
      await stop(first, 'SIGKILL');
      await lock.query('ROLLBACK');
      // The file changes before the next worker reads it again.
      appendFileSync(file, '20001,added later\n');
      const second = spawnCliWorker(dir, workerEnv(taskQueue, 1_000, staging));
      workers.push(second);
      await assert.rejects(run.wait({ timeoutMs: 180_000, pollIntervalMs: 500 }), (error: unknown) => {
        assert.ok(error instanceof RunFailedError);
        assert.equal(error.status, 'FAILED');
        assert.equal(error.error.code, 'SOURCE_CHANGED');
        assert.match(
          error.error.message,
          /^source_path "changed\.csv" changed while the run was loading it \(\d+ bytes, 20000 rows, modified [^)]+ when it was read; now \d+ bytes, 20001 rows, modified [^)]+\), and this worker had to read it again; nothing was written to the target/,
        );
        assert.equal(error.metadata!.steps.sync_source?.held, true);
        return true;
      });
      const rows = await db.pool.query(`SELECT count(*)::int AS n FROM public.changed`);
      assert.equal(rows.rows[0].n, 1, "only the seed run's row");
      const ledger = await db.pool.query(`SELECT count(*)::int AS n FROM sluice.load_ledger WHERE run_id = $1`, [run.id]);
      assert.equal(ledger.rows[0].n, 0);
      await stop(second, 'SIGTERM');
    } finally {
      await lock.query('ROLLBACK').catch(() => undefined);
      lock.release();
      await sluice.close();
    }
  });

  describe('on one worker', () => {
    let sluice: Sluice;
    const taskQueue = `one-pass-${Date.now()}`;

    before(async () => {
      const worker = spawnCliWorker(dir, workerEnv(taskQueue, 1_000, path.join(dir, '.staging-small')));
      workers.push(worker);
      sluice = new Sluice({ connection: env.connection, taskQueue, databaseUrl: db.url });
    });
    after(async () => {
      await sluice?.close();
    });

    it('crossing max_reject_ratio only in the last chunk: FAILED, the COPYed chunks rolled back, the target untouched', { timeout: 120_000 }, async () => {
      // 5 chunks of 1,000 rows; only the last one is bad (1,000 of 5,000 = 20% > 10%).
      const lines = ['id,amount'];
      for (let i = 1; i <= 5_000; i++) lines.push(`${i},${i > 4_000 ? 'bad' : i}`);
      writeFileSync(path.join(dir, 'late.csv'), `${lines.join('\n')}\n`);
      const version = await publish(`
name: late_bad
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.late_bad }
fields:
  id:     { from: id, type: int64, required: true }
  amount: { from: amount, type: int64 }
max_reject_ratio: 0.1
`);
      const run = await sluice.run({ flowVersion: version, sourcePath: 'late.csv' });
      await assert.rejects(run.wait({ timeoutMs: 90_000, pollIntervalMs: 200 }), (error: unknown) => {
        assert.ok(error instanceof RunFailedError);
        assert.equal(error.status, 'FAILED');
        assert.equal(error.error.code, 'REJECT_RATIO_EXCEEDED');
        assert.equal(error.error.step, 'transform');
        assert.match(error.error.message, /^1000 of 5000 rows rejected \(20\.0%\), above max_reject_ratio 0\.1; nothing was written/);
        const steps = error.metadata!.steps;
        assert.equal(steps.sync_target?.rolled_back, true);
        // The first chunks reached the target's COPY before the last one was mapped.
        assert.ok(Date.parse(steps.sync_target!.started_at) < Date.parse(steps.transform!.ended_at!), 'the load started before the transform ended');
        return true;
      });
      const target = await db.pool.query(`SELECT count(*)::int AS n FROM public.late_bad`);
      assert.equal(target.rows[0].n, 0, 'the rows COPYed before the last chunk were rolled back');
      const rejects = await db.pool.query(`SELECT count(*)::int AS n FROM public.late_bad_rejects`);
      assert.equal(rejects.rows[0].n, 0);
      const ledger = await db.pool.query(`SELECT count(*)::int AS n FROM sluice.load_ledger WHERE run_id = $1`, [run.id]);
      assert.equal(ledger.rows[0].n, 0);
    });

    it('dedupe keeps the first row when its duplicates come in chunks after it was loaded', { timeout: 120_000 }, async () => {
      // 5 chunks of 1,000 rows. Key `code`: row 10 (chunk 1) is repeated in rows 1,500 and 4,500;
      // row 999 (chunk 1) in row 1,001 (chunk 2); rows 3,001 and 3,002 repeat each other; blank codes never collide.
      const code = (i: number) => {
        if (i === 1_500 || i === 4_500) return 'C10';
        if (i === 1_001) return 'C999';
        if (i === 3_002) return 'C3001';
        if (i === 2_000 || i === 2_001) return '';
        return `C${i}`;
      };
      const lines = ['code,seq'];
      for (let i = 1; i <= 5_000; i++) lines.push(`${code(i)},${i}`);
      writeFileSync(path.join(dir, 'dupes.csv'), `${lines.join('\n')}\n`);
      const version = await publish(`
name: dupes
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.dupes }
fields:
  code: { from: code, type: string }
  seq:  { from: seq, type: int64, required: true }
dedupe: [code]
`);
      const run = await sluice.run({ flowVersion: version, sourcePath: 'dupes.csv' });
      const metadata = await run.wait({ timeoutMs: 90_000, pollIntervalMs: 200 });
      assert.equal(metadata.status, 'PARTIAL_FAILED');
      assert.deepEqual(metadata.rows, { read: 5_000, mapped: 4_996, rejected: 4, written: 4_996 });
      assert.deepEqual(metadata.rejects.by_rule, { dedupe: 4 });
      const steps = metadata.steps;
      assert.equal(steps.transform?.one_pass, true);
      assert.ok(Date.parse(steps.sync_target!.started_at) < Date.parse(steps.transform!.ended_at!), 'the first chunk was loaded before the last was mapped');
      const rejects = await db.pool.query(`SELECT row_number::int AS row, record, errors FROM public.dupes_rejects WHERE run_id = $1 ORDER BY row_number`, [run.id]);
      assert.deepEqual(
        rejects.rows.map((r) => [r.row, r.record, r.errors]),
        [
          [1_001, { code: 'C999', seq: '1001' }, [{ field: null, rule: 'dedupe', message: 'duplicate of row 999 on (code)' }]],
          [1_500, { code: 'C10', seq: '1500' }, [{ field: null, rule: 'dedupe', message: 'duplicate of row 10 on (code)' }]],
          [3_002, { code: 'C3001', seq: '3002' }, [{ field: null, rule: 'dedupe', message: 'duplicate of row 3001 on (code)' }]],
          [4_500, { code: 'C10', seq: '4500' }, [{ field: null, rule: 'dedupe', message: 'duplicate of row 10 on (code)' }]],
        ],
      );
      const kept = await db.pool.query(`SELECT code, seq::int AS seq FROM public.dupes WHERE code IN ('C10', 'C999', 'C3001') ORDER BY code`);
      assert.deepEqual(kept.rows, [{ code: 'C10', seq: 10 }, { code: 'C3001', seq: 3_001 }, { code: 'C999', seq: 999 }]);
      const blanks = await db.pool.query(`SELECT count(*)::int AS n FROM public.dupes WHERE seq IN (2000, 2001)`);
      assert.equal(blanks.rows[0].n, 2, 'rows with a null key are never duplicates');
      const total = await db.pool.query(`SELECT count(*)::int AS n, count(DISTINCT code)::int AS codes FROM public.dupes`);
      assert.deepEqual(total.rows[0], { n: 4_996, codes: 4_994 });
    });
  });
});
