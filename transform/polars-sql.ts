/**
 * Runs Polars SQL through nodejs-polars' own engine.
 *
 * Pitfall (nodejs-polars 0.26): `SQLContext.execute` does not throw on a bad query; the native
 * binding returns an Error object that the wrapper stores as the lazy frame, and collecting then
 * fails with the unhelpful "_ldf.collectSync is not a function". This helper surfaces the real
 * Polars message ("unable to find column "nope"; valid columns: …").
 */
import pl from 'nodejs-polars';

/**
 * Executes `query` over the named frames and collects the result.
 * @throws Error with Polars' own message when the query does not parse or names unknown columns.
 */
export function executeSql(frames: Record<string, pl.DataFrame>, query: string): pl.DataFrame {
  const lazy = pl.SQLContext(frames).execute(query) as pl.LazyDataFrame & { _ldf?: unknown };
  if (lazy._ldf instanceof Error) throw new Error(lazy._ldf.message);
  return lazy.collectSync();
}

/** Quotes an identifier for Polars SQL / Postgres (`"a ""b"""`). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
