/**
 * Field types: how a staged source value becomes a typed target value, and which Postgres type
 * holds it. A cast never turns a value into null silently: it yields the typed value plus a
 * `failed` flag that is true when the input held a value the type cannot represent.
 *
 * Rules (docs/flow-spec.md "Types"):
 * - For every type but `string`, a text input is trimmed and an empty or blank text counts as
 *   missing (null), not as an error.
 * - int32/int64 accept integer text and integral numbers; `1.5` or `"12abc"` fail; out-of-range fails.
 * - float64 accepts numeric text and numbers.
 * - bool accepts true/false, t/f, yes/no, y/n, 1/0 (any case) and booleans.
 * - date parses with `format` (strftime, default `%Y-%m-%d`); datetime with `format` or, by
 *   default, ISO 8601 without a zone offset (`2024-05-01T10:00:00`, `… 10:00:00.123`, a trailing `Z`).
 * - json accepts text that parses as JSON (checked in `validateJsonColumn`); blank text is missing.
 * - date and datetime text must match the format exactly: trailing text or a zone offset fails.
 * - A nested value (a JSON object or array, a Parquet struct or list) read into a `string` or `json`
 *   field is its JSON text, encoded by Polars ({@link nestedAsJsonText}); its keys are never lost.
 */
import pl, { type DataType } from 'nodejs-polars';
import type { FieldSpec, FieldType } from '../flows/flow-spec';

/** Postgres column type for each field type. */
export const POSTGRES_TYPES: Record<FieldType, string> = {
  string: 'text',
  int32: 'integer',
  int64: 'bigint',
  float64: 'double precision',
  bool: 'boolean',
  date: 'date',
  datetime: 'timestamp',
  json: 'jsonb',
};

const TRUE_WORDS = ['true', 't', 'yes', 'y', '1'];
const FALSE_WORDS = ['false', 'f', 'no', 'n', '0'];
const BOOL_WORDS = [...TRUE_WORDS, ...FALSE_WORDS];
const BOOL_VALUES = BOOL_WORDS.map((word) => TRUE_WORDS.includes(word));
const DEFAULT_DATETIME_FORMATS = ['%Y-%m-%dT%H:%M:%S%.f', '%Y-%m-%d %H:%M:%S%.f', '%Y-%m-%dT%H:%M:%S%.fZ', '%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%d'];

type DtypeKind = 'string' | 'integer' | 'float' | 'bool' | 'date' | 'datetime' | 'nested' | 'other';

function kindOf(dtype: DataType): DtypeKind {
  const name = String(dtype.variant ?? dtype);
  if (name === 'String' || name === 'Utf8') return 'string';
  if (/^U?Int(8|16|32|64)$/.test(name)) return 'integer';
  if (/^Float(32|64)$/.test(name)) return 'float';
  if (name === 'Bool') return 'bool';
  if (name === 'Date') return 'date';
  if (name === 'Datetime') return 'datetime';
  if (name === 'Struct' || name === 'List' || name === 'Array') return 'nested';
  return 'other';
}

/** True for the dtypes that hold nested values: Struct (a JSON object), List and Array (a JSON array). */
export function isNested(dtype: DataType): boolean {
  return kindOf(dtype) === 'nested';
}

/**
 * The JSON text of a nested value (struct → `{"a":1,"b":"x"}`, list → `[1,2]`), null where it is
 * null. Encoded by Polars (`struct.jsonEncode`, vectorised): the value is wrapped in a one-field
 * struct so lists are encoded too, and the wrapper is cut off again.
 */
export function nestedAsJsonText(input: pl.Expr): pl.Expr {
  const wrapped = pl.struct([input.alias('v')]).struct.jsonEncode();
  return pl.when(input.isNull()).then(pl.lit(null).cast(pl.Utf8)).otherwise(wrapped.str.extract(/^\{"v":(.*)\}$/, 1));
}

const NULL = () => pl.lit(null);

// nodejs-polars 0.26's `str.strptime` hard-codes `exact=false`, so "2024-01-31xyz" parses as a date
// and "10:00:00+02:00" loses its offset silently. Call the native parser with exact=true instead.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { _Expr: wrapNative } = require('nodejs-polars/bin/lazy/expr/index.js') as { _Expr: (native: unknown) => pl.Expr };
interface NativeStringExpr {
  strToDate(format: string, strict: boolean, exact: boolean, cache: boolean): unknown;
  strToDatetime(format: string, timeUnit: undefined, timeZone: undefined, strict: boolean, exact: boolean, cache: boolean, ambiguous: undefined): unknown;
}

/** Parses text as a date (or datetime) that must match `format` exactly; null where it does not. */
export function parseExact(text: pl.Expr, type: 'date' | 'datetime', format: string): pl.Expr {
  const native = (text as unknown as { _expr: NativeStringExpr })._expr;
  return wrapNative(type === 'date' ? native.strToDate(format, false, true, false) : native.strToDatetime(format, undefined, undefined, false, true, false, undefined));
}

/**
 * Builds the cast of one input column to a field's type.
 * @param input the input column (a source column or an `expr` result), any dtype.
 * `input` may select several columns of the same dtype (`pl.col([a, b])`): Polars expands the
 * expressions per column, each keeping its input's name (after `keepName()`).
 * @returns `value`: the typed value (null when missing or failed); `failed`: non-null boolean,
 *   true where the input held a value that could not be converted; `missing`: true where the input
 *   held no value (null, or blank text for every type but `string`) — what `required` refuses.
 */
export function castField(input: pl.Expr, inputDtype: DataType, field: FieldSpec): { value: pl.Expr; failed: pl.Expr; missing: pl.Expr } {
  const kind = kindOf(inputDtype);
  if (field.type === 'string') {
    const value = kind === 'string' ? input : kind === 'nested' ? nestedAsJsonText(input) : input.cast(pl.Utf8, false);
    return { value, failed: input.isNotNull().and(value.isNull()), missing: input.isNull() };
  }
  // Text is trimmed; a blank text is missing, not an error.
  const text = kind === 'string' ? input.str.strip() : input;
  const present = kind === 'string' ? text.isNotNull().and(text.neq(pl.lit(''))) : input.isNotNull();
  // A blank text fails every cast below (so its value is null, and `present` keeps it from counting as failed):
  // only json, which keeps text as it is, needs it made null first. Each `when` over text copies the column.
  const source = kind === 'string' && field.type === 'json' ? pl.when(present).then(text).otherwise(NULL()) : text;
  let value: pl.Expr;
  switch (field.type) {
    case 'json':
      // Text kept as is (validity is checked by validateJsonColumn); other dtypes as their text.
      value = kind === 'string' ? source : kind === 'nested' ? nestedAsJsonText(source) : source.cast(pl.Utf8, false);
      break;
    case 'int32':
    case 'int64': {
      const target = field.type === 'int32' ? pl.Int32 : pl.Int64;
      if (kind === 'float') {
        value = pl.when(source.eq(source.floor())).then(source.cast(target, false)).otherwise(NULL());
      } else {
        value = source.cast(target, false);
      }
      break;
    }
    case 'float64':
      value = source.cast(pl.Float64, false);
      break;
    case 'bool':
      if (kind === 'bool') value = source;
      else if (kind === 'string') {
        const lower = source.str.toLowerCase();
        // One lookup per value (two `isIn` and a `when` cost 1.7× the CPU); any other word is null, so a failed cast.
        value = lower.replaceStrict(BOOL_WORDS, pl.lit(pl.Series('bool', BOOL_VALUES, pl.Bool)), NULL(), pl.Bool);
      } else if (kind === 'integer') {
        value = pl.when(source.eq(1)).then(pl.lit(true)).when(source.eq(0)).then(pl.lit(false)).otherwise(NULL()).cast(pl.Bool);
      } else value = NULL().cast(pl.Bool);
      break;
    case 'date':
      if (kind === 'string') value = parseExact(source, 'date', field.format ?? '%Y-%m-%d');
      else if (kind === 'date' || kind === 'datetime') value = source.cast(pl.Date);
      else value = NULL().cast(pl.Date);
      break;
    case 'datetime':
      if (kind === 'string') {
        const formats = field.format ? [field.format] : DEFAULT_DATETIME_FORMATS;
        const [first, ...rest] = formats.map((format) => parseExact(source, 'datetime', format));
        value = rest.reduce((acc, next) => pl.when(acc.isNotNull()).then(acc).otherwise(next), first!);
      } else if (kind === 'date' || kind === 'datetime') value = source.cast(pl.Datetime('us'));
      else value = NULL().cast(pl.Datetime('us'));
      break;
  }
  return { value, failed: present.and(value.isNull()).fillNull(false), missing: present.not().fillNull(true) };
}

/**
 * Flags the values of a json field that do not parse as JSON (checked in JS: Polars has no JSON validator).
 * @returns a Boolean series, true where a non-null value is not valid JSON.
 */
export function validateJsonColumn(values: pl.Series): pl.Series {
  const flags = values.toArray().map((value: unknown) => {
    if (value === null || value === undefined) return false;
    try {
      JSON.parse(String(value));
      return false;
    } catch {
      return true;
    }
  });
  return pl.Series(values.name, flags, pl.Bool);
}

/** Describes the expected text for a cast error message. */
export function describeType(field: FieldSpec): string {
  if (field.type === 'date') return `a date in format "${field.format ?? '%Y-%m-%d'}"`;
  if (field.type === 'datetime') return field.format ? `a datetime in format "${field.format}"` : 'an ISO 8601 datetime (e.g. 2024-05-01T10:00:00)';
  if (field.type === 'bool') return 'a boolean (true/false, yes/no, 1/0)';
  if (field.type === 'json') return 'valid JSON';
  if (field.type === 'int32') return 'an int32 (whole number from -2147483648 to 2147483647)';
  if (field.type === 'int64') return 'an int64 (whole number)';
  if (field.type === 'float64') return 'a float64 (number)';
  return field.type;
}
