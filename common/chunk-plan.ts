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
