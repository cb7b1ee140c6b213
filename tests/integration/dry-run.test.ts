/**
 * Integration: dry runs (issue 13, part 3) on the real Temporal dev server and PostgreSQL, local files → Postgres.
 * - `dryRun` writes nothing: the target table and the rejects table are not created when missing, their row counts
 *   and the load ledger's are unchanged when they exist; its counts (mapped, rejected, by rule) equal those of a real
 *   run of the same version on the same file run afterwards, which is not refused as a repeat;
 * - a dry run after a real run is not refused either, and its events carry `dry_run: true`;
 * - `write: upsert`: would_insert / would_update equal what SQL computes from the target's keys;
 * - the CLI's `run --dry-run --json` and its readable report.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { RunFailedError, type Sluice } from '../../client/sluice';
import type { RunMetadata } from '../../common/run-model';
import { runCli, startRunStack, type InProcessRunner, type RunStack, type TestDatabase } from '../helpers/services';

/** Rows of the generated orders file: ids from `first`, every 7th amount unreadable, every 11th status unknown. */
function ordersCsv(first: number, count: number): { text: string; valid: number[]; badAmount: number; badStatus: number; both: number } {
  const lines = ['id,amount,status'];
  const valid: number[] = [];
  let badAmount = 0;
  let badStatus = 0;
  let both = 0;
  for (let i = 0; i < count; i++) {
    const id = first + i;
    const amountBad = id % 7 === 0;
    const statusBad = id % 11 === 0;
    lines.push(`${id},${amountBad ? 'n/a' : (id / 4).toFixed(2)},${statusBad ? 'lost' : id % 2 === 0 ? 'open' : 'paid'}`);
    if (amountBad) badAmount++;
    if (statusBad) badStatus++;
    if (amountBad && statusBad) both++;
    if (!amountBad && !statusBad) valid.push(id);
  }
  return { text: `${lines.join('\n')}\n`, valid, badAmount, badStatus, both };
}

const flowYaml = (name: string, table: string, write: 'append' | 'upsert') => `
name: ${name}
source: { connector: files, format: csv }
target: { connector: warehouse, table: ${table}, write: ${write}${write === 'upsert' ? ', key: [id]' : ''} }
fields:
  id:     { from: id, type: int64, required: true }
  amount: { from: amount, type: float64 }
  status: { from: status, type: string, in: [open, paid] }
`;

/** `metadata.rejects.by_rule` of a real run, from a dry run's `(field, rule, count)` list. */
const byRuleRecord = (report: NonNullable<RunMetadata['dry_run_report']>) =>
  Object.fromEntries(report.by_rule.map((r) => [r.field ? `${r.field}:${r.rule}` : r.rule, r.count]));

describe('dry runs', () => {
  let stack: RunStack;
  let db: TestDatabase;
  let runner: InProcessRunner;
  let sluice: Sluice;
  const orders = ordersCsv(1, 3000);

  before(async () => {
    // Small chunks: the dry run fans out over several chunks like a real run.
    stack = await startRunStack({ chunkRows: 700, connectors: () => ({ files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } }) });
    ({ db, runner, sluice } = stack);
    writeFileSync(path.join(stack.dir, 'orders.csv'), orders.text);
  });

  after(async () => {
    await stack?.stop();
  });

  const count = async (sql: string, params: unknown[] = []) => Number((await db.pool.query<{ n: string }>(sql, params)).rows[0]!.n);
  const exists = async (table: string) => (await db.pool.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [table])).rows[0]!.t !== null;

  it('writes nothing, then a real run of the same version and file is not refused and counts the same', { timeout: 120_000 }, async () => {
    const version = await runner.publish(flowYaml('dry_orders', 'public.dry_orders', 'append'));
    const dry = await sluice.run({ flowVersion: version, sourcePath: 'orders.csv', dryRun: true });
    assert.match(dry.id, /^dry_orders-v1-[0-9a-f]{16}-dry-[0-9a-f]{8}$/);
    const metadata = await dry.wait({ timeoutMs: 90_000 });
    const rejected = orders.badAmount + orders.badStatus - orders.both;
    assert.equal(metadata.status, 'PARTIAL_FAILED');
    assert.equal(metadata.dry_run, true);
    assert.deepEqual(metadata.rows, { read: 3000, mapped: 3000 - rejected, rejected, written: 0 });
    assert.equal(metadata.steps.sync_target, undefined, 'no sync_target step');
    assert.equal(metadata.steps.transform?.one_pass, undefined, 'the staged path, not the one-pass load');
    assert.deepEqual([metadata.steps.sync_source?.held, metadata.steps.sync_source?.files], [undefined, 1], 'a dry run stages its source');
    const report = metadata.dry_run_report!;
    assert.deepEqual(report.rows, { read: 3000, mapped: 3000 - rejected, rejected });
    assert.deepEqual(report.by_rule, [
      { field: 'amount', rule: 'type', count: orders.badAmount },
      { field: 'status', rule: 'in', count: orders.badStatus },
    ]);
    // The first 20 rejects by row number: ids 7, 11, 14, 21, 22, …
    const firstRejected = Array.from({ length: 3000 }, (_, i) => i + 1).filter((id) => id % 7 === 0 || id % 11 === 0).slice(0, 20);
    assert.deepEqual(report.samples.map((s) => s.row), firstRejected);
    assert.deepEqual(report.samples[0]!.record, { id: '7', amount: 'n/a', status: 'paid' });
    assert.deepEqual(report.samples[0]!.errors.map((e) => [e.field, e.rule]), [['amount', 'type']]);
    assert.ok(report.samples[0]!.errors[0]!.message.length > 0);
    const at77 = report.samples.find((s) => s.row === 77)!;
    assert.deepEqual(at77.errors.map((e) => `${e.field}:${e.rule}`).sort(), ['amount:type', 'status:in']);
    assert.equal(report.target.table_exists, false);
    assert.equal(report.target.would_insert, 3000 - rejected);
    assert.equal(report.target.would_update, 0);
    // Nothing was created: no target table, no rejects table, no ledger row.
    assert.equal(await exists('public.dry_orders'), false);
    assert.equal(await exists('public.dry_orders_rejects'), false);
    if (await exists('sluice.load_ledger')) assert.equal(await count('SELECT count(*) AS n FROM sluice.load_ledger'), 0);
    // Its events say it is a dry run.
    const events = await db.pool.query<{ payload: { data: { dry_run?: boolean; status: string } } }>('SELECT payload FROM sluice.events WHERE run_id = $1 ORDER BY seq', [dry.id]);
    assert.ok(events.rows.length >= 4, 'created, syncing, transforming, final');
    assert.ok(events.rows.every((e) => e.payload.data.dry_run === true));
    assert.equal(events.rows.at(-1)!.payload.data.status, 'PARTIAL_FAILED');

    // The real run of the same version on the same file: not a repeat, same counts.
    const real = await sluice.run({ flowVersion: version, sourcePath: 'orders.csv' });
    const done = await real.wait({ timeoutMs: 90_000 });
    assert.equal(done.status, 'PARTIAL_FAILED');
    assert.equal(done.dry_run, undefined);
    assert.deepEqual([done.steps.sync_source?.held, done.steps.sync_source?.files], [true, 0], 'the real run held its source in memory');
    assert.deepEqual({ mapped: done.rows.mapped, rejected: done.rows.rejected }, { mapped: report.rows.mapped, rejected: report.rows.rejected });
    assert.deepEqual(done.rejects.by_rule, byRuleRecord(report));
    assert.equal(await count('SELECT count(*) AS n FROM public.dry_orders'), report.target.would_insert);
    const realEvents = await db.pool.query<{ payload: { data: { dry_run?: boolean } } }>('SELECT payload FROM sluice.events WHERE run_id = $1', [real.id]);
    assert.ok(realEvents.rows.length > 0 && realEvents.rows.every((e) => e.payload.data.dry_run === undefined));

    // A dry run after the real run is not refused, and changes no table.
    const before = {
      rows: await count('SELECT count(*) AS n FROM public.dry_orders'),
      rejects: await count('SELECT count(*) AS n FROM public.dry_orders_rejects'),
      ledger: await count('SELECT count(*) AS n FROM sluice.load_ledger'),
    };
    const again = await sluice.run({ flowVersion: version, sourcePath: 'orders.csv', dryRun: true });
    const second = await again.wait({ timeoutMs: 90_000 });
    assert.notEqual(again.id, dry.id);
    assert.deepEqual(second.dry_run_report!.by_rule, report.by_rule);
    assert.equal(second.dry_run_report!.target.table_exists, true);
    assert.deepEqual(
      {
        rows: await count('SELECT count(*) AS n FROM public.dry_orders'),
        rejects: await count('SELECT count(*) AS n FROM public.dry_orders_rejects'),
        ledger: await count('SELECT count(*) AS n FROM sluice.load_ledger'),
      },
      before,
    );
    // A second real run is still refused: the dry runs did not change what "already loaded" means.
    await assert.rejects(sluice.run({ flowVersion: version, sourcePath: 'orders.csv' }), (error: Error & { code?: string }) => error.code === 'REPEATED_SOURCE_PATH');
  });

  it('upsert: would_insert and would_update match the keys SQL finds in the target', { timeout: 120_000 }, async () => {
    const version = await runner.publish(flowYaml('dry_upsert', 'public.dry_upsert', 'upsert'));
    // The target holds the valid ids of 1..3000 (orders.csv); the next batch has ids 2001..4500.
    const loaded = await (await sluice.run({ flowVersion: version, sourcePath: 'orders.csv' })).wait({ timeoutMs: 90_000 });
    assert.equal(loaded.rows.written, orders.valid.length);
    const next = ordersCsv(2001, 2500);
    writeFileSync(path.join(stack.dir, 'orders-next.csv'), next.text);
    const expectedUpdates = await count('SELECT count(*) AS n FROM public.dry_upsert WHERE id = ANY($1::bigint[])', [next.valid]);
    const expectedInserts = next.valid.length - expectedUpdates;
    assert.ok(expectedUpdates > 0 && expectedInserts > 0, 'both kinds occur');
    const rowsBefore = await count('SELECT count(*) AS n FROM public.dry_upsert');
    const sumBefore = await count('SELECT sum(amount)::bigint AS n FROM public.dry_upsert');

    const dry = await (await sluice.run({ flowVersion: version, sourcePath: 'orders-next.csv', dryRun: true })).wait({ timeoutMs: 90_000 });
    const target = dry.dry_run_report!.target;
    assert.deepEqual(
      { write: target.write, table_exists: target.table_exists, would_insert: target.would_insert, would_update: target.would_update },
      { write: 'upsert', table_exists: true, would_insert: expectedInserts, would_update: expectedUpdates },
    );
    assert.equal(await count('SELECT count(*) AS n FROM public.dry_upsert'), rowsBefore);
    assert.equal(await count('SELECT sum(amount)::bigint AS n FROM public.dry_upsert'), sumBefore);

    assert.equal(target.duplicate_keys, 0);
    // A batch holding a key twice: the dry run says a real run would fail, and it does.
    writeFileSync(path.join(stack.dir, 'orders-dup.csv'), 'id,amount,status\n9001,1,open\n9002,2,open\n9002,3,paid\n9003,4,open\n9003,5,open\n9003,6,paid\n');
    const dup = await (await sluice.run({ flowVersion: version, sourcePath: 'orders-dup.csv', dryRun: true })).wait({ timeoutMs: 90_000 });
    assert.equal(dup.dry_run_report!.target.duplicate_keys, 5);
    assert.match(dup.dry_run_report!.target.note, /a real run would fail \(TARGET_REJECTED_LOAD\)/);
    await assert.rejects((await sluice.run({ flowVersion: version, sourcePath: 'orders-dup.csv' })).wait({ timeoutMs: 90_000 }), (error: unknown) => {
      assert.ok(error instanceof RunFailedError);
      assert.equal(error.error.code, 'TARGET_REJECTED_LOAD');
      return true;
    });

    // The real run afterwards adds exactly would_insert rows.
    const real = await (await sluice.run({ flowVersion: version, sourcePath: 'orders-next.csv' })).wait({ timeoutMs: 90_000 });
    assert.equal(real.rows.mapped, target.would_insert + target.would_update!);
    assert.equal(await count('SELECT count(*) AS n FROM public.dry_upsert'), rowsBefore + target.would_insert);
  });

  it('replace: reports the rows a real run would delete, and deletes none', { timeout: 120_000 }, async () => {
    const version = await runner.publish(flowYaml('dry_replace', 'public.dry_replace', 'append').replace('write: append', 'write: replace'));
    await (await sluice.run({ flowVersion: version, sourcePath: 'orders.csv' })).wait({ timeoutMs: 90_000 });
    writeFileSync(path.join(stack.dir, 'orders-small.csv'), ordersCsv(1, 40).text);
    const existing = await count('SELECT count(*) AS n FROM public.dry_replace');
    const dry = await (await sluice.run({ flowVersion: version, sourcePath: 'orders-small.csv', dryRun: true })).wait({ timeoutMs: 90_000 });
    const small = ordersCsv(1, 40);
    assert.deepEqual(
      { ...dry.dry_run_report!.target, note: undefined },
      { location: 'warehouse:public.dry_replace', write: 'replace', table_exists: true, would_insert: small.valid.length, would_update: 0, existing_rows: existing, note: undefined },
    );
    assert.match(dry.dry_run_report!.target.note, new RegExp(`replace: the table's ${existing} rows would be deleted, then ${small.valid.length} inserted`));
    assert.equal(await count('SELECT count(*) AS n FROM public.dry_replace'), existing);
  });

  it('above max_reject_ratio it ends FAILED like a real run, with its report, writing nothing', { timeout: 120_000 }, async () => {
    const version = await runner.publish(`${flowYaml('dry_ratio', 'public.dry_ratio', 'append')}max_reject_ratio: 0.05\n`);
    const dry = await sluice.run({ flowVersion: version, sourcePath: 'orders.csv', dryRun: true });
    const failed = await dry.wait({ timeoutMs: 90_000 }).then(
      () => assert.fail('a dry run above max_reject_ratio must fail'),
      (error: unknown) => error,
    );
    assert.ok(failed instanceof RunFailedError);
    assert.equal(failed.error.code, 'REJECT_RATIO_EXCEEDED');
    const rejected = orders.badAmount + orders.badStatus - orders.both;
    assert.equal(failed.metadata?.dry_run, true);
    assert.deepEqual(failed.metadata?.dry_run_report?.rows, { read: 3000, mapped: 3000 - rejected, rejected });
    assert.equal(failed.metadata?.dry_run_report?.samples.length, 20);
    assert.equal(await exists('public.dry_ratio'), false);
    assert.equal(await exists('public.dry_ratio_rejects'), false);
  });

  it('the CLI: run --dry-run prints the report, and --json holds it', { timeout: 120_000 }, async () => {
    const version = await runner.publish(flowYaml('dry_cli', 'public.dry_cli', 'append'));
    const env = { ...process.env, DATABASE_URL: db.url, TEMPORAL_ADDRESS: stack.env.address, SLUICE_TASK_QUEUE: stack.config.temporal.taskQueue };
    const json = await runCli(['run', version, '--source', 'orders.csv', '--dry-run', '--json'], { cwd: stack.dir, env });
    assert.equal(json.code, 0, json.stderr);
    const out = JSON.parse(json.stdout) as { id: string; status: string; metadata: RunMetadata };
    assert.equal(out.status, 'PARTIAL_FAILED');
    assert.equal(out.metadata.dry_run, true);
    assert.equal(out.metadata.dry_run_report!.samples.length, 20);
    const text = await runCli(['run', version, '--source', 'orders.csv', '--dry-run'], { cwd: stack.dir, env });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /dry run: nothing was written to the target/);
    assert.match(text.stdout, new RegExp(`target: warehouse:public\\.dry_cli \\(append\\): ${out.metadata.rows.mapped} would be inserted, table would be created`));
    assert.match(text.stdout, new RegExp(`amount\\s+type\\s+${orders.badAmount}\\n`));
    assert.match(text.stdout, /ROW\s+ERRORS\s+RECORD\n\s+7\s+amount:type: /);
    assert.equal(await exists('public.dry_cli'), false);
  });
});
