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
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import pl from 'nodejs-polars';
import type { Staging } from '../staging/staging';
import { ROW_COLUMN, type RejectError } from '../transform/map-chunk';

/** Rows converted to JavaScript values at a time. */
const BATCH_ROWS = 10_000;

/** The staged rejected parts of one run execution, in chunk order. */
export async function stagedRejectParts(staging: Staging, runKey: string): Promise<string[]> {
  const parts: string[] = [];
  const part = (i: number) => `part-${String(i).padStart(5, '0')}.parquet`;
  for (let i = 0; await staging.exists(`${runKey}/rejected/${part(i)}`); i++) {
    parts.push(`${runKey}/rejected/${part(i)}`);
    if (await staging.exists(`${runKey}/rejected-dedupe/${part(i)}`)) parts.push(`${runKey}/rejected-dedupe/${part(i)}`);
  }
  return parts;
}

/** One CSV field: quoted when it holds a comma, a quote, a line break or edge spaces. */
export function csvField(value: unknown): string {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The errors of a rejected row in words: `amount (type): cannot convert "abc" …; name (required): …`. */
export function errorsText(errors: RejectError[]): string {
  return errors.map((e) => `${e.field ? `${e.field} (${e.rule})` : e.rule}: ${e.message}`).join('; ');
}

/**
 * Writes the rejected rows of `parts` (staged Parquet files, local paths) to `file` as CSV.
 * @returns the number of rows written.
 */
export async function writeRejectsCsv(parts: string[], file: string): Promise<number> {
  const frame = parts.length === 0 ? null : pl.concat(parts.map((p) => pl.readParquet(p, { columns: [ROW_COLUMN, 'record', 'errors'] } as never))).sort(ROW_COLUMN);
  const height = frame?.height ?? 0;
  const batches = function* (): Generator<{ rows: number[]; records: Record<string, unknown>[]; errors: RejectError[][] }> {
    for (let offset = 0; frame && offset < height; offset += BATCH_ROWS) {
      const slice = frame.slice(offset, BATCH_ROWS);
      yield {
        rows: (slice.getColumn(ROW_COLUMN).toArray() as unknown[]).map(Number),
        records: (slice.getColumn('record').toArray() as string[]).map((text) => {
          const value: unknown = JSON.parse(text);
          return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
        }),
        errors: (slice.getColumn('errors').toArray() as string[]).map((text) => JSON.parse(text) as RejectError[]),
      };
    }
  };
  // First pass: the source columns, in the order they first appear.
  const columns = new Set<string>();
  for (const batch of batches()) for (const record of batch.records) for (const key of Object.keys(record)) columns.add(key);
  const rowHeader = columns.has('row_number') ? 'sluice_row_number' : 'row_number';
  const errorsHeader = columns.has('errors') ? 'sluice_errors' : 'errors';

  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  const out = createWriteStream(temporary, { encoding: 'utf8' });
  const write = async (line: string) => {
    if (!out.write(line)) await once(out, 'drain');
  };
  try {
    await write(`${[rowHeader, ...columns, errorsHeader].map(csvField).join(',')}\n`);
    for (const batch of batches()) {
      const lines = batch.rows.map((row, i) => [row, ...[...columns].map((c) => batch.records[i]![c]), errorsText(batch.errors[i]!)].map(csvField).join(','));
      await write(`${lines.join('\n')}\n`);
    }
    out.end();
    await once(out, 'finish');
    await rename(temporary, file);
  } catch (error) {
    out.destroy();
    await rm(temporary, { force: true });
    throw error;
  }
  return height;
}
