/**
 * Link steps of a postgres target (`target.link`): SQL statements run in order after the load, in
 * the load's transaction and before its commit, to resolve relationships between the records just
 * written (parent ids, lookups). Each statement's row count is recorded; a failing statement rolls
 * the whole load back.
 *
 * `:run_id`, `:flow_version` and `:source_path` are bound as parameters (`$1`, `$2`, … in order of
 * first use), never interpolated; `::type` casts are left alone. Each entry is one statement
 * (Postgres' extended protocol refuses several).
 *
 * @example
 * ```ts
 * bindLinkParameters('UPDATE t SET batch = :source_path WHERE run = :run_id', values);
 * // { text: 'UPDATE t SET batch = $1 WHERE run = $2', values: ['s3://…', 'accounts-v3-…'] }
 * ```
 */
import type { PoolClient, QueryConfig } from 'pg';
import { TargetError } from '../../common/errors';
import type { LinkStepResult } from '../connector';

/** Parameters a link statement may use. */
export const LINK_PARAMETERS = ['run_id', 'flow_version', 'source_path'] as const;
export type LinkParameter = (typeof LINK_PARAMETERS)[number];

const PLACEHOLDER = /(?<!:):(run_id|flow_version|source_path)\b/g;

/** Replaces `:run_id`, `:flow_version`, `:source_path` with `$n` and lists their values in that order. */
export function bindLinkParameters(sql: string, parameters: Record<LinkParameter, string>): { text: string; values: string[] } {
  const used: LinkParameter[] = [];
  const text = sql.replace(PLACEHOLDER, (_match, name: LinkParameter) => {
    if (!used.includes(name)) used.push(name);
    return `$${used.indexOf(name) + 1}`;
  });
  return { text, values: used.map((name) => parameters[name]) };
}

/**
 * SQLSTATE classes worth retrying: connection (08), transaction rollback — serialisation failures,
 * deadlocks (40) —, insufficient resources (53), operator intervention — cancelled, shutdown (57) —,
 * system errors (58) and internal errors (XX). Any other error of a statement is the statement's.
 */
function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code !== 'string' || /^(08|40|53|57|58|XX)/.test(code);
}

const excerpt = (sql: string) => {
  const oneLine = sql.replace(/\s+/g, ' ').trim();
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}…` : oneLine;
};

/**
 * Runs the statements in order on `client`, inside the caller's open transaction.
 * @throws TargetError `LINK_FAILED` naming the statement (`target.link[i]`) and Postgres' message;
 *   the caller rolls back. Connection losses, deadlocks and the like are rethrown as is (retried).
 */
export async function runLinkSteps(
  client: PoolClient,
  statements: string[],
  parameters: Record<LinkParameter, string>,
  signal: AbortSignal,
): Promise<LinkStepResult[]> {
  const results: LinkStepResult[] = [];
  for (const [index, sql] of statements.entries()) {
    if (signal.aborted) throw new Error('load cancelled');
    const { text, values } = bindLinkParameters(sql, parameters);
    try {
      // Extended protocol even without parameters: exactly one statement, one row count.
      const result = await client.query({ text, values, queryMode: 'extended' } as QueryConfig);
      results.push({ index, rows: result.rowCount ?? null });
    } catch (error) {
      if (isRetryable(error)) throw error;
      throw new TargetError(
        'LINK_FAILED',
        `target.link[${index}] (${excerpt(sql)}) failed: ${(error as Error).message}; the load was rolled back, nothing was written`,
        { cause: error, details: { index, sqlstate: (error as { code?: string }).code } },
      );
    }
  }
  return results;
}
