/**
 * How a run's staged source is split into transform chunks. Pure and deterministic: the workflow
 * plans the chunks and fans `transformChunk` activities out over the workers.
 * Imported by workflow code: no runtime imports.
 */

export interface StagedFileRef {
  /** Staging key (relative to the staging root). */
  path: string;
  rows: number;
}

/** One slice of a staged file that a `transformChunk` activity maps as a unit. */
export interface ChunkPlan {
  file: string;
  offset: number;
  rows: number;
  /** 1-based source row number of the slice's first row. */
  firstRow: number;
}

/**
 * Splits staged files into slices of at most `chunkRows` rows, numbering source rows from 1 across
 * files. An empty source gives one empty chunk (so the columns are still checked).
 */
export function planChunks(files: StagedFileRef[], chunkRows: number): ChunkPlan[] {
  const plan: ChunkPlan[] = [];
  let firstRow = 1;
  for (const file of files) {
    for (let offset = 0; offset < file.rows || (offset === 0 && file.rows === 0 && plan.length === 0); offset += chunkRows) {
      const rows = Math.min(chunkRows, file.rows - offset);
      plan.push({ file: file.path, offset, rows, firstRow });
      firstRow += rows;
      if (rows === 0) break;
    }
  }
  return plan;
}

/** A one-pass run's first chunk is split when it has at least this many rows ({@link rampUp}). */
export const RAMP_UP_MIN_ROWS = 50_000;

/**
 * A one-pass run's chunks with the first one split in two: its first fifth, then the rest. The target's COPY
 * starts once the first chunk is mapped, so a smaller first chunk starts it sooner (a fifth of 250,000 rows maps
 * in ~40 ms instead of ~200 ms); the chunks after it are mapped while earlier ones are COPYed. A first chunk under
 * {@link RAMP_UP_MIN_ROWS} rows is kept whole. Every row is still in exactly one chunk, in source order.
 * @example rampUp([{ file: 'a', offset: 0, rows: 250_000, firstRow: 1 }]) // rows 50,000 from row 1, then 200,000 from row 50,001
 */
export function rampUp(plan: ChunkPlan[]): ChunkPlan[] {
  const [first, ...rest] = plan;
  if (!first || first.rows < RAMP_UP_MIN_ROWS) return plan;
  const head = Math.ceil(first.rows / 5);
  return [{ ...first, rows: head }, { ...first, offset: first.offset + head, rows: first.rows - head, firstRow: first.firstRow + head }, ...rest];
}

/**
 * Cells (rows × columns) one transform chunk may hold: the mapping keeps about four working columns
 * per field (input, typed value, flags), so a chunk of this many cells stays within a few hundred MB
 * (docs/operations.md "Limits"). `staging.chunk_rows` (250,000 by default) suits ~20 columns; a
 * wider flow gets fewer rows per chunk.
 */
export const CHUNK_CELL_BUDGET = 5_000_000;

/**
 * Rows per chunk for a row of `columns` columns: the configured `chunkRows`, lowered so that
 * rows × columns stays within {@link CHUNK_CELL_BUDGET}; at least 1.
 * @example chunkRowsFor(250_000, 1_500) === 3_333
 */
export function chunkRowsFor(chunkRows: number, columns: number): number {
  return Math.max(1, Math.min(chunkRows, Math.floor(CHUNK_CELL_BUDGET / Math.max(1, columns))));
}
