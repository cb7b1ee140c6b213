/**
 * Custom maps: a flow's own code, applied once per run after the declarative mapping, to every
 * mapped row of the run at once (so duplicates, group-bys and joins can span chunks).
 *
 * The contract (docs/flow-spec.md "Custom maps"):
 * - input `df`: the run's mapped rows — the target fields, typed, in spec order — plus
 *   {@link ROW_COLUMN} (`__sluice_row`, Int64), each row's 1-based source row number;
 * - output: a DataFrame (every row mapped), or `{ mapped, rejected }`;
 * - `mapped` must have exactly the target fields (any order; `__sluice_row` may stay), each of the
 *   field's type (integer fields any integer type, float64 any number, …), no nulls in required fields;
 * - `rejected` must have `__sluice_row` (rows of the input) and may have `reason` (text); every other
 *   column is ignored. Each becomes a reject `{ field: null, rule: "map", message: reason }` with the
 *   row's original source values.
 * A map may also drop rows (a group-by merging them): they are neither written nor rejected.
 *
 * @example maps/accounts.ts
 * ```ts
 * import pl from 'nodejs-polars';
 * import type { CustomMap } from 'sluice/client';
 *
 * const map: CustomMap = (df, ctx) => {
 *   const bad = df.filter(pl.col('code').str.startsWith('TEST'));
 *   ctx.log.info({ rejected: bad.height }, 'test accounts rejected');
 *   return {
 *     mapped: df.filter(pl.col('code').str.startsWith('TEST').not()).unique({ subset: ['code'], keep: 'last', maintainOrder: true }),
 *     rejected: bad.select('__sluice_row', pl.lit('test account').alias('reason')),
 *   };
 * };
 * export default map;
 * ```
 */
import pl, { type DataType } from 'nodejs-polars';
import type { Logger } from 'pino';
import { TransformError } from '../common/errors';
import type { FieldType, FlowSpec } from '../flows/flow-spec';
import { ROW_COLUMN } from './map-chunk';
import type { LoadedMap } from '../flows/map-module';

/** What a custom map gets besides the rows. */
export interface MapContext {
  /** The run (workflow) id, e.g. `accounts-v3-1f2e…`. */
  runId: string;
  /** `flow:vN`. */
  flowVersion: string;
  sourcePath: string;
  /** The run's `run_metadata`, as given when it was started (`{}` when none). */
  runMetadata: Record<string, unknown>;
  /**
   * The secrets the flow version declares (`secrets: [NAME, …]` in the flow spec), by name, resolved for the user
   * who started the run (their user-level secret, else the org's). Never log them: the worker's logger redacts
   * each value anyway. `{}` when the flow declares none.
   */
  secrets: Readonly<Record<string, string>>;
  /** A pino logger bound to the run and the map; lines go to the worker's log. */
  log: Logger;
}

/** A custom map's result when it rejects rows. */
export interface MapOutput {
  /** Exactly the target fields (any order); may keep `__sluice_row`. */
  mapped: pl.DataFrame;
  /** `__sluice_row` of each rejected row, and optionally `reason` (text). */
  rejected?: pl.DataFrame;
}

export type MapResult = pl.DataFrame | MapOutput;

/**
 * A custom map: the default export of `maps/<name>.ts`. May be async. Must not keep state between
 * calls: a retried transform calls it again with the same rows.
 */
export type CustomMap = (df: pl.DataFrame, ctx: MapContext) => MapResult | Promise<MapResult>;

/** Optional column of `rejected`: the reject's message. */
export const MAP_REASON_COLUMN = 'reason';

/** The Polars dtype of each field type, as mapped chunks hold it. */
export const POLARS_TYPES: Record<FieldType, DataType> = {
  string: pl.Utf8,
  int32: pl.Int32,
  int64: pl.Int64,
  float64: pl.Float64,
  bool: pl.Bool,
  date: pl.Date,
  datetime: pl.Datetime('us'),
  json: pl.Utf8,
};

const variant = (dtype: DataType): string => String(dtype.variant ?? dtype);
const isInteger = (dtype: DataType) => /^U?Int(8|16|32|64)$/.test(variant(dtype));

/** Output dtypes a field accepts (converted to the field's own dtype without loss, else refused). */
function accepts(type: FieldType, dtype: DataType): boolean {
  const name = variant(dtype);
  if (name === 'Null') return true;
  switch (type) {
    case 'string':
    case 'json':
      return name === 'String' || name === 'Utf8';
    case 'int32':
    case 'int64':
      return isInteger(dtype);
    case 'float64':
      return isInteger(dtype) || /^Float(32|64)$/.test(name);
    case 'bool':
      return name === 'Bool';
    case 'date':
      return name === 'Date';
    case 'datetime':
      return name === 'Datetime' || name === 'Date';
  }
}

/**
 * The map's input: the run's mapped chunks concatenated, fields in spec order then {@link ROW_COLUMN}.
 * An empty run gives an empty frame with the same columns and types.
 */
export function mapInput(spec: FlowSpec, chunks: pl.DataFrame[]): pl.DataFrame {
  const columns = [...spec.fields.map((f) => pl.col(f.name).cast(POLARS_TYPES[f.type])), pl.col(ROW_COLUMN).cast(pl.Int64)];
  const typed = chunks.map((chunk) => chunk.select(...columns));
  if (typed.length === 0) {
    return pl.DataFrame(
      Object.fromEntries([...spec.fields.map((f) => [f.name, pl.Series(f.name, [], POLARS_TYPES[f.type])]), [ROW_COLUMN, pl.Series(ROW_COLUMN, [], pl.Int64)]]),
    );
  }
  return typed.length === 1 ? typed[0]! : pl.concat(typed, { how: 'vertical', rechunk: true });
}

/** One row the map rejected, with one message per time it was rejected. */
export interface MapReject {
  row: number;
  messages: string[];
}

export interface CustomMapOutput {
  /** {@link ROW_COLUMN} (null for rows the map made, e.g. by a group-by) then the fields in spec order, typed. */
  mapped: pl.DataFrame;
  /** In row order. */
  rejected: MapReject[];
}

const list = (names: string[]) => names.map((n) => `"${n}"`).join(', ');

function invalid(file: string, message: string, details?: Record<string, unknown>): TransformError {
  return new TransformError('MAP_OUTPUT_INVALID', `custom map ${file} ${message}`, details ? { details } : undefined);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object with keys ${list(Object.keys(value)) || '(none)'}`;
  return `a ${typeof value}`;
}

/** Checks the mapped output and returns it as the loaders expect it. */
function checkMapped(spec: FlowSpec, mapped: pl.DataFrame, file: string): pl.DataFrame {
  const expected = spec.fields.map((f) => f.name);
  const missing = expected.filter((name) => !mapped.columns.includes(name));
  const extra = mapped.columns.filter((name) => name !== ROW_COLUMN && !expected.includes(name));
  if (missing.length > 0 || extra.length > 0) {
    const problems = [
      ...(missing.length ? [`missing ${list(missing)}`] : []),
      ...(extra.length ? [`unexpected ${list(extra)} (drop ${extra.length > 1 ? 'them' : 'it'}, or add a field to the flow)`] : []),
    ];
    throw invalid(file, `returned mapped rows whose columns are not the target's fields: ${problems.join('; ')}. mapped must have exactly ${list(expected)} (and may keep ${ROW_COLUMN})`, {
      missing,
      unexpected: extra,
    });
  }
  const wrongTypes = spec.fields
    .filter((f) => !accepts(f.type, mapped.getColumn(f.name).dtype))
    .map((f) => `"${f.name}" is ${variant(mapped.getColumn(f.name).dtype)} but the field is ${f.type}`);
  const hasRow = mapped.columns.includes(ROW_COLUMN);
  if (hasRow && !isInteger(mapped.getColumn(ROW_COLUMN).dtype) && variant(mapped.getColumn(ROW_COLUMN).dtype) !== 'Null') {
    wrongTypes.push(`"${ROW_COLUMN}" is ${variant(mapped.getColumn(ROW_COLUMN).dtype)} but must be an integer (the source row number)`);
  }
  if (wrongTypes.length > 0) throw invalid(file, `returned mapped columns of the wrong type: ${wrongTypes.join('; ')}`);
  let out: pl.DataFrame;
  try {
    out = mapped.select(
      (hasRow ? pl.col(ROW_COLUMN) : pl.lit(null)).cast(pl.Int64).alias(ROW_COLUMN),
      ...spec.fields.map((f) => pl.col(f.name).cast(POLARS_TYPES[f.type], true).alias(f.name)),
    );
  } catch (error) {
    throw invalid(file, `returned mapped values that do not fit the target's field types: ${(error as Error).message}`);
  }
  const nulls = spec.fields.filter((f) => f.required).map((f) => ({ name: f.name, n: out.getColumn(f.name).nullCount() })).filter((c) => c.n > 0);
  if (nulls.length > 0) {
    throw invalid(
      file,
      `returned nulls in required field${nulls.length > 1 ? 's' : ''} ${nulls.map((c) => `"${c.name}" (${c.n} row${c.n > 1 ? 's' : ''})`).join(', ')}; ` +
        `return such rows in "rejected" with a reason instead`,
    );
  }
  return out;
}

/** Checks the rejected output: `__sluice_row` of input rows, optional `reason`. */
function checkRejected(rejected: pl.DataFrame, input: pl.DataFrame, file: string): MapReject[] {
  if (!rejected.columns.includes(ROW_COLUMN)) {
    throw invalid(file, `returned rejected rows without a "${ROW_COLUMN}" column; keep it from the input so each reject keeps its source row number`);
  }
  const rowColumn = rejected.getColumn(ROW_COLUMN);
  if (rejected.height > 0 && !isInteger(rowColumn.dtype)) {
    throw invalid(file, `returned rejected rows whose "${ROW_COLUMN}" is ${variant(rowColumn.dtype)}, not the integer row number of the input`);
  }
  if (rowColumn.nullCount() > 0) throw invalid(file, `returned ${rowColumn.nullCount()} rejected row(s) with a null "${ROW_COLUMN}"`);
  const rows = (rowColumn.toArray() as unknown[]).map(Number);
  const known = new Set((input.getColumn(ROW_COLUMN).toArray() as unknown[]).map(Number));
  const unknown = [...new Set(rows.filter((row) => !known.has(row)))];
  if (unknown.length > 0) {
    throw invalid(file, `returned rejected rows that are not rows it was given: ${ROW_COLUMN} ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}`);
  }
  const reasons: unknown[] = rejected.columns.includes(MAP_REASON_COLUMN)
    ? rejected.getColumn(MAP_REASON_COLUMN).cast(pl.Utf8, false).toArray()
    : rows.map(() => null);
  const byRow = new Map<number, string[]>();
  rows.forEach((row, i) => {
    const reason = reasons[i];
    const message = typeof reason === 'string' && reason.trim() !== '' ? reason : `rejected by the custom map ${file}`;
    byRow.set(row, [...(byRow.get(row) ?? []), message]);
  });
  return [...byRow.entries()].sort((a, b) => a[0] - b[0]).map(([row, messages]) => ({ row, messages }));
}

/**
 * Runs a loaded map over the run's mapped rows and checks what it returned.
 * @param input from {@link mapInput}.
 * @throws TransformError `MAP_FAILED` (the map threw; its message and line), `MAP_OUTPUT_INVALID`
 *   (not a DataFrame or `{ mapped, rejected }`, wrong columns or types, nulls in required fields,
 *   rejected rows without or with unknown `__sluice_row`).
 */
export async function applyCustomMap(spec: FlowSpec, map: LoadedMap, input: pl.DataFrame, ctx: MapContext): Promise<CustomMapOutput> {
  const file = map.file.path;
  let result: unknown;
  try {
    result = await (map.fn as CustomMap)(input, ctx);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new TransformError('MAP_FAILED', `custom map ${file} threw: ${message}${map.locate(error)}`, { cause: error });
  }
  let mapped: unknown;
  let rejected: unknown;
  if (pl.DataFrame.isDataFrame(result)) mapped = result;
  else if (result && typeof result === 'object' && !Array.isArray(result) && 'mapped' in result) ({ mapped, rejected } = result as { mapped: unknown; rejected?: unknown });
  else throw invalid(file, `must return a DataFrame or { mapped, rejected }, but returned ${describe(result)}`);
  if (!pl.DataFrame.isDataFrame(mapped)) throw invalid(file, `returned "mapped" that is ${describe(mapped)}, not a nodejs-polars DataFrame`);
  if (rejected !== undefined && rejected !== null && !pl.DataFrame.isDataFrame(rejected)) {
    throw invalid(file, `returned "rejected" that is ${describe(rejected)}, not a nodejs-polars DataFrame`);
  }
  return {
    mapped: checkMapped(spec, mapped as pl.DataFrame, file),
    rejected: rejected ? checkRejected(rejected as pl.DataFrame, input, file) : [],
  };
}
