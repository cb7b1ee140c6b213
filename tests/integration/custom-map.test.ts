/**
 * Integration: custom maps and link steps, on the real Temporal dev server and real PostgreSQL.
 *
 * A flow whose map (maps/accounts.ts) keeps the latest row of each account code across chunks and
 * rejects some rows with a reason, and whose target links each account to its parent in the load's
 * transaction; then the map file is edited after publishing and the next run is refused. Also: a
 * failing link step rolls the whole load back, and a retried load never runs its links twice.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { RunFailedError, Sluice } from '../../client/sluice';
import { PostgresTarget } from '../../connectors/postgres/postgres-target';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { emptyRejected, ROW_COLUMN } from '../../transform/map-chunk';
import { sha256Hex } from '../../flows/map-module';
import { startRunStack, type RunStack, type TestDatabase } from '../helpers/services';

// 10 rows, 3 per chunk: account A appears in chunks 1 and 2, C in chunks 2 and 3.
const ACCOUNTS_CSV = [
  'code,name,parent_code,balance',
  'ROOT,Root,,100', //       1
  'A,Alpha,ROOT,10', //      2  superseded by row 4 (map)
  'B,Beta,ROOT,-5', //       3  negative balance (map)
  'A,Alpha v2,ROOT,12', //   4
  'C,Gamma,A,7', //          5  superseded by row 8 (map)
  'TEST1,Test,ROOT,1', //    6  test account: rejected without a reason (map)
  'D,Delta,C,3', //          7
  'C,Gamma v2,A,8', //       8
  'E,Eps,ZZZ,1', //          9  unknown parent: parent_id stays null
  'F,Foxtrot,ROOT,abc', //  10  balance:type (declarative)
].join('\n');

const ACCOUNTS_MAP = `
import pl from 'nodejs-polars';
import type { CustomMap } from 'sluice/client';

/** The latest row of each code wins; earlier ones, negative balances and test accounts are rejected. */
const map: CustomMap = (df, ctx) => {
  const latest = df.groupBy('code').agg(pl.col('__sluice_row').max().alias('latest'));
  const rows = df.join(latest, { on: 'code' });
  const superseded = rows
    .filter(pl.col('__sluice_row').lt(pl.col('latest')))
    .select(pl.col('__sluice_row'), pl.format('superseded by row {}', pl.col('latest')).alias('reason'));
  const current = rows.filter(pl.col('__sluice_row').eq(pl.col('latest'))).drop('latest');
  const negative = pl.col('balance').lt(0).fillNull(false);
  const test = pl.col('code').str.startsWith('TEST');
  const rejected = pl.concat([
    superseded,
    current.filter(negative).select(pl.col('__sluice_row'), pl.lit(\`negative balance (\${String(ctx.runMetadata.ticket)})\`).alias('reason')),
    current.filter(test).select(pl.col('__sluice_row'), pl.lit(null).cast(pl.Utf8).alias('reason')),
  ]);
  ctx.log.info({ rejected: rejected.height }, 'accounts mapped');
  return { mapped: current.filter(negative.or(test).not()), rejected };
};
export default map;
`;

const accountsFlow = (name: string, link: string[]) => `
name: ${name}
source: { connector: files, format: csv }
target:
  connector: warehouse
  table: public.${name}
  link:
${link.map((sql) => `    - ${JSON.stringify(sql)}`).join('\n')}
fields:
  code:        { from: code, type: string, required: true }
  name:        { from: name, type: string }
  parent_code: { from: parent_code, type: string }
  balance:     { from: balance, type: int64 }
transform: maps/accounts.ts
`;

const PARENT_LINK = (table: string) =>
  `UPDATE public.${table} a SET parent_id = p.id FROM public.${table} p WHERE a.parent_code = p.code AND a.parent_id IS NULL`;
const LOG_LINK = (table: string) =>
  `INSERT INTO public.account_loads (run_id, source_path, accounts) SELECT :run_id::text, :source_path::text, count(*) FROM public.${table}`;

const accountsTable = (table: string) => `
  CREATE TABLE public.${table} (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text,
    parent_code text,
    balance     bigint,
    parent_id   bigint REFERENCES public.${table} (id)
  )`;

describe('custom maps and link steps on real Temporal and Postgres', () => {
  let stack: RunStack;
  let db: TestDatabase;
  let dir: string;
  let sluice: Sluice;
  let store: FlowVersionStore;

  const publish = async (yaml: string) => (await store.publish(parseFlowSpec(yaml, 'flows/accounts.yaml'), { sourceText: yaml, sourceFile: 'flows/accounts.yaml' })).version;
  const count = async (sql: string) => Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${sql}`)).rows[0]!.n);

  before(async () => {
    stack = await startRunStack({ chunkRows: 3, connectors: () => ({ files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } }) });
    ({ db, dir, sluice } = stack);
    mkdirSync(path.join(dir, 'maps'));
    writeFileSync(path.join(dir, 'maps', 'accounts.ts'), ACCOUNTS_MAP);
    writeFileSync(path.join(dir, 'accounts.csv'), ACCOUNTS_CSV);
    writeFileSync(path.join(dir, 'accounts-2.csv'), 'code,name,parent_code,balance\nG,Golf,ROOT,1\n');
    for (const table of ['accounts', 'badlink_accounts']) await db.pool.query(accountsTable(table));
    await db.pool.query('CREATE TABLE public.account_loads (run_id text, source_path text, accounts bigint)');
    store = new FlowVersionStore(db.pool, { projectDir: dir });
  });

  after(async () => {
    await stack?.stop();
  });

  it('applies the map to every mapped row across chunks, rejects with reasons, and links parents in the load transaction', async () => {
    const version = await publish(accountsFlow('accounts', [PARENT_LINK('accounts'), LOG_LINK('accounts')]));
    assert.deepEqual(version.spec.map, { path: 'maps/accounts.ts', sha256: sha256Hex(ACCOUNTS_MAP) });
    const run = await sluice.run({ flowVersion: version.id, sourcePath: 'accounts.csv', runMetadata: { ticket: 'OPS-7' } });
    const metadata = await run.wait({ timeoutMs: 180_000, pollIntervalMs: 200 });
    assert.equal(run.status, 'PARTIAL_FAILED');
    assert.deepEqual(metadata.rows, { read: 10, mapped: 5, rejected: 5, written: 5 });
    assert.deepEqual(metadata.rejects.by_rule, { 'balance:type': 1, map: 4 });
    assert.equal(metadata.steps.transform?.chunks, 4);
    assert.deepEqual(metadata.steps.transform?.map, { path: 'maps/accounts.ts', sha256: sha256Hex(ACCOUNTS_MAP), rows_in: 9, rows_out: 5, rejected: 4 });
    assert.deepEqual(metadata.steps.sync_target?.links, [
      { index: 0, rows: 3 },
      { index: 1, rows: 1 },
    ]);

    const accounts = await db.pool.query(
      `SELECT a.code, a.name, a.balance::int AS balance, p.code AS parent FROM public.accounts a LEFT JOIN public.accounts p ON p.id = a.parent_id ORDER BY a.code`,
    );
    assert.deepEqual(accounts.rows, [
      { code: 'A', name: 'Alpha v2', balance: 12, parent: 'ROOT' },
      { code: 'C', name: 'Gamma v2', balance: 8, parent: 'A' },
      { code: 'D', name: 'Delta', balance: 3, parent: 'C' },
      { code: 'E', name: 'Eps', balance: 1, parent: null },
      { code: 'ROOT', name: 'Root', balance: 100, parent: null },
    ]);
    const rejects = await db.pool.query('SELECT row_number::int AS row, record, errors FROM public.accounts_rejects WHERE run_id = $1 ORDER BY row_number', [run.id]);
    const mapError = (message: string) => [{ field: null, rule: 'map', message }];
    assert.deepEqual(
      rejects.rows.map((r) => [r.row, r.errors]),
      [
        [2, mapError('superseded by row 4')],
        [3, mapError('negative balance (OPS-7)')],
        [5, mapError('superseded by row 8')],
        [6, mapError('rejected by the custom map maps/accounts.ts')],
        [10, [{ field: 'balance', rule: 'type', message: 'cannot convert "abc" to an int64 (whole number)' }]],
      ],
    );
    assert.deepEqual(rejects.rows[0].record, { code: 'A', name: 'Alpha', parent_code: 'ROOT', balance: '10' }, 'a map reject keeps its original source values');
    const loads = await db.pool.query('SELECT run_id, source_path, accounts::int AS accounts FROM public.account_loads');
    assert.deepEqual(loads.rows, [{ run_id: run.id, source_path: 'accounts.csv', accounts: 5 }]);

    // The map file is edited after publishing: the version's runs are refused before anything is staged or written.
    const edited = ACCOUNTS_MAP.replace('negative balance', 'below zero');
    assert.notEqual(edited, ACCOUNTS_MAP);
    writeFileSync(path.join(dir, 'maps', 'accounts.ts'), edited);
    const refused = await sluice.run({ flowVersion: version.id, sourcePath: 'accounts-2.csv' });
    await assert.rejects(refused.wait({ timeoutMs: 120_000, pollIntervalMs: 200 }), (error: unknown) => {
      assert.ok(error instanceof RunFailedError, String(error));
      assert.equal(error.status, 'FAILED');
      assert.equal(error.error?.code, 'MAP_CHANGED');
      assert.equal(
        error.error?.message,
        `maps/accounts.ts changed since ${version.id} was published (sha256 ${sha256Hex(ACCOUNTS_MAP).slice(0, 12)}… recorded, ` +
          `${sha256Hex(edited).slice(0, 12)}… on this worker); publish a new version with \`sluice flows publish flows/accounts.yaml\``,
      );
      assert.equal(error.error?.step, 'sync_source');
      return true;
    });
    assert.equal(await count('public.accounts'), 5);
    assert.equal(await count('public.accounts_rejects'), 5);
    assert.equal(await count('public.account_loads'), 1);
    assert.equal(await count(`sluice.load_ledger WHERE run_id = '${refused.id}'`), 0);

    // Publishing again records the edited map: a new version, which runs.
    const republished = await publish(accountsFlow('accounts', [PARENT_LINK('accounts'), LOG_LINK('accounts')]));
    assert.equal(republished.version, version.version + 1);
    assert.equal(republished.spec.map?.sha256, sha256Hex(edited));
    const next = await sluice.run({ flowVersion: republished.id, sourcePath: 'accounts-2.csv' });
    const nextMetadata = await next.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(next.status, 'SUCCEEDED');
    assert.deepEqual(nextMetadata.steps.sync_target?.links, [
      { index: 0, rows: 1 },
      { index: 1, rows: 1 },
    ]);
    writeFileSync(path.join(dir, 'maps', 'accounts.ts'), ACCOUNTS_MAP);
  });

  it('a failing link step ends the run FAILED with LINK_FAILED and writes nothing', async () => {
    const version = await publish(accountsFlow('badlink_accounts', [PARENT_LINK('badlink_accounts'), 'UPDATE public.badlink_accounts SET nope = 1']));
    const run = await sluice.run({ flowVersion: version.id, sourcePath: 'accounts.csv', runMetadata: { ticket: 'OPS-8' } });
    await assert.rejects(run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 }), (error: unknown) => {
      assert.ok(error instanceof RunFailedError, String(error));
      assert.equal(error.error?.code, 'LINK_FAILED');
      assert.equal(
        error.error?.message,
        'target.link[1] (UPDATE public.badlink_accounts SET nope = 1) failed: column "nope" of relation "badlink_accounts" does not exist; ' +
          'the load was rolled back, nothing was written',
      );
      assert.equal(error.error?.step, 'sync_target');
      return true;
    });
    assert.equal(await count('public.badlink_accounts'), 0);
    assert.equal(await count('public.badlink_accounts_rejects'), 0);
    assert.equal(await count(`sluice.load_ledger WHERE run_id = '${run.id}'`), 0);
  });

  it('a load retried after its commit reports the recorded link counts and runs no link again', async () => {
    const spec = parseFlowSpec(accountsFlow('accounts', [LOG_LINK('accounts')]).replace('transform: maps/accounts.ts\n', ''));
    const files = mkdtempSync(path.join(os.tmpdir(), 'sluice-links-'));
    const mapped = path.join(files, 'mapped.parquet');
    const rejected = path.join(files, 'rejected.parquet');
    pl.DataFrame({ [ROW_COLUMN]: pl.Series(ROW_COLUMN, [1], pl.Int64), code: ['H'], name: ['Hotel'], parent_code: ['ROOT'], balance: pl.Series('balance', [4], pl.Int64) }).writeParquet(mapped);
    emptyRejected().writeParquet(rejected);
    const target = new PostgresTarget(db.pool, 'warehouse');
    const request = {
      runId: 'accounts-retry',
      executionId: 'execution-retry',
      flowVersion: 'accounts:v9',
      sourcePath: 'retry.csv',
      spec,
      mappedFiles: [mapped],
      rejectedFiles: [rejected],
      onProgress: () => undefined,
      signal: new AbortController().signal,
    };
    const loadsBefore = await count('public.account_loads');
    const first = await target.load(request);
    assert.equal(first.alreadyLoaded, false);
    assert.deepEqual(first.links, [{ index: 0, rows: 1 }]);
    const again = await target.load(request);
    assert.equal(again.alreadyLoaded, true);
    assert.deepEqual(again.links, [{ index: 0, rows: 1 }]);
    assert.equal(await count('public.account_loads'), loadsBefore + 1, 'the link ran once');
    assert.equal(await count(`public.accounts WHERE code = 'H'`), 1);
  });
});
