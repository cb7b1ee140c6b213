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
