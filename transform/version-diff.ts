/**
 * Compares what two versions of one flow make of the same staged source (`sluice flows diff`): which rows one
 * accepts and the other rejects, which values of rows both accept changed, and how the specs differ. Every
 * comparison is a Polars (lazy) join or aggregation over the staged Parquet parts; only counts and a few samples
 * come back to JavaScript.
 *
 * ```ts
 * assertComparableVersions(a, b);                          // DIFF_FLOWS_DIFFER, DIFF_SOURCES_DIFFER
 * const spec = specChanges(a.spec, b.spec);                // [{ change: 'rule_added', field: 'amount', rule: 'check', … }]
 * const rows = compareVersionOutputs({ specA, specB, a: { mapped, rejected }, b: { mapped, rejected } });
 * ```
 */
import pl from 'nodejs-polars';
import { UserError } from '../common/errors';
import {
  DIFF_FIELD_SAMPLE_SIZE,
  DIFF_SAMPLE_SIZE,
  type DiffRowSample,
  type DiffSpecChange,
  type DiffValueSample,
  type VersionDiffReport,
} from '../common/version-diff-report';
import type { FieldSpec, FlowSpec } from '../flows/flow-spec';
import { ROW_COLUMN } from './map-chunk';

/** JSON text with object keys sorted, so key order never makes two equal values differ. */
const canonical = (value: unknown): string =>
  JSON.stringify(value ?? null, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => x.localeCompare(y))) : v,
  );
const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);

/**
 * Two versions can be diffed when they are versions of the same flow and read the same source (connector, format,
 * query and CSV options), so one staged copy serves both.
 * @throws UserError `DIFF_FLOWS_DIFFER`, `DIFF_SOURCES_DIFFER`.
 */
export function assertComparableVersions(a: { id: string; flow: string; spec: FlowSpec }, b: { id: string; flow: string; spec: FlowSpec }): void {
  if (a.flow !== b.flow) {
    throw new UserError(
      'DIFF_FLOWS_DIFFER',
      `${a.id} and ${b.id} are versions of different flows (${a.flow}, ${b.flow}); flows diff compares two versions of one flow, e.g. ${a.flow}:v1 ${a.flow}:v2`,
    );
  }
  if (!same(a.spec.source, b.spec.source)) {
    throw new UserError(
      'DIFF_SOURCES_DIFFER',
      `${a.id} and ${b.id} read their source differently (source ${canonical(a.spec.source)} vs ${canonical(b.spec.source)}); ` +
        'a diff runs both on one staged copy of the source, so their source sections must be equal: diff versions with the same source',
    );
  }
}

/** Field rules compared one by one. */
const FIELD_RULES = ['required', 'in', 'check'] as const;

/** How the specs differ: fields, types, casts (format), sources (from, expr), rules, flow checks, dedupe, target. */
export function specChanges(a: FlowSpec, b: FlowSpec): DiffSpecChange[] {
  const changes: DiffSpecChange[] = [];
  const fieldsA = new Map(a.fields.map((f) => [f.name, f]));
  const fieldsB = new Map(b.fields.map((f) => [f.name, f]));
  const ruleValue = (field: FieldSpec, rule: (typeof FIELD_RULES)[number]) => (rule === 'required' ? (field.required ? true : undefined) : field[rule]);
  for (const field of a.fields) if (!fieldsB.has(field.name)) changes.push({ change: 'field_removed', field: field.name, before: field.type });
  for (const field of b.fields) {
    const old = fieldsA.get(field.name);
    if (!old) {
      changes.push({ change: 'field_added', field: field.name, after: field.type });
      continue;
    }
    if (old.type !== field.type) changes.push({ change: 'type_changed', field: field.name, before: old.type, after: field.type });
    if (!same(old.format, field.format)) changes.push({ change: 'format_changed', field: field.name, before: old.format ?? null, after: field.format ?? null });
    if (!same(old.from, field.from)) changes.push({ change: 'from_changed', field: field.name, before: old.from ?? null, after: field.from ?? null });
    if (!same(old.expr, field.expr)) changes.push({ change: 'expr_changed', field: field.name, before: old.expr ?? null, after: field.expr ?? null });
    for (const rule of FIELD_RULES) {
      const [before, after] = [ruleValue(old, rule), ruleValue(field, rule)];
      if (same(before, after)) continue;
      const change = before === undefined ? 'rule_added' : after === undefined ? 'rule_removed' : 'rule_changed';
      changes.push({ change, field: field.name, rule, ...(before !== undefined ? { before } : {}), ...(after !== undefined ? { after } : {}) });
    }
  }
  const checksA = new Map(a.checks.map((c) => [c.name, c.sql]));
  const checksB = new Map(b.checks.map((c) => [c.name, c.sql]));
  for (const [name, sql] of checksA) if (!checksB.has(name)) changes.push({ change: 'check_removed', field: null, rule: name, before: sql });
  for (const [name, sql] of checksB) {
    if (!checksA.has(name)) changes.push({ change: 'check_added', field: null, rule: name, after: sql });
    else if (checksA.get(name) !== sql) changes.push({ change: 'check_changed', field: null, rule: name, before: checksA.get(name), after: sql });
  }
  if (!same(a.dedupe, b.dedupe)) changes.push({ change: 'dedupe_changed', field: null, before: a.dedupe ?? null, after: b.dedupe ?? null });
  if (a.max_reject_ratio !== b.max_reject_ratio) changes.push({ change: 'max_reject_ratio_changed', field: null, before: a.max_reject_ratio, after: b.max_reject_ratio });
  for (const key of ['connector', 'table', 'path', 'write', 'key'] as const) {
    if (!same(a.target[key], b.target[key])) changes.push({ change: 'target_changed', field: null, rule: key, before: a.target[key] ?? null, after: b.target[key] ?? null });
  }
  return changes;
}

/** Local Parquet parts of one version's transform. */
export interface VersionParts {
  mapped: string[];
  rejected: string[];
}

export interface CompareVersionsInput {
  specA: FlowSpec;
  specB: FlowSpec;
  a: VersionParts;
  b: VersionParts;
  /** @default DIFF_SAMPLE_SIZE */
  sampleSize?: number;
  /** @default DIFF_FIELD_SAMPLE_SIZE */
  fieldSampleSize?: number;
}

const scan = (files: string[]): pl.LazyDataFrame => pl.concat(files.map((f) => pl.scanParquet(f)), { how: 'vertical' });
const count = (frame: pl.LazyDataFrame): number => Number(frame.select(pl.len().alias('n')).collectSync().getColumn('n').get(0));
const rowNumbers = (frame: pl.LazyDataFrame) => frame.select(pl.col(ROW_COLUMN).cast(pl.Int64));

/** A rejected part's rows as samples: row number, original values, reasons. */
function rowSamples(frame: pl.LazyDataFrame, n: number): DiffRowSample[] {
  return frame
    .sort(ROW_COLUMN)
    .head(n)
    .collectSync()
    .toRecords()
    .map((r) => ({ row: Number(r[ROW_COLUMN]), record: JSON.parse(String(r.record)) as Record<string, unknown>, errors: JSON.parse(String(r.errors)) as DiffRowSample['errors'] }));
}

const NUMERIC = new Set(['int32', 'int64', 'float64']);
const A = (field: string) => `__a__${field}`;
const B = (field: string) => `__b__${field}`;

/**
 * The rows part of the report: newly rejected, newly accepted and changed values.
 * @throws UserError `DIFF_ROWS_UNMATCHED` when the mapped rows carry no source row number (a custom map dropped it) and the flow has no key.
 */
export function compareVersionOutputs(input: CompareVersionsInput): Pick<VersionDiffReport, 'newly_rejected' | 'newly_accepted' | 'changed'> & { rows: VersionDiffReport['rows']['a'][] } {
  const n = input.sampleSize ?? DIFF_SAMPLE_SIZE;
  const perField = input.fieldSampleSize ?? DIFF_FIELD_SAMPLE_SIZE;
  const { specA, specB } = input;
  const mappedA = scan(input.a.mapped);
  const mappedB = scan(input.b.mapped);
  const rejectedA = scan(input.a.rejected).withColumns(pl.col(ROW_COLUMN).cast(pl.Int64));
  const rejectedB = scan(input.b.rejected).withColumns(pl.col(ROW_COLUMN).cast(pl.Int64));
  const hasRows = mappedA.columns.includes(ROW_COLUMN) && mappedB.columns.includes(ROW_COLUMN);

  const rows = [
    { mapped: count(mappedA), rejected: count(rejectedA) },
    { mapped: count(mappedB), rejected: count(rejectedB) },
  ];
  let newlyRejected: VersionDiffReport['newly_rejected'] = { count: 0, samples: [] };
  let newlyAccepted: VersionDiffReport['newly_accepted'] = { count: 0, samples: [] };
  if (hasRows) {
    const nowRejected = rejectedB.join(rowNumbers(mappedA), { on: ROW_COLUMN, how: 'semi' });
    const nowAccepted = rejectedA.join(rowNumbers(mappedB), { on: ROW_COLUMN, how: 'semi' });
    newlyRejected = { count: count(nowRejected), samples: rowSamples(nowRejected, n) };
    newlyAccepted = { count: count(nowAccepted), samples: rowSamples(nowAccepted, n) };
  }

  // Match rows both accept: by the key when both versions have it and it is unique in both, else by row number.
  const fieldsA = new Map(specA.fields.map((f) => [f.name, f]));
  const fieldsB = new Map(specB.fields.map((f) => [f.name, f]));
  const common = specB.fields.filter((f) => fieldsA.has(f.name));
  const key = specB.target.key ?? specB.dedupe ?? specA.target.key ?? specA.dedupe;
  let match: string[] = [ROW_COLUMN];
  let note: string | undefined;
  if (key && key.every((k) => fieldsA.has(k) && fieldsB.has(k))) {
    const unique = (frame: pl.LazyDataFrame) => count(frame.select(key.map((k) => pl.col(k))).unique()) === count(frame);
    if (unique(mappedA) && unique(mappedB)) match = key;
    else note = `the key (${key.join(', ')}) repeats among the accepted rows of a version, so rows are matched by source row number`;
  } else if (key) {
    note = `the key (${key.join(', ')}) is not a field of both versions, so rows are matched by source row number`;
  }
  if (match[0] === ROW_COLUMN && !hasRows) {
    throw new UserError('DIFF_ROWS_UNMATCHED', `the mapped rows of ${specA.name} carry no source row number (a custom map dropped it) and the flow has no key: give the flow a target.key or dedupe key to diff it`);
  }
  const compared = common.filter((f) => !match.includes(f.name));
  const side = (frame: pl.LazyDataFrame, rename: (f: string) => string) =>
    frame.select(
      // Key fields keep their type (samples sort by it) unless the versions type them differently: then as text.
      ...match.map((m) => (m === ROW_COLUMN ? pl.col(m).cast(pl.Int64) : fieldsA.get(m)!.type === fieldsB.get(m)!.type ? pl.col(m) : pl.col(m).cast(pl.Utf8))),
      ...compared.map((f) => {
        // Values compare in a common type: numbers as float64 when the type changed between numbers, else as text.
        const typeA = fieldsA.get(f.name)!.type;
        const typeB = f.type;
        const col = pl.col(f.name);
        if (typeA === typeB) return col.alias(rename(f.name));
        return (NUMERIC.has(typeA) && NUMERIC.has(typeB) ? col.cast(pl.Float64) : col.cast(pl.Utf8)).alias(rename(f.name));
      }),
      // Samples show each version's own value, as text.
      ...compared.map((f) => pl.col(f.name).cast(pl.Utf8).alias(`${rename(f.name)}__text`)),
    );
  const left = side(mappedA, A);
  const right = side(mappedB, B);
  const joined = left.join(right, { on: match, how: 'inner' });
  const changedExpr = (field: string) =>
    pl.col(A(field)).neq(pl.col(B(field))).fillNull(false).or(pl.col(A(field)).isNull().neq(pl.col(B(field)).isNull()));
  const matched = count(joined);
  let rowsChanged = 0;
  const fields: VersionDiffReport['changed']['fields'] = [];
  if (compared.length > 0) {
    const sums = joined.select(...compared.map((f) => changedExpr(f.name).cast(pl.Int64).sum().alias(f.name))).collectSync().toRecords()[0] ?? {};
    rowsChanged = count(joined.filter(compared.map((f) => changedExpr(f.name)).reduce((x, y) => x.or(y))));
    for (const f of compared) {
      const changed = Number(sums[f.name] ?? 0);
      let samples: DiffValueSample[] = [];
      if (changed > 0) {
        samples = joined
          .filter(changedExpr(f.name))
          .sort(match)
          .head(perField)
          .select(...match.map((m) => pl.col(m).cast(pl.Utf8)), pl.col(`${A(f.name)}__text`).alias('old'), pl.col(`${B(f.name)}__text`).alias('new'))
          .collectSync()
          .toRecords()
          .map((r) => ({
            match: Object.fromEntries(match.map((m) => [m === ROW_COLUMN ? 'row' : m, r[m] === null ? null : String(r[m])])),
            old: r.old === null ? null : String(r.old),
            new: r.new === null ? null : String(r.new),
          }));
      }
      fields.push({ field: f.name, changed, samples });
    }
  }
  const onlyIn = (x: pl.LazyDataFrame, y: pl.LazyDataFrame) => count(x.select(match.map((m) => pl.col(m))).join(y.select(match.map((m) => pl.col(m))), { on: match, how: 'anti' }));
  return {
    rows,
    newly_rejected: newlyRejected,
    newly_accepted: newlyAccepted,
    changed: {
      matched_by: match[0] === ROW_COLUMN ? 'row' : 'key',
      match: match.map((m) => (m === ROW_COLUMN ? 'row' : m)),
      ...(note ? { note } : {}),
      matched,
      only_in_a: onlyIn(left, right),
      only_in_b: onlyIn(right, left),
      rows_changed: rowsChanged,
      fields,
    },
  };
}
