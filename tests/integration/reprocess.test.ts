/**
 * Integration: reprocessing rejects and lineage (issue 13, parts 2 and 5) on the real Temporal dev server,
 * PostgreSQL and MariaDB.
 * - a v1 run rejects rows; v2 (one rule relaxed) `rejectsOf` the v1 run → exactly the rows v2 accepts are loaded
 *   with their ORIGINAL source row numbers, their v1 rejects are marked resolved in the same transaction (the
 *   `resolved_at` of each equals the ledger row's `loaded_at`: one transaction's `now()`), the rest are rejects of
 *   the reprocess with v2's reasons and `rejects_of` = the v1 run; the same reprocess again is refused;
 * - a worker process killed (SIGKILL) during the reprocess's load → the run finishes on a new worker, exactly once;
 * - the mysql target: the same reprocess loop;
 * - lineage: every target row's `(_sluice_run_id, _sluice_source_row)` is unique and points to a real source line;
 *   `target.lineage: false` makes a table without them; an existing table without them keeps loading.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { lineageNotice } from '../../cli/lineage-notice';
import { Sluice } from '../../client/sluice';
import { parseFlowSpec } from '../../flows/flow-spec';
import type { SluiceError } from '../../common/errors';
import { createMysqlTestDatabase, type MysqlTestDatabase } from '../helpers/mysql-server';
import { DEFAULT_WEBHOOK_SETTINGS } from '../../config/sluice-config';
import { hashToken } from '../../webhook-gateway/auth';
import { createGatewayApp } from '../../webhook-gateway/create-gateway-app';
import { startGatewayServer } from '../../webhook-gateway/server';
import { EventPublisher } from '../../webhooks/event-publisher';
import { WebhookService } from '../../webhooks/webhook-service';
import { killAll, logger, runCli, spawnCliWorker, startRunStack, type RunStack } from '../helpers/services';

/** `orders.csv`: ids 1..count (id = source row number); every 7th amount unreadable, every 11th status `lost`. */
function ordersCsv(count: number): { text: string; badAmount: Set<number>; badStatus: Set<number> } {
  const lines = ['id,amount,status'];
  const badAmount = new Set<number>();
  const badStatus = new Set<number>();
  for (let id = 1; id <= count; id++) {
    if (id % 7 === 0) badAmount.add(id);
    if (id % 11 === 0) badStatus.add(id);
    lines.push(`${id},${id % 7 === 0 ? 'n/a' : (id / 4).toFixed(2)},${id % 11 === 0 ? 'lost' : id % 2 === 0 ? 'open' : 'paid'}`);
  }
  return { text: `${lines.join('\n')}\n`, badAmount, badStatus };
}

/** v1 knows statuses open, paid; v2 also `lost`. */
const ordersFlow = (name: string, target: string, statuses: string, extra = '') => `
name: ${name}
source: { connector: files, format: csv }
target: { connector: ${target}, table: ${name}${extra} }
fields:
  id:     { from: id, type: int64, required: true }
  amount: { from: amount, type: float64 }
  status: { from: status, type: string, in: [${statuses}] }
`;

const codeOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return (error as SluiceError).code;
  }
  return 'no error';
};

describe('reprocessing rejects (postgres)', () => {
  let stack: RunStack;
  let sluice: Sluice;
  const COUNT = 3000;
  const orders = ordersCsv(COUNT);
  const both = [...orders.badAmount].filter((id) => orders.badStatus.has(id));
  const rejectedByV1 = new Set([...orders.badAmount, ...orders.badStatus]);
  const recoverable = [...orders.badStatus].filter((id) => !orders.badAmount.has(id)).sort((a, b) => a - b);

  before(async () => {
    stack = await startRunStack({ chunkRows: 700, connectors: () => ({ files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } }) });
    // With the workers' config: the client reads rejects back and checks the target kind before starting a reprocess.
    sluice = new Sluice({ connection: stack.env.connection, taskQueue: stack.config.temporal.taskQueue, databaseUrl: stack.db.url, config: stack.config });
    writeFileSync(path.join(stack.dir, 'orders.csv'), orders.text);
    // For the CLI and the worker processes run in the project dir.
    writeFileSync(path.join(stack.dir, 'sluice.config.yaml'), `connectors:\n  files: { kind: local, root: . }\n  warehouse: { kind: postgres }\n`);
  });

  after(async () => {
    await sluice?.close();
    await stack?.stop();
  });

  const rows = async <T>(sql: string, params: unknown[] = []) => (await stack.db.pool.query(sql, params)).rows as T[];

  it('v2 --rejects-of the v1 run loads exactly what v2 accepts, resolves those rejects in the same transaction, keeps the rest with v2 reasons', { timeout: 180_000 }, async () => {
    const v1 = await stack.runner.publish(ordersFlow('orders', 'warehouse', 'open, paid'));
    const first = await sluice.run({ flowVersion: v1, sourcePath: 'orders.csv' });
    const m1 = await first.wait({ timeoutMs: 90_000 });
    assert.equal(m1.status, 'PARTIAL_FAILED');
    assert.equal(m1.rows.rejected, rejectedByV1.size);

    // Lineage of the v1 load: every row's (run, source row) unique, and the source row is the row's real line (id = line).
    const columns = await rows<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_name = 'orders' ORDER BY ordinal_position`);
    assert.deepEqual(columns.map((c) => c.column_name), ['id', 'amount', 'status', '_sluice_run_id', '_sluice_source_row']);
    const lineage1 = (await rows<{ n: number; pairs: number; off: number; runs: string[] }>(
      `SELECT count(*)::int AS n, count(DISTINCT (_sluice_run_id, _sluice_source_row))::int AS pairs,
              count(*) FILTER (WHERE _sluice_source_row IS DISTINCT FROM id)::int AS off, array_agg(DISTINCT _sluice_run_id) AS runs FROM public.orders`,
    ))[0]!;
    assert.deepEqual(lineage1, { n: COUNT - rejectedByV1.size, pairs: COUNT - rejectedByV1.size, off: 0, runs: [first.id] });

    // v2 accepts status "lost": the rows rejected only for their status are recovered; bad amounts stay rejected.
    const v2 = await stack.runner.publish(ordersFlow('orders', 'warehouse', 'open, paid, lost'));
    const second = await sluice.run({ flowVersion: v2, rejectsOf: first.id });
    const m2 = await second.wait({ timeoutMs: 90_000 });
    assert.equal(m2.status, 'PARTIAL_FAILED');
    assert.equal(m2.run.source_path, `rejects-of:${first.id}`);
    assert.deepEqual(m2.rows, { read: rejectedByV1.size, mapped: recoverable.length, rejected: orders.badAmount.size, written: recoverable.length });
    assert.deepEqual(m2.rejects_of, {
      run_id: first.id,
      execution_id: m1.run.execution_id,
      flow_version: v1,
      source_path: 'orders.csv',
      recovered: recoverable.length,
      still_rejected: orders.badAmount.size,
    });
    assert.deepEqual(m2.rejects.by_rule, { 'amount:type': orders.badAmount.size });

    // Exactly the recovered rows were loaded, with their ORIGINAL source row numbers.
    const loaded = await rows<{ id: string; src: string }>(`SELECT id, _sluice_source_row AS src FROM public.orders WHERE _sluice_run_id = $1 ORDER BY id`, [second.id]);
    assert.deepEqual(loaded.map((r) => Number(r.id)), recoverable);
    assert.ok(loaded.every((r) => r.src === r.id), 'a reprocessed row keeps its original source row number');
    assert.equal((await rows<{ n: number }>('SELECT count(*)::int AS n FROM public.orders'))[0]!.n, COUNT - orders.badAmount.size);

    // Their v1 rejects are resolved by the reprocess, in its load's transaction (one now()); no other v1 reject is.
    const ledger = (await rows<{ loaded_at: Date }>('SELECT loaded_at FROM sluice.load_ledger WHERE run_id = $1', [second.id]))[0]!;
    const resolved = await rows<{ row_number: string; resolved_at: Date }>(
      `SELECT row_number, resolved_at FROM public.orders_rejects WHERE run_id = $1 AND resolved_by_run = $2 ORDER BY row_number`,
      [first.id, second.id],
    );
    assert.deepEqual(resolved.map((r) => Number(r.row_number)), recoverable);
    assert.ok(resolved.every((r) => r.resolved_at.getTime() === ledger.loaded_at.getTime()), 'resolved_at = the ledger row loaded_at: the same transaction');
    const unresolved = await rows<{ row_number: string }>(`SELECT row_number FROM public.orders_rejects WHERE run_id = $1 AND resolved_by_run IS NULL ORDER BY row_number`, [first.id]);
    assert.deepEqual(unresolved.map((r) => Number(r.row_number)), [...orders.badAmount].sort((a, b) => a - b));

    // The rows still failing are rejects of the reprocess now: v2's reasons, the original row numbers and source_path.
    const again = await rows<{ row_number: string; source_path: string; rejects_of: string; rules: string[]; record: Record<string, unknown> }>(
      `SELECT row_number, source_path, rejects_of, (SELECT array_agg(e->>'field' || ':' || (e->>'rule') ORDER BY 1) FROM jsonb_array_elements(errors) e) AS rules, record
       FROM public.orders_rejects WHERE run_id = $1 ORDER BY row_number`,
      [second.id],
    );
    assert.deepEqual(again.map((r) => Number(r.row_number)), [...orders.badAmount].sort((a, b) => a - b));
    assert.ok(again.every((r) => r.source_path === 'orders.csv' && r.rejects_of === first.id));
    assert.ok(again.every((r) => r.rules.length === 1 && r.rules[0] === 'amount:type'), 'v2 rejects them for the amount only');
    assert.deepEqual(again.find((r) => Number(r.row_number) === 77)!.record, { id: '77', amount: 'n/a', status: 'lost' });
    assert.ok(both.includes(77));

    // The rejects readers on main read the reprocess's rejects (and the v1 run's, with the new columns).
    const summary = await sluice.rejectsSummary(second.id);
    assert.equal(summary.rowsRejected, orders.badAmount.size);
    assert.deepEqual(summary.byFieldRule, [{ field: 'amount', rule: 'type', count: orders.badAmount.size }]);
    assert.equal((await sluice.rejectsSummary(first.id)).rowsRejected, rejectedByV1.size);

    // A target row joins to its reject history through (run, source row): a recovered row's v1 reject.
    const history = await rows<{ rejected_by: string; source_path: string }>(
      `SELECT r.run_id AS rejected_by, r.source_path FROM public.orders o JOIN public.orders_rejects r
         ON r.resolved_by_run = o._sluice_run_id AND r.row_number = o._sluice_source_row WHERE o.id = 11`,
    );
    assert.deepEqual(history, [{ rejected_by: first.id, source_path: 'orders.csv' }]);

    // The same reprocess again is refused; forced, it reads only the still-unresolved rejects (none recoverable).
    assert.equal(await codeOf(sluice.run({ flowVersion: v2, rejectsOf: first.id })), 'REJECTS_OF_REPROCESSED');
    const forced = await sluice.run({ flowVersion: v2, rejectsOf: first.id, forceRerun: true });
    const m3 = await forced.wait({ timeoutMs: 90_000 });
    assert.deepEqual({ read: m3.rows.read, mapped: m3.rows.mapped }, { read: orders.badAmount.size, mapped: 0 });
    assert.equal((await rows<{ n: number }>('SELECT count(*)::int AS n FROM public.orders'))[0]!.n, COUNT - orders.badAmount.size, 'nothing loaded twice');
  });

  it('refuses what cannot be reprocessed, with clear codes', { timeout: 60_000 }, async () => {
    const other = await stack.runner.publish(ordersFlow('others', 'warehouse', 'open, paid'));
    const v1 = 'orders:v1';
    const first = (await sluice.listRuns({ flowVersion: v1 }))[0]!;
    assert.equal(await codeOf(sluice.run({ flowVersion: other, rejectsOf: first.id })), 'REJECTS_OF_INVALID', 'another flow');
    assert.equal(await codeOf(sluice.run({ flowVersion: v1, rejectsOf: 'orders-v1-0000000000000000' })), 'REJECTS_OF_INVALID', 'no such run');
    assert.equal(await codeOf(sluice.run({ flowVersion: v1, rejectsOf: first.id, sourcePath: 'orders.csv' })), 'INVALID_SOURCE_PATH', 'both');
    const clean = await stack.runner.publish(ordersFlow('others', 'warehouse', 'open, paid, lost').replace("type: float64 }", 'type: string }'));
    const ok = await sluice.run({ flowVersion: clean, sourcePath: 'orders.csv' });
    assert.equal((await ok.wait({ timeoutMs: 90_000 })).status, 'SUCCEEDED');
    assert.equal(await codeOf(sluice.run({ flowVersion: clean, rejectsOf: ok.id })), 'REJECTS_OF_INVALID', 'no rejects');
    // An s3 target (per the client's config) cannot reprocess: refused before anything starts.
    const s3Client = new Sluice({
      connection: stack.env.connection,
      taskQueue: stack.config.temporal.taskQueue,
      databaseUrl: stack.db.url,
      config: { ...stack.config, connectors: { ...stack.config.connectors, warehouse: { kind: 's3', endpoint: 'http://127.0.0.1:1', region: 'us-east-1' } as never } },
    });
    try {
      assert.equal(await codeOf(s3Client.run({ flowVersion: 'orders:v2', rejectsOf: first.id })), 'REJECTS_OF_UNSUPPORTED');
    } finally {
      await s3Client.close();
    }
  });

  it('the API and the CLI: a reprocess over HTTP, refusals as 409/400 and exit 2', { timeout: 180_000 }, async () => {
    const WRITER = 'writer-token-0123456789';
    const webhooks = new WebhookService(new EventPublisher(stack.db.pool, sluice.client, `${stack.config.temporal.taskQueue}-webhooks`, logger), DEFAULT_WEBHOOK_SETTINGS);
    const app = createGatewayApp({ sluice, tokens: [{ name: 'writer', sha256: hashToken(WRITER), scopes: ['runs:read', 'runs:write'] }], logger, pool: stack.db.pool, webhooks });
    const gateway = await startGatewayServer(app, { port: 0, host: '127.0.0.1' });
    const post = async (body: unknown) => {
      const response = await fetch(`${gateway.url}/v1/runs`, { method: 'POST', headers: { authorization: `Bearer ${WRITER}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as { id?: string; source_path?: string; error?: { code: string; message: string } } };
    };
    try {
      const first = (await sluice.listRuns({ flowVersion: 'orders:v1' }))[0]!;
      // orders:v3 maps only id and status: the v1 rejects still unresolved (the bad amounts) all pass now.
      const v3 = await stack.runner.publish(ordersFlow('orders', 'warehouse', 'open, paid, lost').replace(/ {2}amount:.*\n/, ''));
      assert.equal(v3, 'orders:v3');
      const started = await post({ flow_version: v3, rejects_of: first.id });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      assert.equal(started.body.source_path, `rejects-of:${first.id}`);
      const done = await (await sluice.getRun(started.body.id!)).wait({ timeoutMs: 90_000 });
      assert.equal(done.status, 'SUCCEEDED');
      assert.deepEqual({ recovered: done.rejects_of?.recovered, still: done.rejects_of?.still_rejected }, { recovered: orders.badAmount.size, still: 0 });
      assert.equal((await rows<{ n: number }>('SELECT count(*)::int AS n FROM public.orders'))[0]!.n, COUNT, 'every source row is loaded once');
      assert.equal((await rows<{ n: number }>('SELECT count(DISTINCT _sluice_source_row)::int AS n FROM public.orders'))[0]!.n, COUNT);
      assert.equal((await rows<{ n: number }>('SELECT count(*)::int AS n FROM public.orders_rejects WHERE run_id = $1 AND resolved_by_run IS NULL', [first.id]))[0]!.n, 0);

      const again = await post({ flow_version: v3, rejects_of: first.id });
      assert.deepEqual({ status: again.status, code: again.body.error?.code }, { status: 409, code: 'REJECTS_OF_REPROCESSED' });
      const both = await post({ flow_version: v3, rejects_of: first.id, source_path: 'orders.csv' });
      assert.deepEqual({ status: both.status, code: both.body.error?.code }, { status: 400, code: 'VALIDATION_FAILED' });
      const unknown = await post({ flow_version: v3, rejects_of: 'orders-v1-0000000000000000' });
      assert.deepEqual({ status: unknown.status, code: unknown.body.error?.code }, { status: 422, code: 'REJECTS_OF_INVALID' });

      // The CLI: the same repeat is refused with exit 2, in Sluice's words.
      const env = { PATH: process.env.PATH, DATABASE_URL: stack.db.url, TEMPORAL_ADDRESS: stack.env.address, SLUICE_TASK_QUEUE: stack.config.temporal.taskQueue, SLUICE_LOG_LEVEL: 'error' };
      const cli = await runCli(['run', v3, '--rejects-of', first.id], { cwd: stack.dir, env });
      assert.equal(cli.code, 2, cli.stderr);
      assert.match(cli.stderr, new RegExp(`orders:v3 already reprocessed the rejects of run ${first.id}`));
      const neither = await runCli(['run', v3], { cwd: stack.dir, env });
      assert.equal(neither.code, 1);
      assert.match(neither.stderr, /give exactly one of --source <source_path> and --rejects-of <run-id>/);
    } finally {
      await gateway.close();
    }
  });

  it('lineage: false makes a table without lineage columns; an existing table without them keeps loading', { timeout: 120_000 }, async () => {
    const off = await stack.runner.publish(ordersFlow('orders_plain', 'warehouse', 'open, paid, lost', ', lineage: false'));
    const run = await sluice.run({ flowVersion: off, sourcePath: 'orders.csv' });
    assert.equal((await run.wait({ timeoutMs: 90_000 })).rows.written, COUNT - orders.badAmount.size);
    const plain = await rows<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_name = 'orders_plain' ORDER BY ordinal_position`);
    assert.deepEqual(plain.map((c) => c.column_name), ['id', 'amount', 'status']);

    await stack.db.pool.query('CREATE TABLE public.orders_old (id bigint NOT NULL, amount double precision, status text)');
    const oldYaml = ordersFlow('orders_old', 'warehouse', 'open, paid, lost');
    // `sluice flows publish` says so (cli/lineage-notice.ts); not for a table that has them, nor with lineage: false.
    assert.equal(
      await lineageNotice(stack.config, parseFlowSpec(oldYaml)),
      'notice: orders_old exists without the lineage columns _sluice_run_id, _sluice_source_row; runs keep loading it without them. ' +
        'To trace rows to their run and source line, add them: ALTER TABLE orders_old ADD COLUMN _sluice_run_id text, ADD COLUMN _sluice_source_row bigint; ' +
        'or set target.lineage: false to silence this notice',
    );
    assert.equal(await lineageNotice(stack.config, parseFlowSpec(ordersFlow('orders', 'warehouse', 'open'))), null);
    assert.equal(await lineageNotice(stack.config, parseFlowSpec(ordersFlow('orders_old', 'warehouse', 'open', ', lineage: false'))), null);
    const old = await stack.runner.publish(oldYaml);
    const loaded = await sluice.run({ flowVersion: old, sourcePath: 'orders.csv' });
    assert.equal((await loaded.wait({ timeoutMs: 90_000 })).rows.written, COUNT - orders.badAmount.size);
    const oldColumns = await rows<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_name = 'orders_old' ORDER BY ordinal_position`);
    assert.deepEqual(oldColumns.map((c) => c.column_name), ['id', 'amount', 'status']);
    assert.equal((await rows<{ n: number }>('SELECT count(*)::int AS n FROM public.orders_old'))[0]!.n, COUNT - orders.badAmount.size);
  });

  it('a worker killed (SIGKILL) during the reprocess load: the run finishes on a new worker, exactly once', { timeout: 300_000 }, async () => {
    const ROWS = 200_000;
    // Every row fails v1 (status "x" is not allowed), so the reprocess recovers ROWS rows.
    const lines = ['id,amount,status'];
    for (let id = 1; id <= ROWS; id++) lines.push(`${id},${id % 100},x`);
    writeFileSync(path.join(stack.dir, 'bulk.csv'), `${lines.join('\n')}\n`);
    const taskQueue = `reprocess-crash-${Date.now()}`;
    const workerEnv = {
      DATABASE_URL: stack.db.url,
      TEMPORAL_ADDRESS: stack.env.address,
      SLUICE_TASK_QUEUE: taskQueue,
      SLUICE_STAGING_DIR: path.join(stack.dir, '.staging-crash'),
      SLUICE_CHUNK_ROWS: '50000',
    };
    const workers: ChildProcess[] = [];
    const client = new Sluice({ connection: stack.env.connection, taskQueue, databaseUrl: stack.db.url });
    try {
      const v1 = await stack.runner.publish(ordersFlow('bulk', 'warehouse', 'open, paid'));
      const v2 = await stack.runner.publish(ordersFlow('bulk', 'warehouse', 'x'));
      workers.push(spawnCliWorker(stack.dir, workerEnv));
      const first = await client.run({ flowVersion: v1, sourcePath: 'bulk.csv' });
      assert.equal((await first.wait({ timeoutMs: 180_000 })).rows.rejected, ROWS);

      const second = await client.run({ flowVersion: v2, rejectsOf: first.id });
      const deadline = Date.now() + 120_000;
      let loading = false;
      while (!loading && Date.now() < deadline) {
        const active = await rows<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query ILIKE 'COPY "public"."bulk" %'`,
        );
        loading = active[0]!.n > 0;
        if (!loading) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(loading, 'the COPY of the reprocess into public.bulk was seen running');
      workers[0]!.kill('SIGKILL');
      await new Promise((resolve) => workers[0]!.once('exit', resolve));
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await rows<{ n: number }>('SELECT count(*)::int AS n FROM public.bulk'))[0]!.n, 0, 'the killed load left no rows behind');
      assert.equal((await rows<{ n: number }>('SELECT count(*)::int AS n FROM public.bulk_rejects WHERE resolved_by_run IS NOT NULL'))[0]!.n, 0, 'and resolved nothing');

      workers.push(spawnCliWorker(stack.dir, workerEnv));
      const done = await second.wait({ timeoutMs: 240_000, pollIntervalMs: 500 });
      assert.equal(done.status, 'SUCCEEDED');
      assert.deepEqual(done.rejects_of?.recovered, ROWS);
      const counts = (await rows<{ n: number; ids: number; src: number; lo: number; hi: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids, count(DISTINCT _sluice_source_row)::int AS src, min(id)::int AS lo, max(id)::int AS hi FROM public.bulk WHERE _sluice_run_id = $1`,
        [second.id],
      ))[0]!;
      assert.deepEqual(counts, { n: ROWS, ids: ROWS, src: ROWS, lo: 1, hi: ROWS });
      assert.equal((await rows<{ n: number }>('SELECT count(*)::int AS n FROM public.bulk WHERE _sluice_source_row <> id'))[0]!.n, 0);
      assert.equal((await rows<{ n: number }>('SELECT count(*)::int AS n FROM public.bulk_rejects WHERE run_id = $1 AND resolved_by_run = $2', [first.id, second.id]))[0]!.n, ROWS);
      assert.equal((await rows<{ n: number }>('SELECT count(*)::int AS n FROM sluice.load_ledger WHERE run_id = $1', [second.id]))[0]!.n, 1);
      const history = await stack.env.client.workflow.getHandle(second.id).fetchHistory();
      const attempts = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
      assert.ok(attempts.some((a) => a >= 2), `the load was retried (attempts: ${attempts.join(', ')})`);
    } finally {
      killAll(workers);
      await client.close();
    }
  });
});

describe('reprocessing rejects (mysql target)', () => {
  let stack: RunStack;
  let mysql: MysqlTestDatabase;
  const orders = ordersCsv(500);

  before(async () => {
    mysql = await createMysqlTestDatabase();
    stack = await startRunStack({ chunkRows: 200, connectors: () => ({ files: { kind: 'local', root: '.' }, shop: { kind: 'mysql', url: mysql.url } }) });
    writeFileSync(path.join(stack.dir, 'orders.csv'), orders.text);
  });

  after(async () => {
    await stack?.stop();
    await mysql?.drop();
  });

  it('v2 --rejects-of the v1 run: recovered rows loaded with lineage, their rejects resolved, the rest rejected again', { timeout: 180_000 }, async () => {
    const v1 = await stack.runner.publish(ordersFlow('orders', 'shop', 'open, paid'));
    const first = await stack.sluice.run({ flowVersion: v1, sourcePath: 'orders.csv' });
    const m1 = await first.wait({ timeoutMs: 90_000 });
    const rejectedByV1 = new Set([...orders.badAmount, ...orders.badStatus]);
    assert.equal(m1.rows.rejected, rejectedByV1.size);
    const v2 = await stack.runner.publish(ordersFlow('orders', 'shop', 'open, paid, lost'));
    const second = await stack.sluice.run({ flowVersion: v2, rejectsOf: first.id });
    const m2 = await second.wait({ timeoutMs: 90_000 });
    const recoverable = [...orders.badStatus].filter((id) => !orders.badAmount.has(id)).sort((a, b) => a - b);
    assert.deepEqual({ recovered: m2.rejects_of?.recovered, still: m2.rejects_of?.still_rejected }, { recovered: recoverable.length, still: orders.badAmount.size });

    const [loaded] = await mysql.connection.query<RowDataPacket[]>('SELECT id, _sluice_source_row AS src FROM orders WHERE _sluice_run_id = ? ORDER BY id', [second.id]);
    assert.deepEqual(loaded.map((r) => Number(r.id)), recoverable);
    assert.ok(loaded.every((r) => Number(r.src) === Number(r.id)));
    const [lineage] = await mysql.connection.query<RowDataPacket[]>('SELECT COUNT(*) AS n, COUNT(DISTINCT _sluice_run_id, _sluice_source_row) AS pairs, SUM(_sluice_source_row <> id) AS off FROM orders');
    assert.deepEqual({ n: Number(lineage[0]!.n), pairs: Number(lineage[0]!.pairs), off: Number(lineage[0]!.off) }, { n: 500 - orders.badAmount.size, pairs: 500 - orders.badAmount.size, off: 0 });
    const [resolved] = await mysql.connection.query<RowDataPacket[]>('SELECT `row_number` AS r FROM orders_rejects WHERE run_id = ? AND resolved_by_run = ? ORDER BY `row_number`', [first.id, second.id]);
    assert.deepEqual(resolved.map((r) => Number(r.r)), recoverable);
    const [again] = await mysql.connection.query<RowDataPacket[]>('SELECT `row_number` AS r, rejects_of, source_path FROM orders_rejects WHERE run_id = ? ORDER BY `row_number`', [second.id]);
    assert.deepEqual(again.map((r) => Number(r.r)), [...orders.badAmount].sort((a, b) => a - b));
    assert.ok(again.every((r) => r.rejects_of === first.id && r.source_path === 'orders.csv'));
    assert.equal(await codeOf(stack.sluice.run({ flowVersion: v2, rejectsOf: first.id })), 'REJECTS_OF_REPROCESSED');
  });
});
