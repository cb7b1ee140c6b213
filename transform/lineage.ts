/**
 * Lineage: every row Sluice loads can be traced to the run that loaded it and to its line in the source.
 *
 * - Tables Sluice creates get two columns after the flow's fields, {@link LINEAGE_RUN_COLUMN} (`_sluice_run_id`,
 *   text: the run id) and {@link LINEAGE_ROW_COLUMN} (`_sluice_source_row`, bigint: the 1-based row number in the
 *   source_path, the number a reject of that row would carry). `target.lineage: false` leaves them out.
 * - An existing table without both columns keeps loading without them (`sluice flows publish` says so,
 *   cli/lineage-notice.ts); a table with both is loaded with them.
 * - S3 targets write the same two columns into each object.
 * - A reprocess (`rejects_of`) keeps each row's ORIGINAL source row number: its staged source carries them in
 *   {@link SOURCE_ROW_COLUMN}, and {@link splitSourceRows} puts them back after the mapping.
 *
 * @example
 * ```ts
 * lineageWanted(spec);                     // true unless target.lineage: false
 * const frame = withLineage(mapped, 'movies-v1-8035273603c904cd'); // fields…, _sluice_run_id, _sluice_source_row
 * ```
 */
import pl from 'nodejs-polars';
import type { FlowSpec } from '../flows/flow-spec';
import { ROW_COLUMN } from './map-chunk';

/** The run id of the run that loaded the row. */
export const LINEAGE_RUN_COLUMN = '_sluice_run_id';
/** The row's 1-based row number in its source_path (for a reprocessed row: in the original run's source_path). */
export const LINEAGE_ROW_COLUMN = '_sluice_source_row';
/** Both lineage columns, in table order. */
export const LINEAGE_COLUMNS = [LINEAGE_RUN_COLUMN, LINEAGE_ROW_COLUMN] as const;

/**
 * A reprocess's staged source column: each staged row's original source row number (Int64). Never a source column
 * of its own: mapping drops it ({@link splitSourceRows}), so it is neither mapped nor kept in a reject's record.
 */
export const SOURCE_ROW_COLUMN = '__sluice_source_row';

/** Whether the flow wants lineage columns in tables it creates (and objects it writes): `target.lineage` is not false. */
export function lineageWanted(spec: Pick<FlowSpec, 'target'>): boolean {
  return spec.target.lineage !== false;
}

/**
 * What an existing table has of the lineage columns: `present` (both), `absent` (neither) or `partial` (one: loaded
 * without lineage, like `absent`).
 */
export function lineageState(columns: Iterable<string>): 'present' | 'absent' | 'partial' {
  const have = new Set(columns);
  const found = LINEAGE_COLUMNS.filter((c) => have.has(c)).length;
  return found === LINEAGE_COLUMNS.length ? 'present' : found === 0 ? 'absent' : 'partial';
}

/**
 * A mapped frame (target fields plus {@link ROW_COLUMN}) with its lineage: the fields, then `_sluice_run_id` (the
 * literal `runId`) and `_sluice_source_row` (the row number column, renamed; null when a custom map dropped it).
 */
export function withLineage(frame: pl.DataFrame, runId: string): pl.DataFrame {
  const columns = frame.columns;
  const key = columns.join('\u0000');
  // The column expressions are the same for every frame of a shape (a nodejs-polars expression costs ~1 ms of JS
  // to make); only the run id's literal is new.
  let shape = LINEAGE_SHAPES.get(key);
  if (!shape) {
    const fields = columns.filter((c) => c !== ROW_COLUMN);
    shape = [...fields.map((c) => pl.col(c)), (columns.includes(ROW_COLUMN) ? pl.col(ROW_COLUMN) : pl.lit(null)).cast(pl.Int64).alias(LINEAGE_ROW_COLUMN)];
    if (LINEAGE_SHAPES.size >= 1_000) LINEAGE_SHAPES.clear();
    LINEAGE_SHAPES.set(key, shape);
  }
  const row = shape[shape.length - 1]!;
  return frame.select(...shape.slice(0, -1), pl.lit(runId).cast(pl.Utf8).alias(LINEAGE_RUN_COLUMN), row);
}

/** {@link withLineage}'s expressions by the frame's column names: the fields', then the source row's. */
const LINEAGE_SHAPES = new Map<string, pl.Expr[]>();

/**
 * Splits a staged slice into what the mapping reads and a function that gives mapped or rejected frames their
 * original row numbers back. A slice without {@link SOURCE_ROW_COLUMN} (any run but a reprocess) is returned as it
 * is, with the identity.
 * @param firstRow the 1-based staged row number of the slice's first row (the mapping numbers rows from it).
 * @returns `raw` (without the column) and `restore(frame)`: {@link ROW_COLUMN} replaced by the original number.
 */
export function splitSourceRows(slice: pl.DataFrame, firstRow: number): { raw: pl.DataFrame; restore: (frame: pl.DataFrame) => pl.DataFrame } {
  if (!slice.columns.includes(SOURCE_ROW_COLUMN)) return { raw: slice, restore: (frame) => frame };
  const lookup = pl.DataFrame({
    [ROW_COLUMN]: pl.Series(ROW_COLUMN, Array.from({ length: slice.height }, (_, i) => firstRow + i), pl.Int64),
    [SOURCE_ROW_COLUMN]: slice.getColumn(SOURCE_ROW_COLUMN).cast(pl.Int64),
  });
  const restore = (frame: pl.DataFrame) =>
    frame.height === 0 && !frame.columns.includes(ROW_COLUMN)
      ? frame
      : frame
          .withColumns(pl.col(ROW_COLUMN).cast(pl.Int64))
          .join(lookup, { on: ROW_COLUMN, how: 'left' })
          .withColumns(pl.col(SOURCE_ROW_COLUMN).alias(ROW_COLUMN))
          .drop(SOURCE_ROW_COLUMN);
  return { raw: slice.drop(SOURCE_ROW_COLUMN), restore };
}

/**
 * The 1-based source row numbers of a staged slice's rows: {@link SOURCE_ROW_COLUMN} for a reprocess, else
 * `firstRow`, `firstRow + 1`, …; as an Int64 {@link ROW_COLUMN} column added to the slice without the former.
 */
export function numberedSlice(slice: pl.DataFrame, firstRow: number): pl.DataFrame {
  if (slice.columns.includes(SOURCE_ROW_COLUMN)) {
    return slice.withColumns(pl.col(SOURCE_ROW_COLUMN).cast(pl.Int64).alias(ROW_COLUMN)).drop(SOURCE_ROW_COLUMN);
  }
  return slice.withRowIndex(ROW_COLUMN, firstRow).withColumns(pl.col(ROW_COLUMN).cast(pl.Int64));
}
