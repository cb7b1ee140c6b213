/**
 * Integration: runs on the real Temporal dev server and real PostgreSQL, local files → Postgres.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { InvalidRequestError, RunFailedError, RunTimeoutError, Sluice } from '../../client/sluice';
import { metadataQuery, RUN_STATUSES, statusQuery, TERMINAL_STATUSES } from '../../common/run-model';
import { startRunStack, type InProcessRunner, type RunStack, type TestDatabase } from '../helpers/services';

const ORDERS_CSV = [
  'id,name,amount,day,active',
  '1,alpha,10,2024-01-01,true',
  '2,beta,abc,2024-01-02,false',
  '3,,5,2024-01-03,yes',
  '4,delta,-1,2024-01-04,no',
  '5,eps,7,2024-13-01,1',
  '6,alpha,3,2024-01-01,true',
  '7,zeta,8,,maybe',
  '8,eta,9,2024-01-08,true',
].join('\n');

const ordersFlow = (overrides: { name?: string; maxRejectRatio?: number; extraField?: string } = {}) => `
name: ${overrides.name ?? 'orders'}
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.${overrides.name ?? 'orders'}, write: append }
fields:
  id:        { from: id, type: int64, required: true }
  name:      { from: name, type: string, required: true }
  amount:    { from: amount, type: int64, check: "amount > 0" }
  day:       { from: day, type: date }
  active:    { from: active, type: bool }
  amount_x2: { expr: 'TRY_CAST("amount" AS BIGINT) * 2', type: int64 }
  ${overrides.extraField ?? ''}
checks:
  - { name: doubled, sql: "amount_x2 IS NULL OR amount_x2 = amount * 2" }
dedupe: [name, day]
max_reject_ratio: ${overrides.maxRejectRatio ?? 0.9}
`;

describe('runFlow on real Temporal and Postgres', () => {
  let stack: RunStack;
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let dir: string;
  let runner: InProcessRunner;
  let sluice: Sluice;

  const publish = (yaml: string) => runner.publish(yaml);

  before(async () => {
    stack = await startRunStack({
      connectors: (db) => ({
        files: { kind: 'local', root: '.' },
        warehouse: { kind: 'postgres' },
        erp: { kind: 'postgres', url: db.url, query: 'SELECT id, amount FROM public.invoices WHERE batch_id = :source_path ORDER BY id' },
      }),
    });
    ({ env, db, dir, runner, sluice } = stack);
    writeFileSync(path.join(dir, 'orders.csv'), ORDERS_CSV);
    writeFileSync(path.join(dir, 'clean.csv'), 'id,name,amount,day,active\n1,a,1,2024-02-01,true\n2,b,2,2024-02-02,false\n3,c,3,,\n');
    await db.pool.query(`CREATE TABLE public.invoices (batch_id text, id integer, amount numeric)`);
    await db.pool.query(`INSERT INTO public.invoices VALUES ('b1', 1, 10.5), ('b1', 2, 20), ('b1', 3, 30), ('b2', 4, 40), ('b2', 5, 50)`);
  });

  after(async () => {
    await stack?.stop();
  });

  it('reaches SUCCEEDED on clean rows, with status and metadata from the workflow queries', async () => {
    const version = await publish(ordersFlow({ name: 'clean_orders' }));
    const run = await sluice.run({ flowVersion: version, sourcePath: 'clean.csv', runMetadata: { ticket: 'T-1' } });
    const metadata = await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(run.status, 'SUCCEEDED');
    assert.deepEqual(metadata.rows, { read: 3, mapped: 3, rejected: 0, written: 3 });
    assert.deepEqual(metadata.run.run_metadata, { ticket: 'T-1' });
    assert.equal(metadata.rejects.location, null);
    for (const step of ['sync_source', 'transform', 'sync_target'] as const) {
      assert.ok(metadata.steps[step]?.started_at && metadata.steps[step]?.ended_at, `step ${step} has start and end times`);
    }
    const refreshed = await sluice.getRun(run.id);
    assert.equal(refreshed.status, 'SUCCEEDED');
    // The workflow's own queries, as the Temporal UI and other clients call them.
    const handle = env.client.workflow.getHandle(run.id);
    assert.equal(await handle.query(statusQuery), 'SUCCEEDED');
    assert.deepEqual((await handle.query(metadataQuery)).rows, metadata.rows);
    const rows = await db.pool.query('SELECT id, name, amount, day::text AS day, active, amount_x2 FROM public.clean_orders ORDER BY id');
    assert.deepEqual(rows.rows, [
      { id: '1', name: 'a', amount: '1', day: '2024-02-01', active: true, amount_x2: '2' },
      { id: '2', name: 'b', amount: '2', day: '2024-02-02', active: false, amount_x2: '4' },
      { id: '3', name: 'c', amount: '3', day: null, active: null, amount_x2: '6' },
    ]);
    const ledger = await db.pool.query('SELECT run_id, rows_written FROM sluice.load_ledger WHERE run_id = $1', [run.id]);
    assert.deepEqual(ledger.rows, [{ run_id: run.id, rows_written: '3' }]);
  });

  it('reaches PARTIAL_FAILED with exact mapped and rejected counts and one reason per failed rule', async () => {
    const version = await publish(ordersFlow());
    const run = await sluice.run({ flowVersion: version, sourcePath: 'orders.csv' });
    const metadata = await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(run.status, 'PARTIAL_FAILED');
    assert.deepEqual(metadata.rows, { read: 8, mapped: 2, rejected: 6, written: 2 });
    assert.deepEqual(metadata.rejects.by_rule, {
      'amount:type': 1,
      'name:required': 1,
      'amount:check': 1,
      'day:type': 1,
      'active:type': 1,
      dedupe: 1,
    });
    assert.equal(metadata.rejects.location, 'warehouse:public.orders_rejects');
    const mapped = await db.pool.query('SELECT id FROM public.orders ORDER BY id');
    assert.deepEqual(mapped.rows.map((r) => r.id), ['1', '8']);
    const rejects = await db.pool.query('SELECT run_id, row_number, record, errors FROM public.orders_rejects ORDER BY row_number');
    assert.deepEqual(rejects.rows.map((r) => Number(r.row_number)), [2, 3, 4, 5, 6, 7]);
    assert.ok(rejects.rows.every((r) => r.run_id === run.id));
    const byRow = new Map(rejects.rows.map((r) => [Number(r.row_number), r]));
    assert.deepEqual(byRow.get(2)!.errors, [{ field: 'amount', rule: 'type', message: 'cannot convert "abc" to an int64 (whole number)' }]);
    assert.deepEqual(byRow.get(2)!.record, { id: '2', name: 'beta', amount: 'abc', day: '2024-01-02', active: 'false' });
    assert.deepEqual(byRow.get(3)!.errors, [{ field: 'name', rule: 'required', message: 'name is required but missing' }]);
    assert.deepEqual(byRow.get(4)!.errors, [{ field: 'amount', rule: 'check', message: 'failed check: amount > 0' }]);
    assert.deepEqual(byRow.get(5)!.errors, [{ field: 'day', rule: 'type', message: 'cannot convert "2024-13-01" to a date in format "%Y-%m-%d"' }]);
    assert.deepEqual(byRow.get(6)!.errors, [{ field: null, rule: 'dedupe', message: 'duplicate of row 1 on (name, day)' }]);
    assert.deepEqual(byRow.get(7)!.errors, [{ field: 'active', rule: 'type', message: 'cannot convert "maybe" to a boolean (true/false, yes/no, 1/0)' }]);
  });

  it('refuses a repeated source_path, then accepts it with forceRerun', async () => {
    const version = await publish(ordersFlow({ name: 'repeat_orders' }));
    const first = await sluice.run({ flowVersion: version, sourcePath: 'clean.csv' });
    await first.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    await assert.rejects(
      sluice.run({ flowVersion: version, sourcePath: 'clean.csv' }),
      (error: unknown) =>
        error instanceof InvalidRequestError &&
        error.code === 'REPEATED_SOURCE_PATH' &&
        error.message.startsWith(`${version} already ran on "clean.csv" (run ${first.id}, SUCCEEDED)`),
    );
    const forced = await sluice.run({ flowVersion: version, sourcePath: 'clean.csv', forceRerun: true });
    assert.equal(forced.id, first.id);
    const metadata = await forced.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(metadata.status, 'SUCCEEDED');
    const firstExecution = first.metadata?.run.execution_id;
    assert.ok(firstExecution);
    assert.notEqual(metadata.run.execution_id, firstExecution, 'a forced rerun is a new execution');
    const count = await db.pool.query('SELECT count(*)::int AS n FROM public.repeat_orders');
    assert.equal(count.rows[0].n, 6, 'a forced rerun loads the rows again');
  });

  it('ends FAILED with MISSING_COLUMN when a from column is absent, and may run again after', async () => {
    const version = await publish(ordersFlow({ name: 'missing_col', extraField: 'extra: { from: "No Such Column", type: string }' }));
    const run = await sluice.run({ flowVersion: version, sourcePath: 'clean.csv' });
    await assert.rejects(run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 }), (error: unknown) => {
      assert.ok(error instanceof RunFailedError);
      assert.equal(error.status, 'FAILED');
      assert.equal(error.error.code, 'MISSING_COLUMN');
      assert.equal(error.error.step, 'transform');
      assert.match(error.error.message, /the source has no column "No Such Column" \(field extra\); available columns: "id", "name", "amount", "day", "active"/);
      return true;
    });
    assert.equal(run.status, 'FAILED');
    const again = await sluice.run({ flowVersion: version, sourcePath: 'clean.csv' });
    await assert.rejects(again.wait({ timeoutMs: 120_000, pollIntervalMs: 200 }), RunFailedError);
  });

  it('ends FAILED with SOURCE_NOT_FOUND for a missing file and PATH_OUTSIDE_ROOT for an escaping path', async () => {
    const version = await publish(ordersFlow({ name: 'missing_file' }));
    const missing = await sluice.run({ flowVersion: version, sourcePath: 'nope.csv' });
    await assert.rejects(missing.wait({ timeoutMs: 120_000 }), (error: unknown) => error instanceof RunFailedError && error.error.code === 'SOURCE_NOT_FOUND' && error.error.step === 'sync_source');
    const escaping = await sluice.run({ flowVersion: version, sourcePath: '../../etc/passwd' });
    await assert.rejects(escaping.wait({ timeoutMs: 120_000 }), (error: unknown) => error instanceof RunFailedError && error.error.code === 'PATH_OUTSIDE_ROOT');
  });

  it('ends FAILED with REJECT_RATIO_EXCEEDED above max_reject_ratio and writes nothing', async () => {
    const version = await publish(ordersFlow({ name: 'strict_orders', maxRejectRatio: 0.5 }));
    const run = await sluice.run({ flowVersion: version, sourcePath: 'orders.csv' });
    await assert.rejects(run.wait({ timeoutMs: 120_000 }), (error: unknown) => {
      assert.ok(error instanceof RunFailedError);
      assert.equal(error.error.code, 'REJECT_RATIO_EXCEEDED');
      assert.match(error.error.message, /^6 of 8 rows rejected \(75\.0%\), above max_reject_ratio 0\.5; nothing was written/);
      assert.equal(error.metadata?.rows.rejected, 6);
      return true;
    });
    const table = await db.pool.query(`SELECT to_regclass('public.strict_orders') AS t`);
    assert.equal(table.rows[0].t, null, 'the target table was never created');
  });

  it('wait() throws RunTimeoutError with the current status when the run outlasts timeoutMs', async () => {
    const version = await publish(ordersFlow({ name: 'timeout_orders' }));
    const run = await sluice.run({ flowVersion: version, sourcePath: 'clean.csv' });
    await assert.rejects(run.wait({ timeoutMs: 1 }), (error: unknown) => {
      assert.ok(error instanceof RunTimeoutError);
      assert.equal(error.runId, run.id);
      assert.equal(error.timeoutMs, 1);
      // Still running: a status, and not a terminal one.
      assert.ok(RUN_STATUSES.includes(error.lastStatus) && !TERMINAL_STATUSES.includes(error.lastStatus), error.lastStatus);
      return true;
    });
    assert.equal((await run.wait({ timeoutMs: 120_000 })).status, 'SUCCEEDED');
  });

  it('refuses an unknown flow version with a clear error', async () => {
    await assert.rejects(sluice.run({ flowVersion: 'orders:v99', sourcePath: 'x.csv' }), (error: unknown) => {
      return error instanceof InvalidRequestError && error.code === 'UNKNOWN_FLOW_VERSION' && /unknown flow version "orders:v99"; known versions of "orders": orders:v1/.test(error.message);
    });
  });

  it('binds a database source_path as a parameter: SQL in it selects nothing', async () => {
    const yaml = `
name: invoices
source: { connector: erp }
target: { connector: warehouse, table: public.invoices_copy }
fields:
  id:     { from: id, type: int64, required: true }
  amount: { from: amount, type: float64 }
`;
    const version = await publish(yaml);
    const batch = await sluice.run({ flowVersion: version, sourcePath: 'b1' });
    const loaded = await batch.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.deepEqual(loaded.rows, { read: 3, mapped: 3, rejected: 0, written: 3 });
    const injection = await sluice.run({ flowVersion: version, sourcePath: "x' OR '1'='1" });
    const none = await injection.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(none.status, 'SUCCEEDED');
    assert.deepEqual(none.rows, { read: 0, mapped: 0, rejected: 0, written: 0 });
    const copied = await db.pool.query('SELECT id, amount FROM public.invoices_copy ORDER BY id');
    assert.deepEqual(copied.rows, [
      { id: '1', amount: 10.5 },
      { id: '2', amount: 20 },
      { id: '3', amount: 30 },
    ]);
    const invoices = await db.pool.query('SELECT count(*)::int AS n FROM public.invoices');
    assert.equal(invoices.rows[0].n, 5, 'the source table is untouched');
  });
});
