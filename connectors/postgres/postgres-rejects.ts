/**
 * Reading a run's rejects back from a postgres target: SQL on the rejects table the load wrote
 * (`REJECT_COLUMNS` of postgres-target.ts: `run_id, execution_id, flow_version, source_path, row_number, record jsonb,
 * errors jsonb`), restricted to one execution, which the load ledger (`sluice.load_ledger`) must show loaded.
 *
 * - A page: `row_number > cursor ORDER BY row_number LIMIT limit + 1` (keyset paging); `rule` / `field` filter with
 *   jsonb containment on `errors` (`errors @> '[{"rule": "type", "field": "amount"}]'`: one error with both).
 * - The summary: `count(*)`, and the errors (`jsonb_array_elements(errors)`) grouped by (field, rule) and by message.
 */
import type { Pool, PoolClient } from 'pg';
import type { RejectsOfRef } from '../../common/run-model';
import type { StagedSource, StageRejectsRequest } from '../connector';
import { keysetRejectPages, stageRejectPages } from '../stage-rejects';
import { withAccessErrors, type PostgresAccess } from '../access-errors';
import { afterRowNumber, errorsOf, pageOf, recordOf, rejectsGone, rejectsNotReady, rejectsOfConflict, sortSummary, TOP_MESSAGES, type ListRejectsRequest, type RejectsPage, type RejectsSummary, type RejectsTarget } from '../rejects';
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
export async function loadedRejectsTable(pool: Pool | PoolClient, target: Pick<RejectsTarget, 'runId' | 'executionId'>): Promise<string> {
  try {
    const ledger = await pool.query<{ rejects_table: string }>('SELECT rejects_table FROM sluice.load_ledger WHERE execution_id = $1 AND run_id = $2', [
      target.executionId,
      target.runId,
    ]);
    if (ledger.rows[0]) return ledger.rows[0].rejects_table;
  } catch (error) {
    if (!isUndefinedTable(error)) throw error;
  }
  throw rejectsNotReady(target);
}

/** Runs `body` on the execution's rejects table; a dropped table is `REJECTS_GONE`. */
async function onRejectsTable<T>(pool: Pool, access: PostgresAccess, target: RejectsTarget, body: (table: string) => Promise<T>): Promise<T> {
  return withAccessErrors(access, async () => {
    const table = await loadedRejectsTable(pool, target);
    try {
      return await body(tableSql(table));
    } catch (error) {
      if (!isUndefinedTable(error)) throw error;
      throw rejectsGone(target, table);
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

/**
 * The columns a reprocess needs in a rejects table (rejects tables created before reprocessing lack them):
 * `rejects_of` (a reprocess's rejects: the earlier run), `resolved_by_run` and `resolved_at` (set when a reprocess
 * loaded the row). Added only when missing (ALTER TABLE locks the table), under the DDL advisory lock.
 * @param table as the ledger records it (`schema.table`).
 */
export async function addReprocessColumns(pool: Pool, table: string): Promise<void> {
  const [schema, name] = table.includes('.') ? table.split('.') : ['public', table];
  const have = await pool.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name IN ('rejects_of', 'resolved_by_run', 'resolved_at')`,
    [schema, name],
  );
  if (have.rowCount === 3) return;
  const client = await pool.connect();
  client.on('error', () => undefined);
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('sluice.ddl'))`);
    await client.query(
      `ALTER TABLE ${tableSql(table)} ADD COLUMN IF NOT EXISTS rejects_of text, ADD COLUMN IF NOT EXISTS resolved_by_run text, ADD COLUMN IF NOT EXISTS resolved_at timestamptz`,
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Rejects a reprocess reads: unresolved, and not rejected as duplicates of loaded rows (`dedupe`: they would load twice). */
const UNRESOLVED = `resolved_by_run IS NULL AND NOT errors @> '[{"rule": "dedupe"}]'::jsonb`;

/**
 * Stages the unresolved rejects of `request.rejectsOf` (its rejects table as the load ledger recorded it), in row
 * order, `chunkRows` per file (connectors/stage-rejects.ts).
 * @throws TargetError `REJECTS_NOT_READY`, `REJECTS_GONE`; AccessError.
 */
export async function stagePostgresRejects(pool: Pool, access: PostgresAccess, request: StageRejectsRequest): Promise<StagedSource> {
  const target = { runId: request.rejectsOf.runId, executionId: request.rejectsOf.executionId };
  return withAccessErrors(access, async () => {
    const table = await loadedRejectsTable(pool, target);
    try {
      await addReprocessColumns(pool, table);
      const pages = keysetRejectPages(request.chunkRows, async (after, limit) => {
        const page = await pool.query<{ row_number: string; record: string }>(
          `SELECT row_number, record::text AS record FROM ${tableSql(table)} WHERE execution_id = $1 AND ${UNRESOLVED} AND row_number > $2 ORDER BY row_number LIMIT $3`,
          [target.executionId, after, limit],
        );
        return { rows: page.rows.map((r) => Number(r.row_number)), records: page.rows.map((r) => r.record) };
      });
      return await stageRejectPages(pages, request);
    } catch (error) {
      if (!isUndefinedTable(error)) throw error;
      throw rejectsGone(target, table);
    }
  });
}

/** Row numbers per UPDATE when resolving rejects. */
const RESOLVE_BATCH = 50_000;

/**
 * In the load's open transaction: marks the earlier run's rejects of `rows` resolved by `runId`. Every one must
 * still be unresolved (another reprocess that resolved one first, or is resolving it now, wins: its lock is waited
 * for, then the count falls short).
 * @returns how many were marked (= `rows.length`).
 * @throws TargetError `REJECTS_OF_CONFLICT` when fewer were (the caller rolls back).
 */
export async function resolvePostgresRejects(client: PoolClient, rejectsOf: RejectsOfRef, runId: string, rows: number[]): Promise<number> {
  const table = await loadedRejectsTable(client, { runId: rejectsOf.runId, executionId: rejectsOf.executionId });
  let resolved = 0;
  for (let i = 0; i < rows.length; i += RESOLVE_BATCH) {
    const batch = rows.slice(i, i + RESOLVE_BATCH);
    const result = await client.query(
      `UPDATE ${tableSql(table)} SET resolved_by_run = $1, resolved_at = now()
       WHERE execution_id = $2 AND resolved_by_run IS NULL AND row_number = ANY($3::bigint[])`,
      [runId, rejectsOf.executionId, batch],
    );
    resolved += result.rowCount ?? 0;
  }
  if (resolved !== rows.length) {
    throw rejectsOfConflict(rejectsOf.runId, rows.length, resolved);
  }
  return resolved;
}
