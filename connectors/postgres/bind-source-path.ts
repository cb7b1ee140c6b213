/** `:source_path` in a postgres source query: bound as the query parameter `$1`, never interpolated. */
import { SourceError } from '../../common/errors';

/**
 * Replaces each `:source_path` placeholder with `$1`. `::source_path` (a cast) is left alone.
 * @throws SourceError `INVALID_QUERY` when the query has no placeholder (it would read the same rows for every run).
 */
export function bindSourcePath(query: string): string {
  const bound = query.replace(/(?<!:):source_path\b/g, '$1');
  if (bound === query) {
    throw new SourceError('INVALID_QUERY', 'the source query must use :source_path (e.g. "SELECT * FROM invoices WHERE batch_id = :source_path")');
  }
  return bound;
}
