/**
 * Reading a run's rejects back from its target: the request and answer shapes of
 * {@link TargetConnector.listRejects} and {@link TargetConnector.summarizeRejects}, and the pure parts both
 * target kinds share (the page cursor, the limits, the summary's ordering).
 *
 * A **reject** is a source row that failed a cast or a rule, kept by the load beside the mapped rows with its
 * original values (`record`), its 1-based source row number and one error per failed rule `{field, rule, message}`.
 * Only the rejects of one **execution** count: the run's latest loaded one (a forced rerun keeps the run id, so
 * the execution id tells its rejects apart from an earlier load's).
 *
 * Paging is keyset paging by row number: a page holds the rejects with `row_number` above the cursor, in row
 * order, so each reject appears on exactly one page even while pages are read minutes apart.
 *
 * @example
 * ```ts
 * let cursor: string | undefined;
 * do {
 *   const page = await target.listRejects!({ runId, executionId, spec, location, limit: 500, cursor });
 *   for (const row of page.rows) console.log(row.rowNumber, row.errors.map((e) => e.message));
 *   cursor = page.nextCursor;
 * } while (cursor);
 * ```
 */
import { InvalidRequestError, TargetError } from '../common/errors';
import type { FlowSpec } from '../flows/flow-spec';
import type { RejectError } from '../transform/map-chunk';

export type { RejectError } from '../transform/map-chunk';

/** The default page size of {@link ListRejectsRequest.limit}. */
export const DEFAULT_REJECTS_LIMIT = 100;
/** The largest page size of {@link ListRejectsRequest.limit}. */
export const MAX_REJECTS_LIMIT = 1000;
/** How many of the most frequent messages a summary lists. */
export const TOP_MESSAGES = 10;

/** Which run execution's rejects to read, and where its load put them. */
export interface RejectsTarget {
  /** The run (workflow) id. */
  runId: string;
  /** The execution whose load wrote the rejects (the run's latest loaded execution). */
  executionId: string;
  /** The flow version's spec (names the rejects table or object path). */
  spec: FlowSpec;
  /** Where the load said the rejects went (`metadata.rejects.location`): `s3://bucket/key`, `connector:schema.table`. */
  location: string | null;
}

/** One page's request: {@link RejectsTarget} plus filters and the page. */
export interface ListRejectsRequest extends RejectsTarget {
  /** Only rejects with an error of this rule (`type`, `required`, `check`, `in`, `dedupe`, a flow check's name…). */
  rule?: string;
  /** Only rejects with an error on this target field (with `rule`: one error with both). */
  field?: string;
  /** Page size, 1–{@link MAX_REJECTS_LIMIT}. */
  limit: number;
  /** The `nextCursor` of the previous page; absent for the first page. */
  cursor?: string;
}

/** One rejected row as kept by the target. */
export interface RejectRow {
  /** 1-based row number in the source. */
  rowNumber: number;
  executionId: string;
  /** The original values, by source column name, as read from the source (text for CSV sources). */
  record: Record<string, unknown>;
  /** One per failed rule; `field` is null for flow-level checks and dedupe. */
  errors: RejectError[];
}

/** One page of rejects, in row order. */
export interface RejectsPage {
  rows: RejectRow[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

/** What a run's rejects say, counted over every reject of the execution. */
export interface RejectsSummary {
  /** Rejected rows (a row with several errors counts once). */
  rowsRejected: number;
  /** Errors counted by (field, rule), most frequent first (then by field and rule). */
  byFieldRule: { field: string | null; rule: string; count: number }[];
  /** The {@link TOP_MESSAGES} most frequent error messages, most frequent first (then alphabetically). */
  topMessages: { message: string; count: number }[];
}

/** The cursor after the last row of a page: the row number, as text (opaque to callers). */
export function rejectsCursor(rowNumber: number): string {
  return String(rowNumber);
}

/**
 * The row number a cursor stands for (0 without a cursor: every row comes after it).
 * @throws InvalidRequestError `INVALID_CURSOR` when `cursor` is not one {@link rejectsCursor} made.
 */
export function afterRowNumber(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  if (!/^\d{1,15}$/.test(cursor)) {
    throw new InvalidRequestError('INVALID_CURSOR', `cursor "${cursor.slice(0, 40)}" is not the next_cursor of a rejects page; start again without cursor`);
  }
  return Number(cursor);
}

/**
 * The page size to use.
 * @throws InvalidRequestError `INVALID_LIMIT` outside 1–{@link MAX_REJECTS_LIMIT}.
 */
export function rejectsLimit(limit: number | undefined): number {
  const value = limit ?? DEFAULT_REJECTS_LIMIT;
  if (!Number.isInteger(value) || value < 1 || value > MAX_REJECTS_LIMIT) {
    throw new InvalidRequestError('INVALID_LIMIT', `limit must be a whole number from 1 to ${MAX_REJECTS_LIMIT}, not ${String(limit)}`);
  }
  return value;
}

/**
 * A page from up to `limit + 1` rows read in row order: the first `limit`, and the cursor after the last of
 * them when there was one more.
 */
export function pageOf(rows: RejectRow[], limit: number): RejectsPage {
  if (rows.length <= limit) return { rows };
  const page = rows.slice(0, limit);
  return { rows: page, nextCursor: rejectsCursor(page.at(-1)!.rowNumber) };
}

/** The summary's order: most frequent first, ties by field (nulls last) then rule, or by message (code-point order, as SQL's `COLLATE "C"`). */
export function sortSummary(summary: RejectsSummary): RejectsSummary {
  const compare = (a: string | null, b: string | null) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1);
  return {
    rowsRejected: summary.rowsRejected,
    byFieldRule: [...summary.byFieldRule].sort((a, b) => b.count - a.count || compare(a.field, b.field) || compare(a.rule, b.rule)),
    topMessages: [...summary.topMessages].sort((a, b) => b.count - a.count || compare(a.message, b.message)).slice(0, TOP_MESSAGES),
  };
}

/** A stored `record` as an object: JSON text is parsed; a non-object value becomes `{ value }`. */
export function recordOf(value: unknown): Record<string, unknown> {
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { value: parsed };
}

/** Stored `errors` as a list: JSON text is parsed. */
export function errorsOf(value: unknown): RejectError[] {
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  return Array.isArray(parsed) ? (parsed as RejectError[]) : [];
}

/**
 * The load ledger has no row for the execution: it has not loaded its target (yet), so it has no rejects to read.
 * @returns TargetError `REJECTS_NOT_READY` (to throw).
 */
export function rejectsNotReady(target: Pick<RejectsTarget, 'runId' | 'executionId'>): TargetError {
  return new TargetError('REJECTS_NOT_READY', `run ${target.runId} (execution ${target.executionId}) has not loaded its target, so it has no rejects to read`, {
    details: { run_id: target.runId, execution_id: target.executionId },
  });
}

/**
 * The rejects table the ledger names was dropped (or renamed) since the load.
 * @returns TargetError `REJECTS_GONE` (to throw).
 */
export function rejectsGone(target: Pick<RejectsTarget, 'runId'>, table: string): TargetError {
  return new TargetError('REJECTS_GONE', `the rejects table ${table} of run ${target.runId} no longer exists`, { details: { run_id: target.runId, table } });
}

/**
 * A reprocess's load marked fewer of the earlier run's rejects resolved than it recovered rows: another run resolved
 * some first. The caller rolls the load back.
 * @returns TargetError `REJECTS_OF_CONFLICT` (to throw).
 */
export function rejectsOfConflict(rejectsOfRunId: string, expected: number, resolved: number): TargetError {
  return new TargetError(
    'REJECTS_OF_CONFLICT',
    `${expected - resolved} of the ${expected} rejects of run ${rejectsOfRunId} this run recovered were resolved by another run meanwhile; nothing was written. ` +
      `Start the reprocess again: it reads only the rejects still unresolved`,
    { details: { rejects_of: rejectsOfRunId, expected, resolved } },
  );
}
