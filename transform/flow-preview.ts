/**
 * `flows preview`: a flow over a sample, through the transform a run uses ({@link mapChunkAsync}, then
 * `dedupe` with {@link findDuplicates}), returning the first mapped rows and the first rejects with
 * their reasons. Writes nothing. A custom map (`transform:`) is not applied: the preview shows the
 * declarative mapping only and says so (`custom_map_skipped`).
 *
 * @example
 * ```ts
 * const preview = await previewFlow(spec, sample.frame, { rows: 20 });
 * preview.rejects[0]; // { row: 7, errors: [{ field: 'rating', rule: 'in', message: '"X" is not one of …' }], record: {…} }
 * ```
 */
import pl from 'nodejs-polars';
import type { FlowSpec } from '../flows/flow-spec';
import { findDuplicates } from './dedupe';
import { mapChunkAsync, ROW_COLUMN, type RejectError } from './map-chunk';

export interface PreviewOptions {
  /** How many mapped rows and how many rejects to return. @default 20 */
  rows?: number;
  /** The target connector's kind (target-specific rules, see MapChunkOptions). @default undefined */
  targetKind?: string;
}

/** One rejected sample row. */
export interface PreviewReject {
  /** 1-based row number in the sample. */
  row: number;
  /** Every reason, as a run stores them. */
  errors: RejectError[];
  /** The row's original values. */
  record: Record<string, unknown>;
}

/** What a run of this flow would do with the sample (snake_case: the CLI prints it as JSON). */
export interface FlowPreview {
  rows_read: number;
  rows_mapped: number;
  rows_rejected: number;
  /** Reject errors by `field:rule` (or `rule`), as in a run's metadata. */
  by_rule: Record<string, number>;
  /** The target fields, in spec order. */
  fields: string[];
  /** The first mapped rows: `row` (the sample row number) and each field's value (dates as `YYYY-MM-DD`, datetimes ISO 8601). */
  mapped: Record<string, unknown>[];
  /** The first rejects, by row number. */
  rejects: PreviewReject[];
  /** True when the flow has a custom map, which the preview does not apply. */
  custom_map_skipped: boolean;
}

/** JSON-friendly values: bigint as a number when safe, dates as text. */
function plain(value: unknown, type: string): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return type === 'date' ? value.toISOString().slice(0, 10) : value.toISOString().replace(/Z$/, '');
  return value;
}

/**
 * Maps `sample` (every row, as staged) with `spec` and collects the first rows of each outcome.
 * @throws TransformError `MISSING_COLUMN` or `INVALID_SQL` when the flow cannot run on this sample.
 */
export async function previewFlow(spec: FlowSpec, sample: pl.DataFrame, options: PreviewOptions = {}): Promise<FlowPreview> {
  const limit = options.rows ?? 20;
  const { mapped: all, rejected, byRule } = await mapChunkAsync(spec, sample, 1, { targetKind: options.targetKind });
  const by_rule = { ...byRule };
  let mapped = all;
  const rejects: PreviewReject[] = [];
  const rowsOf = (frame: pl.DataFrame) => (frame.getColumn(ROW_COLUMN).toArray() as unknown[]).map(Number);
  let rowsRejected = rejected.height;
  // Rejects are in row order: only the first `limit` can be shown (dedupe's are merged in below).
  const first = rejected.head(limit);
  const rejectedRows = rowsOf(first);
  const records = first.getColumn('record').toArray() as string[];
  const errors = first.getColumn('errors').toArray() as string[];
  rejectedRows.forEach((row, i) => rejects.push({ row, errors: JSON.parse(errors[i]!) as RejectError[], record: JSON.parse(records[i]!) as Record<string, unknown> }));
  if (spec.dedupe && mapped.height > 0) {
    const keys = spec.dedupe;
    const duplicates = findDuplicates(mapped.select(ROW_COLUMN, ...keys), keys);
    if (duplicates.size > 0) {
      const rows = [...duplicates.keys()];
      mapped = mapped.filter(pl.col(ROW_COLUMN).isIn(rows).not());
      const originals = sample.withRowIndex(ROW_COLUMN, 1).withColumns(pl.col(ROW_COLUMN).cast(pl.Int64)).filter(pl.col(ROW_COLUMN).isIn(rows)).head(limit);
      const originalRecords = originals.select(pl.struct(pl.col(sample.columns)).struct.jsonEncode().alias('record')).getColumn('record').toArray() as string[];
      rowsOf(originals).forEach((row, i) => {
        const message = `duplicate of row ${duplicates.get(row)} on (${keys.join(', ')})`;
        rejects.push({ row, errors: [{ field: null, rule: 'dedupe', message }], record: JSON.parse(originalRecords[i]!) as Record<string, unknown> });
      });
      by_rule.dedupe = (by_rule.dedupe ?? 0) + duplicates.size;
      rowsRejected += duplicates.size;
    }
  }
  rejects.sort((a, b) => a.row - b.row);
  const types = new Map(spec.fields.map((f) => [f.name, f.type as string]));
  const head = mapped.head(limit).toRecords() as Record<string, unknown>[];
  return {
    rows_read: sample.height,
    rows_mapped: mapped.height,
    rows_rejected: rowsRejected,
    by_rule,
    fields: spec.fields.map((f) => f.name),
    mapped: head.map((record) => {
      const out: Record<string, unknown> = { row: Number(record[ROW_COLUMN]) };
      for (const f of spec.fields) out[f.name] = plain(record[f.name], types.get(f.name)!);
      return out;
    }),
    rejects: rejects.slice(0, limit),
    custom_map_skipped: spec.transform !== undefined,
  };
}
