/**
 * Integration: the postgres target's binary COPY (connectors/postgres/binary-copy.ts) on real PostgreSQL.
 * Every field type, with the values that break encoders (NULL in every column, empty text, text of 12,
 * 13, 16 and 17 bytes, multi-byte UTF-8, int64 and int32 extremes, dates and timestamps before 1970,
 * before 2000 and far ahead, NaN, ±Infinity and -0, nested JSON), over several Arrow record batches and
 * more rows than one encoded piece, loads exactly what a CSV COPY of the same frame loads. A target table
 * made by the user with other column types is loaded as CSV (the server converts the text as before).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { from as copyFrom } from 'pg-copy-streams';
import { binaryAccepted, binaryKinds, BINARY_COPY_HEADER, BINARY_COPY_TRAILER, encodeBinaryCopy, type BinaryKind } from '../../connectors/postgres/binary-copy';
import { PostgresTarget } from '../../connectors/postgres/postgres-target';
import { validateFlowSpec } from '../../flows/flow-spec';
import { ROW_COLUMN } from '../../transform/map-chunk';
import { createTestDatabase, type TestDatabase } from '../helpers/services';

const KINDS: BinaryKind[] = ['int4', 'int8', 'float8', 'bool', 'date', 'timestamp', 'text', 'jsonb'];
const DDL = (table: string) =>
  `CREATE TABLE ${table} (i4 integer, i8 bigint, f8 double precision, b boolean, d date, ts timestamp, t text, j jsonb)`;

/** Edge values, one row each (every column NULL in the last one). */
function edgeFrame(): pl.DataFrame {
  const day = (iso: string) => new Date(`${iso}T00:00:00Z`);
  const ts = (iso: string) => new Date(iso);
  return pl.DataFrame({
    i4: pl.Series('i4', [0, -1, 2147483647, -2147483648, 42, 7, null], pl.Int32),
    // Through text: a JS number cannot hold the extremes, and nodejs-polars takes no BigInt here.
    i8: pl.Series('i8', ['0', '-1', '9223372036854775807', '-9223372036854775808', '4294967296', '-4294967297', null], pl.Utf8).cast(pl.Int64),
    f8: pl.Series('f8', [0.1, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.7976931348623157e308, null], pl.Float64),
    b: pl.Series('b', [true, false, true, false, true, false, null], pl.Bool),
    d: pl.Series('d', [day('2000-01-01'), day('1999-12-31'), day('1969-07-20'), day('1900-02-28'), day('2999-12-31'), day('2024-02-29'), null], pl.Date),
    ts: pl.Series(
      'ts',
      [ts('2000-01-01T00:00:00Z'), ts('1999-12-31T23:59:59.999Z'), ts('1969-12-31T23:59:59.001Z'), ts('1901-01-01T12:00:00Z'), ts('2262-01-01T00:00:00Z'), ts('2024-06-01T08:30:15.123Z'), null],
      pl.Datetime('ms'),
    ),
    t: pl.Series('t', ['', 'twelve bytes', 'thirteen byte', 'sixteen bytes!!!', 'seventeen bytes!!', 'naïve — ünïcödé 🚀 and "quotes", commas\nand a newline', null], pl.Utf8),
    j: pl.Series('j', ['{"a":1,"b":[true,null,"x"]}', '[]', '"é"', '{"deep":{"er":{"est":12.5}}}', 'null', '{"long":"' + 'y'.repeat(300) + '"}', null], pl.Utf8),
  });
}

/** `rows` generated rows: every kind, NULLs scattered by a different period per column, text of every length 0–40. */
function bulkFrame(rows: number, seed: number): pl.DataFrame {
  const n = Array.from({ length: rows }, (_, i) => i + seed);
  const orNull = <T>(i: number, period: number, value: T): T | null => (i % period === 0 ? null : value);
  return pl.DataFrame({
    i4: pl.Series('i4', n.map((i) => orNull(i, 7, (i * 2654435761) | 0)), pl.Int32),
    i8: pl.Series('i8', n.map((i) => orNull(i, 11, i * 1_000_000_007 - 5_000_000_000_000)), pl.Int64),
    f8: pl.Series('f8', n.map((i) => orNull(i, 13, i / 7 - 1000)), pl.Float64),
    b: pl.Series('b', n.map((i) => orNull(i, 5, i % 3 === 0)), pl.Bool),
    d: pl.Series('d', n.map((i) => orNull(i, 17, new Date(Date.UTC(1950, 0, 1 + (i % 40_000))))), pl.Date),
    ts: pl.Series('ts', n.map((i) => orNull(i, 19, new Date(Date.UTC(1990, 0, 1) + i * 1_234_567))), pl.Datetime('ms')),
    t: pl.Series('t', n.map((i) => orNull(i, 3, 'é'.repeat(i % 5) + 'x'.repeat(i % 41))), pl.Utf8),
    j: pl.Series('j', n.map((i) => orNull(i, 23, JSON.stringify({ i, s: 'v'.repeat(i % 20) }))), pl.Utf8),
  });
}

describe('binary COPY', () => {
  let db: TestDatabase;

  before(async () => {
    db = await createTestDatabase();
  });

  after(async () => {
    await db?.drop();
  });

  async function copyBinary(table: string, frame: pl.DataFrame): Promise<void> {
    const client = await db.pool.connect();
    try {
      async function* pieces() {
        yield BINARY_COPY_HEADER;
        yield* encodeBinaryCopy(frame, KINDS);
        yield BINARY_COPY_TRAILER;
      }
      await pipeline(Readable.from(pieces()), client.query(copyFrom(`COPY ${table} FROM STDIN (FORMAT binary)`)));
    } finally {
      client.release();
    }
  }

  async function copyCsv(table: string, frame: pl.DataFrame): Promise<void> {
    const client = await db.pool.connect();
    try {
      await pipeline(Readable.from([frame.writeCSV({ includeHeader: false }) as unknown as Buffer]), client.query(copyFrom(`COPY ${table} FROM STDIN (FORMAT csv)`)));
    } finally {
      client.release();
    }
  }

  /** Rows in `a` and not in `b`, counting duplicates, both ways. */
  async function difference(a: string, b: string): Promise<number> {
    const r = await db.pool.query(`SELECT (SELECT count(*) FROM (TABLE ${a} EXCEPT ALL TABLE ${b}) x) + (SELECT count(*) FROM (TABLE ${b} EXCEPT ALL TABLE ${a}) y) AS n`);
    return Number(r.rows[0].n);
  }

  it('loads the edge values exactly as a CSV COPY does, and as written', async () => {
    await db.pool.query(`${DDL('edge_bin')}; ${DDL('edge_csv')}`);
    const frame = edgeFrame();
    await copyBinary('edge_bin', frame);
    await copyCsv('edge_csv', frame);
    assert.equal(Number((await db.pool.query('SELECT count(*) AS n FROM edge_bin')).rows[0].n), 7);
    assert.equal(await difference('edge_bin', 'edge_csv'), 0);
    const r = await db.pool.query(
      `SELECT i4, i8::text, f8::text, b, d::text, ts::text, t, octet_length(t) AS bytes, j::text FROM edge_bin ORDER BY i4 NULLS LAST, i8`,
    );
    const byI4 = new Map(r.rows.map((row) => [row.i4, row]));
    assert.deepEqual(byI4.get(-2147483648), { i4: -2147483648, i8: '-9223372036854775808', f8: 'Infinity', b: false, d: '1900-02-28', ts: '1901-01-01 12:00:00', t: 'sixteen bytes!!!', bytes: 16, j: '{"deep": {"er": {"est": 12.5}}}' });
    assert.deepEqual(byI4.get(2147483647), { i4: 2147483647, i8: '9223372036854775807', f8: 'NaN', b: true, d: '1969-07-20', ts: '1969-12-31 23:59:59.001', t: 'thirteen byte', bytes: 13, j: '"é"' });
    assert.deepEqual(byI4.get(-1), { i4: -1, i8: '-1', f8: '-0', b: false, d: '1999-12-31', ts: '1999-12-31 23:59:59.999', t: 'twelve bytes', bytes: 12, j: '[]' });
    assert.deepEqual(byI4.get(0), { i4: 0, i8: '0', f8: '0.1', b: true, d: '2000-01-01', ts: '2000-01-01 00:00:00', t: '', bytes: 0, j: '{"a": 1, "b": [true, null, "x"]}' });
    assert.equal(byI4.get(7).t, 'naïve — ünïcödé 🚀 and "quotes", commas\nand a newline');
    assert.equal(byI4.get(42).ts, '2262-01-01 00:00:00');
    assert.equal(byI4.get(42).d, '2999-12-31');
    assert.deepEqual(byI4.get(null), { i4: null, i8: null, f8: null, b: null, d: null, ts: null, t: null, bytes: null, j: null });
  });

  it('loads several record batches of more rows than one piece exactly as CSV does', async () => {
    await db.pool.query(`${DDL('bulk_bin')}; ${DDL('bulk_csv')}`);
    // Three chunks, not rechunked: three Arrow record batches, the second longer than a 32,768-row piece.
    const frame = pl.concat([bulkFrame(1_000, 0), bulkFrame(70_001, 1_000), bulkFrame(5, 71_001)], { rechunk: false, how: 'vertical' });
    await copyBinary('bulk_bin', frame);
    await copyCsv('bulk_csv', frame);
    const counts = await db.pool.query('SELECT count(*) AS n, count(t) AS t, count(j) AS j, count(DISTINCT i8) AS i8 FROM bulk_bin');
    assert.deepEqual(counts.rows[0], { n: '71006', t: String(71_006 - Math.ceil(71_006 / 3)), j: String(71_006 - Math.ceil(71_006 / 23)), i8: String(71_006 - Math.ceil(71_006 / 11)) });
    assert.equal(await difference('bulk_bin', 'bulk_csv'), 0);
  });

  it('accepts only tables whose every column has the type Sluice creates (varchar reads text)', () => {
    assert.equal(binaryAccepted(['int8', 'text', 'date'], ['int8', 'varchar', 'date']), true);
    assert.equal(binaryAccepted(['int8', 'text'], ['numeric', 'text']), false);
    assert.equal(binaryAccepted(['timestamp'], ['timestamptz']), false);
    assert.equal(binaryAccepted(['int4'], ['int8']), false);
    assert.equal(binaryAccepted(['jsonb'], ['json']), false);
    assert.equal(binaryAccepted(['int8', 'text'], ['int8', undefined]), false);
    assert.equal(binaryAccepted(['int8', 'text'], ['int8']), false);
  });

  describe('through the postgres target', () => {
    const spec = (table: string) =>
      validateFlowSpec({
        name: 'typed',
        source: { connector: 'files' },
        target: { connector: 'warehouse', table, lineage: false },
        fields: {
          id: { from: 'id', type: 'int64', required: true },
          amount: { from: 'amount', type: 'int64' },
          at: { from: 'at', type: 'datetime' },
          name: { from: 'name', type: 'string' },
        },
      });
    const mapped = () =>
      pl.DataFrame({
        id: pl.Series('id', [1, 2, 3], pl.Int64),
        amount: pl.Series('amount', [10, null, -30], pl.Int64),
        at: pl.Series('at', [new Date('2024-01-02T03:04:05.678Z'), null, new Date('1999-01-01T00:00:00Z')], pl.Datetime('us')),
        name: pl.Series('name', ['a', 'b, "c"', null], pl.Utf8),
        [ROW_COLUMN]: pl.Series(ROW_COLUMN, [1, 2, 3], pl.Int64),
      });
    let dir: string;

    before(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-binary-copy-'));
    });

    after(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    /** A load of staged mapped and rejected files into `table` (and its rejects table). */
    const loadFiles = (table: string, executionId: string, target: PostgresTarget, files: { mapped?: string[]; rejected?: string[] }) =>
      target.load({
        runId: `run-${executionId}`,
        executionId,
        flowVersion: 'typed:v1',
        sourcePath: 'x.csv',
        spec: spec(table),
        mappedFiles: files.mapped ?? [],
        rejectedFiles: files.rejected ?? [],
        onProgress: () => undefined,
        signal: new AbortController().signal,
      });

    async function load(table: string, executionId: string, target = new PostgresTarget(db.pool, 'warehouse')) {
      const file = path.join(dir, `${executionId}.parquet`);
      mapped().writeParquet(file);
      return loadFiles(table, executionId, target, { mapped: [file] });
    }

    const rows = async (table: string) =>
      (await db.pool.query(`SELECT id::text, amount::text, at::text, name FROM ${table} ORDER BY id`)).rows;
    const expected = [
      { id: '1', amount: '10', at: '2024-01-02 03:04:05.678', name: 'a' },
      { id: '2', amount: null, at: null, name: 'b, "c"' },
      { id: '3', amount: '-30', at: '1999-01-01 00:00:00', name: null },
    ];

    it('COPYs a table it made in binary', async () => {
      const result = await load('public.made_by_sluice', 'e1');
      assert.equal(result.copyFormat, 'binary');
      assert.equal(result.rowsWritten, 3);
      assert.deepEqual(await rows('public.made_by_sluice'), expected);
    });

    it('reuses the memory of written pieces over a long COPY without changing a value', async () => {
      // 300,000 rows of ~90 bytes: pieces of ~3 MB (above the 256 KiB from which their memory is reused), the
      // server slower than the encoder, so pieces wait on the socket while the next ones are encoded.
      const n = 300_000;
      const ids = Array.from({ length: n }, (_, i) => i + 1);
      const frame = pl.DataFrame({
        id: pl.Series('id', ids, pl.Int64),
        amount: pl.Series('amount', ids.map((i) => (i % 9 === 0 ? null : i * 37 - 1_000_000)), pl.Int64),
        at: pl.Series('at', ids.map((i) => new Date(Date.UTC(2020, 0, 1) + i * 61_000)), pl.Datetime('us')),
        name: pl.Series('name', ids.map((i) => `row ${i} ` + 'abcdefghij'.repeat(i % 7)), pl.Utf8),
        [ROW_COLUMN]: pl.Series(ROW_COLUMN, ids, pl.Int64),
      });
      const files = [0, 1, 2].map((k) => {
        const file = path.join(dir, `long-${k}.parquet`);
        frame.slice(k * 100_000, 100_000).writeParquet(file);
        return file;
      });
      const loadLong = (table: string, executionId: string, target: PostgresTarget) => loadFiles(table, executionId, target, { mapped: files });
      const binary = await loadLong('public.long_binary', 'e4', new PostgresTarget(db.pool, 'warehouse'));
      const csv = await loadLong('public.long_csv', 'e5', new PostgresTarget(db.pool, 'warehouse', undefined, { binaryCopy: false }));
      assert.deepEqual([binary.copyFormat, binary.rowsWritten, csv.copyFormat, csv.rowsWritten], ['binary', n, 'csv', n]);
      assert.equal(await difference('public.long_binary', 'public.long_csv'), 0);
      const some = await db.pool.query(`SELECT id::text, amount::text, name FROM public.long_binary WHERE id IN (1, 9, 300000) ORDER BY long_binary.id`);
      assert.deepEqual(some.rows, [
        { id: '1', amount: '-999963', name: 'row 1 abcdefghij' },
        { id: '9', amount: null, name: 'row 9 abcdefghijabcdefghij' },
        { id: '300000', amount: '10100000', name: 'row 300000 abcdefghij' },
      ]);
    });

    it('COPYs the rejects in binary as a CSV COPY would, and as CSV into a rejects table with other types', async () => {
      const rejected = path.join(dir, 'rejected.parquet');
      pl.DataFrame({
        [ROW_COLUMN]: pl.Series(ROW_COLUMN, [4, 7, 9], pl.Int64),
        record: pl.Series('record', ['{"id":"x","name":"naïve \\"q\\", c"}', '{"id":null,"name":"🚀"}', '{"id":"9","name":"' + 'z'.repeat(300) + '"}'], pl.Utf8),
        errors: pl.Series('errors', ['[{"field":"id","rule":"type","message":"cannot convert \\"x\\" to an int64"}]', '[{"field":"id","rule":"required","message":"id is required but missing"}]', '[{"field":null,"rule":"check:c","message":"failed check: id > 10"}]'], pl.Utf8),
      }).writeParquet(rejected);
      const loadRejects = (table: string, executionId: string, target: PostgresTarget) => loadFiles(table, executionId, target, { rejected: [rejected] });
      // Every column but the run and execution ids (one per load) and the time each row was written.
      const cols = 'flow_version, source_path, row_number, record, errors, rejects_of';
      const binary = await loadRejects('public.rj_binary', 'e6', new PostgresTarget(db.pool, 'warehouse'));
      const csv = await loadRejects('public.rj_csv', 'e7', new PostgresTarget(db.pool, 'warehouse', undefined, { binaryCopy: false }));
      assert.deepEqual([binary.rowsRejected, binary.rejectsCopyFormat, csv.rowsRejected, csv.rejectsCopyFormat], [3, 'binary', 3, 'csv']);
      const diff = await db.pool.query(
        `SELECT (SELECT count(*) FROM (SELECT ${cols} FROM public.rj_binary_rejects EXCEPT ALL SELECT ${cols} FROM public.rj_csv_rejects) x) AS n`,
      );
      assert.equal(Number(diff.rows[0].n), 0);
      const rows = await db.pool.query(`SELECT row_number::text, record->>'name' AS name, errors->0->>'rule' AS rule FROM public.rj_binary_rejects ORDER BY row_number`);
      assert.deepEqual(rows.rows, [
        { row_number: '4', name: 'naïve "q", c', rule: 'type' },
        { row_number: '7', name: '🚀', rule: 'required' },
        { row_number: '9', name: 'z'.repeat(300), rule: 'check:c' },
      ]);
      // A rejects table whose record is json (not jsonb): binary would send jsonb's version byte; CSV is used instead.
      await db.pool.query('CREATE TABLE public.rj_json_rejects (run_id text NOT NULL, execution_id text, flow_version text NOT NULL, source_path text NOT NULL, row_number bigint NOT NULL, record json NOT NULL, errors jsonb NOT NULL, rejected_at timestamptz NOT NULL DEFAULT now(), rejects_of text, resolved_by_run text, resolved_at timestamptz)');
      assert.equal((await loadRejects('public.rj_json', 'e8', new PostgresTarget(db.pool, 'warehouse'))).rejectsCopyFormat, 'csv');
      const json = await db.pool.query(`SELECT record::text FROM public.rj_json_rejects ORDER BY row_number`);
      assert.deepEqual(json.rows.map((r) => r.record), ['{"id":"x","name":"naïve \\"q\\", c"}', '{"id":null,"name":"🚀"}', '{"id":"9","name":"' + 'z'.repeat(300) + '"}']);
    });

    it('COPYs a table made with other types as CSV, converted by the server as before', async () => {
      await db.pool.query('CREATE TABLE public.made_by_user (id bigint NOT NULL, amount numeric(12,2), at timestamp, name varchar(20))');
      const result = await load('public.made_by_user', 'e2');
      assert.equal(result.copyFormat, 'csv');
      assert.deepEqual(
        (await db.pool.query('SELECT id::text, amount::text, at::text, name FROM public.made_by_user ORDER BY id')).rows,
        [{ ...expected[0], amount: '10.00' }, expected[1], { ...expected[2], amount: '-30.00' }],
      );
    });

    it('COPYs as CSV when the connector says copy_format: csv', async () => {
      const result = await load('public.csv_by_choice', 'e3', new PostgresTarget(db.pool, 'warehouse', undefined, { binaryCopy: false }));
      assert.equal(result.copyFormat, 'csv');
      assert.deepEqual(await rows('public.csv_by_choice'), expected);
    });
  });

  it('lists the flow fields then the lineage columns', () => {
    const s = validateFlowSpec({
      name: 'k',
      source: { connector: 'files' },
      target: { connector: 'warehouse', table: 't' },
      fields: { a: { from: 'a', type: 'int32' }, b: { from: 'b', type: 'json' }, c: { from: 'c', type: 'datetime' } },
    });
    assert.deepEqual(binaryKinds(s, true), ['int4', 'jsonb', 'timestamp', 'text', 'int8']);
    assert.deepEqual(binaryKinds(s, false), ['int4', 'jsonb', 'timestamp']);
  });
});
