/**
 * `dedupe`: across every chunk of a run, keeps the first row (lowest source row number) of each
 * key and rejects the rest. Rows with a null in any key column are never duplicates (SQL's rule:
 * null equals nothing). Reads only the key columns and row numbers, so memory grows with the
 * keys, not the rows' width.
 */
import pl from 'nodejs-polars';
import { ROW_COLUMN } from './map-chunk';

/**
 * @param keyFrame {@link ROW_COLUMN} plus the key columns of every mapped row of the run.
 * @returns duplicate row number → row number of the kept (first) row with the same key.
 */
export function findDuplicates(keyFrame: pl.DataFrame, keys: string[]): Map<number, number> {
  const notNull = keys.map((k) => pl.col(k).isNotNull()).reduce((a, b) => a.and(b));
  const firsts = keyFrame
    .filter(notNull)
    .withColumns(pl.col(ROW_COLUMN).min().over(keys[0]!, ...keys.slice(1)).alias('__first'))
    .filter(pl.col(ROW_COLUMN).neq(pl.col('__first')))
    .select(ROW_COLUMN, '__first');
  const rows = firsts.getColumn(ROW_COLUMN).toArray();
  const kept = firsts.getColumn('__first').toArray();
  return new Map(rows.map((row, i) => [Number(row), Number(kept[i])]));
}

/** Column of the kept row number in {@link RunDedupe}'s key frame. */
const FIRST_COLUMN = '__sluice_first';

/**
 * `dedupe` for a run whose chunks are mapped in source order (the one-pass path): remembers the key
 * and first row number of every kept row, so a chunk's rows are checked against the whole run so far
 * and within the chunk. The first row of a key is always kept (it is loaded before its duplicates are
 * seen); rows with a null key column are never duplicates. Memory grows with the distinct keys.
 */
export class RunDedupe {
  private seen: pl.DataFrame | undefined;

  constructor(private readonly keys: string[]) {}

  /**
   * Splits one chunk's mapped rows into kept rows and `dedupe` rejects.
   * @param mapped the chunk's mapped rows ({@link ROW_COLUMN} plus the target fields).
   * @param raw the chunk's source rows (the rejects keep their original values).
   * @param firstRow the 1-based source row number of `raw`'s first row.
   * @param escape applied to each record's JSON text (the postgres NUL escape), or identity.
   * @returns null when the chunk holds no duplicate; else the kept rows and a rejected frame
   *   ({@link ROW_COLUMN}, `record`, `errors`: one `dedupe` error naming the kept row).
   */
  apply(mapped: pl.DataFrame, raw: pl.DataFrame, firstRow: number, escape: (json: string) => string = (j) => j): { kept: pl.DataFrame; rejected: pl.DataFrame } | null {
    const keys = this.keys;
    const notNull = keys.map((k) => pl.col(k).isNotNull()).reduce((a, b) => a.and(b));
    const keyed = mapped.select(ROW_COLUMN, ...keys).filter(notNull);
    const duplicates = findDuplicates(keyed, keys);
    if (this.seen && this.seen.height > 0 && keyed.height > 0) {
      const joined = keyed.join(this.seen, { on: keys, how: 'inner' });
      const rows = joined.getColumn(ROW_COLUMN).toArray();
      const firsts = joined.getColumn(FIRST_COLUMN).toArray();
      // A key seen in an earlier chunk: every row of it here is a duplicate of that earlier row.
      rows.forEach((row, i) => duplicates.set(Number(row), Number(firsts[i])));
    }
    const dupRows = [...duplicates.keys()];
    const isDup = pl.col(ROW_COLUMN).isIn(dupRows);
    const fresh = (dupRows.length > 0 ? keyed.filter(isDup.not()) : keyed).select(pl.col(ROW_COLUMN).alias(FIRST_COLUMN), ...keys.map((k) => pl.col(k)));
    this.seen = this.seen ? pl.concat([this.seen, fresh]) : fresh;
    if (dupRows.length === 0) return null;
    const originals = raw
      .withRowIndex(ROW_COLUMN, firstRow)
      .withColumns(pl.col(ROW_COLUMN).cast(pl.Int64))
      .filter(isDup);
    const rows = (originals.getColumn(ROW_COLUMN).toArray() as unknown[]).map(Number);
    const records = originals.select(pl.struct(raw.columns.map((c) => pl.col(c))).struct.jsonEncode().alias('record')).getColumn('record').toArray() as string[];
    const on = keys.join(', ');
    const errors = rows.map((row) => JSON.stringify([{ field: null, rule: 'dedupe', message: `duplicate of row ${duplicates.get(row)} on (${on})` }]));
    return {
      kept: mapped.filter(isDup.not()),
      rejected: pl.DataFrame({
        [ROW_COLUMN]: pl.Series(ROW_COLUMN, rows, pl.Int64),
        record: pl.Series('record', records.map(escape), pl.Utf8),
        errors: pl.Series('errors', errors, pl.Utf8),
      }),
    };
  }
}
