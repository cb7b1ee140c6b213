/**
 * Reading a run's rejects back from a mysql target (MySQL 8 / MariaDB 10.6+): SQL on the rejects table the load
 * wrote (`run_id, execution_id, flow_version, source_path, row_number, record json, errors json`, mysql-target.ts),
 * restricted to one execution, which the load ledger (`sluice_load_ledger`) must show loaded.
 *
 * - A page: `row_number > cursor ORDER BY row_number LIMIT limit + 1`; `rule` / `field` filter with
 *   `JSON_CONTAINS(errors, '[{"rule": …, "field": …}]')` (one error with both).
 * - The summary: `COUNT(*)`, and the errors (`JSON_TABLE(errors, '$[*]' …)`) grouped by (field, rule) and by message.
 */
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { RejectsOfRef } from '../../common/run-model';
import type { StagedSource, StageRejectsRequest } from '../connector';
import { keysetRejectPages, stageRejectPages } from '../stage-rejects';
import { withAccessErrors, type MysqlAccess } from '../access-errors';
import { afterRowNumber, errorsOf, pageOf, recordOf, rejectsGone, rejectsNotReady, rejectsOfConflict, sortSummary, TOP_MESSAGES, type ListRejectsRequest, type RejectsPage, type RejectsSummary, type RejectsTarget } from '../rejects';

/** MySQL error 1146 (ER_NO_SUCH_TABLE). */
const isNoSuchTable = (error: unknown) => (error as { errno?: number }).errno === 1146;

/** `database.table` or `table` as the ledger records it → backtick-quoted (as mysql-target.ts `mysqlTableName`, which imports this file). */
const tableSql = (table: string) => table.split('.').map((part) => `\`${part.replace(/`/g, '``')}\``).join('.');

/** The errors of each reject as rows: `j.field`, `j.rule`, `j.message`. */
const ERRORS_TABLE = `JSON_TABLE(r.errors, '$[*]' COLUMNS (field varchar(255) PATH '$.field', rule varchar(255) PATH '$.rule', message longtext PATH '$.message')) AS j`;

/**
 * The rejects table of an execution the ledger shows loaded.
 * @throws TargetError `REJECTS_NOT_READY` when the ledger has no row for the execution.
 */
async function loadedRejectsTable(pool: Pool | PoolConnection, target: Pick<RejectsTarget, 'runId' | 'executionId'>): Promise<string> {
  try {
    const [rows] = await pool.query<RowDataPacket[]>('SELECT rejects_table FROM `sluice_load_ledger` WHERE execution_id = ? AND run_id = ?', [target.executionId, target.runId]);
    if (rows[0]) return String(rows[0].rejects_table);
  } catch (error) {
    if (!isNoSuchTable(error)) throw error;
  }
  throw rejectsNotReady(target);
}

/** Runs `body` on the execution's rejects table; a dropped table is `REJECTS_GONE`. */
async function onRejectsTable<T>(pool: Pool, access: MysqlAccess, target: RejectsTarget, body: (table: string) => Promise<T>): Promise<T> {
  return withAccessErrors(access, async () => {
    const table = await loadedRejectsTable(pool, target);
    try {
      return await body(tableSql(table));
    } catch (error) {
      if (!isNoSuchTable(error)) throw error;
      throw rejectsGone(target, table);
    }
  });
}

/**
 * One page of the execution's rejects, in row order.
 * @throws InvalidRequestError `INVALID_CURSOR`; TargetError `REJECTS_NOT_READY`, `REJECTS_GONE`; AccessError.
 */
export async function listMysqlRejects(pool: Pool, access: MysqlAccess, request: ListRejectsRequest): Promise<RejectsPage> {
  const after = afterRowNumber(request.cursor);
  return onRejectsTable(pool, access, request, async (table) => {
    const params: unknown[] = [request.executionId, after];
    let filter = '';
    if (request.rule !== undefined || request.field !== undefined) {
      const error: Record<string, string> = {};
      if (request.rule !== undefined) error.rule = request.rule;
      if (request.field !== undefined) error.field = request.field;
      params.push(JSON.stringify([error]));
      filter = ' AND JSON_CONTAINS(errors, ?)';
    }
    params.push(request.limit + 1);
    const [rows] = await pool.query<RowDataPacket[]>(
      `SELECT \`row_number\`, execution_id, record, errors FROM ${table} WHERE execution_id = ? AND \`row_number\` > ?${filter} ORDER BY \`row_number\` LIMIT ?`,
      params,
    );
    const rejects = rows.map((r) => ({ rowNumber: Number(r.row_number), executionId: String(r.execution_id), record: recordOf(r.record), errors: errorsOf(r.errors) }));
    return pageOf(rejects, request.limit);
  });
}

/**
 * Rows rejected, errors by (field, rule) and the most frequent messages of the execution's rejects.
 * @throws TargetError `REJECTS_NOT_READY`, `REJECTS_GONE`; AccessError.
 */
export async function summarizeMysqlRejects(pool: Pool, access: MysqlAccess, target: RejectsTarget): Promise<RejectsSummary> {
  return onRejectsTable(pool, access, target, async (table) => {
    const [count] = await pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table} WHERE execution_id = ?`, [target.executionId]);
    const [groups] = await pool.query<RowDataPacket[]>(
      `SELECT j.field AS field, j.rule AS rule, COUNT(*) AS n FROM ${table} AS r, ${ERRORS_TABLE} WHERE r.execution_id = ? GROUP BY j.field, j.rule`,
      [target.executionId],
    );
    const [messages] = await pool.query<RowDataPacket[]>(
      `SELECT message, n FROM (SELECT j.message AS message, COUNT(*) AS n FROM ${table} AS r, ${ERRORS_TABLE} WHERE r.execution_id = ? GROUP BY j.message) AS m
       ORDER BY n DESC, CAST(message AS BINARY) LIMIT ?`,
      [target.executionId, TOP_MESSAGES],
    );
    return sortSummary({
      rowsRejected: Number(count[0]?.n ?? 0),
      byFieldRule: groups.map((g) => ({ field: g.field === null ? null : String(g.field), rule: String(g.rule), count: Number(g.n) })),
      topMessages: messages.map((m) => ({ message: String(m.message), count: Number(m.n) })),
    });
  });
}

/** The columns a reprocess needs in a rejects table, with their types (added when missing; all nullable). */
export const MYSQL_REPROCESS_COLUMNS = { rejects_of: 'varchar(255)', resolved_by_run: 'varchar(255)', resolved_at: 'timestamp(6) NULL' } as const;

/**
 * Adds the reprocess columns a rejects table lacks (MySQL 8 has no `ADD COLUMN IF NOT EXISTS`: only the missing ones
 * are named). DDL commits implicitly: never inside a load's transaction.
 * @param table as the ledger records it (`db.table` or `table`).
 */
export async function addMysqlReprocessColumns(pool: Pool | PoolConnection, table: string): Promise<void> {
  const [database, name] = table.includes('.') ? table.split('.') : [null, table];
  const [have] = await pool.query<RowDataPacket[]>(
    'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?',
    [database, name],
  );
  const present = new Set(have.map((r) => String(r.name)));
  const missing = Object.entries(MYSQL_REPROCESS_COLUMNS).filter(([column]) => !present.has(column));
  if (missing.length === 0) return;
  await pool.query(`ALTER TABLE ${tableSql(table)} ${missing.map(([column, type]) => `ADD COLUMN ${column} ${type}`).join(', ')}`);
}

/** Rejects a reprocess reads: unresolved, and not rejected as duplicates of loaded rows (`dedupe`). */
const UNRESOLVED = `resolved_by_run IS NULL AND NOT JSON_CONTAINS(errors, '[{"rule": "dedupe"}]')`;

/**
 * Stages the unresolved rejects of `request.rejectsOf`, in row order, `chunkRows` per file (connectors/stage-rejects.ts).
 * @throws TargetError `REJECTS_NOT_READY`, `REJECTS_GONE`; AccessError.
 */
export async function stageMysqlRejects(pool: Pool, access: MysqlAccess, request: StageRejectsRequest): Promise<StagedSource> {
  const target = { runId: request.rejectsOf.runId, executionId: request.rejectsOf.executionId };
  return withAccessErrors(access, async () => {
    const table = await loadedRejectsTable(pool, target);
    try {
      await addMysqlReprocessColumns(pool, table);
      const pages = keysetRejectPages(request.chunkRows, async (after, limit) => {
        const [rows] = await pool.query<RowDataPacket[]>(
          `SELECT \`row_number\`, record FROM ${tableSql(table)} WHERE execution_id = ? AND ${UNRESOLVED} AND \`row_number\` > ? ORDER BY \`row_number\` LIMIT ?`,
          [target.executionId, after, limit],
        );
        return { rows: rows.map((r) => Number(r.row_number)), records: rows.map((r) => JSON.stringify(recordOf(r.record))) };
      });
      return await stageRejectPages(pages, request);
    } catch (error) {
      if (!isNoSuchTable(error)) throw error;
      throw rejectsGone(target, table);
    }
  });
}

/** Row numbers per UPDATE when resolving rejects. */
const RESOLVE_BATCH = 10_000;

/**
 * In the load's open transaction: marks the earlier run's rejects of `rows` resolved by `runId`.
 * @returns how many were marked (= `rows.length`).
 * @throws TargetError `REJECTS_OF_CONFLICT` when fewer were: another run resolved some first (the caller rolls back).
 */
export async function resolveMysqlRejects(connection: PoolConnection, rejectsOf: RejectsOfRef, runId: string, rows: number[]): Promise<number> {
  const table = await loadedRejectsTable(connection, { runId: rejectsOf.runId, executionId: rejectsOf.executionId });
  let resolved = 0;
  for (let i = 0; i < rows.length; i += RESOLVE_BATCH) {
    const batch = rows.slice(i, i + RESOLVE_BATCH);
    const [result] = await connection.query<ResultSetHeader>(
      `UPDATE ${tableSql(table)} SET resolved_by_run = ?, resolved_at = CURRENT_TIMESTAMP(6) WHERE execution_id = ? AND resolved_by_run IS NULL AND \`row_number\` IN (?)`,
      [runId, rejectsOf.executionId, batch],
    );
    resolved += result.affectedRows;
  }
  if (resolved !== rows.length) {
    throw rejectsOfConflict(rejectsOf.runId, rows.length, resolved);
  }
  return resolved;
}
