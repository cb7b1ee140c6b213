/**
 * The declarative mapping of one chunk: source columns → typed target fields, then rules
 * (`required`, `in`, field `check`, flow `checks`). Each row ends up either mapped or rejected; a
 * rejected row keeps its original values, its row number and one error per failed rule.
 *
 * `expr`, `check` and `checks[].sql` are Polars SQL, run by nodejs-polars' own engine:
 * - `expr` sees the source columns as staged (quote names with spaces: `"Worldwide Gross"`);
 * - `check` and `checks[].sql` see the typed target fields by their target names.
 * A null passes every rule except `required`; a check whose result is null passes.
 *
 * @example
 * ```ts
 * const { mapped, rejected } = mapChunk(spec, pl.readParquet('chunk.parquet'), 1);
 * ```
 */
import pl from 'nodejs-polars';
import { TransformError } from '../common/errors';
import type { FieldSpec, FlowSpec } from '../flows/flow-spec';
import { castField, describeType, validateJsonColumn } from './field-types';
import { executeSql } from './polars-sql';

/** Column holding the 1-based source row number in mapped and rejected chunks. */
export const ROW_COLUMN = '__sluice_row';

/** One reason a row was rejected. `field` is null for flow-level checks and dedupe. */
export interface RejectError {
  field: string | null;
  rule: string;
  message: string;
}

export interface MappedChunk {
  /** Target fields in spec order, plus {@link ROW_COLUMN}. */
  mapped: pl.DataFrame;
  /** Columns: {@link ROW_COLUMN} (Int64), `record` (JSON text of the original values), `errors` (JSON text of RejectError[]). */
  rejected: pl.DataFrame;
  /** Reject errors of this chunk counted by {@link ruleKey}. */
  byRule: Record<string, number>;
}

/** `field:rule`, or `rule` for flow-level rules: the key of `metadata.rejects.by_rule`. */
export function ruleKey(error: RejectError): string {
  return error.field ? `${error.field}:${error.rule}` : error.rule;
}

/** JSON.stringify that writes BigInt as a number when safe, else as text, and Dates as ISO text. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    return v;
  });
}

interface Rule {
  flag: string;
  field: string | null;
  rule: string;
  message: (row: Record<string, unknown>) => string;
}

/** An empty rejected frame with the right schema. */
export function emptyRejected(): pl.DataFrame {
  return pl.DataFrame({
    [ROW_COLUMN]: pl.Series(ROW_COLUMN, [], pl.Int64),
    record: pl.Series('record', [], pl.Utf8),
    errors: pl.Series('errors', [], pl.Utf8),
  });
}

/**
 * Checks that every `from` column exists in the source.
 * @throws TransformError `MISSING_COLUMN` naming each missing column, its field, and the available columns.
 */
export function assertSourceColumns(spec: FlowSpec, columns: string[]): void {
  const available = new Set(columns);
  const missing = spec.fields.filter((f) => f.from !== undefined && !available.has(f.from));
  if (missing.length > 0) {
    throw new TransformError(
      'MISSING_COLUMN',
      `the source has no column ${missing.map((f) => `"${f.from}" (field ${f.name})`).join(', ')}; ` +
        `available columns: ${columns.map((c) => `"${c}"`).join(', ')}. Fix "from" in the flow spec or the source file.`,
      { details: { missing: missing.map((f) => f.from), available: columns } },
    );
  }
}

/** What the target can store; rules that depend on the target read it. */
export interface MapChunkOptions {
  /**
   * The target connector's kind. For `postgres`, a `string` or `json` value holding a NUL byte
   * (U+0000; for json also its `\u0000` escape) is that row's reject with rule `encoding`:
   * PostgreSQL text and jsonb cannot store it. Other kinds store it as is.
   * @default undefined (no target-specific rule)
   */
  targetKind?: string;
}

/** A raw NUL, or a JSON `\u0000` escape (an odd run of backslashes before `u0000`), in Rust regex syntax. */
const NUL_IN_JSON = String.raw`\x00|(?:^|[^\\])(?:\\\\)*\\u0000`;

/**
 * Rewrites each JSON `\u0000` escape in JSON text as the six characters `\u0000` (an escaped
 * backslash): PostgreSQL's jsonb refuses the escape, and a reject's record must still be stored.
 */
export function escapeNulForPostgres(json: string): string {
  if (!json.includes('u0000')) return json;
  return json.replace(/(\\+)u0000/g, (match, slashes: string) => (slashes.length % 2 === 1 ? `\\${match}` : match));
}

function runUserSql(frames: Record<string, pl.DataFrame>, query: string, what: string): pl.DataFrame {
  try {
    return executeSql(frames, query);
  } catch (error) {
    throw new TransformError('INVALID_SQL', `${what} is not valid Polars SQL here: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Maps one staged chunk.
 * @param raw the staged source rows of this chunk, as read from staging.
 * @param firstRowNumber the 1-based source row number of `raw`'s first row.
 * @throws TransformError `MISSING_COLUMN` or `INVALID_SQL` (user-fixable; the whole run fails).
 */
export function mapChunk(spec: FlowSpec, raw: pl.DataFrame, firstRowNumber: number, options: MapChunkOptions = {}): MappedChunk {
  const postgres = options.targetKind === 'postgres';
  assertSourceColumns(spec, raw.columns);
  const fields = spec.fields;
  let work = raw.withRowIndex(ROW_COLUMN, firstRowNumber).withColumns(pl.col(ROW_COLUMN).cast(pl.Int64));

  // Inputs: a source column, or the result of the field's `expr` over the source columns.
  const inputs: pl.Series[] = [];
  for (const [i, field] of fields.entries()) {
    if (field.from !== undefined) {
      inputs.push(raw.getColumn(field.from).alias(`__in_${i}`));
    } else {
      const result = runUserSql({ source: raw }, `SELECT (${field.expr}) AS __value FROM source`, `expr of field "${field.name}" (${field.expr})`);
      inputs.push(result.getColumn('__value').alias(`__in_${i}`));
    }
  }
  work = work.withColumns(...inputs);

  // Typed values and cast failures.
  const casts = fields.map((field, i) => castField(pl.col(`__in_${i}`), inputs[i]!.dtype, field));
  work = work.withColumns(...casts.map((c, i) => c.value.alias(`__t_${i}`)), ...casts.map((c, i) => c.failed.alias(`__type_${i}`)));
  for (const [i, field] of fields.entries()) {
    if (field.type === 'json') {
      work = work.withColumns(validateJsonColumn(work.getColumn(`__t_${i}`)).alias(`__type_${i}`));
    }
  }

  const rules: Rule[] = [];
  const flagExprs: pl.Expr[] = [];
  for (const [i, field] of fields.entries()) {
    rules.push({
      flag: `__type_${i}`,
      field: field.name,
      rule: 'type',
      message: (row) => `cannot convert ${toJson(row[`__in_${i}`])} to ${describeType(field)}`,
    });
    if (field.required) {
      flagExprs.push(pl.col(`__t_${i}`).isNull().and(pl.col(`__type_${i}`).not()).alias(`__required_${i}`));
      rules.push({ flag: `__required_${i}`, field: field.name, rule: 'required', message: () => `${field.name} is required but missing` });
    }
    if (postgres && (field.type === 'string' || field.type === 'json')) {
      const text = pl.col(`__t_${i}`);
      const nul = field.type === 'string' ? text.str.contains('\u0000', true) : text.str.contains(NUL_IN_JSON);
      flagExprs.push(nul.fillNull(false).alias(`__encoding_${i}`));
      rules.push({
        flag: `__encoding_${i}`,
        field: field.name,
        rule: 'encoding',
        message: () => `contains a NUL byte (U+0000), which PostgreSQL ${field.type === 'json' ? 'jsonb' : 'text'} cannot store; remove it from the source`,
      });
    }
    if (field.in) {
      flagExprs.push(pl.col(`__t_${i}`).isNotNull().and(pl.col(`__t_${i}`).isIn(field.in).not()).fillNull(false).alias(`__in_rule_${i}`));
      rules.push({
        flag: `__in_rule_${i}`,
        field: field.name,
        rule: 'in',
        message: (row) => `${toJson(row[`__t_${i}`])} is not one of ${field.in!.map((v) => toJson(v)).join(', ')}`,
      });
    }
  }
  if (flagExprs.length > 0) work = work.withColumns(...flagExprs);

  // SQL checks over the typed target fields.
  const checks: { sql: string; field: FieldSpec | null; name: string }[] = [
    ...fields.filter((f) => f.check !== undefined).map((f) => ({ sql: f.check!, field: f, name: f.name })),
    ...spec.checks.map((c) => ({ sql: c.sql, field: null, name: c.name })),
  ];
  if (checks.length > 0) {
    const typed = work.select(...fields.map((f, i) => pl.col(`__t_${i}`).alias(f.name)));
    const results: pl.Series[] = [];
    for (const [j, check] of checks.entries()) {
      const what = check.field ? `check of field "${check.name}" (${check.sql})` : `check "${check.name}" (${check.sql})`;
      const result = runUserSql({ t: typed }, `SELECT (${check.sql}) AS __ok FROM t`, what).getColumn('__ok');
      if (String(result.dtype.variant ?? result.dtype) !== 'Bool') {
        throw new TransformError('INVALID_SQL', `${what} must be a boolean condition, but it gives ${String(result.dtype)}`);
      }
      results.push(result.alias(`__ok_${j}`));
      rules.push({
        flag: `__check_${j}`,
        field: check.field ? check.name : null,
        rule: check.field ? 'check' : `check:${check.name}`,
        message: () => `failed check: ${check.sql}`,
      });
    }
    // A check fails only when it is false; null (a null input) passes.
    work = work.withColumns(...results).withColumns(...results.map((_, j) => pl.col(`__ok_${j}`).not().fillNull(false).alias(`__check_${j}`)));
  }

  const anyFailed = rules.map((r) => pl.col(r.flag)).reduce((a, b) => a.or(b));
  // Lazy, so Polars projects the few needed columns before filtering the wide working frame.
  const flagged = work.lazy().withColumns(anyFailed.alias('__rejected'));
  const mapped = flagged
    .filter(pl.col('__rejected').not())
    .select(pl.col(ROW_COLUMN), ...fields.map((f, i) => pl.col(`__t_${i}`).alias(f.name)))
    .collectSync();

  const rejectedWork = flagged.filter(pl.col('__rejected')).collectSync();
  if (rejectedWork.height === 0) return { mapped, rejected: emptyRejected(), byRule: {} };
  // Original values as JSON, encoded by Polars; only the columns the messages need go to JS.
  const records = rejectedWork.select(pl.struct(raw.columns.map((c) => pl.col(c))).struct.jsonEncode().alias('record')).getColumn('record').toArray() as string[];
  const needed = new Set<string>([ROW_COLUMN, ...rules.map((r) => r.flag)]);
  fields.forEach((field, i) => {
    needed.add(`__in_${i}`);
    if (field.in) needed.add(`__t_${i}`);
  });
  const details = rejectedWork.select(...[...needed].map((c) => pl.col(c))).toRecords() as Record<string, unknown>[];
  const rows: number[] = [];
  const errors: string[] = [];
  const byRule: Record<string, number> = {};
  for (const detail of details) {
    rows.push(Number(detail[ROW_COLUMN]));
    const failed = rules.filter((r) => detail[r.flag] === true).map((r): RejectError => ({ field: r.field, rule: r.rule, message: r.message(detail) }));
    for (const error of failed) byRule[ruleKey(error)] = (byRule[ruleKey(error)] ?? 0) + 1;
    errors.push(postgres ? escapeNulForPostgres(toJson(failed)) : toJson(failed));
  }
  return {
    mapped,
    byRule,
    rejected: pl.DataFrame({
      [ROW_COLUMN]: pl.Series(ROW_COLUMN, rows, pl.Int64),
      record: pl.Series('record', postgres ? records.map(escapeNulForPostgres) : records, pl.Utf8),
      errors: pl.Series('errors', errors, pl.Utf8),
    }),
  };
}
