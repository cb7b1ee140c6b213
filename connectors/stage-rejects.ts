/**
 * Staging an earlier run's rejects as a reprocess's source (shared by the postgres and mysql targets'
 * `stageRejects`): pages of `(row_number, record JSON)` in row order become Parquet files, one column per key of the
 * original records (Polars infers each column's type over the page, as a JSON source is staged), plus
 * `__sluice_source_row` with the original row numbers (transform/lineage.ts). One page is in memory at a time.
 */
import path from 'node:path';
import pl, { type DataType } from 'nodejs-polars';
import { TargetError } from '../common/errors';
import { SOURCE_ROW_COLUMN } from '../transform/lineage';
import type { StagedSource, StageRejectsRequest } from './connector';

/** One page of rejects read back: original row numbers (ascending) and their records as JSON text. */
export interface RejectsPageRows {
  rows: number[];
  records: string[];
}

/**
 * The pages of rejects a reprocess stages, in row order: `fetch(after, chunkRows)` returns up to `chunkRows` rejects
 * with `row_number > after` (keyset paging); ends at the first short or empty page.
 */
export async function* keysetRejectPages(chunkRows: number, fetch: (after: number, chunkRows: number) => Promise<RejectsPageRows>): AsyncGenerator<RejectsPageRows> {
  let after = 0;
  for (;;) {
    const page = await fetch(after, chunkRows);
    if (page.rows.length === 0) return;
    yield page;
    after = page.rows.at(-1)!;
    if (page.rows.length < chunkRows) return;
  }
}

/** A page as a staged frame: the record columns (an all-null column as text) and {@link SOURCE_ROW_COLUMN}. */
export function rejectsPageFrame(page: RejectsPageRows): pl.DataFrame {
  const frame = pl.readJSON(Buffer.from(page.records.join('\n')), { format: 'lines', inferSchemaLength: null } as never);
  if (frame.columns.includes(SOURCE_ROW_COLUMN)) {
    throw new TargetError('REJECTS_OF_INVALID', `the rejects' records have a column named ${SOURCE_ROW_COLUMN}, Sluice's own; they cannot be reprocessed`);
  }
  const nullColumns = Object.entries(frame.schema as Record<string, DataType>).filter(([, dtype]) => dtype.equals(pl.Null)).map(([name]) => pl.col(name).cast(pl.Utf8));
  return (nullColumns.length > 0 ? frame.withColumns(...nullColumns) : frame).withColumns(pl.Series(SOURCE_ROW_COLUMN, page.rows, pl.Int64));
}

/**
 * Writes each page as `source-NNNNN.parquet` under `request.stagingDir`.
 * @returns the staged files in row order (none when there are no rejects to reprocess).
 */
export async function stageRejectPages(pages: AsyncIterable<RejectsPageRows>, request: StageRejectsRequest): Promise<StagedSource> {
  const files: StagedSource['files'] = [];
  let columns: string[] = [];
  let rows = 0;
  for await (const page of pages) {
    request.signal.throwIfAborted();
    if (page.rows.length === 0) continue;
    const frame = rejectsPageFrame(page);
    if (files.length === 0) columns = frame.columns.filter((c) => c !== SOURCE_ROW_COLUMN);
    const file = path.join(request.stagingDir, `source-${String(files.length).padStart(5, '0')}.parquet`);
    frame.writeParquet(file);
    files.push({ path: file, rows: frame.height });
    rows += frame.height;
    request.onProgress({ rows, chunk: files.length - 1 });
  }
  return { files, rows, columns, format: 'rejects' };
}
