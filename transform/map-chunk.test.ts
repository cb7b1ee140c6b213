/**
 * Unit tests of the declarative mapping of one chunk: rules (`required`, `in`, field `check`, flow
 * `checks`), `expr` over source columns, row numbering, rejected rows' original record and errors,
 * and the TransformErrors for a missing column or invalid SQL.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { TransformError } from '../common/errors';
import { validateFlowSpec } from '../flows/flow-spec';
import { emptyRejected, mapChunk, mapChunkAsync, ROW_COLUMN, ruleKey, toJson } from './map-chunk';

function spec(fields: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return validateFlowSpec({ name: 'chunk', source: { connector: 'files' }, target: { connector: 'warehouse', table: 't' }, fields, ...extra });
}

function plainRecords(frame: pl.DataFrame): Record<string, unknown>[] {
  return (frame.toRecords() as Record<string, unknown>[]).map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : typeof v === 'bigint' ? Number(v) : v])),
  );
}

function rejectedRows(frame: pl.DataFrame) {
  return (frame.toRecords() as Record<string, unknown>[]).map((r) => ({
    row: Number(r[ROW_COLUMN]),
    record: JSON.parse(String(r.record)) as unknown,
    errors: JSON.parse(String(r.errors)) as unknown,
  }));
}

function transformError(fn: () => unknown, code: string): TransformError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof TransformError, `expected TransformError, got ${String(error)}`);
    assert.equal(error.name, 'TransformError');
    assert.equal(error.code, code);
    return error;
  }
  assert.fail('expected a TransformError, nothing was thrown');
}

/** Source rows in the shape of movies.json, with spaces in column names. */
const movies = () =>
  pl.DataFrame({
    Title: ['A', 'B', null, 'D', 'E'],
    'Production Budget': ['100', '-5', 'abc', '', '20'],
    'Worldwide Gross': ['300', '10', '5', '7', null],
    Rating: ['PG', 'X', 'R', null, 'G'],
  });

const moviesSpec = () =>
  spec(
    {
      title: { from: 'Title', type: 'string', required: true },
      budget: { from: 'Production Budget', type: 'int64', check: 'budget > 0' },
      rating: { from: 'Rating', type: 'string', in: ['G', 'PG', 'R'] },
      profit: { expr: 'CAST("Worldwide Gross" AS BIGINT) - TRY_CAST("Production Budget" AS BIGINT)', type: 'int64' },
    },
    { checks: [{ name: 'profit_known', sql: 'profit IS NOT NULL OR budget IS NULL' }] },
  );

describe('mapChunk', () => {
  it('maps, rejects and numbers rows from firstRowNumber; a rejected record keeps the original values, one error per failed rule', () => {
    const { mapped, rejected } = mapChunk(moviesSpec(), movies(), 11);
    assert.deepEqual(mapped.columns, [ROW_COLUMN, 'title', 'budget', 'rating', 'profit']);
    assert.deepEqual(mapped.dtypes.map(String), ['DataType(Int64)', 'DataType(String)', 'DataType(Int64)', 'DataType(String)', 'DataType(Int64)']);
    assert.deepEqual(plainRecords(mapped), [
      { [ROW_COLUMN]: 11, title: 'A', budget: 100, rating: 'PG', profit: 200 },
      // Blank budget is null: it passes the check; null rating passes `in`; null profit passes with null budget.
      { [ROW_COLUMN]: 14, title: 'D', budget: null, rating: null, profit: null },
    ]);
    assert.deepEqual(rejected.columns, [ROW_COLUMN, 'record', 'errors']);
    assert.deepEqual(rejected.dtypes.map(String), ['DataType(Int64)', 'DataType(String)', 'DataType(String)']);
    assert.deepEqual(rejectedRows(rejected), [
      {
        row: 12,
        record: { Title: 'B', 'Production Budget': '-5', 'Worldwide Gross': '10', Rating: 'X' },
        errors: [
          { field: 'rating', rule: 'in', message: '"X" is not one of "G", "PG", "R"' },
          { field: 'budget', rule: 'check', message: 'failed check: budget > 0' },
        ],
      },
      {
        row: 13,
        record: { Title: null, 'Production Budget': 'abc', 'Worldwide Gross': '5', Rating: 'R' },
        errors: [
          { field: 'title', rule: 'required', message: 'title is required but missing' },
          { field: 'budget', rule: 'type', message: 'cannot convert "abc" to an int64 (whole number)' },
        ],
      },
      {
        row: 15,
        record: { Title: 'E', 'Production Budget': '20', 'Worldwide Gross': null, Rating: 'G' },
        errors: [{ field: null, rule: 'check:profit_known', message: 'failed check: profit IS NOT NULL OR budget IS NULL' }],
      },
    ]);
  });

  it('keeps the original, untrimmed text in the rejected record, not the typed value', () => {
    const frame = pl.DataFrame({ n: [' 7x ', ' 8 '], other: ['kept', 'also'] });
    const { mapped, rejected } = mapChunk(spec({ n: { from: 'n', type: 'int32' } }), frame, 1);
    assert.deepEqual(plainRecords(mapped), [{ [ROW_COLUMN]: 2, n: 8 }]);
    assert.deepEqual(rejectedRows(rejected), [
      {
        row: 1,
        record: { n: ' 7x ', other: 'kept' },
        errors: [{ field: 'n', rule: 'type', message: `cannot convert " 7x " to ${'an int32 (whole number from -2147483648 to 2147483647)'}` }],
      },
    ]);
  });

  it('required: rejects null and blank text, but a failed cast reports only the type error', () => {
    const frame = pl.DataFrame({ id: ['1', null, '  ', 'x'] });
    const { mapped, rejected } = mapChunk(spec({ id: { from: 'id', type: 'int64', required: true } }), frame, 1);
    assert.deepEqual(plainRecords(mapped), [{ [ROW_COLUMN]: 1, id: 1 }]);
    assert.deepEqual(rejectedRows(rejected), [
      { row: 2, record: { id: null }, errors: [{ field: 'id', rule: 'required', message: 'id is required but missing' }] },
      { row: 3, record: { id: '  ' }, errors: [{ field: 'id', rule: 'required', message: 'id is required but missing' }] },
      { row: 4, record: { id: 'x' }, errors: [{ field: 'id', rule: 'type', message: 'cannot convert "x" to an int64 (whole number)' }] },
    ]);
  });

  it('in: compares the typed value, for numbers too', () => {
    const frame = pl.DataFrame({ level: ['1', '2', '3', ' 2 '] });
    const { mapped, rejected } = mapChunk(spec({ level: { from: 'level', type: 'int32', in: [1, 2] } }), frame, 1);
    assert.deepEqual(plainRecords(mapped), [
      { [ROW_COLUMN]: 1, level: 1 },
      { [ROW_COLUMN]: 2, level: 2 },
      { [ROW_COLUMN]: 4, level: 2 },
    ]);
    assert.deepEqual(rejectedRows(rejected), [{ row: 3, record: { level: '3' }, errors: [{ field: 'level', rule: 'in', message: '3 is not one of 1, 2' }] }]);
  });

  it('a field check refers to the typed value by its target name, not the source column', () => {
    const frame = pl.DataFrame({ 'IMDB Rating': ['7.5', '11', '-1', null] });
    const { mapped, rejected } = mapChunk(spec({ imdb: { from: 'IMDB Rating', type: 'float64', check: 'imdb BETWEEN 0 AND 10' } }), frame, 1);
    assert.deepEqual(plainRecords(mapped), [
      { [ROW_COLUMN]: 1, imdb: 7.5 },
      { [ROW_COLUMN]: 4, imdb: null },
    ]);
    const failed = [{ field: 'imdb', rule: 'check', message: 'failed check: imdb BETWEEN 0 AND 10' }];
    assert.deepEqual(rejectedRows(rejected), [
      { row: 2, record: { 'IMDB Rating': '11' }, errors: failed },
      { row: 3, record: { 'IMDB Rating': '-1' }, errors: failed },
    ]);
  });

  it('a flow-level check sees every typed field and reports field null, rule check:<name>', () => {
    const frame = pl.DataFrame({ lo: ['1', '5', '3'], hi: ['2', '4', '3'] });
    const { mapped, rejected } = mapChunk(
      spec({ lo: { from: 'lo', type: 'int64' }, hi: { from: 'hi', type: 'int64' } }, { checks: [{ name: 'ordered', sql: 'lo < hi' }] }),
      frame,
      1,
    );
    assert.deepEqual(plainRecords(mapped), [{ [ROW_COLUMN]: 1, lo: 1, hi: 2 }]);
    const failed = [{ field: null, rule: 'check:ordered', message: 'failed check: lo < hi' }];
    assert.deepEqual(rejectedRows(rejected), [
      { row: 2, record: { lo: '5', hi: '4' }, errors: failed },
      { row: 3, record: { lo: '3', hi: '3' }, errors: failed },
    ]);
  });

  it('a null passes every rule except required', () => {
    const fields = {
      code: { from: 'code', type: 'string', in: ['a', 'b'], check: "code <> 'z'" },
      n: { from: 'n', type: 'int64', check: 'n > 0' },
    };
    const checks = [{ name: 'n_small', sql: 'n < 100' }];
    const frame = pl.DataFrame({ code: pl.Series('code', [null], pl.Utf8), n: pl.Series('n', [null], pl.Utf8) });
    const passes = mapChunk(spec(fields, { checks }), frame, 1);
    assert.deepEqual(plainRecords(passes.mapped), [{ [ROW_COLUMN]: 1, code: null, n: null }]);
    assert.equal(passes.rejected.height, 0);

    const required = mapChunk(spec({ ...fields, n: { ...fields.n, required: true } }, { checks }), frame, 1);
    assert.equal(required.mapped.height, 0);
    assert.deepEqual(rejectedRows(required.rejected), [
      { row: 1, record: { code: null, n: null }, errors: [{ field: 'n', rule: 'required', message: 'n is required but missing' }] },
    ]);
  });

  it('a row failing rules on several fields gets one error per failed rule: field rules in field order, then checks', () => {
    const frame = pl.DataFrame({ a: ['x'], b: ['maybe'], c: ['q'] });
    const { rejected } = mapChunk(
      spec({ a: { from: 'a', type: 'int64' }, b: { from: 'b', type: 'bool' }, c: { from: 'c', type: 'string', in: ['p'], check: "c = 'p'" } }),
      frame,
      1,
    );
    assert.deepEqual(rejectedRows(rejected), [
      {
        row: 1,
        record: { a: 'x', b: 'maybe', c: 'q' },
        errors: [
          { field: 'a', rule: 'type', message: 'cannot convert "x" to an int64 (whole number)' },
          { field: 'b', rule: 'type', message: 'cannot convert "maybe" to a boolean (true/false, yes/no, 1/0)' },
          { field: 'c', rule: 'in', message: '"q" is not one of "p"' },
          { field: 'c', rule: 'check', message: "failed check: c = 'p'" },
        ],
      },
    ]);
  });

  it('expr runs over source columns, quoting a name with a space', () => {
    const frame = pl.DataFrame({ 'Worldwide Gross': [300, 10], 'Production Budget': [100, 40] });
    const { mapped, rejected } = mapChunk(
      spec({ profit: { expr: '"Worldwide Gross" - "Production Budget"', type: 'int64', check: 'profit >= 0' } }),
      frame,
      1,
    );
    assert.deepEqual(plainRecords(mapped), [{ [ROW_COLUMN]: 1, profit: 200 }]);
    assert.deepEqual(rejectedRows(rejected), [
      {
        row: 2,
        record: { 'Worldwide Gross': 10, 'Production Budget': 40 },
        errors: [{ field: 'profit', rule: 'check', message: 'failed check: profit >= 0' }],
      },
    ]);
  });

  it('numbers rows from firstRowNumber and returns an empty rejected frame when nothing fails', () => {
    const { mapped, rejected } = mapChunk(spec({ v: { from: 'v', type: 'string' } }), pl.DataFrame({ v: ['a', 'b', 'c'] }), 250_001);
    assert.deepEqual(mapped.getColumn(ROW_COLUMN).toArray().map(Number), [250_001, 250_002, 250_003]);
    assert.deepEqual(rejected.columns, [ROW_COLUMN, 'record', 'errors']);
    assert.equal(rejected.height, 0);
  });

  it('maps an empty chunk to empty frames with the target columns', () => {
    const frame = pl.DataFrame({ id: pl.Series('id', [], pl.Utf8) });
    const { mapped, rejected } = mapChunk(spec({ id: { from: 'id', type: 'int64', required: true, check: 'id > 0' } }), frame, 1);
    assert.deepEqual(mapped.columns, [ROW_COLUMN, 'id']);
    assert.equal(mapped.height, 0);
    assert.equal(rejected.height, 0);
  });

  it('a missing "from" column is TransformError MISSING_COLUMN naming each one and the available columns', () => {
    const error = transformError(
      () =>
        mapChunk(
          spec({ a: { from: 'Nope', type: 'string' }, b: { from: 'Title', type: 'string' }, c: { from: 'Also Missing', type: 'int64' } }),
          movies(),
          1,
        ),
      'MISSING_COLUMN',
    );
    assert.equal(
      error.message,
      'the source has no column "Nope" (field a), "Also Missing" (field c); available columns: "Title", "Production Budget", "Worldwide Gross", "Rating". ' +
        'Fix "from" in the flow spec or the source file.',
    );
    assert.deepEqual(error.details, { missing: ['Nope', 'Also Missing'], available: ['Title', 'Production Budget', 'Worldwide Gross', 'Rating'] });
  });

  it('an expr naming an unknown column is TransformError INVALID_SQL with Polars\' message', () => {
    const error = transformError(() => mapChunk(spec({ a: { expr: 'nope + 1', type: 'int64' } }), movies(), 1), 'INVALID_SQL');
    assert.equal(
      error.message,
      'expr of field "a" (nope + 1) is not valid Polars SQL here: not found: unable to find column "nope"; ' +
        'valid columns: ["Title", "Production Budget", "Worldwide Gross", "Rating"]',
    );
    assert.ok(error.cause instanceof Error);
    assert.equal(error.cause.message, 'not found: unable to find column "nope"; valid columns: ["Title", "Production Budget", "Worldwide Gross", "Rating"]');
  });

  it('an expr that does not parse is TransformError INVALID_SQL with the parser\'s position', () => {
    const error = transformError(() => mapChunk(spec({ a: { expr: 'SELEC FROM', type: 'int64' } }), movies(), 1), 'INVALID_SQL');
    assert.equal(error.message, 'expr of field "a" (SELEC FROM) is not valid Polars SQL here: sql parser error: Expected: ), found: FROM at Line: 1, Column: 15');
  });

  it('a check over a source column name (not a target field) is INVALID_SQL', () => {
    const error = transformError(() => mapChunk(spec({ title: { from: 'Title', type: 'string', check: "Title <> ''" } }), movies(), 1), 'INVALID_SQL');
    assert.equal(error.message, `check of field "title" (Title <> '') is not valid Polars SQL here: not found: unable to find column "Title"; valid columns: ["title"]\n\nDid you mean "title"?`);
  });

  it('a flow check that is not a boolean condition is INVALID_SQL', () => {
    const error = transformError(
      () => mapChunk(spec({ title: { from: 'Title', type: 'string' } }, { checks: [{ name: 'not_bool', sql: 'title' }] }), movies(), 1),
      'INVALID_SQL',
    );
    assert.equal(error.message, 'check "not_bool" (title) must be a boolean condition, but it gives DataType(String)');
  });
});

describe('ruleKey, toJson, emptyRejected', () => {
  it('ruleKey is field:rule, or the rule alone for flow-level rules', () => {
    assert.equal(ruleKey({ field: 'budget', rule: 'check', message: '' }), 'budget:check');
    assert.equal(ruleKey({ field: null, rule: 'check:profit_known', message: '' }), 'check:profit_known');
    assert.equal(ruleKey({ field: null, rule: 'dedupe', message: '' }), 'dedupe');
  });

  it('toJson writes safe BigInts as numbers, unsafe ones as text, Dates as ISO text', () => {
    assert.equal(toJson({ a: 5n, b: 2n ** 60n, c: new Date('2024-01-02T03:04:05Z'), d: null }), '{"a":5,"b":"1152921504606846976","c":"2024-01-02T03:04:05.000Z","d":null}');
  });

  it('emptyRejected has the rejected schema and no rows', () => {
    const frame = emptyRejected();
    assert.deepEqual(frame.columns, [ROW_COLUMN, 'record', 'errors']);
    assert.deepEqual(frame.dtypes.map(String), ['DataType(Int64)', 'DataType(String)', 'DataType(String)']);
    assert.equal(frame.height, 0);
  });
});

describe('byRule', () => {
  it('counts this chunk’s reject errors by field:rule, a row failing two rules counting in both', () => {
    const flow = spec({ a: { from: 'a', type: 'int64', required: true }, b: { from: 'b', type: 'string', in: ['x'] } });
    const raw = pl.DataFrame({ a: ['1', 'oops', null, '4'], b: ['x', 'y', 'y', 'x'] });
    const { mapped, rejected, byRule } = mapChunk(flow, raw, 1);
    assert.equal(mapped.height, 2);
    assert.equal(rejected.height, 2);
    assert.deepEqual(byRule, { 'a:type': 1, 'b:in': 2, 'a:required': 1 });
    assert.deepEqual(mapChunk(flow, raw.head(1), 1).byRule, {});
  });
});

describe('no silent changes', () => {
  it('maps a nested value (struct, list) into a string or json field as its JSON text, keys kept', () => {
    const raw = pl.DataFrame({ id: pl.Series('id', [1, 2], pl.Int64) }).select(
      pl.col('id'),
      pl.struct([pl.col('id').alias('a'), pl.lit('x').alias('b')]).alias('o'),
      pl.concatList([pl.col('id'), pl.col('id')]).alias('l'),
    );
    const { mapped, rejected } = mapChunk(
      spec({ o: { from: 'o', type: 'string' }, l: { from: 'l', type: 'string' }, oj: { from: 'o', type: 'json' } }),
      raw,
      1,
    );
    assert.equal(rejected.height, 0);
    assert.deepEqual(plainRecords(mapped), [
      { [ROW_COLUMN]: 1, o: '{"a":1,"b":"x"}', l: '[1,1]', oj: '{"a":1,"b":"x"}' },
      { [ROW_COLUMN]: 2, o: '{"a":2,"b":"x"}', l: '[2,2]', oj: '{"a":2,"b":"x"}' },
    ]);
  });

  it('rejects a string or json value holding a NUL byte with rule encoding when the target is postgres; the rest maps', () => {
    const raw = pl.DataFrame({
      id: ['1', '2', '3', '4'],
      name: ['ok', 'a\u0000b', 'fine', 'x'],
      doc: ['{"k":1}', '{"k":2}', '{"k":"a\\u0000"}', '{"k":"a\\\\u0000"}'],
    });
    const flow = spec({ id: { from: 'id', type: 'int64' }, name: { from: 'name', type: 'string' }, doc: { from: 'doc', type: 'json' } });
    const { mapped, rejected, byRule } = mapChunk(flow, raw, 1, { targetKind: 'postgres' });
    assert.deepEqual(plainRecords(mapped), [
      { [ROW_COLUMN]: 1, id: 1, name: 'ok', doc: '{"k":1}' },
      { [ROW_COLUMN]: 4, id: 4, name: 'x', doc: '{"k":"a\\\\u0000"}' },
    ]);
    assert.deepEqual(byRule, { 'name:encoding': 1, 'doc:encoding': 1 });
    // The record's NUL is kept as the text \u0000 (an escaped backslash): jsonb refuses the escape.
    assert.deepEqual(
      (rejected.toRecords() as Record<string, unknown>[]).map((r) => [Number(r[ROW_COLUMN]), r.record, JSON.parse(String(r.errors))]),
      [
        [
          2,
          '{"id":"2","name":"a\\\\u0000b","doc":"{\\"k\\":2}"}',
          [{ field: 'name', rule: 'encoding', message: 'contains a NUL byte (U+0000), which PostgreSQL text cannot store; remove it from the source' }],
        ],
        [
          3,
          '{"id":"3","name":"fine","doc":"{\\"k\\":\\"a\\\\u0000\\"}"}',
          [{ field: 'doc', rule: 'encoding', message: 'contains a NUL byte (U+0000), which PostgreSQL jsonb cannot store; remove it from the source' }],
        ],
      ],
    );
  });

  it('keeps a NUL byte for targets that can store it', () => {
    const { mapped, rejected } = mapChunk(spec({ name: { from: 'name', type: 'string' } }), pl.DataFrame({ name: ['a\u0000b'] }), 1, { targetKind: 's3' });
    assert.equal(rejected.height, 0);
    assert.deepEqual(plainRecords(mapped), [{ [ROW_COLUMN]: 1, name: 'a\u0000b' }]);
  });

  it('mapChunkAsync maps a 1,500-field chunk without blocking the event loop: a 10 ms timer keeps ticking (no gap over 1 s)', async () => {
    const width = 1_500;
    const rows = 2_000;
    const fields = Object.fromEntries(Array.from({ length: width }, (_, i) => [`f${i}`, { from: `c${i}`, type: i % 2 === 0 ? 'string' : 'int64' }]));
    const values = Array.from({ length: rows }, (_, r) => String(r));
    const raw = pl.DataFrame(Array.from({ length: width }, (_, i) => pl.Series(`c${i}`, values)));
    let last = performance.now();
    let maxGapMs = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
      ticks++;
    }, 10);
    const started = performance.now();
    const { mapped, rejected } = await mapChunkAsync(spec(fields), raw, 1);
    const tookMs = performance.now() - started;
    clearInterval(timer);
    maxGapMs = Math.max(maxGapMs, performance.now() - last);
    assert.equal(mapped.height, rows);
    assert.equal(mapped.width, width + 1);
    assert.equal(rejected.height, 0);
    assert.ok(maxGapMs < 1_000, `the event loop was blocked for ${Math.round(maxGapMs)} ms (mapping took ${Math.round(tookMs)} ms, ${ticks} ticks)`);
    assert.ok(ticks > 0, `the timer never fired during ${Math.round(tookMs)} ms of mapping`);
  });
});

describe('reject messages built by Polars (text inputs)', () => {
  it('writes errors and records byte for byte as JSON.stringify would, for awkward text, and counts by rule', () => {
    const awkward = ['12"x', 'back\\slash', 'line\nbreak', 'tab\tctl\u0001', 'é 😀', '7'];
    const raw = pl.DataFrame({ id: awkward, kind: pl.Series('kind', ['a', 'zz', 'a', 'b', 'zz', null], pl.Utf8) });
    const flow = spec({ id: { from: 'id', type: 'int64', required: true }, kind: { from: 'kind', type: 'string', in: ['a', 'b'], required: true } }, { max_reject_ratio: 1 });
    const { rejected, byRule } = mapChunk(flow, raw, 1);
    const rows = rejected.getColumn(ROW_COLUMN).toArray().map(Number);
    assert.deepEqual(rows, [1, 2, 3, 4, 5, 6]);
    const errors = rejected.getColumn('errors').toArray() as string[];
    const expected = awkward.map((value, i) => {
      const list: { field: string; rule: string; message: string }[] = [];
      if (value !== '7') list.push({ field: 'id', rule: 'type', message: `cannot convert ${JSON.stringify(value)} to an int64 (whole number)` });
      if (raw.getColumn('kind').get(i) === 'zz') list.push({ field: 'kind', rule: 'in', message: '"zz" is not one of "a", "b"' });
      if (raw.getColumn('kind').get(i) === null) list.push({ field: 'kind', rule: 'required', message: 'kind is required but missing' });
      return JSON.stringify(list);
    });
    assert.deepEqual(errors, expected);
    assert.deepEqual(rejected.getColumn('record').toArray(), awkward.map((id, i) => JSON.stringify({ id, kind: raw.getColumn('kind').get(i) })));
    assert.deepEqual(byRule, { 'id:type': 5, 'kind:in': 2, 'kind:required': 1 });
  });
});

describe('expressions reused across chunks and runs of one spec', () => {
  it('a spec mapped again (chunks of other sizes, columns in another order, another target kind) gives what a fresh spec gives', () => {
    const fields = {
      id: { from: 'id', type: 'int64', required: true },
      kind: { from: 'kind', type: 'string', in: ['a', 'b'] },
      amount: { from: 'amount', type: 'int64', check: 'amount >= 0' },
    };
    const shared = spec(fields);
    const chunks: [pl.DataFrame, number, 'postgres' | 's3'][] = [
      [pl.DataFrame({ id: ['1', 'x', '3'], kind: ['a', 'c', 'b'], amount: ['5', '-1', '7'] }), 1, 'postgres'],
      [pl.DataFrame({ id: ['4', '5'], kind: ['b', null], amount: ['-2', '1'] }), 4, 'postgres'],
      [pl.DataFrame({ amount: ['9', 'q'], kind: ['z', 'a'], id: [null, '8'] }), 6, 'postgres'],
      [pl.DataFrame({ id: ['x', '10'], kind: ['a', 'a'], amount: ['1', '2'] }), 8, 's3'],
      [pl.DataFrame({ id: ['11', ''], kind: ['d', 'b'], amount: ['3', '-4'] }), 10, 'postgres'],
    ];
    for (const [raw, first, targetKind] of chunks) {
      const reused = mapChunk(shared, raw, first, { targetKind });
      const fresh = mapChunk(spec(fields), raw, first, { targetKind });
      assert.deepEqual(plainRecords(reused.mapped), plainRecords(fresh.mapped));
      assert.deepEqual(rejectedRows(reused.rejected), rejectedRows(fresh.rejected));
      assert.deepEqual(reused.byRule, fresh.byRule);
    }
    // And the reused spec's answers are the right ones, not only the same ones: chunk 5 rejects row 10 (kind d) and row 11.
    const last = mapChunk(shared, chunks[4]![0], 10, { targetKind: 'postgres' });
    assert.deepEqual(plainRecords(last.mapped), []);
    assert.deepEqual(rejectedRows(last.rejected), [
      { row: 10, record: { id: '11', kind: 'd', amount: '3' }, errors: [{ field: 'kind', rule: 'in', message: '"d" is not one of "a", "b"' }] },
      {
        row: 11,
        record: { id: '', kind: 'b', amount: '-4' },
        errors: [
          { field: 'id', rule: 'required', message: 'id is required but missing' },
          { field: 'amount', rule: 'check', message: 'failed check: amount >= 0' },
        ],
      },
    ]);
    assert.deepEqual(last.byRule, { 'kind:in': 1, 'id:required': 1, 'amount:check': 1 });
  });
});
