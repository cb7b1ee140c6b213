/**
 * Unit tests of the field type casts, through `mapChunk` over small Polars frames: what each type
 * accepts, what fails (a `type` reject keeping the original value), and what counts as missing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { validateFlowSpec, type FieldType } from '../flows/flow-spec';
import { describeType, POSTGRES_TYPES, validateJsonColumn } from './field-types';
import { mapChunk, ROW_COLUMN } from './map-chunk';

/** Plain JS values: Dates as ISO text, BigInts as numbers. */
function plain(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return Number(value);
  return value;
}

/** Maps one source column `v` into one field `v` of `type`; returns accepted values and rejected rows. */
function cast(type: FieldType, column: pl.Series, options: { format?: string } = {}) {
  const spec = validateFlowSpec({
    name: 'types',
    source: { connector: 'files' },
    target: { connector: 'warehouse', table: 't' },
    fields: { v: { from: 'v', type, ...options } },
  });
  const { mapped, rejected } = mapChunk(spec, pl.DataFrame([column.alias('v')]), 1);
  return {
    dtype: String(mapped.getColumn('v').dtype),
    accepted: (mapped.toRecords() as Record<string, unknown>[]).map((r) => [Number(r[ROW_COLUMN]), plain(r.v)]),
    rejected: (rejected.toRecords() as Record<string, unknown>[]).map((r) => ({
      row: Number(r[ROW_COLUMN]),
      record: JSON.parse(String(r.record)) as unknown,
      errors: JSON.parse(String(r.errors)) as unknown,
    })),
  };
}

const typeError = (row: number, original: unknown, expected: string) => ({
  row,
  record: { v: original },
  errors: [{ field: 'v', rule: 'type', message: `cannot convert ${JSON.stringify(original)} to ${expected}` }],
});

const INT32 = 'an int32 (whole number from -2147483648 to 2147483647)';
const INT64 = 'an int64 (whole number)';

describe('int32', () => {
  it('accepts integer text (trimmed) within range; fails out-of-range, fractional and non-numeric text', () => {
    const result = cast('int32', pl.Series('v', ['1', ' 7 ', '2147483647', '-2147483648', '2147483648', '-2147483649', '1.5', '12abc']));
    assert.equal(result.dtype, 'DataType(Int32)');
    assert.deepEqual(result.accepted, [[1, 1], [2, 7], [3, 2147483647], [4, -2147483648]]);
    assert.deepEqual(result.rejected, [
      typeError(5, '2147483648', INT32),
      typeError(6, '-2147483649', INT32),
      typeError(7, '1.5', INT32),
      typeError(8, '12abc', INT32),
    ]);
  });

  it('fails an int64 input that overflows int32', () => {
    const result = cast('int32', pl.Series('v', [5, 3_000_000_000], pl.Int64));
    assert.deepEqual(result.accepted, [[1, 5]]);
    assert.deepEqual(result.rejected, [typeError(2, 3_000_000_000, INT32)]);
  });

  it('accepts an integral float and fails a float beyond int32', () => {
    const result = cast('int32', pl.Series('v', [2.0, 3e9], pl.Float64));
    assert.deepEqual(result.accepted, [[1, 2]]);
    assert.deepEqual(result.rejected, [typeError(2, 3_000_000_000, INT32)]);
  });
});

describe('int64', () => {
  it('fails "1.5" and "2.0" as text: only integer text is accepted', () => {
    const result = cast('int64', pl.Series('v', ['1.5', '9', '2.0', '-9007199254740991']));
    assert.equal(result.dtype, 'DataType(Int64)');
    assert.deepEqual(result.accepted, [[2, 9], [4, -9007199254740991]]);
    assert.deepEqual(result.rejected, [typeError(1, '1.5', INT64), typeError(3, '2.0', INT64)]);
  });

  it('accepts the float 2.0, fails 1.5 and a float beyond int64, keeps null as null', () => {
    const result = cast('int64', pl.Series('v', [2.0, 1.5, null, 3e20], pl.Float64));
    assert.deepEqual(result.accepted, [[1, 2], [3, null]]);
    assert.deepEqual(result.rejected, [typeError(2, 1.5, INT64), typeError(4, 3e20, INT64)]);
  });

  it('widens an int32 input', () => {
    const result = cast('int64', pl.Series('v', [1, null, -5], pl.Int32));
    assert.deepEqual(result.accepted, [[1, 1], [2, null], [3, -5]]);
    assert.deepEqual(result.rejected, []);
  });
});

describe('blank text for non-string types', () => {
  for (const type of ['int32', 'int64', 'float64', 'bool', 'date', 'datetime'] as const) {
    it(`${type}: empty and blank text are null, not errors`, () => {
      const result = cast(type, pl.Series('v', ['', '   ', '\t', null], pl.Utf8));
      assert.deepEqual(result.accepted, [[1, null], [2, null], [3, null], [4, null]]);
      assert.deepEqual(result.rejected, []);
    });
  }

  it('string keeps empty and blank text as they are, untrimmed', () => {
    const result = cast('string', pl.Series('v', ['', ' x ', null], pl.Utf8));
    assert.equal(result.dtype, 'DataType(String)');
    assert.deepEqual(result.accepted, [[1, ''], [2, ' x '], [3, null]]);
  });

  it('string turns numbers into their text', () => {
    const result = cast('string', pl.Series('v', [1, 3_000_000_000], pl.Int64));
    assert.deepEqual(result.accepted, [[1, '1'], [2, '3000000000']]);
  });
});

describe('float64', () => {
  it('accepts numeric text, trimmed, including exponents; fails other text', () => {
    const result = cast('float64', pl.Series('v', ['1.5', ' 2 ', '1e3', '-0.25', 'x']));
    assert.equal(result.dtype, 'DataType(Float64)');
    assert.deepEqual(result.accepted, [[1, 1.5], [2, 2], [3, 1000], [4, -0.25]]);
    assert.deepEqual(result.rejected, [typeError(5, 'x', 'a float64 (number)')]);
  });
});

describe('bool', () => {
  it('accepts true/false, t/f, yes/no, y/n, 1/0 in any case; fails other words', () => {
    const words = ['true', 'FALSE', 'T', 'f', 'Yes', 'no', 'Y', 'n', '1', '0', ' yes ', 'maybe', '2'];
    const result = cast('bool', pl.Series('v', words));
    assert.equal(result.dtype, 'DataType(Bool)');
    assert.deepEqual(result.accepted, [
      [1, true], [2, false], [3, true], [4, false], [5, true], [6, false],
      [7, true], [8, false], [9, true], [10, false], [11, true],
    ]);
    assert.deepEqual(result.rejected, [
      typeError(12, 'maybe', 'a boolean (true/false, yes/no, 1/0)'),
      typeError(13, '2', 'a boolean (true/false, yes/no, 1/0)'),
    ]);
  });

  it('accepts booleans and the integers 1 and 0', () => {
    assert.deepEqual(cast('bool', pl.Series('v', [true, false, null], pl.Bool)).accepted, [[1, true], [2, false], [3, null]]);
    const ints = cast('bool', pl.Series('v', [1, 0, 2], pl.Int64));
    assert.deepEqual(ints.accepted, [[1, true], [2, false]]);
    assert.deepEqual(ints.rejected, [typeError(3, 2, 'a boolean (true/false, yes/no, 1/0)')]);
  });
});

describe('date', () => {
  it('parses %Y-%m-%d by default and fails impossible dates', () => {
    const result = cast('date', pl.Series('v', ['2024-01-31', '2024-02-29', '2024-13-01', '2023-02-29']));
    assert.equal(result.dtype, 'DataType(Date)');
    assert.deepEqual(result.accepted, [[1, '2024-01-31T00:00:00.000Z'], [2, '2024-02-29T00:00:00.000Z']]);
    assert.deepEqual(result.rejected, [
      typeError(3, '2024-13-01', 'a date in format "%Y-%m-%d"'),
      typeError(4, '2023-02-29', 'a date in format "%Y-%m-%d"'),
    ]);
  });

  it('parses with the field format, and fails text in another format', () => {
    const result = cast('date', pl.Series('v', ['Jun 12 1998', ' Dec 01 2001 ', 'Feb 30 1998', '1998-06-12']), { format: '%b %d %Y' });
    assert.deepEqual(result.accepted, [[1, '1998-06-12T00:00:00.000Z'], [2, '2001-12-01T00:00:00.000Z']]);
    assert.deepEqual(result.rejected, [
      typeError(3, 'Feb 30 1998', 'a date in format "%b %d %Y"'),
      typeError(4, '1998-06-12', 'a date in format "%b %d %Y"'),
    ]);
  });
});

describe('datetime', () => {
  it('parses ISO 8601 by default: T or space, fractional seconds, trailing Z, date only', () => {
    const result = cast('datetime', pl.Series('v', ['2024-05-01T10:00:00', '2024-05-01 10:00:00.123', '2024-05-01T10:00:00Z', '2024-05-01', 'nope']));
    assert.equal(result.dtype, 'DataType(Datetime(us,))');
    assert.deepEqual(result.accepted, [
      [1, '2024-05-01T10:00:00.000Z'],
      [2, '2024-05-01T10:00:00.123Z'],
      [3, '2024-05-01T10:00:00.000Z'],
      [4, '2024-05-01T00:00:00.000Z'],
    ]);
    assert.deepEqual(result.rejected, [typeError(5, 'nope', 'an ISO 8601 datetime (e.g. 2024-05-01T10:00:00)')]);
  });

  it('parses with the field format only', () => {
    const result = cast('datetime', pl.Series('v', ['01/05/2024 10:30', 'x']), { format: '%d/%m/%Y %H:%M' });
    assert.deepEqual(result.accepted, [[1, '2024-05-01T10:30:00.000Z']]);
    assert.deepEqual(result.rejected, [typeError(2, 'x', 'a datetime in format "%d/%m/%Y %H:%M"')]);
  });
});

describe('json', () => {
  it('keeps valid JSON text as text and fails invalid JSON', () => {
    const result = cast('json', pl.Series('v', ['{"x":1}', '[1,2', '3', null, 'null', 'nope']));
    assert.equal(result.dtype, 'DataType(String)');
    assert.deepEqual(result.accepted, [[1, '{"x":1}'], [3, '3'], [4, null], [5, 'null']]);
    assert.deepEqual(result.rejected, [typeError(2, '[1,2', 'valid JSON'), typeError(6, 'nope', 'valid JSON')]);
  });
});

describe('validateJsonColumn', () => {
  it('flags non-null values that do not parse, keeping the series name', () => {
    const flags = validateJsonColumn(pl.Series('doc', ['{}', '{', null, '"a"'], pl.Utf8));
    assert.equal(flags.name, 'doc');
    assert.equal(String(flags.dtype), 'DataType(Bool)');
    assert.deepEqual(flags.toArray(), [false, true, false, false]);
  });
});

describe('describeType and POSTGRES_TYPES', () => {
  const field = (type: FieldType, format?: string) => ({ name: 'f', type, required: false, ...(format ? { format } : {}) });

  it('describes each type for cast error messages', () => {
    assert.equal(describeType(field('date')), 'a date in format "%Y-%m-%d"');
    assert.equal(describeType(field('date', '%d.%m.%Y')), 'a date in format "%d.%m.%Y"');
    assert.equal(describeType(field('datetime')), 'an ISO 8601 datetime (e.g. 2024-05-01T10:00:00)');
    assert.equal(describeType(field('datetime', '%s')), 'a datetime in format "%s"');
    assert.equal(describeType(field('bool')), 'a boolean (true/false, yes/no, 1/0)');
    assert.equal(describeType(field('json')), 'valid JSON');
    assert.equal(describeType(field('int32')), INT32);
    assert.equal(describeType(field('int64')), INT64);
    assert.equal(describeType(field('float64')), 'a float64 (number)');
    assert.equal(describeType(field('string')), 'string');
  });

  it('maps every field type to a Postgres type', () => {
    assert.deepEqual(POSTGRES_TYPES, {
      string: 'text',
      int32: 'integer',
      int64: 'bigint',
      float64: 'double precision',
      bool: 'boolean',
      date: 'date',
      datetime: 'timestamp',
      json: 'jsonb',
    });
  });
});

describe('regressions', () => {
  it('date and datetime text must match the format exactly: trailing text and zone offsets fail', () => {
    const dates = cast('date', pl.Series('v', ['2024-01-31', '2024-01-31xyz', 'on 2024-01-31', '2024-01-31 10:00']));
    assert.deepEqual(dates.accepted, [[1, '2024-01-31T00:00:00.000Z']]);
    assert.deepEqual(dates.rejected.map((r) => r.row), [2, 3, 4]);
    const times = cast('datetime', pl.Series('v', ['2024-05-01T10:00:00', '2024-05-01T10:00:00+02:00', '2024-05-01T10:00:00 junk']));
    assert.deepEqual(times.accepted.map(([row]) => row), [1]);
    assert.deepEqual(times.rejected.map((r) => r.row), [2, 3]);
  });

  it('blank json text is missing (null), not invalid JSON', () => {
    const result = cast('json', pl.Series('v', ['', '  ', '{"a":1}', '{oops']));
    assert.deepEqual(result.accepted, [[1, null], [2, null], [3, '{"a":1}']]);
    assert.deepEqual(result.rejected, [typeError(4, '{oops', 'valid JSON')]);
  });
});
