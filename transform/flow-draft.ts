/**
 * `flows init --from <sample>`: drafts a flow spec from a sample's data, so a new flow starts from the
 * data, not a blank page. Every rule is decided over EVERY row of the sample, by the casts a run uses
 * ({@link castField}), so the draft maps its own sample without a type reject:
 *
 * - type: for a text column (CSV, or JSON text) the first of int64, float64, bool, date (`%Y-%m-%d`),
 *   datetime (ISO 8601) that every non-blank value converts to, else string; a typed column (JSON,
 *   Parquet) keeps its kind (any integer → int64, any float → float64, …). A column with no value → string.
 * - `required: true` where no row is missing a value (null, or blank text for non-string types).
 * - `in: [...]` for a string column with at most {@link IN_MAX_VALUES} distinct values, each seen on
 *   average at least {@link IN_MIN_ROWS_PER_VALUE} times (so a tiny sample does not freeze its values).
 * - names: each column's name made a plain SQL identifier ({@link toIdentifier}: `Release Date` →
 *   `release_date`), read with `from: "<column>"`.
 *
 * @example
 * ```ts
 * const yaml = draftFlowYaml(sample.frame, { name: 'cars', sampleName: 'data/cars.csv', format: 'csv' });
 * ```
 */
import pl, { type DataType } from 'nodejs-polars';
import { Document, YAMLMap } from 'yaml';
import { toIdentifier, type FieldType, type SourceFormat } from '../flows/flow-spec';
import { castField } from './field-types';

/** A string column gets `in` when it has at most this many distinct values… */
export const IN_MAX_VALUES = 10;
/** …and at least this many non-null values per distinct value. */
export const IN_MIN_ROWS_PER_VALUE = 5;

/** Candidate types for text, tried in this order. */
const TEXT_CANDIDATES: FieldType[] = ['int64', 'float64', 'bool', 'date', 'datetime'];

export interface DraftOptions {
  /** Flow name (lower case letters, digits, `_`, `-`). */
  name: string;
  /** The sample as the user named it, quoted in the draft's header comment. */
  sampleName: string;
  format: SourceFormat;
  /** @default 'files' (the scaffold's local connector) */
  sourceConnector?: string;
  /** @default 'warehouse' (the scaffold's PostgreSQL connector) */
  targetConnector?: string;
  /** @default `public.<name>` */
  table?: string;
}

/** One drafted field. */
export interface DraftField {
  name: string;
  from: string;
  type: FieldType;
  required: boolean;
  in?: string[];
}

function typedKind(dtype: DataType): FieldType | 'text' {
  const name = String(dtype.variant ?? dtype);
  if (name === 'String' || name === 'Utf8') return 'text';
  if (/^U?Int(8|16|32|64)$/.test(name)) return 'int64';
  if (/^Float(32|64)$/.test(name)) return 'float64';
  if (name === 'Bool') return 'bool';
  if (name === 'Date') return 'date';
  if (name === 'Datetime') return 'datetime';
  return 'string';
}

/**
 * Infers one field per column of `sample` (every row is looked at).
 * @returns the fields in column order.
 */
export function inferFields(sample: pl.DataFrame): DraftField[] {
  const schema = sample.schema;
  const taken = new Set<string>();
  const columns = sample.columns;
  // One pass: for each text column and candidate type, does any value fail, and is any value present?
  const probes: pl.Expr[] = [];
  columns.forEach((column, c) => {
    if (typedKind(schema[column]!) !== 'text') return;
    for (const type of TEXT_CANDIDATES) {
      const cast = castField(pl.col(column), schema[column]!, { name: column, type, required: false });
      probes.push(cast.failed.any().alias(`fail_${c}_${type}`), cast.missing.not().any().alias(`some_${c}_${type}`));
    }
  });
  const probe = probes.length > 0 ? (sample.select(...probes).toRecords()[0] as Record<string, boolean>) : {};
  const types = columns.map((column, c): FieldType => {
    const kind = typedKind(schema[column]!);
    if (kind !== 'text') return kind;
    return TEXT_CANDIDATES.find((type) => probe[`fail_${c}_${type}`] === false && probe[`some_${c}_${type}`] === true) ?? 'string';
  });
  // Missing values and distinct text values under the chosen types.
  const stats: pl.Expr[] = [];
  columns.forEach((column, c) => {
    const cast = castField(pl.col(column), schema[column]!, { name: column, type: types[c]!, required: false });
    stats.push(cast.missing.any().alias(`missing_${c}`));
    if (types[c] === 'string') stats.push(pl.col(column).dropNulls().nUnique().alias(`distinct_${c}`), pl.col(column).count().alias(`count_${c}`));
  });
  const stat = sample.height > 0 && stats.length > 0 ? (sample.select(...stats).toRecords()[0] as Record<string, unknown>) : {};
  return columns.map((column, c) => {
    const type = types[c]!;
    const field: DraftField = { name: toIdentifier(column, taken), from: column, type, required: sample.height > 0 && stat[`missing_${c}`] === false };
    if (type === 'string') {
      const distinct = Number(stat[`distinct_${c}`] ?? 0);
      const count = Number(stat[`count_${c}`] ?? 0);
      if (distinct > 0 && distinct <= IN_MAX_VALUES && count >= distinct * IN_MIN_ROWS_PER_VALUE) {
        const values = (sample.getColumn(column).dropNulls().unique().toArray() as unknown[]).map(String).sort();
        field.in = values;
      }
    }
    return field;
  });
}

/**
 * Drafts the flow spec YAML for `sample`.
 * @returns YAML text: a header comment saying how it was inferred, then the spec (one line per field).
 */
export function draftFlowYaml(sample: pl.DataFrame, options: DraftOptions): string {
  const fields = inferFields(sample);
  const spec = {
    name: options.name,
    description: `Drafted from ${options.sampleName} by sluice flows init; review types, rules and the target before publishing`,
    source: { connector: options.sourceConnector ?? 'files', format: options.format },
    target: { connector: options.targetConnector ?? 'warehouse', table: options.table ?? `public.${options.name.replace(/-/g, '_')}`, write: 'append' },
    fields: Object.fromEntries(
      fields.map((f) => [f.name, { from: f.from, type: f.type, ...(f.required ? { required: true } : {}), ...(f.in ? { in: f.in } : {}) }]),
    ),
  };
  const doc = new Document(spec);
  for (const key of ['source', 'target']) (doc.get(key, true) as YAMLMap).flow = true;
  for (const item of (doc.get('fields', true) as YAMLMap).items) (item.value as YAMLMap).flow = true;
  doc.commentBefore = [
    ` Drafted by \`sluice flows init\` from ${options.sampleName} (${sample.height} rows, every row inspected):`,
    ` - type: the first of int64, float64, bool, date (%Y-%m-%d), datetime (ISO 8601) every value converts to, else string;`,
    ` - required: the column has no missing value in the sample;`,
    ` - in: a text column with at most ${IN_MAX_VALUES} distinct values, each seen ${IN_MIN_ROWS_PER_VALUE}+ times on average.`,
    ` Check it with: sluice flows check <this file> --source ${options.sampleName}`,
  ].join('\n');
  return doc.toString({ lineWidth: 0 });
}
