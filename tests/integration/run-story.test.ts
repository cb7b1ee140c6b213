/**
 * Integration (issue 11, "runs tell their story"), on the real Temporal dev server and PostgreSQL with an
 * in-process worker: rejects of a forced rerun told apart by `execution_id`; a source_path that reads 0 rows
 * (default: SUCCEEDED with an EMPTY_SOURCE warning, not marked loaded; `on_empty: fail`: FAILED); `runs list`
 * with a header, source_path and counts, and its `--json` in snake_case; the run series on the gateway's `/metrics`.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RunFailedError, type Sluice } from '../../client/sluice';
import { RUNS_TABLE_HEADER } from '../../cli/run-output';
import { startGateway, type Gateway } from '../../webhook-gateway/gateway';
import { logger, runCli, startRunStack, type CliResult, type RunStack } from '../helpers/services';
import { nonSnakeKeys } from '../helpers/snake-case';

const ORDERS_CSV = ['id,name,amount', '1,alpha,10', '2,beta,abc', '3,,5', '4,delta,7'].join('\n');

const flow = (name: string, extra = '') => `
name: ${name}
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.${name}, write: append }
fields:
  id:     { from: id, type: int64, required: true }
  name:   { from: name, type: string, required: true }
  amount: { from: amount, type: int64 }
${extra}
`;

describe('runs tell their story', () => {
  let stack: RunStack;
  let sluice: Sluice;
  let gateway: Gateway;

  const cli = (args: string[]): Promise<CliResult> =>
    runCli(args, {
      cwd: stack.dir,
      env: {
        ...process.env,
        DATABASE_URL: stack.db.url,
        TEMPORAL_ADDRESS: stack.env.address,
        SLUICE_TASK_QUEUE: stack.config.temporal.taskQueue,
        SLUICE_STATE_DIR: path.join(stack.config.staging.dir, 'state'),
      },
    });

  before(async () => {
    stack = await startRunStack({ connectors: () => ({ files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } }) });
    sluice = stack.sluice;
    writeFileSync(path.join(stack.dir, 'orders.csv'), ORDERS_CSV);
    writeFileSync(path.join(stack.dir, 'empty.csv'), 'id,name,amount\n');
    gateway = await startGateway({ config: stack.config, logger, port: 0, deliveries: false, connection: stack.env.connection });
  });

  after(async () => {
    await gateway?.close();
    await stack?.stop();
  });

  it('a forced rerun: each execution\'s rejects carry its execution_id, and each count matches its metadata', { timeout: 120_000 }, async () => {
    const version = await stack.runner.publish(flow('story_orders'));
    const first = await (await sluice.run({ flowVersion: version, sourcePath: 'orders.csv' })).wait({ timeoutMs: 60_000 });
    const second = await (await sluice.run({ flowVersion: version, sourcePath: 'orders.csv', forceRerun: true })).wait({ timeoutMs: 60_000 });
    assert.equal(first.run.id, second.run.id, 'a forced rerun keeps the run id');
    assert.notEqual(first.run.execution_id, second.run.execution_id);
    assert.deepEqual([first.rows, second.rows], [
      { read: 4, mapped: 2, rejected: 2, written: 2 },
      { read: 4, mapped: 2, rejected: 2, written: 2 },
    ]);
    const byExecution = await stack.db.pool.query<{ run_id: string; execution_id: string; n: string; row_numbers: string[] }>(
      `SELECT run_id, execution_id, count(*) AS n, array_agg(row_number::text ORDER BY row_number) AS row_numbers
       FROM public.story_orders_rejects GROUP BY run_id, execution_id ORDER BY min(rejected_at)`,
    );
    assert.deepEqual(byExecution.rows, [
      { run_id: first.run.id, execution_id: first.run.execution_id, n: String(first.rows.rejected), row_numbers: ['2', '3'] },
      { run_id: second.run.id, execution_id: second.run.execution_id, n: String(second.rows.rejected), row_numbers: ['2', '3'] },
    ]);
  });

  it('a rejects table created before execution_id gains the column (null for its old rows)', { timeout: 120_000 }, async () => {
    await stack.db.pool.query(`CREATE TABLE public.legacy_rejects (run_id text NOT NULL, flow_version text NOT NULL, source_path text NOT NULL,
      row_number bigint NOT NULL, record jsonb NOT NULL, errors jsonb NOT NULL, rejected_at timestamptz NOT NULL DEFAULT now())`);
    await stack.db.pool.query(`INSERT INTO public.legacy_rejects (run_id, flow_version, source_path, row_number, record, errors) VALUES ('old', 'legacy:v0', 'x.csv', 1, '{}', '[]')`);
    const version = await stack.runner.publish(flow('legacy'));
    const metadata = await (await sluice.run({ flowVersion: version, sourcePath: 'orders.csv' })).wait({ timeoutMs: 60_000 });
    const rows = await stack.db.pool.query('SELECT run_id, execution_id, count(*)::int AS n FROM public.legacy_rejects GROUP BY 1, 2 ORDER BY execution_id NULLS FIRST');
    assert.deepEqual(rows.rows, [
      { run_id: 'old', execution_id: null, n: 1 },
      { run_id: metadata.run.id, execution_id: metadata.run.execution_id, n: 2 },
    ]);
  });

  it('0 rows read, by default: SUCCEEDED with an EMPTY_SOURCE warning, nothing written, and the source_path runs again', { timeout: 120_000 }, async () => {
    const version = await stack.runner.publish(flow('story_empty'));
    const first = await (await sluice.run({ flowVersion: version, sourcePath: 'empty.csv' })).wait({ timeoutMs: 60_000 });
    assert.equal(first.status, 'SUCCEEDED');
    assert.deepEqual(first.rows, { read: 0, mapped: 0, rejected: 0, written: 0 });
    assert.deepEqual(first.warnings, [
      {
        code: 'EMPTY_SOURCE',
        step: 'sync_source',
        message: 'source_path "empty.csv" read 0 rows; nothing was written and the source_path is not marked loaded (on_empty: fail makes this a failure)',
      },
    ]);
    assert.deepEqual(Object.keys(first.steps), ['sync_source', 'transform'], 'the empty chunk checked the columns; no load');
    // The run.succeeded event (webhook payload) carries the warning too.
    const event = await stack.db.pool.query(`SELECT type, payload FROM sluice.events WHERE execution_id = $1 ORDER BY seq DESC LIMIT 1`, [first.run.execution_id]);
    assert.equal(event.rows[0].type, 'run.succeeded');
    assert.deepEqual(event.rows[0].payload.data.warnings, first.warnings);
    assert.deepEqual(nonSnakeKeys(event.rows[0].payload), []);
    const table = await stack.db.pool.query(`SELECT to_regclass('public.story_empty') AS t`);
    assert.equal(table.rows[0].t, null, 'the target table was not even created');
    // Not "already loaded": the same (flow version, source_path) starts a new execution without force_rerun.
    const again = await sluice.run({ flowVersion: version, sourcePath: 'empty.csv' });
    const second = await again.wait({ timeoutMs: 60_000 });
    assert.equal(second.run.id, first.run.id);
    assert.notEqual(second.run.execution_id, first.run.execution_id);

    // The CLI prints the warning with the summary.
    const result = await cli(['run', version, '--source', 'empty.csv', '--wait']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^run story_empty-v1-[0-9a-f]+: SUCCEEDED$/m);
    assert.match(
      result.stdout,
      /^warning: EMPTY_SOURCE: source_path "empty\.csv" read 0 rows; nothing was written and the source_path is not marked loaded \(on_empty: fail makes this a failure\)$/m,
    );
  });

  it('0 rows read with on_empty: fail: FAILED with EMPTY_SOURCE in sync_source', { timeout: 120_000 }, async () => {
    const version = await stack.runner.publish(flow('story_strict', 'on_empty: fail'));
    const run = await sluice.run({ flowVersion: version, sourcePath: 'empty.csv' });
    const failure = await run.wait({ timeoutMs: 60_000 }).then(
      () => assert.fail('expected FAILED'),
      (error: unknown) => error,
    );
    assert.ok(failure instanceof RunFailedError);
    assert.equal(failure.status, 'FAILED');
    assert.deepEqual(failure.error, {
      code: 'EMPTY_SOURCE',
      step: 'sync_source',
      message:
        'source_path "empty.csv" read 0 rows and flow story_strict has on_empty: fail; check the source_path ' +
        "(or the connector's query for it), or remove on_empty: fail to let an empty batch succeed with a warning",
    });
  });

  it('runs list: a header, source_path and counts; --json in snake_case with the same facts', { timeout: 120_000 }, async () => {
    const result = await cli(['runs', 'list', '--flow', 'story_orders']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.deepEqual(lines[0]!.split(/ {2,}/), [...RUNS_TABLE_HEADER]);
    assert.equal(lines.length, 3, 'header and the two executions of story_orders');
    for (const line of lines.slice(1)) {
      const cells = line.split(/ {2,}/);
      assert.deepEqual(cells.slice(0, 8), [cells[0]!, 'PARTIAL_FAILED', 'story_orders:v1', 'orders.csv', '4', '2', '2', '2']);
      assert.match(cells[0]!, /^story_orders-v1-[0-9a-f]+$/);
      assert.match(cells[8]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    const json = await cli(['runs', 'list', '--flow', 'story_orders', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.equal(list.length, 2);
    assert.deepEqual(nonSnakeKeys(list), []);
    assert.deepEqual(Object.keys(list[0]!), ['id', 'execution_id', 'flow_version', 'status', 'source_path', 'rows', 'started_by', 'started_at', 'closed_at']);
    assert.deepEqual(list[0]!.rows, { read: 4, mapped: 2, rejected: 2, written: 2 });
    assert.equal(list[0]!.source_path, 'orders.csv');

    const status = await cli(['status', String(list[0]!.id), '--json']);
    assert.equal(status.code, 0, status.stderr);
    const run = JSON.parse(status.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(run), ['id', 'status', 'flow_version', 'source_path', 'rows', 'metadata']);
    assert.deepEqual(nonSnakeKeys(run), []);
  });

  it('/metrics shows the run series: runs by flow and status, rows by kind, step durations', async () => {
    const response = await fetch(`${gateway.url}/metrics`);
    assert.equal(response.status, 200);
    const body = await response.text();
    assert.match(body, /^sluice_runs_total\{flow="story_orders",status="PARTIAL_FAILED"\} 2$/m);
    assert.match(body, /^sluice_runs_total\{flow="story_empty",status="SUCCEEDED"\} 3$/m);
    assert.match(body, /^sluice_runs_total\{flow="story_strict",status="FAILED"\} 1$/m);
    for (const [kind, n] of [['read', 8], ['mapped', 4], ['rejected', 4], ['written', 4]] as const) {
      assert.match(body, new RegExp(`^sluice_run_rows_total\\{flow="story_orders",kind="${kind}"\\} ${n}$`, 'm'));
    }
    for (const step of ['sync_source', 'transform', 'sync_target']) {
      assert.match(body, new RegExp(`^sluice_run_step_duration_seconds_count\\{flow="story_orders",step="${step}"\\} 2$`, 'm'));
    }
    assert.match(body, /^sluice_run_step_duration_seconds_count\{flow="story_empty",step="transform"\} 3$/m);
    assert.doesNotMatch(body, /sluice_run_step_duration_seconds_count\{flow="story_empty",step="sync_target"\}/, 'an empty batch is not loaded');
  });
});
