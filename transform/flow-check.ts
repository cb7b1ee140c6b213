/**
 * Checks a flow before it becomes a version: every `expr`, field `check` and `checks[].sql` is run
 * by the transform itself ({@link mapChunk}, Polars SQL) over an empty frame with the flow's input
 * columns (or a sample's rows), so what cannot run is refused at `flows check` / `flows publish`,
 * not at run time.
 *
 * Input columns: with a sample (`sourceSchema`, the schema of a file read through the flow's source
 * format), exactly its columns and types. Without one: the columns the fields read with `from`,
 * typed as a CSV source stages them (text) when `source.format` is `csv`, else as the field's type;
 * a column an `expr` reads that no field declares is assumed to exist (typeless), and type errors
 * in `expr` are reported as warnings, since the real types are not known. Checks see the typed
 * target fields, whose types are always known, so every check error is an error.
 *
 * @example
 * ```ts
 * const { problems, warnings } = checkFlow(spec);
 * problems[0]?.text; // 'fields.hp.expr ("Horsepower" *): the SQL ends too early: …'
 * assertFlowCanRun(spec, 'flows/cars.yaml'); // throws TransformError INVALID_SQL listing every problem
 * ```
 */
import pl, { type DataType } from 'nodejs-polars';
import { TransformError, UserError } from '../common/errors';
import type { FieldSpec, FieldType, FlowSpec } from '../flows/flow-spec';
import { mapChunk } from './map-chunk';
import { POLARS_TYPES } from './custom-map';

/** One thing in a flow that cannot run (or, as a warning, may not). */
export interface FlowProblem {
  /** Where in the spec: `fields.<name>.expr`, `fields.<name>.check`, `fields.<name>.from`, `checks[<i>].sql`. */
  path: string;
  /** The field it belongs to, or null for `checks[]`. */
  field: string | null;
  /** The SQL (or column name, for `from`) at fault. */
  sql: string;
  /** What is wrong and how to fix it, in Sluice's words. */
  message: string;
  /** Polars' own message (first paragraph), when Polars gave one. */
  polars?: string;
  /** `path (sql): message`: one line for the terminal. */
  text: string;
}

export interface FlowCheckResult {
  /** What cannot run: publishing refuses the flow. */
  problems: FlowProblem[];
  /** What could not be checked fully without a sample (types of source columns). */
  warnings: FlowProblem[];
}

export interface FlowCheckOptions {
  /** The schema of a sample of the source, as staged (see connectors/local `readSample`). */
  sourceSchema?: Record<string, DataType>;
  /**
   * The sample's rows (as staged): exprs are run over them, so a failure that depends on values (a
   * strict CAST of "abc") is found too. Its schema is used when `sourceSchema` is not given.
   */
  sample?: pl.DataFrame;
  /** The sample's name in messages. @default 'the sample' */
  sampleName?: string;
}

/** Polars SQL's function reference, named in messages about unknown functions. */
export const POLARS_SQL_FUNCTIONS_URL = 'https://docs.pola.rs/api/python/stable/reference/sql/functions/index.html';

/** The dtype a staged column of a field's source has when no sample says (JSON and Parquet keep types). */
const GUESSED_DTYPES: Record<FieldType, DataType> = {
  string: pl.Utf8,
  int32: pl.Int64,
  int64: pl.Int64,
  float64: pl.Float64,
  bool: pl.Bool,
  date: pl.Utf8,
  datetime: pl.Utf8,
  json: pl.Utf8,
};


const NULL_TYPE = 'Null';

/** An empty frame with these columns; a `Null` dtype makes a typeless column. Built once per check (~ms per column). */
function emptyFrame(schema: Record<string, DataType | typeof NULL_TYPE>): pl.DataFrame {
  const typed = Object.fromEntries(Object.entries(schema).filter(([, dtype]) => dtype !== NULL_TYPE)) as Record<string, DataType>;
  let frame = pl.DataFrame([], { schema: typed });
  const nulls = Object.keys(schema).filter((name) => schema[name] === NULL_TYPE);
  if (nulls.length > 0) frame = frame.withColumns(...nulls.map((name) => pl.lit(null).alias(name)));
  return nulls.length > 0 ? frame.select(...Object.keys(schema)) : frame;
}

/** The names an SQL text quotes with double quotes (always identifiers in Polars SQL): `"Release Date"` → `Release Date`. */
function quotedNames(sql: string): string[] {
  return [...sql.matchAll(/"((?:[^"]|"")+)"/g)].map((m) => m[1]!.replace(/""/g, '"'));
}

/** Polars' message of a failed SQL run (the cause of the transform's `INVALID_SQL`), first paragraph only. */
function polarsMessage(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const text = cause instanceof Error ? cause.message : String(cause);
  return text.split(/\n\s*\n/)[0]!.trim();
}

type Kind = 'parse' | 'column' | 'function' | 'type' | 'other';

function kindOf(polars: string): Kind {
  if (/^sql parser error/i.test(polars)) return 'parse';
  if (/unable to find column/i.test(polars)) return 'column';
  if (/unsupported function|function .* is not supported/i.test(polars)) return 'function';
  if (/dtype|not supported for|cannot compare|expected `?String|got:? `?null|cannot cast|conversion from|invalid (series )?type|mismatch/i.test(polars)) return 'type';
  return 'other';
}

/** The column a "not found" message names, and Polars' suggestion when it made one. */
function missingColumn(polars: string, full: string): { column: string; suggestion?: string } {
  const column = /unable to find column "((?:[^"\\]|\\.)*)"/.exec(polars)?.[1] ?? '?';
  const suggestion = /Did you mean "((?:[^"\\]|\\.)*)"\?/.exec(full)?.[1];
  return { column, ...(suggestion !== undefined ? { suggestion } : {}) };
}

/**
 * Sluice's words for a Polars SQL parse error. Polars counts columns in the query it ran,
 * `SELECT (<sql>) AS …`: the text before the user's SQL is `prefix`.
 */
function explainParse(polars: string, sql: string, prefix: string): string {
  const match = /Expected: (.*?), found: (.*?) at Line: (\d+), Column: (\d+)/.exec(polars);
  if (!match) return `the SQL does not parse (Polars: ${polars}); fix its syntax`;
  const [, expected, found, line, column] = match;
  const col = Number(line) === 1 ? Number(column) - prefix.length : Number(column);
  const lineNo = Number(line);
  const lines = sql.split('\n');
  const atEnd = found === ')' && lineNo === lines.length && col > lines[lineNo - 1]!.length;
  if (atEnd || found === 'EOF') {
    return `the SQL ends too early: Polars expected ${expected} after "${sql.trim().split(/\s+/).pop()}"; complete the expression or remove what dangles at its end`;
  }
  const place = lines.length > 1 ? `line ${lineNo}, column ${col}` : `column ${col}`;
  return `the SQL does not parse at ${place}: Polars expected ${expected} but found "${found}"; fix the syntax there`;
}

/** Columns of `schema` whose name appears in `sql`, with their types: a hint for type errors. */
function typesHint(sql: string, schema: Record<string, string>): string {
  const used = Object.entries(schema).filter(([name]) => sql.includes(name));
  if (used.length === 0) return '';
  return `; the columns it reads are ${used.map(([name, type]) => `"${name}" ${type}`).join(', ')}`;
}

/** Runs `spec` through the transform over `frame`. @returns the user error it throws, or undefined. */
function tryMap(spec: FlowSpec, frame: pl.DataFrame): UserError | undefined {
  try {
    mapChunk(spec, frame, 1);
    return undefined;
  } catch (error) {
    if (error instanceof UserError) return error;
    throw error;
  }
}

/** The whole text of Polars' message (with its "Did you mean" hint), or the error's own. */
function fullMessage(error: Error): string {
  return error.cause instanceof Error ? error.cause.message : error.message;
}

function problem(path: string, field: string | null, sql: string, message: string, polars?: string): FlowProblem {
  return { path, field, sql, message, ...(polars !== undefined ? { polars } : {}), text: `${path} (${sql}): ${message}` };
}

function dtypeName(dtype: DataType | typeof NULL_TYPE): string {
  if (dtype === NULL_TYPE) return 'of unknown type';
  const name = String((dtype as DataType).variant ?? dtype);
  return name === 'Utf8' ? 'String' : name;
}

/**
 * Checks every `expr`, field `check` and `checks[].sql` of `spec` (and, with a sample, every `from`)
 * by running them as the transform does: exprs over an empty frame of the input columns, or over the
 * sample's rows when `options.sample` is given; checks over an empty frame of the typed target fields.
 * @returns problems (cannot run) and warnings (could not be checked fully): `from` and `expr` in field
 *   order, then field checks, then `checks[]`.
 */
export function checkFlow(spec: FlowSpec, options: FlowCheckOptions = {}): FlowCheckResult {
  const problems: FlowProblem[] = [];
  const warnings: FlowProblem[] = [];
  const sample = options.sourceSchema ?? options.sample?.schema;
  const sampleName = options.sampleName ?? 'the sample';
  const csv = spec.source.format === 'csv';
  const typesKnown = sample !== undefined || csv;

  // The source columns, as staged.
  const source: Record<string, DataType | typeof NULL_TYPE> = {};
  if (sample) Object.assign(source, sample);
  else for (const f of spec.fields) if (f.from !== undefined && !(f.from in source)) source[f.from] = csv ? pl.Utf8 : GUESSED_DTYPES[f.type];
  const sourceTypes = () => Object.fromEntries(Object.entries(source).map(([name, dtype]) => [name, dtypeName(dtype)]));

  if (sample) {
    const columns = Object.keys(sample);
    for (const f of spec.fields) {
      if (f.from !== undefined && !(f.from in sample)) {
        problems.push(problem(`fields.${f.name}.from`, f.name, f.from, `${sampleName} has no column "${f.from}"; its columns are ${columns.map((c) => `"${c}"`).join(', ')}. Fix "from" (case and spaces count)`));
      }
    }
  }

  // Exprs: all in one run first (as the transform does); one by one only when that fails, to name each.
  const exprOnly = (f: FieldSpec): FieldSpec => ({ name: f.name, type: f.type, expr: f.expr!, required: false, ...(f.format !== undefined ? { format: f.format } : {}) });
  const exprFields = spec.fields.filter((f) => f.expr !== undefined);
  // Without a sample, the source columns an expr quotes are assumed to exist (one frame, not one try per column).
  if (!sample) {
    for (const f of exprFields) for (const name of quotedNames(f.expr!)) if (!(name in source)) source[name] = csv ? pl.Utf8 : NULL_TYPE;
  }
  let frame = options.sample ?? emptyFrame(source);
  const sourceFrame = () => frame;
  let exprsRun = exprFields.length === 0;
  for (let attempt = 0; !exprsRun && attempt < 100; attempt++) {
    const error = tryMap({ ...spec, fields: exprFields.map(exprOnly), checks: [], dedupe: undefined }, sourceFrame());
    if (error === undefined) exprsRun = true;
    else if (!addAssumedColumn(error)) break;
  }

  /** Without a sample, a column an expr reads that no field declares may exist: added (typeless). @returns true when added. */
  function addAssumedColumn(error: UserError): boolean {
    const polars = polarsMessage(error);
    if (sample || kindOf(polars) !== 'column') return false;
    const { column } = missingColumn(polars, fullMessage(error));
    if (column === '?' || column in source) return false;
    source[column] = csv ? pl.Utf8 : NULL_TYPE;
    frame = frame.withColumns((csv ? pl.lit(null).cast(pl.Utf8) : pl.lit(null)).alias(column));
    return true;
  }

  for (const field of exprsRun ? [] : exprFields) {
    const path = `fields.${field.name}.expr`;
    const expr = field.expr!;
    const one: FlowSpec = { ...spec, fields: [exprOnly(field)], checks: [], dedupe: undefined };
    for (let attempt = 0; attempt < 100; attempt++) {
      const error = tryMap(one, sourceFrame());
      if (error === undefined || addAssumedColumn(error)) {
        if (error === undefined) break;
        continue;
      }
      const polars = polarsMessage(error);
      const kind = kindOf(polars);
      if (kind === 'column') {
        const { column, suggestion } = missingColumn(polars, fullMessage(error));
        const hint = suggestion !== undefined ? `did you mean "${suggestion}"? ` : '';
        problems.push(
          problem(path, field.name, expr, `reads column "${column}", which ${sampleName} does not have; ${hint}its columns are ${Object.keys(source).map((c) => `"${c}"`).join(', ')}. Quote source column names exactly ("Release Date")`, polars),
        );
      } else if (kind === 'parse') {
        problems.push(problem(path, field.name, expr, explainParse(polars, expr, 'SELECT ('), polars));
      } else if (kind === 'function') {
        problems.push(problem(path, field.name, expr, `${unsupportedFunction(polars)} is not a Polars SQL function; use one listed at ${POLARS_SQL_FUNCTIONS_URL}`, polars));
      } else if (/^conversion from .* failed/.test(polars) && options.sample) {
        problems.push(problem(path, field.name, expr, `fails on values of ${sampleName}: ${polars}. Use TRY_CAST(… AS …), which gives null for a value that does not convert (a type or required rule then rejects the row)`, polars));
      } else if (kind === 'type' && !typesKnown) {
        warnings.push(problem(path, field.name, expr, `could not check the types without a sample (Polars: ${polars}); run sluice flows check with --source <sample> to check it against the real column types`, polars));
      } else if (kind === 'type') {
        problems.push(problem(path, field.name, expr, `the types do not fit: ${polars}${typesHint(expr, sourceTypes())}${csv && !sample ? ' (a CSV source is read as text)' : ''}. Convert with CAST(… AS …) or pick other columns`, polars));
      } else {
        problems.push(problem(path, field.name, expr, `Polars cannot run it: ${polars}`, polars));
      }
      break;
    }
  }

  // Checks see the typed target fields by name: one column per field, of the field's target type.
  const target: Record<string, DataType> = Object.fromEntries(spec.fields.map((f) => [f.name, POLARS_TYPES[f.type]]));
  const targetTypes = Object.fromEntries(spec.fields.map((f) => [f.name, f.type]));
  const asColumn = (f: FieldSpec): FieldSpec => ({ name: f.name, type: f.type, from: f.name, required: false });
  const checks = [
    ...spec.fields.filter((f) => f.check !== undefined).map((f) => ({ path: `fields.${f.name}.check`, field: f.name, sql: f.check!, fieldCheck: true, name: f.name })),
    ...spec.checks.map((c, i) => ({ path: `checks[${i}].sql`, field: null, sql: c.sql, fieldCheck: false, name: c.name })),
  ];
  // All checks in one run first; one by one only when that fails. One by one, a check sees only the
  // fields its SQL names (a field it reads must appear in its text), so a wide flow stays fast.
  const allChecks: FlowSpec = {
    ...spec,
    fields: spec.fields.map((f) => (f.check !== undefined ? { ...asColumn(f), check: f.check } : asColumn(f))),
    checks: spec.checks,
    dedupe: undefined,
  };
  const targetFrame = checks.length > 0 ? emptyFrame(target) : pl.DataFrame([]);
  const checksRun = checks.length === 0 || tryMap(allChecks, targetFrame) === undefined;
  for (const check of checksRun ? [] : checks) {
    const named = (all: boolean) => spec.fields.filter((f) => all || check.sql.includes(f.name) || (check.fieldCheck && f.name === check.name));
    const run = (all: boolean) => {
      const fields = named(all).map((f) => (check.fieldCheck && f.name === check.name ? { ...asColumn(f), check: check.sql } : asColumn(f)));
      const one: FlowSpec = { ...spec, fields, checks: check.fieldCheck ? [] : [{ name: check.name, sql: check.sql }], dedupe: undefined };
      return tryMap(one, targetFrame.select(...fields.map((f) => f.name)));
    };
    let error = run(false);
    if (error === undefined) continue;
    // An unknown column: again over every field, so Polars can suggest the nearest name.
    if (error.cause instanceof Error && kindOf(polarsMessage(error)) === 'column') error = run(true) ?? error;
    const full = fullMessage(error);
    const polars = error.cause instanceof Error ? polarsMessage(error) : undefined;
    if (polars === undefined) {
      // The transform's own refusal: a check that is not a boolean condition.
      const gives = (/but it gives (.*)$/.exec(error.message)?.[1] ?? 'another type').replace(/^DataType\((.*)\)$/, '$1');
      problems.push(problem(check.path, check.field, check.sql, `a check must be a boolean condition (true keeps the row), but this one gives ${gives}; compare it, e.g. "${check.field ?? 'amount'} > 0"`));
      continue;
    }
    const kind = kindOf(polars);
    if (kind === 'column') {
      const { column, suggestion } = missingColumn(polars, full);
      const hint = suggestion !== undefined ? `did you mean ${suggestion}? ` : '';
      problems.push(
        problem(check.path, check.field, check.sql, `reads column "${column}", which is not a field of this flow; ${hint}checks see the target fields by their names: ${spec.fields.map((f) => f.name).join(', ')}`, polars),
      );
    } else if (kind === 'parse') {
      problems.push(problem(check.path, check.field, check.sql, explainParse(polars, check.sql, 'SELECT ('), polars));
    } else if (kind === 'function') {
      problems.push(problem(check.path, check.field, check.sql, `${unsupportedFunction(polars)} is not a Polars SQL function; use one listed at ${POLARS_SQL_FUNCTIONS_URL}`, polars));
    } else if (kind === 'type') {
      problems.push(problem(check.path, check.field, check.sql, `the types do not fit: ${polars}${typesHint(check.sql, targetTypes)}. Compare values of the field's type, or CAST(… AS …)`, polars));
    } else {
      problems.push(problem(check.path, check.field, check.sql, `Polars cannot run it: ${polars}`, polars));
    }
  }
  return { problems, warnings };
}

function unsupportedFunction(polars: string): string {
  const name = /unsupported function '([^']+)'/i.exec(polars)?.[1];
  return name ? name.toUpperCase() : 'this function';
}

/**
 * Refuses a flow that cannot run: {@link checkFlow}'s problems as one error.
 * @param origin the flow file, named in the message.
 * @throws TransformError `INVALID_SQL` whose message lists every problem (`  - path (sql): message`)
 *   and whose `details.problems` holds them as objects.
 */
export function assertFlowCanRun(spec: FlowSpec, origin = 'flow spec', options: FlowCheckOptions = {}): FlowCheckResult {
  const result = checkFlow(spec, options);
  const { problems } = result;
  if (problems.length > 0) {
    const head = `${origin} cannot run (${problems.length} problem${problems.length === 1 ? '' : 's'}):`;
    throw new TransformError('INVALID_SQL', [head, ...problems.map((p) => `  - ${p.text}`)].join('\n'), {
      details: { problems: problems.map(({ text: _text, ...rest }) => rest) },
    });
  }
  return result;
}
