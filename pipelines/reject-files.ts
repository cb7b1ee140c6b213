/**
 * A run's rejected rows as one CSV file, for people: the source row number, the original values (one
 * column per source column) and the errors in words.
 *
 * Read from **staging**, where the run's transform left them (`<run>/<execution>/rejected/part-*.parquet`
 * and, with `dedupe`, `rejected-dedupe/part-*.parquet`; columns `__sluice_row`, `record` (JSON of the
 * original values), `errors` (JSON list of `{field, rule, message}`)). Staging has them for every target
 * kind (postgres, s3) and also for a run that FAILED on `max_reject_ratio`, whose rejects were never
 * written to the target; it keeps them `staging.retention_hours` (24) after the run ends.
 *
 * ```csv
 * row_number,id,name,amount,errors
 * 2,2,beta,abc,"amount (type): cannot convert ""abc"" to an int64 (whole number)"
 * ```
 *
 * Rows are sorted by row number. Memory stays bounded by the rejected rows held as Arrow columns, and
 * 10,000 rows at a time as JavaScript values; the file is written to a temporary name, then renamed.
 *
 * {@link writeRejectsExport} writes rejects read back from a **target** (`sluice rejects --out`) the same way, as
 * CSV or Parquet, one page at a time.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import pl from 'nodejs-polars';
import type { RejectRow } from '../connectors/rejects';
import type { Staging } from '../storage/staging';
import { ROW_COLUMN, type RejectError } from '../transform/map-chunk';

/** Rows converted to JavaScript values at a time. */
const BATCH_ROWS = 10_000;

/**
 * The staged rejected parts of one run execution: each chunk's `rejected/part-N.parquet` (and, with
 * `dedupe`, `rejected-dedupe/part-N.parquet`) in chunk order, then the custom map's `rejected/map.parquet`.
 */
export async function stagedRejectParts(staging: Staging, runKey: string): Promise<string[]> {
  const parts: string[] = [];
  const part = (i: number) => `part-${String(i).padStart(5, '0')}.parquet`;
  for (let i = 0; await staging.exists(`${runKey}/rejected/${part(i)}`); i++) {
    parts.push(`${runKey}/rejected/${part(i)}`);
    if (await staging.exists(`${runKey}/rejected-dedupe/${part(i)}`)) parts.push(`${runKey}/rejected-dedupe/${part(i)}`);
  }
  if (await staging.exists(`${runKey}/rejected/map.parquet`)) parts.push(`${runKey}/rejected/map.parquet`);
  return parts;
}

/** An original value as CSV text: strings as they are, objects as JSON, null as an empty field. */
export function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** The errors of a rejected row in words: `amount (type): cannot convert "abc" …; name (required): …`. */
export function errorsText(errors: RejectError[]): string {
  return errors.map((e) => `${e.field ? `${e.field} (${e.rule})` : e.rule}: ${e.message}`).join('; ');
}

/**
 * Writes the rejected rows of `parts` (staged Parquet files, local paths) to `file` as CSV (Polars'
 * writer: RFC 4180 quoting), sorted by row number: `row_number`, the source columns in the order they
 * first appear, `errors`. Written to a temporary file, then renamed, so a reader never sees half a file.
 * @returns the number of rows written.
 */
export async function writeRejectsCsv(parts: string[], file: string): Promise<number> {
  const frame = parts.length === 0 ? null : pl.concat(parts.map((p) => pl.readParquet(p, { columns: [ROW_COLUMN, 'record', 'errors'] } as never))).sort(ROW_COLUMN);
  const rows: number[] = [];
  const records: Record<string, unknown>[] = [];
  const errors: (string | null)[] = [];
  for (let offset = 0; frame && offset < frame.height; offset += BATCH_ROWS) {
    const slice = frame.slice(offset, BATCH_ROWS);
    for (const row of slice.getColumn(ROW_COLUMN).toArray() as unknown[]) rows.push(Number(row));
    for (const json of slice.getColumn('record').toArray() as string[]) {
      const value: unknown = JSON.parse(json);
      records.push(value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : { value });
    }
    for (const json of slice.getColumn('errors').toArray() as string[]) errors.push(errorsText(JSON.parse(json) as RejectError[]) || null);
  }
  // The source columns, in the order they first appear.
  const columns = new Set<string>();
  for (const record of records) for (const key of Object.keys(record)) columns.add(key);
  const rowHeader = columns.has('row_number') ? 'sluice_row_number' : 'row_number';
  const errorsHeader = columns.has('errors') ? 'sluice_errors' : 'errors';
  const table = pl.DataFrame([
    pl.Series(rowHeader, rows, pl.Int64),
    ...[...columns].map((column) => pl.Series(column, records.map((r) => text(r[column])), pl.Utf8)),
    pl.Series(errorsHeader, errors, pl.Utf8),
  ]);
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    table.writeCSV(temporary);
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return rows.length;
}

/** The formats {@link writeRejectsExport} writes. */
export type RejectsExportFormat = 'csv' | 'parquet';

/** Column names of a page part before the final names are known (they depend on every source column). */
const PART_ROW = '__sluice_row_number';
const PART_ERRORS = '__sluice_errors';

/**
 * Writes rejects read back from a target (pages of {@link RejectRow}, e.g. `sluice.rejects` paged by cursor) to
 * `file` as CSV or Parquet (Polars' writers), in the order the pages come: `row_number` (Int64), `errors` (the JSON
 * list of `{field, rule, message}` as text), then one text column per source column, in the order they first appear
 * (a source column named `row_number` or `errors` makes those `sluice_row_number` / `sluice_errors`).
 *
 * Memory stays bounded by one page: each page is written to a Parquet part in a temporary folder beside `file`;
 * the parts are then streamed (scanned lazily, missing columns as nulls) into a temporary file, renamed to `file`.
 * @returns the number of rows written.
 */
export async function writeRejectsExport(pages: AsyncIterable<RejectRow[]>, file: string, format: RejectsExportFormat): Promise<number> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const work = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.parts`);
  const temporary = `${file}.${process.pid}.tmp`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const columns = new Set<string>();
    const parts: { file: string; columns: string[] }[] = [];
    let rows = 0;
    for await (const page of pages) {
      if (page.length === 0) continue;
      const keys: string[] = [];
      for (const row of page) {
        for (const key of Object.keys(row.record)) {
          if (!keys.includes(key)) keys.push(key);
          columns.add(key);
        }
      }
      const frame = pl.DataFrame([
        pl.Series(PART_ROW, page.map((r) => r.rowNumber), pl.Int64),
        pl.Series(PART_ERRORS, page.map((r) => JSON.stringify(r.errors)), pl.Utf8),
        ...keys.map((key) => pl.Series(key, page.map((r) => text(r.record[key])), pl.Utf8)),
      ]);
      const part = path.join(work, `part-${String(parts.length).padStart(6, '0')}.parquet`);
      frame.writeParquet(part);
      parts.push({ file: part, columns: keys });
      rows += page.length;
    }
    const rowHeader = columns.has('row_number') ? 'sluice_row_number' : 'row_number';
    const errorsHeader = columns.has('errors') ? 'sluice_errors' : 'errors';
    const order = [...columns];
    const shaped = (scan: pl.LazyDataFrame, present: string[]) =>
      scan.select(
        pl.col(PART_ROW).alias(rowHeader),
        pl.col(PART_ERRORS).alias(errorsHeader),
        ...order.map((c) => (present.includes(c) ? pl.col(c) : pl.lit(null).cast(pl.Utf8).alias(c))),
      );
    const all =
      parts.length === 0
        ? pl.DataFrame([pl.Series(rowHeader, [], pl.Int64), pl.Series(errorsHeader, [], pl.Utf8)]).lazy()
        : pl.concat(parts.map((p) => shaped(pl.scanParquet(p.file), p.columns)), { how: 'vertical' });
    if (format === 'csv') await all.sinkCSV(temporary, { includeHeader: true, maintainOrder: true }).collect();
    else await all.sinkParquet(temporary, { maintainOrder: true }).collect();
    await rename(temporary, file);
    return rows;
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
