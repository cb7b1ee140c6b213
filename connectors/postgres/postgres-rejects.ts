/**
 * Reading a run's rejects back from a postgres target: SQL on the rejects table the load wrote
 * (`REJECT_COLUMNS` of postgres-target.ts: `run_id, execution_id, flow_version, source_path, row_number, record jsonb,
 * errors jsonb`), restricted to one execution, which the load ledger (`sluice.load_ledger`) must show loaded.
 *
 * - A page: `row_number > cursor ORDER BY row_number LIMIT limit + 1` (keyset paging); `rule` / `field` filter with
 *   jsonb containment on `errors` (`errors @> '[{"rule": "type", "field": "amount"}]'`: one error with both).
 * - The summary: `count(*)`, and the errors (`jsonb_array_elements(errors)`) grouped by (field, rule) and by message.
 */
import type { Pool } from 'pg';
import { TargetError } from '../../common/errors';
import { withAccessErrors, type PostgresAccess } from '../access-errors';
import { afterRowNumber, errorsOf, pageOf, recordOf, sortSummary, TOP_MESSAGES, type ListRejectsRequest, type RejectsPage, type RejectsSummary, type RejectsTarget } from '../rejects';
import { quoteIdent } from '../../transform/polars-sql';

/** SQLSTATE undefined_table. */
const UNDEFINED_TABLE = '42P01';

/** `schema.table` as the ledger records it → `"schema"."table"` (as postgres-target.ts `qualifiedName`, which imports this file). */
const tableSql = (table: string) => (table.includes('.') ? table.split('.') : ['public', table]).map(quoteIdent).join('.');

const isUndefinedTable = (error: unknown) => (error as { code?: string }).code === UNDEFINED_TABLE;

/**
 * The rejects table of an execution the ledger shows loaded (as the ledger recorded it).
 * @throws TargetError `REJECTS_NOT_READY` when the ledger has no row for the execution.
 */
async function loadedRejectsTable(pool: Pool, target: RejectsTarget): Promise<string> {
  try {
    const ledger = await pool.query<{ rejects_table: string }>('SELECT rejects_table FROM sluice.load_ledger WHERE execution_id = $1 AND run_id = $2', [
      target.executionId,
      target.runId,
    ]);
    if (ledger.rows[0]) return ledger.rows[0].rejects_table;
  } catch (error) {
    if (!isUndefinedTable(error)) throw error;
  }
  throw new TargetError('REJECTS_NOT_READY', `run ${target.runId} (execution ${target.executionId}) has not loaded its target, so it has no rejects to read`, {
    details: { run_id: target.runId, execution_id: target.executionId },
  });
}

/** Runs `body` on the execution's rejects table; a dropped table is `REJECTS_GONE`. */
async function onRejectsTable<T>(pool: Pool, access: PostgresAccess, target: RejectsTarget, body: (table: string) => Promise<T>): Promise<T> {
  return withAccessErrors(access, async () => {
    const table = await loadedRejectsTable(pool, target);
    try {
      return await body(tableSql(table));
    } catch (error) {
      if (!isUndefinedTable(error)) throw error;
      throw new TargetError('REJECTS_GONE', `the rejects table ${table} of run ${target.runId} no longer exists`, { details: { run_id: target.runId, table } });
    }
  });
}

/**
 * One page of the execution's rejects, in row order.
 * @throws InvalidRequestError `INVALID_CURSOR`; TargetError `REJECTS_NOT_READY`, `REJECTS_GONE`; AccessError.
 */
export async function listPostgresRejects(pool: Pool, access: PostgresAccess, request: ListRejectsRequest): Promise<RejectsPage> {
  const after = afterRowNumber(request.cursor);
  return onRejectsTable(pool, access, request, async (table) => {
    const params: unknown[] = [request.executionId, after, request.limit + 1];
    let filter = '';
    if (request.rule !== undefined || request.field !== undefined) {
      const error: Record<string, string> = {};
      if (request.rule !== undefined) error.rule = request.rule;
      if (request.field !== undefined) error.field = request.field;
      params.push(JSON.stringify([error]));
      filter = ' AND errors @> $4::jsonb';
    }
    const result = await pool.query<{ row_number: string; execution_id: string; record: unknown; errors: unknown }>(
      `SELECT row_number, execution_id, record, errors FROM ${table} WHERE execution_id = $1 AND row_number > $2${filter} ORDER BY row_number LIMIT $3`,
      params,
    );
    const rows = result.rows.map((r) => ({ rowNumber: Number(r.row_number), executionId: r.execution_id, record: recordOf(r.record), errors: errorsOf(r.errors) }));
    return pageOf(rows, request.limit);
  });
}

/**
 * Rows rejected, errors by (field, rule) and the most frequent messages of the execution's rejects.
 * @throws TargetError `REJECTS_NOT_READY`, `REJECTS_GONE`; AccessError.
 */
export async function summarizePostgresRejects(pool: Pool, access: PostgresAccess, target: RejectsTarget): Promise<RejectsSummary> {
  return onRejectsTable(pool, access, target, async (table) => {
    const [count, byFieldRule, messages] = await Promise.all([
      pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE execution_id = $1`, [target.executionId]),
      pool.query<{ field: string | null; rule: string; n: string }>(
        `SELECT e->>'field' AS field, e->>'rule' AS rule, count(*) AS n FROM ${table}, jsonb_array_elements(errors) AS e
         WHERE execution_id = $1 GROUP BY 1, 2`,
        [target.executionId],
      ),
      pool.query<{ message: string; n: string }>(
        `SELECT message, n FROM (
           SELECT e->>'message' AS message, count(*) AS n FROM ${table}, jsonb_array_elements(errors) AS e WHERE execution_id = $1 GROUP BY 1
         ) AS m ORDER BY n DESC, message COLLATE "C" LIMIT $2`,
        [target.executionId, TOP_MESSAGES],
      ),
    ]);
    return sortSummary({
      rowsRejected: Number(count.rows[0]?.n ?? 0),
      byFieldRule: byFieldRule.rows.map((r) => ({ field: r.field, rule: r.rule, count: Number(r.n) })),
      topMessages: messages.rows.map((r) => ({ message: r.message, count: Number(r.n) })),
    });
  });
}
