/**
 * Integration: the `mysql` connector against the machine's MariaDB (a fresh database for this file).
 * Source: a multi-chunk query streamed with exact counts and exact text for every type (a BIGINT above
 * 2^53, DECIMAL, DATETIME(6), JSON, BLOB, BIT, FLOAT); `:source_path` bound, never interpolated; a bad query
 * and a cancelled stage. Target: a load with rejects, a second load of the same execution writing nothing,
 * a load failing mid-way leaving nothing, values that LOAD DATA could confuse (the word NULL, "", quotes,
 * backslashes, newlines), `replace` and `upsert`, link steps. Credentials: a wrong password is AUTH_FAILED,
 * a user without grants PERMISSION_DENIED, neither message holding the secret.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import pl from 'nodejs-polars';
import { SourceError, TargetError, TransientError } from '../../common/errors';
import type { MysqlAccess } from '../../connectors/access-errors';
import type { LoadRequest } from '../../connectors/connector';
import { createMysqlPool } from '../../connectors/mysql/mysql-pool';
import { MysqlSource } from '../../connectors/mysql/mysql-source';
import { MysqlTarget } from '../../connectors/mysql/mysql-target';
import { validateFlowSpec, type FlowSpec } from '../../flows/flow-spec';
import { ROW_COLUMN } from '../../transform/map-chunk';
import { testConnection } from '../../ops/test-connection';
import { createMysqlTestDatabase, mysqlSkip, type MysqlTestDatabase } from '../helpers/mysql-server';
import { logger } from '../helpers/services';

const BIG = '9007199254740993'; // 2^53 + 1: a double would read 9007199254740992
const tempDir = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));
const noop = () => undefined;

const sourceSpec = (query?: string) =>
  validateFlowSpec({
    name: 'orders_from_mysql',
    source: { connector: 'shop', ...(query ? { query } : {}) },
    target: { connector: 'warehouse', table: 'orders' },
    fields: { id: { from: 'id', type: 'int64' } },
  });

const targetSpec = (target: Record<string, unknown> = {}) =>
  validateFlowSpec({
    name: 'things',
    source: { connector: 'files' },
    target: { connector: 'shop', table: 'things', ...target },
    fields: {
      id: { from: 'id', type: 'int64', required: true },
      name: { from: 'name', type: 'string' },
      ok: { from: 'ok', type: 'bool' },
      day: { from: 'day', type: 'date' },
      at: { from: 'at', type: 'datetime' },
      doc: { from: 'doc', type: 'json' },
      x: { from: 'x', type: 'float64' },
      n: { from: 'n', type: 'int32' },
    },
  });

/** A mapped chunk as transform writes it: the target fields, typed, plus the source row number. */
function mappedChunk(dir: string, name: string, rows: { id: bigint; name: string | null; ok: boolean | null; n: number | null }[], firstRow: number): string {
  const frame = pl
    .DataFrame({
      id: pl.Series('id', rows.map((r) => String(r.id))).cast(pl.Int64),
      name: pl.Series('name', rows.map((r) => r.name), pl.Utf8),
      ok: pl.Series('ok', rows.map((r) => r.ok), pl.Bool),
      day: pl.Series('day', rows.map(() => '2024-02-29'), pl.Utf8),
      at: pl.Series('at', rows.map(() => '2024-02-29 23:59:58.123456'), pl.Utf8),
      doc: pl.Series('doc', rows.map((r) => JSON.stringify({ id: Number(r.id), tags: ['a', 'b'] })), pl.Utf8),
      x: pl.Series('x', rows.map((r) => Number(r.id) / 8), pl.Float64),
      n: pl.Series('n', rows.map((r) => r.n), pl.Int32),
      [ROW_COLUMN]: pl.Series(ROW_COLUMN, rows.map((_, i) => firstRow + i), pl.Int64),
    })
    .withColumns(
      pl.col('day').str.strptime(pl.Date, '%Y-%m-%d'),
      pl.col('at').str.strptime(pl.Datetime, '%Y-%m-%d %H:%M:%S%.f').cast(pl.Datetime('us')),
    );
  const file = path.join(dir, name);
  frame.writeParquet(file);
  return file;
}

/** A rejects chunk: row number, the original record and the errors, as JSON text. */
function rejectsChunk(dir: string, name: string, rows: number[]): string {
  const file = path.join(dir, name);
  pl.DataFrame({
    [ROW_COLUMN]: pl.Series(ROW_COLUMN, rows, pl.Int64),
    record: pl.Series('record', rows.map((r) => JSON.stringify({ id: `x${r}` })), pl.Utf8),
    errors: pl.Series('errors', rows.map(() => JSON.stringify([{ field: 'id', rule: 'type', message: 'not an int64' }])), pl.Utf8),
  }).writeParquet(file);
  return file;
}

const rowsOf = (count: number, from = 1) =>
  Array.from({ length: count }, (_, i) => ({ id: BigInt(from + i), name: `name ${from + i}`, ok: (from + i) % 2 === 0, n: from + i }));

describe('mysql connector (MariaDB)', { skip: false }, () => {
  let db: MysqlTestDatabase;
  let pool: Pool;
  let access: MysqlAccess;
  let skip: string | false = false;

  before(async () => {
    skip = await mysqlSkip();
    if (skip) return;
    db = await createMysqlTestDatabase();
    pool = createMysqlPool(db.url, { label: 'mysql connector "shop"', logger });
    access = { kind: 'mysql', connector: 'shop', url: db.url };
    await db.connection.query(`CREATE TABLE orders (
      id bigint unsigned NOT NULL PRIMARY KEY, batch varchar(20) NOT NULL, big bigint, amount decimal(30,10), at datetime(6), day date,
      doc json, bin blob, flag bit(1), f float, d double, note text)`);
    const values: unknown[][] = [];
    for (let i = 1; i <= 2_500; i++) {
      values.push([i, i <= 2_500 ? 'b1' : 'b2', i === 7 ? BIG : String(-i), i === 7 ? '12345678901234567890.0123456789' : `${i}.5`, '2024-05-01 10:00:00.000001', '2024-05-01', JSON.stringify({ i }), Buffer.from([0, 255, i % 256]), i % 2, 1.1, 0.1, i === 9 ? null : `note ${i}`]);
    }
    await db.connection.query('INSERT INTO orders VALUES ?', [values]);
    await db.connection.query("INSERT INTO orders (id, batch) VALUES (100000, 'other')");
  });

  after(async () => {
    if (skip) return;
    await pool.end();
    await db.drop();
  });

  async function stage(query: string | undefined, sourcePath: string, options: { chunkRows?: number; signal?: AbortSignal } = {}) {
    const stagingDir = tempDir('sluice-mysql-staging-');
    const progress: { rows: number; chunk: number }[] = [];
    const staged = await new MysqlSource(pool, 'shop', query, access).stage({
      sourcePath,
      spec: sourceSpec(),
      stagingDir,
      chunkRows: options.chunkRows ?? 1_000,
      onProgress: (p) => progress.push(p),
      signal: options.signal ?? new AbortController().signal,
    });
    return { staged, progress };
  }

  it('streams a multi-chunk query into Parquet chunks with exact counts and exact text for every type', async (t) => {
    if (skip) return t.skip(skip);
    const { staged, progress } = await stage('SELECT * FROM orders WHERE batch = :source_path ORDER BY id', 'b1');
    assert.equal(staged.rows, 2_500);
    assert.deepEqual(staged.files.map((f) => f.rows), [1_000, 1_000, 500]);
    assert.deepEqual(progress, [{ rows: 1_000, chunk: 0 }, { rows: 2_000, chunk: 1 }, { rows: 2_500, chunk: 2 }]);
    assert.equal(staged.format, 'query');
    assert.deepEqual(staged.columns, ['id', 'batch', 'big', 'amount', 'at', 'day', 'doc', 'bin', 'flag', 'f', 'd', 'note']);
    const frame = pl.concat(staged.files.map((f) => pl.readParquet(f.path)));
    assert.equal(frame.height, 2_500);
    for (const column of staged.columns) assert.equal(String(frame.getColumn(column).dtype), 'DataType(String)', column);
    const ids = frame.getColumn('id').toArray().map(Number);
    assert.equal(new Set(ids).size, 2_500);
    assert.equal(Math.min(...ids), 1);
    assert.equal(Math.max(...ids), 2_500);
    const seventh = frame.filter(pl.col('id').eq(pl.lit('7'))).toRecords()[0]!;
    assert.deepEqual(seventh, {
      id: '7',
      batch: 'b1',
      big: BIG,
      amount: '12345678901234567890.0123456789',
      at: '2024-05-01 10:00:00.000001',
      day: '2024-05-01',
      doc: '{"i":7}',
      bin: '\\x00ff07',
      flag: '1',
      f: '1.1',
      d: '0.1',
      note: 'note 7',
    });
    const ninth = frame.filter(pl.col('id').eq(pl.lit('9'))).toRecords()[0]!;
    assert.equal(ninth.note, null);
    assert.equal(ninth.amount, '9.5000000000');
  });

  it('binds :source_path as a parameter: a quote in it is data, not SQL', async (t) => {
    if (skip) return t.skip(skip);
    const { staged } = await stage('SELECT id FROM orders WHERE batch = :source_path', "b1' OR '1'='1");
    assert.equal(staged.rows, 0);
    assert.deepEqual(staged.files.map((f) => f.rows), [0]);
    assert.deepEqual(staged.columns, ['id']);
    const other = await stage('SELECT id FROM orders WHERE batch = :source_path OR id = :source_path', 'other');
    assert.equal(other.staged.rows, 1);
  });

  it('fails a query on a missing table with INVALID_QUERY, and one without :source_path', async (t) => {
    if (skip) return t.skip(skip);
    await assert.rejects(stage('SELECT * FROM no_such_table WHERE batch = :source_path', 'b1'), (error: unknown) => {
      assert.ok(error instanceof SourceError);
      assert.equal(error.code, 'INVALID_QUERY');
      assert.match(error.message, /^the source query failed: Table '\w+\.no_such_table' doesn't exist$/);
      return true;
    });
    await assert.rejects(stage('SELECT * FROM orders', 'b1'), (error: unknown) => error instanceof SourceError && error.code === 'INVALID_QUERY');
  });

  describe('target', () => {
    const dir = tempDir('sluice-mysql-target-');
    const request = (spec: FlowSpec, executionId: string, mappedFiles: string[], rejectedFiles: string[] = []): LoadRequest => ({
      runId: `run-${executionId}`,
      executionId,
      flowVersion: `${spec.name}:v1`,
      sourcePath: 'file://in.csv',
      spec,
      mappedFiles,
      rejectedFiles,
      onProgress: noop,
      signal: new AbortController().signal,
    });
    const count = async (table: string) => Number((await db.connection.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`))[0][0]!.n);

    it('loads mapped rows, rejects and a ledger row; a second load of the same execution writes nothing', async (t) => {
      if (skip) return t.skip(skip);
      const target = new MysqlTarget(pool, 'shop', access);
      const mapped = [mappedChunk(dir, 'm0.parquet', rowsOf(3_000), 1), mappedChunk(dir, 'm1.parquet', rowsOf(2_000, 3_001), 3_001)];
      const rejects = [rejectsChunk(dir, 'r0.parquet', [5_001, 5_002])];
      const first = await target.load(request(targetSpec(), 'exec-1', mapped, rejects));
      assert.deepEqual(first, { rowsWritten: 5_000, rowsRejected: 2, alreadyLoaded: false, location: 'shop:things', rejectsLocation: 'shop:things_rejects' });
      const again = await target.load(request(targetSpec(), 'exec-1', mapped, rejects));
      assert.deepEqual(again, { ...first, alreadyLoaded: true });
      assert.equal(await count('things'), 5_000);
      assert.equal(await count('things_rejects'), 2);
      const [[stats]] = await db.connection.query<RowDataPacket[]>('SELECT COUNT(DISTINCT id) AS ids, MIN(id) AS lo, MAX(id) AS hi, SUM(ok) AS oks FROM things');
      assert.deepEqual({ ...stats }, { ids: '5000', lo: '1', hi: '5000', oks: '2500' });
      const [[row]] = await db.connection.query<RowDataPacket[]>('SELECT * FROM things WHERE id = 8');
      // The fields, then the lineage columns (the load created the table): the run and the row's source row.
      assert.deepEqual({ ...row }, {
        id: '8', name: 'name 8', ok: 1, day: '2024-02-29', at: '2024-02-29 23:59:58.123456', doc: '{"id":8,"tags":["a","b"]}', x: 1, n: 8,
        _sluice_run_id: 'run-exec-1', _sluice_source_row: '8',
      });
      const [[reject]] = await db.connection.query<RowDataPacket[]>('SELECT run_id, execution_id, flow_version, source_path, `row_number`, record, errors FROM things_rejects ORDER BY `row_number` LIMIT 1');
      assert.deepEqual({ ...reject }, {
        run_id: 'run-exec-1', execution_id: 'exec-1', flow_version: 'things:v1', source_path: 'file://in.csv', row_number: '5001',
        record: '{"id":"x5001"}', errors: '[{"field":"id","rule":"type","message":"not an int64"}]',
      });
      const [[ledger]] = await db.connection.query<RowDataPacket[]>("SELECT rows_written, rows_rejected, target_table FROM sluice_load_ledger WHERE execution_id = 'exec-1'");
      assert.deepEqual({ ...ledger }, { rows_written: '5000', rows_rejected: '2', target_table: 'things' });
    });

    it('keeps the word NULL, empty text, quotes, backslashes, newlines and a BIGINT above 2^53 exactly', async (t) => {
      if (skip) return t.skip(skip);
      const spec = targetSpec({ table: 'tricky' });
      const names = ['NULL', '', null, 'say "hi", \\N', 'two\nlines\r\n', 'ünïcødé ✓', '\\', '"'];
      const file = mappedChunk(dir, 'tricky.parquet', names.map((name, i) => ({ id: i === 0 ? BigInt(BIG) : BigInt(i), name, ok: null, n: null })), 1);
      const result = await new MysqlTarget(pool, 'shop', access).load(request(spec, 'exec-tricky', [file]));
      assert.equal(result.rowsWritten, names.length);
      const [rows] = await db.connection.query<RowDataPacket[]>('SELECT id, name, ok, n FROM tricky');
      const byId = new Map(rows.map((r) => [String(r.id), r]));
      assert.equal(byId.get(BIG)?.name, 'NULL');
      assert.deepEqual([...byId.values()].map((r) => r.name).sort(), [...names].sort());
      assert.equal(byId.get('2')!.name, null);
      assert.equal(byId.get('1')!.ok, null);
      assert.equal(byId.get('1')!.n, null);
    });

    it('leaves nothing when a load fails mid-way, and a retry then writes everything once', async (t) => {
      if (skip) return t.skip(skip);
      const spec = targetSpec({ table: 'halfway' });
      const good = mappedChunk(dir, 'h0.parquet', rowsOf(2_000), 1);
      const broken = path.join(dir, 'h1.parquet');
      writeFileSync(broken, 'not parquet');
      await assert.rejects(new MysqlTarget(pool, 'shop', access).load(request(spec, 'exec-half', [good, broken])));
      assert.equal(await count('halfway'), 0);
      assert.equal(await count("sluice_load_ledger WHERE execution_id = 'exec-half'"), 0);
      const retried = await new MysqlTarget(pool, 'shop', access).load(request(spec, 'exec-half', [good, mappedChunk(dir, 'h1b.parquet', rowsOf(10, 2_001), 2_001)]));
      assert.equal(retried.rowsWritten, 2_010);
      assert.equal(await count('halfway'), 2_010);
    });

    it('refuses a load the server would truncate or skip (a duplicate key), leaving nothing', async (t) => {
      if (skip) return t.skip(skip);
      await db.connection.query('CREATE TABLE dupes (id bigint NOT NULL PRIMARY KEY, name longtext, ok boolean, day date, at datetime(6), doc json, x double, n int)');
      const spec = targetSpec({ table: 'dupes' });
      const file = mappedChunk(dir, 'dupes.parquet', [...rowsOf(3), ...rowsOf(1)], 1);
      await assert.rejects(new MysqlTarget(pool, 'shop', access).load(request(spec, 'exec-dupes', [file])), (error: unknown) => {
        assert.ok(error instanceof TargetError);
        assert.equal(error.code, 'TARGET_REJECTED_LOAD');
        assert.match(error.message, /^shop:dupes refused the load \(1 warning: Duplicate entry '1' for key 'PRIMARY'\); nothing was written$/);
        return true;
      });
      assert.equal(await count('dupes'), 0);
    });

    it('replace empties the table in the load\'s transaction; upsert updates by key', async (t) => {
      if (skip) return t.skip(skip);
      const target = new MysqlTarget(pool, 'shop', access);
      const replace = targetSpec({ table: 'replaced', write: 'replace' });
      await target.load(request(replace, 'exec-r1', [mappedChunk(dir, 'r1.parquet', rowsOf(50), 1)]));
      const second = await target.load(request(replace, 'exec-r2', [mappedChunk(dir, 'r2.parquet', rowsOf(7, 100), 1)]));
      assert.equal(second.rowsWritten, 7);
      const [[r]] = await db.connection.query<RowDataPacket[]>('SELECT COUNT(*) AS n, MIN(id) AS lo FROM replaced');
      assert.deepEqual({ ...r }, { n: '7', lo: '100' });

      const upsert = targetSpec({ table: 'upserted', write: 'upsert', key: ['id'] });
      await target.load(request(upsert, 'exec-u1', [mappedChunk(dir, 'u1.parquet', rowsOf(10), 1)]));
      const changed = rowsOf(5, 8).map((row) => ({ ...row, name: `changed ${row.id}` }));
      const merged = await target.load(request(upsert, 'exec-u2', [mappedChunk(dir, 'u2.parquet', changed, 1)]));
      assert.equal(merged.rowsWritten, 5);
      const [rows] = await db.connection.query<RowDataPacket[]>('SELECT id, name FROM upserted ORDER BY id');
      assert.equal(rows.length, 12);
      assert.deepEqual(rows.slice(6).map((x) => [x.id, x.name]), [['7', 'name 7'], ['8', 'changed 8'], ['9', 'changed 9'], ['10', 'changed 10'], ['11', 'changed 11'], ['12', 'changed 12']]);
    });

    it('runs link steps in the load\'s transaction and keeps their counts in the ledger', async (t) => {
      if (skip) return t.skip(skip);
      await db.connection.query('CREATE TABLE batches (source_path varchar(255), run_id varchar(255))');
      const spec = targetSpec({ table: 'linked', link: ['INSERT INTO batches VALUES (:source_path, :run_id)', 'UPDATE linked SET n = 0 WHERE id <= 3'] });
      const target = new MysqlTarget(pool, 'shop', access);
      const result = await target.load(request(spec, 'exec-link', [mappedChunk(dir, 'l.parquet', rowsOf(5), 1)]));
      assert.deepEqual(result.links, [{ index: 0, rows: 1 }, { index: 1, rows: 3 }]);
      assert.deepEqual((await target.load(request(spec, 'exec-link', []))).links, [{ index: 0, rows: 1 }, { index: 1, rows: 3 }]);
      const [batches] = await db.connection.query<RowDataPacket[]>('SELECT * FROM batches');
      assert.deepEqual(batches.map((b) => ({ ...b })), [{ source_path: 'file://in.csv', run_id: 'run-exec-link' }]);
      const failing = targetSpec({ table: 'linked_bad', link: ['UPDATE no_such_table SET x = 1'] });
      await assert.rejects(target.load(request(failing, 'exec-link-bad', [mappedChunk(dir, 'lb.parquet', rowsOf(5), 1)])), (error: unknown) => {
        assert.ok(error instanceof TargetError);
        assert.equal(error.code, 'LINK_FAILED');
        return true;
      });
      assert.equal(await count('linked_bad'), 0);
    });
  });

  describe('credentials', () => {
    const user = `sluice_nogrant_${process.pid}`;
    before(async () => {
      if (skip) return;
      await db.connection.query(`CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY 'right-password-4711'`);
    });
    after(async () => {
      if (skip) return;
      await db.connection.query(`DROP USER IF EXISTS '${user}'@'%'`);
    });

    it('a wrong password is AUTH_FAILED, naming the connector, without the password', async (t) => {
      if (skip) return t.skip(skip);
      const url = `mysql://root:wrong-password-4711@127.0.0.1:3306/${db.name}`;
      const wrong = createMysqlPool(url, { label: 'mysql connector "shop"', logger });
      try {
        for (const check of [() => new MysqlSource(wrong, 'shop', undefined, { kind: 'mysql', connector: 'shop', url }).check(), () => new MysqlTarget(wrong, 'shop', { kind: 'mysql', connector: 'shop', url }).check()]) {
          const checked = await check();
          assert.deepEqual([checked.ok, checked.code], [false, 'AUTH_FAILED']);
          assert.equal(
            checked.reason,
            `connectors.shop: MySQL at 127.0.0.1:3306/${db.name} refused user "root" (Access denied for user 'root'@'127.0.0.1' (using password: YES)); check the user and password in connectors.shop.url, or the secret it references`,
          );
        }
      } finally {
        await wrong.end();
      }
    });

    it('a user without grants on the database is PERMISSION_DENIED', async (t) => {
      if (skip) return t.skip(skip);
      const url = `mysql://${user}:right-password-4711@127.0.0.1:3306/${db.name}`;
      const limited = createMysqlPool(url, { label: 'mysql connector "shop"', logger });
      try {
        const checked = await new MysqlSource(limited, 'shop', undefined, { kind: 'mysql', connector: 'shop', url }).check();
        assert.deepEqual([checked.ok, checked.code], [false, 'PERMISSION_DENIED']);
        assert.match(checked.reason, new RegExp(`^connectors\\.shop: user "${user}" at 127\\.0\\.0\\.1:3306/${db.name} is not allowed to do this \\(Access denied for user '${user}'@'%' to database '${db.name}'\\)`));
        assert.doesNotMatch(checked.reason, /right-password-4711/);
      } finally {
        await limited.end();
      }
    });

    it('check() prepares the connector query: a missing table is INVALID_QUERY', async (t) => {
      if (skip) return t.skip(skip);
      const good = await new MysqlSource(pool, 'shop', 'SELECT id FROM orders WHERE batch = :source_path', access).check();
      assert.equal(good.ok, true, good.reason);
      assert.match(good.reason, /^connected, server \S+, query prepared$/);
      const missing = await new MysqlSource(pool, 'shop', 'SELECT id FROM nope WHERE batch = :source_path', access).check();
      assert.deepEqual([missing.ok, missing.code], [false, 'INVALID_QUERY']);
      assert.match(missing.reason, /^connectors\.shop\.query is not valid: Table '\w+\.nope' doesn't exist$/);
      const target = await new MysqlTarget(pool, 'shop', access).check();
      assert.deepEqual([target.ok, target.reason], [true, 'loadable (local_infile on)']);
    });
  });

  it('sluice test-connections checks a mysql connector through its source and target check()s, no password in a reason', async (t) => {
    if (skip) return t.skip(skip);
    const options = { projectDir: tempDir('sluice-mysql-check-'), timeoutMs: 10_000 };
    const ok = await testConnection('shop', { kind: 'mysql', url: db.url, query: 'SELECT id FROM orders WHERE batch = :source_path' }, options);
    assert.equal(ok.ok, true, ok.reason);
    assert.match(ok.reason, /^connected, server \S+, query prepared; loadable \(local_infile on\)$/);
    assert.deepEqual(Object.keys(ok.detail ?? {}), ['server_version']);
    const url = new URL(db.url);
    url.password = 'wrong-password-4711';
    const refused = await testConnection('shop', { kind: 'mysql', url: url.toString() }, options);
    assert.equal(refused.ok, false);
    assert.match(refused.reason, /^connectors\.shop: MySQL at 127\.0\.0\.1:3306\/\w+ refused user "root"/);
    assert.doesNotMatch(JSON.stringify(refused), /wrong-password-4711/);
    const badQuery = await testConnection('shop', { kind: 'mysql', url: db.url, query: 'SELECT id FROM nope WHERE batch = :source_path' }, options);
    assert.deepEqual([badQuery.ok, /^connectors\.shop\.query is not valid: Table '\w+\.nope' doesn't exist$/.test(badQuery.reason)], [false, true]);
  });

  it('a connection killed while held fails with CONNECTION_LOST, and the process lives on', async (t) => {
    if (skip) return t.skip(skip);
    const staging = stage('SELECT o.id, SLEEP(0.002) FROM orders o WHERE batch = :source_path', 'b1', { chunkRows: 100 }).then(
      () => assert.fail('the staging survived its connection'),
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [list] = await db.connection.query<RowDataPacket[]>("SELECT id FROM information_schema.processlist WHERE info LIKE 'SELECT o.id, SLEEP%'");
    assert.equal(list.length, 1);
    await db.connection.query(`KILL ${Number(list[0]!.id)}`);
    const error = await staging;
    assert.ok(error instanceof TransientError, String(error));
    assert.equal(error.code, 'CONNECTION_LOST');
    assert.match(error.message, /^the connection to mysql connector "shop" was lost while in use: Connection lost: The server closed the connection\./);
    const [rows] = await pool.query<RowDataPacket[]>('SELECT 1 AS one');
    assert.equal(rows[0]!.one, 1);
  });
});
