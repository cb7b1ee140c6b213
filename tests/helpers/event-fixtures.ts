/**
 * The `events` data set the fault tests (a worker, a database, the S3 server or Temporal killed mid-run) load
 * and check: a CSV of N rows with ids 1..N, a flow over it into any target, and the exactly-once check of a
 * target table (every id once, none missing).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from 'pg';

/**
 * A flow named `name` reading `events.csv` from the `files` connector into `target` (the flow's `target:` value,
 * e.g. `{ connector: warehouse, table: public.events }`), with the four event fields.
 */
export function eventsFlow(name: string, target: string): string {
  return `
name: ${name}
source: { connector: files, format: csv }
target: ${target}
fields:
  id:      { from: id, type: int64, required: true }
  kind:    { from: kind, type: string }
  amount:  { from: amount, type: float64 }
  note:    { from: note, type: string }
`;
}

/** Writes `<dir>/events.csv`: a header and `rows` rows, ids 1..rows, each note quoted with a comma inside. */
export function writeEventsCsv(dir: string, rows: number): void {
  const lines = ['id,kind,amount,note'];
  for (let i = 1; i <= rows; i++) lines.push(`${i},${i % 3 === 0 ? 'refund' : 'sale'},${(i % 1000) / 10},"note ${i}, with a comma"`);
  writeFileSync(path.join(dir, 'events.csv'), `${lines.join('\n')}\n`);
}

/** `{ n, ids, lo, hi }` of `table`'s `id` column: row count, distinct ids, smallest and largest. Exactly once is `{ n: N, ids: N, lo: 1, hi: N }`. */
export async function idCounts(pool: Pool, table: string): Promise<{ n: number; ids: number; lo: number; hi: number }> {
  const result = await pool.query<{ n: number; ids: number; lo: number; hi: number }>(
    `SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids, min(id)::int AS lo, max(id)::int AS hi FROM ${table}`,
  );
  return result.rows[0]!;
}
