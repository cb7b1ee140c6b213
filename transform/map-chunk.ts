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
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import pl from 'nodejs-polars';
import { TransformError } from '../common/errors';
import type { FieldSpec, FlowSpec } from '../flows/flow-spec';
import { castField, describeType, isNested, validateJsonColumn } from './field-types';
import { executeSql, quoteIdent } from './polars-sql';

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
  /** A flag that, when set, makes this rule pass (a failed cast reports only `type`, not also `required`). */
  unless?: string;
  field: string | null;
  rule: string;
  message: (row: Record<string, unknown>) => string;
  /**
   * The message as `before + JSON(row[column]) + after`, for rules whose message shows a value; absent
   * for a constant message. Lets Polars build the messages when `column` is text.
   */
  template?: { column: string; before: string; after: string };
}

/** An empty rejected frame with the right schema (one frame, made once: a DataFrame is never changed in place). */
export function emptyRejected(): pl.DataFrame {
  EMPTY_REJECTED ??= pl.DataFrame({
    [ROW_COLUMN]: pl.Series(ROW_COLUMN, [], pl.Int64),
    record: pl.Series('record', [], pl.Utf8),
    errors: pl.Series('errors', [], pl.Utf8),
  });
  return EMPTY_REJECTED;
}
let EMPTY_REJECTED: pl.DataFrame | undefined;

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
 * Evaluates the `expr` of the given fields over the source columns in ONE Polars SQL query, named
 * `__sluice_in_<i>`; when that query fails, each expr is run alone to name the one at fault.
 * @throws TransformError `INVALID_SQL` naming the field and its expr.
 */
function evaluateExprs(spec: FlowSpec, raw: pl.DataFrame, indexes: number[], inputs: string[]): pl.Series[] {
  const fields = spec.fields;
  const select = (list: number[]) => `SELECT ${list.map((i) => `(${fields[i]!.expr}) AS ${quoteIdent(inputs[i]!)}`).join(', ')} FROM source`;
  let result: pl.DataFrame;
  try {
    result = executeSql({ source: raw }, select(indexes));
  } catch {
    for (const i of indexes) runUserSql({ source: raw }, select([i]), `expr of field "${fields[i]!.name}" (${fields[i]!.expr})`);
    result = runUserSql({ source: raw }, select(indexes), 'the fields\' expr');
  }
  return result.getColumns();
}

/** Polars dtype variants of text columns. */
const TEXT_VARIANTS = new Set(['String', 'Utf8']);

/** A text column as JSON text (`"a\"b"`, `null`): Polars' JSON string encoding, which matches JSON.stringify. */
function jsonText(column: pl.Expr): pl.Expr {
  return pl.struct([column.alias('v')]).struct.jsonEncode().str.replace('^\\{"v":', '', false).str.replace('\\}$', '', false);
}

/** Built once (an expression is a large JS object): does a rejected part hold an escaped NUL? */
let NUL_HIT: pl.Expr | undefined;

/** `record` and `errors` with {@link escapeNulForPostgres} applied to the (rare) values holding `u0000`. */
function escapeNulColumns(rejected: pl.DataFrame): pl.DataFrame {
  NUL_HIT ??= pl.col('record').str.contains('u0000', true).or(pl.col('errors').str.contains('u0000', true)).any().alias('hit');
  const hit = rejected.select(NUL_HIT).getColumn('hit').toArray()[0];
  if (!hit) return rejected;
  const records = (rejected.getColumn('record').toArray() as string[]).map(escapeNulForPostgres);
  const errors = (rejected.getColumn('errors').toArray() as string[]).map(escapeNulForPostgres);
  return rejected.withColumns(pl.Series('record', records, pl.Utf8), pl.Series('errors', errors, pl.Utf8));
}

/** Prefixes of the working columns derived from a field's input column. */
const P = {
  typed: '__sluice_t.',
  type: '__sluice_type.',
  missing: '__sluice_missing.',
  encoding: '__sluice_encoding.',
  in: '__sluice_in.',
  ok: '__sluice_ok.',
  check: '__sluice_check.',
} as const;

/**
 * A lazy frame a mapping step needs collected, handed to the driver ({@link mapChunk} or {@link mapChunkAsync}),
 * or {@link PAUSE}: a point where the async driver lets the event loop run (building a new shape's plan is
 * ~10 ms of JS per rule). After a pause the step receives nothing.
 */
type MapSteps = Generator<pl.LazyDataFrame | typeof PAUSE, MappedChunk, pl.DataFrame>;
const PAUSE = Symbol('pause');

/**
 * Maps one staged chunk, collecting each Polars step synchronously (blocks the event loop while
 * Polars works; use {@link mapChunkAsync} in activities).
 * @param raw the staged source rows of this chunk, as read from staging.
 * @param firstRowNumber the 1-based source row number of `raw`'s first row.
 * @throws TransformError `MISSING_COLUMN` or `INVALID_SQL` (user-fixable; the whole run fails).
 */
export function mapChunk(spec: FlowSpec, raw: pl.DataFrame, firstRowNumber: number, options: MapChunkOptions = {}): MappedChunk {
  const steps = mapSteps(spec, raw, firstRowNumber, options);
  let next = steps.next();
  while (!next.done) next = steps.next(next.value === PAUSE ? (undefined as never) : next.value.collectSync());
  return next.value;
}

/**
 * Maps one staged chunk like {@link mapChunk}, but collects the heavy Polars steps with
 * `LazyFrame.collect()`, which runs on the libuv thread pool: the event loop stays free (heartbeats,
 * cancellation) while Polars casts and filters the chunk.
 * @throws TransformError `MISSING_COLUMN` or `INVALID_SQL` (user-fixable; the whole run fails).
 */
export async function mapChunkAsync(spec: FlowSpec, raw: pl.DataFrame, firstRowNumber: number, options: MapChunkOptions = {}): Promise<MappedChunk> {
  const steps = mapSteps(spec, raw, firstRowNumber, options);
  let next = steps.next();
  while (!next.done) next = steps.next(next.value === PAUSE ? await yieldToLoop(undefined as never) : await next.value.collect());
  return next.value;
}

/**
 * Groups field indexes by a key, keeping first-seen order.
 * Cost note (nodejs-polars 0.26): each JS `Expr` is a large object of closures (~0.5 ms to build,
 * kept alive until the plan runs), so building a few per field made a 1,500-field flow cost tens of
 * seconds in garbage collection. Fields that cast alike share ONE expression over `pl.col([names])`,
 * which Polars expands per column: the number of JS expressions depends on the field types, not on
 * the field count.
 */
function groupBy<K>(indexes: number[], key: (i: number) => K): Map<string, { key: K; indexes: number[] }> {
  const groups = new Map<string, { key: K; indexes: number[] }>();
  for (const i of indexes) {
    const k = key(i);
    const id = JSON.stringify(k);
    const group = groups.get(id) ?? { key: k, indexes: [] };
    group.indexes.push(i);
    groups.set(id, group);
  }
  return groups;
}

/**
 * Cast expressions by the shape they were built for (input names and dtypes, field types and
 * formats): the chunks of one run (and later runs of the same flow version) reuse them instead of
 * building them again (~0.5 s of JS per chunk). Polars expressions are immutable, so sharing is safe.
 * Bounded: the oldest of {@link CAST_PLAN_LIMIT} is dropped.
 */
const CAST_PLANS = new Map<string, pl.Expr[]>();
const CAST_PLAN_LIMIT = 32;

function rememberCastPlan(key: string, exprs: pl.Expr[]): void {
  if (CAST_PLANS.size >= CAST_PLAN_LIMIT) CAST_PLANS.delete(CAST_PLANS.keys().next().value!);
  CAST_PLANS.set(key, exprs);
}

/**
 * The expressions that turn a chunk's rejected rows into their `errors` JSON and the counts by rule,
 * per flow spec (specs of versions are immutable and cached by the FlowVersionStore, so the same
 * object comes back for every chunk and every run of a version on a worker), then by the shape they
 * were built for (source columns, working dtypes, target kind). Building them costs ~100 ms of JS per
 * chunk for the bench flow (a few dozen nested expressions per rule, each a large JS object), and as
 * much again in garbage collection: a run with rejects paid it for every chunk, a small run for
 * every run. Bounded per spec like {@link CAST_PLANS}.
 */
const REJECT_PLANS = new WeakMap<FlowSpec, Map<string, { counts: pl.Expr[]; select: pl.Expr[] }>>();
/** The flag, filter and projection expressions of a chunk's mapping, cached like {@link REJECT_PLANS}. */
const FLAG_PLANS = new WeakMap<FlowSpec, Map<string, { flags: pl.Expr[]; rejected: pl.Expr; kept: pl.Expr; isRejected: pl.Expr; mapped: pl.Expr; rejectColumns: pl.Expr }>>();

/** Stores `plan` under (spec, key) in `plans`, at most {@link CAST_PLAN_LIMIT} per spec (the oldest dropped); returns it. */
function remember<T>(plans: WeakMap<FlowSpec, Map<string, T>>, spec: FlowSpec, key: string, plan: T): T {
  let bySpec = plans.get(spec);
  if (!bySpec) plans.set(spec, (bySpec = new Map()));
  if (bySpec.size >= CAST_PLAN_LIMIT) bySpec.delete(bySpec.keys().next().value!);
  bySpec.set(key, plan);
  return plan;
}

function* mapSteps(spec: FlowSpec, raw: pl.DataFrame, firstRowNumber: number, options: MapChunkOptions): MapSteps {
  const postgres = options.targetKind === 'postgres';
  assertSourceColumns(spec, raw.columns);
  const fields = spec.fields;
  const all = fields.map((_, i) => i);

  // Inputs: a source column (the first field reading it uses it in place), or a copy, or the result
  // of the field's `expr` over the source columns. Derived columns are named by a prefix on the input's
  // name (`__sluice_t.<input>` typed value, `__sluice_type.` cast failure, …): `__sluice_` is reserved,
  // like ROW_COLUMN, so they cannot collide with source columns.
  const inputs: string[] = [];
  const used = new Set<string>();
  const copies: pl.Expr[] = [];
  const exprFields: number[] = [];
  for (const [i, field] of fields.entries()) {
    if (field.from !== undefined && !used.has(field.from)) {
      used.add(field.from);
      inputs.push(field.from);
    } else {
      inputs.push(`__sluice_in_${i}`);
      if (field.from !== undefined) copies.push(pl.col(field.from).alias(inputs[i]!));
      else exprFields.push(i);
    }
  }
  let work = raw.withRowIndex(ROW_COLUMN, firstRowNumber).withColumns(pl.col(ROW_COLUMN).cast(pl.Int64), ...copies);
  if (exprFields.length > 0) work = work.withColumns(...evaluateExprs(spec, raw, exprFields, inputs));
  // Read once: each `columns` / `dtypes` access rebuilds the whole list (O(columns)).
  const workDtypes = work.dtypes;
  const dtypes = new Map(work.columns.map((c, k) => [c, workDtypes[k]!]));
  const typed = (i: number) => `${P.typed}${inputs[i]}`;
  const typeFlag = (i: number) => `${P.type}${inputs[i]}`;

  // Typed values, cast failures and missing values: one expression per group of fields that cast alike.
  const castGroups = [
    ...groupBy(all, (i) => {
      const f = fields[i]!;
      const dtype = dtypes.get(inputs[i]!)!;
      // A nested input is wrapped in a struct under an alias, which cannot expand over several columns.
      return { dtype: String(dtype), type: f.type, format: f.format ?? null, nested: isNested(dtype) ? i : -1 };
    }).values(),
  ].map(({ indexes }) => ({ indexes, names: indexes.map((i) => inputs[i]!), required: indexes.filter((i) => fields[i]!.required).map((i) => inputs[i]!) }));
  const castKey = JSON.stringify(castGroups.map((g) => [g.names, g.required, String(dtypes.get(g.names[0]!)), fields[g.indexes[0]!]!.type, fields[g.indexes[0]!]!.format ?? null]));
  let castExprs = CAST_PLANS.get(castKey);
  if (castExprs === undefined) {
    castExprs = [];
    for (const { indexes, names, required } of castGroups) {
      const first = indexes[0]!;
      const cast = castField(pl.col(names), dtypes.get(inputs[first]!)!, fields[first]!);
      castExprs.push(cast.value.keepName().prefix(P.typed), cast.failed.keepName().prefix(P.type));
      if (required.length > 0) castExprs.push(castField(pl.col(required), dtypes.get(inputs[first]!)!, fields[first]!).missing.keepName().prefix(P.missing));
      // A new shape's casts are built group by group, letting the event loop run between groups.
      yield PAUSE;
    }
    rememberCastPlan(castKey, castExprs);
  }
  const jsonFields = all.filter((i) => fields[i]!.type === 'json');
  const checks: { sql: string; field: FieldSpec | null; name: string }[] = [
    ...fields.filter((f) => f.check !== undefined).map((f) => ({ sql: f.check!, field: f, name: f.name })),
    ...spec.checks.map((c) => ({ sql: c.sql, field: null, name: c.name })),
  ];
  // JSON validation and SQL checks read the typed values eagerly; without them, the casts and the flags are one
  // Polars query: one frame less per chunk (each frame nodejs-polars makes counts its estimated size as V8
  // external memory, and every ~64 MB of it starts a full garbage collection of the worker's heap).
  const casts = work.lazy().withColumns(...castExprs);
  const eager = jsonFields.length > 0 || checks.length > 0;
  if (eager) work = yield casts;
  if (jsonFields.length > 0) work = work.withColumns(...jsonFields.map((i) => validateJsonColumn(work.getColumn(typed(i))).alias(typeFlag(i))));

  const rules: Rule[] = [];
  // The flag expressions depend on the spec, the source columns and the target kind only: built once per
  // shape (see REJECT_PLANS), the rules list (plain JS) every chunk.
  const shapeKey = JSON.stringify([raw.columns, postgres]);
  const cachedFlags = FLAG_PLANS.get(spec)?.get(shapeKey);
  const flagExprs: pl.Expr[] = [];
  const encodingTypes = postgres ? (['string', 'json'] as const) : [];
  for (const type of encodingTypes) {
    const names = all.filter((i) => fields[i]!.type === type).map(typed);
    if (names.length === 0 || cachedFlags) continue;
    const text = pl.col(names);
    const nul = type === 'string' ? text.str.contains('\u0000', true) : text.str.contains(NUL_IN_JSON);
    flagExprs.push(nul.fillNull(false).keepName().prefix(P.encoding));
  }
  for (const [i, field] of fields.entries()) {
    rules.push({
      flag: typeFlag(i),
      field: field.name,
      rule: 'type',
      message: (row) => `cannot convert ${toJson(row[inputs[i]!])} to ${describeType(field)}`,
      template: { column: inputs[i]!, before: 'cannot convert ', after: ` to ${describeType(field)}` },
    });
    if (field.required) {
      rules.push({ flag: `${P.missing}${inputs[i]}`, unless: typeFlag(i), field: field.name, rule: 'required', message: () => `${field.name} is required but missing` });
    }
    if (postgres && (field.type === 'string' || field.type === 'json')) {
      rules.push({
        flag: `${P.encoding}${typed(i)}`,
        field: field.name,
        rule: 'encoding',
        message: () => `contains a NUL byte (U+0000), which PostgreSQL ${field.type === 'json' ? 'jsonb' : 'text'} cannot store; remove it from the source`,
      });
    }
    if (field.in) {
      if (!cachedFlags) flagExprs.push(pl.col(typed(i)).isNotNull().and(pl.col(typed(i)).isIn(field.in).not()).fillNull(false).alias(`${P.in}${inputs[i]}`));
      rules.push({
        flag: `${P.in}${inputs[i]}`,
        field: field.name,
        rule: 'in',
        message: (row) => `${toJson(row[typed(i)])} is not one of ${field.in!.map((v) => toJson(v)).join(', ')}`,
        template: { column: typed(i), before: '', after: ` is not one of ${field.in!.map((v) => toJson(v)).join(', ')}` },
      });
    }
  }

  // SQL checks over the typed target fields, renamed to their target names.
  const targetNames = Object.fromEntries(fields.map((f, i) => [typed(i), f.name]));
  if (checks.length > 0) {
    const targetFrame = work.select(pl.col(fields.map((_, i) => typed(i)))).rename(targetNames);
    const results: pl.Series[] = [];
    for (const [j, check] of checks.entries()) {
      const what = check.field ? `check of field "${check.name}" (${check.sql})` : `check "${check.name}" (${check.sql})`;
      const result = runUserSql({ t: targetFrame }, `SELECT (${check.sql}) AS __ok FROM t`, what).getColumn('__ok');
      if (String(result.dtype.variant ?? result.dtype) !== 'Bool') {
        throw new TransformError('INVALID_SQL', `${what} must be a boolean condition, but it gives ${String(result.dtype)}`);
      }
      results.push(result.alias(`${P.ok}${j}`));
      rules.push({
        flag: `${P.check}${P.ok}${j}`,
        field: check.field ? check.name : null,
        rule: check.field ? 'check' : `check:${check.name}`,
        message: () => `failed check: ${check.sql}`,
      });
    }
    // A check fails only when it is false; null (a null input) passes.
    work = work.withColumns(...results).withColumns(pl.col(results.map((r) => r.name)).not().fillNull(false).keepName().prefix(P.check));
  }

  const flags = cachedFlags ?? remember(FLAG_PLANS, spec, shapeKey, {
    flags: flagExprs,
    rejected: pl.anyHorizontal(pl.col(rules.map((r) => r.flag))).alias('__sluice_rejected'),
    kept: pl.col('__sluice_rejected').not(),
    isRejected: pl.col('__sluice_rejected'),
    mapped: pl.col([ROW_COLUMN, ...fields.map((_, i) => typed(i))]),
    // What the rejects are built from: row numbers, source values, flags and the values messages show. The flagged
    // frame holds every working column; filtering only these costs ~a third of filtering it whole.
    rejectColumns: pl.col([
      ...new Set([
        ROW_COLUMN,
        ...raw.columns,
        ...inputs,
        ...rules.flatMap((r) => [r.flag, ...(r.unless !== undefined ? [r.unless] : []), ...(r.template ? [r.template.column] : [])]),
        ...fields.flatMap((f, i) => (f.in ? [typed(i)] : [])),
      ]),
    ]),
  });
  // The flags are computed once: the mapped and the rejected rows are both filtered from this frame (the
  // projection after each filter still reaches down to it, so only the columns each part needs are filtered).
  const flagged = yield (eager ? work.lazy() : casts).withColumns(...flags.flags).withColumns(flags.rejected);
  const mapped = yield flagged.lazy().filter(flags.kept).select(flags.mapped).rename(targetNames);

  const rejectedWork = yield flagged.lazy().filter(flags.isRejected).select(flags.rejectColumns);
  if (rejectedWork.height === 0) return { mapped, rejected: emptyRejected(), byRule: {} };
  // Messages and counts by rule in Polars when every message that shows a value shows text (a CSV
  // source): the same JSON as the JS path below, without one JS object per rejected row.
  const rejectedTypes = new Map(rejectedWork.columns.map((c, k) => [c, String(rejectedWork.dtypes[k]!.variant)]));
  if (rules.every((r) => !r.template || TEXT_VARIANTS.has(rejectedTypes.get(r.template.column) ?? ''))) {
    const failed = (r: Rule) => (r.unless !== undefined ? pl.col(r.flag).and(pl.col(r.unless).not()) : pl.col(r.flag));
    const message = (r: Rule) =>
      r.template
        ? pl.concatString([pl.lit(r.template.before), jsonText(pl.col(r.template.column)), pl.lit(r.template.after)], '')
        : pl.lit(r.message({}));
    const errorJson = (r: Rule) =>
      pl
        .when(failed(r))
        .then(pl.struct([(r.field === null ? pl.lit(null).cast(pl.Utf8) : pl.lit(r.field)).alias('field'), pl.lit(r.rule).alias('rule'), message(r).alias('message')] as pl.Expr[]).struct.jsonEncode())
        .otherwise(pl.lit(null).cast(pl.Utf8));
    const rejectKey = JSON.stringify([raw.columns, postgres, [...rejectedTypes]]);
    let plan = REJECT_PLANS.get(spec)?.get(rejectKey);
    if (!plan) {
      // A new shape: its messages are built rule by rule, letting the event loop run between rules.
      const errors: pl.Expr[] = [];
      for (const r of rules) {
        errors.push(errorJson(r));
        yield PAUSE;
      }
      plan = remember(REJECT_PLANS, spec, rejectKey, {
        counts: rules.map((r, k) => failed(r).cast(pl.Int64).sum().alias(`r${k}`)),
        select: [
          pl.col(ROW_COLUMN),
          pl.struct(pl.col(raw.columns)).struct.jsonEncode().alias('record'),
          pl.concatString([pl.lit('['), pl.concatString(errors, ',', true), pl.lit(']')], '').alias('errors'),
        ],
      });
    }
    const counts = yield rejectedWork.lazy().select(...plan.counts);
    const byRule: Record<string, number> = {};
    rules.forEach((r, k) => {
      const n = Number(counts.getColumn(`r${k}`).get(0));
      const key = ruleKey({ field: r.field, rule: r.rule, message: '' });
      if (n > 0) byRule[key] = (byRule[key] ?? 0) + n;
    });
    let rejected = yield rejectedWork.lazy().select(...plan.select);
    if (postgres) rejected = escapeNulColumns(rejected);
    return { mapped, byRule, rejected };
  }
  // Original values as JSON, encoded by Polars; only the columns the messages need go to JS.
  const records = rejectedWork.select(pl.struct(pl.col(raw.columns)).struct.jsonEncode().alias('record')).getColumn('record').toArray() as string[];
  const needed = new Set<string>([ROW_COLUMN, ...rules.map((r) => r.flag)]);
  fields.forEach((field, i) => {
    needed.add(inputs[i]!);
    if (field.in) needed.add(typed(i));
  });
  const details = rejectedWork.select(pl.col([...needed])).toRecords() as Record<string, unknown>[];
  const rows: number[] = [];
  const errors: string[] = [];
  const byRule: Record<string, number> = {};
  for (const detail of details) {
    rows.push(Number(detail[ROW_COLUMN]));
    // A failed cast reports only the type error, not also `required`.
    const failed = rules
      .filter((r) => detail[r.flag] === true && !(r.unless !== undefined && detail[r.unless] === true))
      .map((r): RejectError => ({ field: r.field, rule: r.rule, message: r.message(detail) }));
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
