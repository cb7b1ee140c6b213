/**
 * Integration: inspecting a run's rejects (docs/rejects.md "Inspecting rejects") on real services — the Temporal
 * dev server, PostgreSQL, versitygw (S3), MariaDB and an in-process worker — through the CLI (`sluice rejects`, a child
 * process), the gateway's API (real HTTP) and the SDK. Every expectation is computed independently: with SQL on
 * the rejects table, or by reading the S3 rejects object with Polars.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pl from 'nodejs-polars';
import { Sluice } from '../../client/sluice';
import type { GatewayToken, SluiceConfig } from '../../config/sluice-config';
import { DEFAULT_WEBHOOK_SETTINGS } from '../../config/sluice-config';
import type { RejectRow } from '../../connectors/rejects';
import { createGatewayApp } from '../../webhook-gateway/create-gateway-app';
import { hashToken } from '../../webhook-gateway/auth';
import { startGatewayServer, type GatewayServer } from '../../webhook-gateway/server';
import { EventPublisher } from '../../webhooks/event-publisher';
import { WebhookService } from '../../webhooks/webhook-service';
import { createMysqlTestDatabase, mysqlSkip, type MysqlTestDatabase } from '../helpers/mysql-server';
import { startS3Server, type S3Server } from '../helpers/s3-server';
import { nonSnakeKeys } from '../helpers/snake-case';
import { logger, PROJECT_DIR, runCli, startRunStack, type CliResult, type RunStack } from '../helpers/services';

const READER = 'ri-reader-token-0123456789';
const HOOKS = 'ri-hooks-token-0123456789';
const TOKENS: GatewayToken[] = [
  { name: 'reader', sha256: hashToken(READER), scopes: ['runs:read'] },
  { name: 'hooks', sha256: hashToken(HOOKS), scopes: ['webhooks:read'] },
];

const BUCKET = 'ri-exports';
const ROWS = 3000;

/** Orders with defects on known rows: type errors, missing names, negative amounts, unknown countries (some rows several). */
function ordersCsv(): string {
  let text = 'id,name,amount,country\n';
  for (let i = 1; i <= ROWS; i++) {
    const amount = i % 7 === 0 ? `x${i % 3}` : i % 13 === 0 ? String(-i) : String(i * 10);
    const name = i % 11 === 0 ? '' : `name ${i}`;
    const country = i % 5 === 0 ? 'ZZ' : ['FR', 'DE', 'US'][i % 3]!;
    text += `${i},${name},${amount},${country}\n`;
  }
  return text;
}

const fields = `
fields:
  id:      { from: id, type: int64, required: true }
  name:    { from: name, type: string, required: true }
  amount:  { from: amount, type: int64, check: "amount >= 0" }
  country: { from: country, type: string, in: [FR, DE, US] }
`;

const pgFlow = `
name: ri_orders
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.ri_orders, write: append }
${fields}`;

const s3Flow = `
name: ri_orders_s3
source: { connector: files, format: csv }
target: { connector: lake, path: "s3://${BUCKET}/orders/{run_id}.csv", format: csv, write: append }
${fields}`;

const mysqlFlow = `
name: ri_orders_my
source: { connector: files, format: csv }
target: { connector: shop, table: ri_orders, write: append }
${fields}`;

const strictFlow = `
name: ri_orders_strict
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.ri_orders_strict, write: append }
max_reject_ratio: 0.01
${fields}`;

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON answers, asserted field by field
}

interface Group {
  field: string | null;
  rule: string;
  count: number;
}

const byGroup = (a: Group, b: Group) => `${a.field}:${a.rule}`.localeCompare(`${b.field}:${b.rule}`);

describe('inspecting rejects (CLI, API, SDK) on postgres, s3 and mysql targets', () => {
  let stack: RunStack;
  let s3: S3Server;
  let s3Client: S3Client;
  let sluice: Sluice;
  let gateway: GatewayServer;
  let pgRun: string;
  let s3Run: string;
  let my: MysqlTestDatabase | undefined;
  let mysqlSkipped: string | false;
  let cliEnv: NodeJS.ProcessEnv;

  const cli = (args: string[]): Promise<CliResult> => runCli(args, { cwd: stack.dir, env: cliEnv });

  async function call(route: string, token = READER): Promise<Answer> {
    const response = await fetch(`${gateway.url}${route}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: await response.json() };
  }

  /** The rejects table grouped by (field, rule), counted with SQL. */
  async function sqlGroups(runId: string): Promise<Group[]> {
    const result = await stack.db.pool.query<Group>(
      `SELECT e->>'field' AS field, e->>'rule' AS rule, count(*)::int AS count FROM public.ri_orders_rejects r, jsonb_array_elements(r.errors) e
       WHERE r.run_id = $1 GROUP BY 1, 2`,
      [runId],
    );
    return result.rows.sort(byGroup);
  }

  async function sqlRejects(runId: string, where = 'TRUE', params: unknown[] = []): Promise<{ row_number: number; record: Record<string, unknown>; errors: unknown[] }[]> {
    const result = await stack.db.pool.query(`SELECT row_number::int, record, errors FROM public.ri_orders_rejects WHERE run_id = $1 AND ${where} ORDER BY row_number`, [runId, ...params]);
    return result.rows as never;
  }

  /** Every reject through the SDK, `limit` at a time. */
  async function pageAll(runId: string, query: { rule?: string; field?: string; limit: number }): Promise<{ rows: RejectRow[]; pages: number }> {
    const rows: RejectRow[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await sluice.rejects(runId, { ...query, ...(cursor ? { cursor } : {}) });
      assert.ok(page.rows.length <= query.limit);
      rows.push(...page.rows);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    return { rows, pages };
  }

  before(async () => {
    s3 = await startS3Server(PROJECT_DIR);
    const lake = { kind: 's3' as const, endpoint: s3.endpoint, region: s3.region, force_path_style: true, access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey };
    mysqlSkipped = await mysqlSkip();
    if (!mysqlSkipped) my = await createMysqlTestDatabase();
    const shop: SluiceConfig['connectors'] = my ? { shop: { kind: 'mysql', url: my.url } } : {};
    stack = await startRunStack({ connectors: () => ({ files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' }, lake, ...shop }) });
    s3Client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    await s3Client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    writeFileSync(path.join(stack.dir, 'orders.csv'), ordersCsv());
    writeFileSync(
      path.join(stack.dir, 'sluice.config.yaml'),
      [
        'connectors:',
        '  files: { kind: local, root: . }',
        '  warehouse: { kind: postgres }',
        `  lake: { kind: s3, endpoint: "${s3.endpoint}", region: ${s3.region}, force_path_style: true, access_key_id: "\${env:LAKE_KEY}", secret_access_key: "\${env:LAKE_SECRET}" }`,
        ...(my ? ['  shop: { kind: mysql, url: "${env:SHOP_URL}" }'] : []),
        '',
      ].join('\n'),
    );
    cliEnv = {
      ...process.env,
      DATABASE_URL: stack.db.url,
      TEMPORAL_ADDRESS: stack.env.address,
      SLUICE_TASK_QUEUE: stack.config.temporal.taskQueue,
      SLUICE_STATE_DIR: path.join(stack.config.staging.dir, 'state'),
      LAKE_KEY: s3.accessKeyId,
      LAKE_SECRET: s3.secretAccessKey,
      ...(my ? { SHOP_URL: my.url } : {}),
    };
    // The gateway's client reads rejects with the workers' connectors.
    sluice = new Sluice({ connection: stack.env.connection, taskQueue: stack.config.temporal.taskQueue, databaseUrl: stack.db.url, config: stack.config });
    const webhooks = new WebhookService(new EventPublisher(stack.db.pool, sluice.client, `${stack.config.temporal.taskQueue}-webhooks`, logger), DEFAULT_WEBHOOK_SETTINGS);
    gateway = await startGatewayServer(createGatewayApp({ sluice, tokens: TOKENS, logger, pool: stack.db.pool, webhooks }), { port: 0, host: '127.0.0.1' });

    const [pgVersion, s3Version] = [await stack.runner.publish(pgFlow), await stack.runner.publish(s3Flow)];
    const pg = await stack.sluice.run({ flowVersion: pgVersion, sourcePath: 'orders.csv' });
    assert.equal((await pg.wait({ timeoutMs: 180_000 })).status, 'PARTIAL_FAILED');
    pgRun = pg.id;
    const lakeRun = await stack.sluice.run({ flowVersion: s3Version, sourcePath: 'orders.csv' });
    assert.equal((await lakeRun.wait({ timeoutMs: 180_000 })).status, 'PARTIAL_FAILED');
    s3Run = lakeRun.id;
  });

  after(async () => {
    await gateway?.close();
    await sluice?.close();
    s3Client?.destroy();
    await stack?.stop();
    await s3?.stop();
    await my?.drop();
  });

  it('sluice rejects --json: the summary equals the rejects table grouped with SQL, the sample its first rows', { timeout: 60_000 }, async () => {
    const result = await cli(['rejects', pgRun, '--json', '--limit', '5']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const out = JSON.parse(lines[0]!);
    assert.deepEqual(nonSnakeKeys(out), []);
    const expectedRows = await sqlRejects(pgRun);
    // Independently: defects by construction (i % 7 type, i % 11 required, i % 13 check unless a type error, i % 5 in).
    const defective = [...Array(ROWS).keys()].map((i) => i + 1).filter((i) => i % 7 === 0 || i % 11 === 0 || i % 13 === 0 || i % 5 === 0);
    assert.equal(expectedRows.length, defective.length);
    assert.equal(out.summary.rows_rejected, expectedRows.length);
    assert.deepEqual([...out.summary.by_field_rule].sort(byGroup), await sqlGroups(pgRun));
    const groups = Object.fromEntries((out.summary.by_field_rule as Group[]).map((g) => [`${g.field}:${g.rule}`, g.count]));
    assert.equal(groups['amount:type'], Math.floor(ROWS / 7));
    assert.equal(groups['country:in'], Math.floor(ROWS / 5));
    const messages = await stack.db.pool.query(
      `SELECT message, count FROM (SELECT e->>'message' AS message, count(*)::int AS count FROM public.ri_orders_rejects r, jsonb_array_elements(r.errors) e
       WHERE r.run_id = $1 GROUP BY 1) m ORDER BY count DESC, message COLLATE "C" LIMIT 10`,
      [pgRun],
    );
    assert.deepEqual(out.summary.top_messages, messages.rows);
    assert.equal(out.summary.status, 'PARTIAL_FAILED');
    assert.equal(out.summary.location, 'warehouse:public.ri_orders_rejects');
    assert.deepEqual(
      out.rejects.map((r: { row_number: number; record: unknown; errors: unknown }) => [r.row_number, r.record, r.errors]),
      expectedRows.slice(0, 5).map((r) => [r.row_number, r.record, r.errors]),
    );
    assert.equal(out.next_cursor, String(expectedRows[4]!.row_number));
  });

  it('sluice rejects prints the summary tables and sample rows; --rule/--field filter the sample', { timeout: 60_000 }, async () => {
    const result = await cli(['rejects', pgRun, '--rule', 'check', '--field', 'amount', '--limit', '3']);
    assert.equal(result.code, 0, result.stderr);
    const expected = await sqlRejects(pgRun, `errors @> '[{"rule":"check","field":"amount"}]'`);
    const total = (await sqlRejects(pgRun)).length;
    assert.match(result.stdout, new RegExp(`^rows rejected: ${total}$`, 'm'));
    assert.match(result.stdout, /^FIELD +RULE +COUNT$/m);
    assert.match(result.stdout, /^ *COUNT +MESSAGE$/m);
    assert.match(result.stdout, /^first 3 rejects with rule check, field amount:$/m);
    const sample = result.stdout.split('first 3 rejects with rule check, field amount:\n')[1]!.trim().split('\n');
    assert.match(sample[0]!, /^ROW +ERRORS +ORIGINAL VALUES$/);
    assert.deepEqual(
      sample.slice(1).map((line) => Number(line.trim().split(/\s+/)[0])),
      expected.slice(0, 3).map((r) => r.row_number),
    );
    assert.ok(sample[1]!.includes('amount (check): '), sample[1]);
  });

  it('pages return every reject exactly once, filtered by rule and field with the same rows as SQL', { timeout: 60_000 }, async () => {
    const all = await pageAll(pgRun, { limit: 97 });
    const expected = await sqlRejects(pgRun);
    assert.equal(all.pages, Math.ceil(expected.length / 97) + (expected.length % 97 === 0 ? 1 : 0));
    assert.deepEqual(all.rows.map((r) => r.rowNumber), expected.map((r) => r.row_number));
    assert.equal(new Set(all.rows.map((r) => r.rowNumber)).size, all.rows.length);
    assert.deepEqual(all.rows.map((r) => [r.record, r.errors]), expected.map((r) => [r.record, r.errors]));
    assert.equal(new Set(all.rows.map((r) => r.executionId)).size, 1);

    const countries = await pageAll(pgRun, { rule: 'in', limit: 50 });
    assert.deepEqual(countries.rows.map((r) => r.rowNumber), (await sqlRejects(pgRun, `errors @> '[{"rule":"in"}]'`)).map((r) => r.row_number));
    assert.equal(countries.rows.length, Math.floor(ROWS / 5));
    const names = await pageAll(pgRun, { field: 'name', limit: 1000 });
    assert.deepEqual(names.rows.map((r) => r.rowNumber), (await sqlRejects(pgRun, `errors @> '[{"field":"name"}]'`)).map((r) => r.row_number));
    // field and rule must hold for one error: no error is (name, in).
    assert.deepEqual((await sluice.rejects(pgRun, { field: 'name', rule: 'in' })).rows, []);
    await assert.rejects(sluice.rejects(pgRun, { cursor: 'abc' }), { code: 'INVALID_CURSOR' });
    await assert.rejects(sluice.rejects(pgRun, { limit: 1001 }), { code: 'INVALID_LIMIT' });
  });

  it('--out writes every reject to CSV and to Parquet: row_number, errors, the original values', { timeout: 120_000 }, async () => {
    const expected = await sqlRejects(pgRun);
    const out = mkdtempSync(path.join(os.tmpdir(), 'sluice-ri-out-'));
    for (const file of [path.join(out, 'rejects.csv'), path.join(out, 'rejects.parquet')]) {
      const result = await cli(['rejects', pgRun, '--out', file]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^wrote ${expected.length} rejects to ${file.replace(/[.]/g, '\\.')}$`, 'm'));
      const frame = file.endsWith('.csv') ? pl.readCSV(readFileSync(file), { inferSchemaLength: 0 } as never) : pl.readParquet(file);
      assert.deepEqual(frame.columns, ['row_number', 'errors', 'id', 'name', 'amount', 'country']);
      const rows = frame.toRecords() as Record<string, unknown>[];
      assert.equal(rows.length, expected.length);
      assert.deepEqual(
        rows.map((r) => [Number(r.row_number), JSON.parse(String(r.errors)), { id: r.id, name: r.name ?? '', amount: r.amount, country: r.country }]),
        expected.map((r) => [r.row_number, r.errors, { ...r.record, name: r.record.name ?? '' }]),
      );
    }
    const bad = await cli(['rejects', pgRun, '--out', path.join(out, 'rejects.xlsx')]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, `error: --out ${path.join(out, 'rejects.xlsx')}: name a .csv or .parquet file (the extension picks the format)\n`);
  });

  it('the API answers the same pages and summary (snake_case), 403 without runs:read, 404 for an unknown run', { timeout: 60_000 }, async () => {
    const cliOut = JSON.parse((await cli(['rejects', pgRun, '--json'])).stdout);
    const summary = await call(`/v1/runs/${encodeURIComponent(pgRun)}/rejects/summary`);
    assert.equal(summary.status, 200, JSON.stringify(summary.body));
    assert.deepEqual(summary.body, cliOut.summary);
    const expected = await sqlRejects(pgRun);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Answer = await call(`/v1/runs/${encodeURIComponent(pgRun)}/rejects?limit=400${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.deepEqual(nonSnakeKeys(page.body.rejects.map((r: { record: unknown }) => ({ ...r, record: {} }))), []);
      seen.push(...page.body.rejects.map((r: { row_number: number }) => r.row_number));
      cursor = page.body.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, expected.map((r) => r.row_number));
    const filtered = await call(`/v1/runs/${encodeURIComponent(pgRun)}/rejects?rule=required&field=name`);
    assert.deepEqual(filtered.body.rejects.map((r: { row_number: number }) => r.row_number), (await sqlRejects(pgRun, `errors @> '[{"rule":"required","field":"name"}]'`)).slice(0, 100).map((r) => r.row_number));
    assert.equal(filtered.body.rejects.length, 100, 'the default page size');

    const forbidden = await call(`/v1/runs/${encodeURIComponent(pgRun)}/rejects`, HOOKS);
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.error.code, 'INSUFFICIENT_SCOPE');
    assert.equal((await call(`/v1/runs/${encodeURIComponent(pgRun)}/rejects/summary`, HOOKS)).status, 403);
    const tooMany = await call(`/v1/runs/${encodeURIComponent(pgRun)}/rejects?limit=1001`);
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.body.error.code, 'VALIDATION_FAILED');
    const unknown = await call('/v1/runs/no-such-run/rejects/summary');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'RUN_NOT_FOUND');
  });

  it('an s3 target run: the same summary and pages, read from its rejects object', { timeout: 120_000 }, async () => {
    const metadata = (await stack.sluice.getRun(s3Run)).metadata!;
    const key = `orders/${s3Run}_rejects.csv`;
    assert.equal(metadata.rejects.location, `s3://${BUCKET}/${key}`);
    // Independently: the object itself, read with Polars, errors parsed in JS.
    const body = await (await s3Client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray();
    const object = pl.readCSV(Buffer.from(body), { inferSchemaLength: 0 } as never).toRecords() as Record<string, string>[];
    const counts = new Map<string, Group>();
    for (const row of object) {
      for (const e of JSON.parse(row.errors!) as { field: string | null; rule: string }[]) {
        const group = counts.get(`${e.field}:${e.rule}`) ?? { field: e.field, rule: e.rule, count: 0 };
        group.count += 1;
        counts.set(`${e.field}:${e.rule}`, group);
      }
    }
    const result = await cli(['rejects', s3Run, '--json', '--limit', '1000']);
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout);
    assert.equal(out.summary.rows_rejected, object.length);
    assert.equal(out.summary.location, `s3://${BUCKET}/${key}`);
    assert.deepEqual([...out.summary.by_field_rule].sort(byGroup), [...counts.values()].sort(byGroup));
    // The same data as the postgres run: the same summary, but where the rejects are.
    const pgSummary = JSON.parse((await cli(['rejects', pgRun, '--json'])).stdout).summary;
    assert.deepEqual({ ...out.summary, run_id: '', execution_id: '', flow_version: '', location: '' }, { ...pgSummary, run_id: '', execution_id: '', flow_version: '', location: '' });

    const all = await pageAll(s3Run, { limit: 300 });
    assert.deepEqual(all.rows.map((r) => r.rowNumber), object.map((r) => Number(r.row_number)));
    assert.deepEqual(all.rows.map((r) => r.record), object.map((r) => JSON.parse(r.record!)));
    const filtered = await pageAll(s3Run, { rule: 'check', field: 'amount', limit: 1000 });
    assert.deepEqual(filtered.rows.map((r) => r.rowNumber), (await sqlRejects(pgRun, `errors @> '[{"rule":"check","field":"amount"}]'`)).map((r) => r.row_number));
    const api = await call(`/v1/runs/${encodeURIComponent(s3Run)}/rejects/summary`);
    assert.deepEqual(api.body, out.summary);
  });

  it('s3 rejects objects in parquet and ndjson read the same as csv', { timeout: 180_000 }, async () => {
    const pgSummary = await sluice.rejectsSummary(pgRun);
    const expected = (await sqlRejects(pgRun)).map((r) => [r.row_number, r.record, r.errors]);
    for (const format of ['parquet', 'ndjson'] as const) {
      const version = await stack.runner.publish(s3Flow.replace('name: ri_orders_s3', `name: ri_orders_${format}`).replace('{run_id}.csv", format: csv', `{run_id}.${format}", format: ${format}`));
      const run = await stack.sluice.run({ flowVersion: version, sourcePath: 'orders.csv' });
      assert.equal((await run.wait({ timeoutMs: 180_000 })).status, 'PARTIAL_FAILED');
      const summary = await sluice.rejectsSummary(run.id);
      assert.equal(summary.location, `s3://${BUCKET}/orders/${run.id}_rejects.${format}`);
      assert.deepEqual([summary.rowsRejected, summary.byFieldRule, summary.topMessages], [pgSummary.rowsRejected, pgSummary.byFieldRule, pgSummary.topMessages], format);
      const all = await pageAll(run.id, { limit: 1000 });
      assert.deepEqual(all.rows.map((r) => [r.rowNumber, r.record, r.errors]), expected, format);
    }
  });

  it('an s3 rejects object overwritten by a later run: the earlier run answers 410 REJECTS_GONE', { timeout: 180_000 }, async () => {
    const version = await stack.runner.publish(s3Flow.replace('name: ri_orders_s3', 'name: ri_orders_fixed').replace('orders/{run_id}.csv', 'fixed/orders.csv'));
    writeFileSync(path.join(stack.dir, 'orders2.csv'), ordersCsv());
    const first = await stack.sluice.run({ flowVersion: version, sourcePath: 'orders.csv' });
    await first.wait({ timeoutMs: 180_000 });
    assert.equal((await sluice.rejectsSummary(first.id)).rowsRejected, (await sluice.rejectsSummary(pgRun)).rowsRejected);
    const second = await stack.sluice.run({ flowVersion: version, sourcePath: 'orders2.csv' });
    await second.wait({ timeoutMs: 180_000 });
    const gone = await call(`/v1/runs/${encodeURIComponent(first.id)}/rejects/summary`);
    assert.equal(gone.status, 410);
    assert.deepEqual(gone.body.error, {
      code: 'REJECTS_GONE',
      message: `s3://${BUCKET}/fixed/orders_rejects.csv no longer holds the rejects of run ${first.id}: a later run overwrote it (put {run_id} in target.rejects.path to keep one object per run)`,
      details: { run_id: first.id, location: `s3://${BUCKET}/fixed/orders_rejects.csv` },
    });
    assert.equal((await sluice.rejects(second.id, { limit: 1000 })).rows.length, 1000);
  });

  it('a mysql target run: the same summary and pages, read from its rejects table', { timeout: 180_000 }, async (t) => {
    if (mysqlSkipped || !my) return t.skip(mysqlSkipped || 'no MariaDB');
    const version = await stack.runner.publish(mysqlFlow);
    const run = await stack.sluice.run({ flowVersion: version, sourcePath: 'orders.csv' });
    assert.equal((await run.wait({ timeoutMs: 180_000 })).status, 'PARTIAL_FAILED');
    const result = await cli(['rejects', run.id, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout);
    assert.equal(out.summary.location, 'shop:ri_orders_rejects');
    // The same data as the postgres run, so the same summary (rows, groups and messages).
    const pgSummary = JSON.parse((await cli(['rejects', pgRun, '--json'])).stdout).summary;
    const facts = (s: Record<string, unknown>) => ({ rows_rejected: s.rows_rejected, by_field_rule: s.by_field_rule, top_messages: s.top_messages });
    assert.deepEqual(facts(out.summary), facts(pgSummary));
    // Independently: the MariaDB table's rows.
    const [rows] = await my.connection.query('SELECT `row_number`, record FROM ri_orders_rejects ORDER BY `row_number`');
    const table = rows as { row_number: string; record: string }[];
    assert.equal(out.summary.rows_rejected, table.length);
    const all = await pageAll(run.id, { limit: 250 });
    assert.deepEqual(all.rows.map((r) => r.rowNumber), table.map((r) => Number(r.row_number)));
    assert.deepEqual(all.rows.map((r) => r.record), table.map((r) => JSON.parse(r.record)));
    const filtered = await pageAll(run.id, { rule: 'check', field: 'amount', limit: 1000 });
    assert.deepEqual(filtered.rows.map((r) => r.rowNumber), (await sqlRejects(pgRun, `errors @> '[{"rule":"check","field":"amount"}]'`)).map((r) => r.row_number));
  });

  it('a run that FAILED before its load has no rejects to read: exit 2, 409 REJECTS_NOT_READY', { timeout: 120_000 }, async () => {
    const version = await stack.runner.publish(strictFlow);
    const run = await stack.sluice.run({ flowVersion: version, sourcePath: 'orders.csv' });
    await assert.rejects(run.wait({ timeoutMs: 120_000 }), { status: 'FAILED' });
    const result = await cli(['rejects', run.id]);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      `error: run ${run.id} has no rejects to read: it ended FAILED (REJECT_RATIO_EXCEEDED in transform) before loading its target, so it wrote no rejects; ` +
        'its rejected rows are in staging for staging.retention_hours (the pipeline error file reads them there)\n',
    );
    const json = JSON.parse((await cli(['rejects', run.id, '--json'])).stdout);
    assert.equal(json.error.code, 'REJECTS_NOT_READY');
    const api = await call(`/v1/runs/${encodeURIComponent(run.id)}/rejects`);
    assert.equal(api.status, 409);
    assert.equal(api.body.error.code, 'REJECTS_NOT_READY');
    const unknown = await cli(['rejects', 'no-such-run']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^error: .*no-such-run/);
  });
  it("only the run's latest loaded execution counts: after a forced rerun, the earlier load's rejects are left out", { timeout: 180_000 }, async () => {
    const first = await sluice.rejectsSummary(pgRun);
    const rerun = await stack.sluice.run({ flowVersion: first.flowVersion, sourcePath: 'orders.csv', forceRerun: true });
    assert.equal(rerun.id, pgRun);
    await rerun.wait({ timeoutMs: 180_000 });
    const second = await sluice.rejectsSummary(pgRun);
    assert.notEqual(second.executionId, first.executionId);
    const table = await stack.db.pool.query<{ execution_id: string; n: number }>(
      'SELECT execution_id, count(*)::int AS n FROM public.ri_orders_rejects WHERE run_id = $1 GROUP BY 1 ORDER BY 1',
      [pgRun],
    );
    assert.deepEqual(table.rows, [
      { execution_id: first.executionId, n: first.rowsRejected },
      { execution_id: second.executionId, n: first.rowsRejected },
    ].sort((a, b) => a.execution_id.localeCompare(b.execution_id)));
    assert.equal(second.rowsRejected, first.rowsRejected);
    assert.deepEqual(second.byFieldRule, first.byFieldRule);
    const all = await pageAll(pgRun, { limit: 1000 });
    assert.equal(all.rows.length, first.rowsRejected);
    assert.deepEqual([...new Set(all.rows.map((r) => r.executionId))], [second.executionId]);

    // A third execution FAILED before its load (its source now has a duplicate column): the second's rejects stay the run's.
    const original = readFileSync(path.join(stack.dir, 'orders.csv'));
    writeFileSync(path.join(stack.dir, 'orders.csv'), 'id,id\n1,2\n');
    try {
      const failed = await stack.sluice.run({ flowVersion: first.flowVersion, sourcePath: 'orders.csv', forceRerun: true });
      await assert.rejects(failed.wait({ timeoutMs: 180_000 }), { status: 'FAILED' });
    } finally {
      writeFileSync(path.join(stack.dir, 'orders.csv'), original);
    }
    const third = await sluice.rejectsSummary(pgRun);
    assert.deepEqual([third.executionId, third.status, third.rowsRejected], [second.executionId, 'PARTIAL_FAILED', first.rowsRejected]);
    assert.equal((await sluice.rejects(pgRun, { limit: 1 })).rows[0]!.executionId, second.executionId);
  });
});
