/**
 * Sluice's events: what a run's status transitions (and the gateway's own decisions) look like to
 * subscribers, and how they are stored.
 *
 * | type | when |
 * |---|---|
 * | `run.created`, `run.syncing_source`, `run.transforming`, `run.syncing_target` | the run entered that status |
 * | `run.succeeded`, `run.partial_failed`, `run.failed`, `run.crashed` | the run ended |
 * | `webhook.disabled` | an endpoint was disabled (410 Gone, or failing for `gateway.webhooks.disable_after`) |
 *
 * The payload is thin (Standard Webhooks recommends it): `{ type, timestamp, data }`, with
 * `data = { run_id, status, flow_version, source_path, run_metadata, rows }` (+ `error` when FAILED or
 * CRASHED). Subscribers fetch the rest with `GET /v1/runs/:id`.
 *
 * Event ids are deterministic: `evt_` + 26 hex of sha256(execution id, type). A retried publishing
 * activity computes the same id, and the insert is a no-op, so there is never a second, different event.
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { RunError, RunStatus, RunWarning } from '../common/run-model';

export const RUN_EVENT_TYPES = [
  'run.created',
  'run.syncing_source',
  'run.transforming',
  'run.syncing_target',
  'run.succeeded',
  'run.partial_failed',
  'run.failed',
  'run.crashed',
] as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[number];

/** Every event type a webhook may subscribe to. */
export const EVENT_TYPES = [...RUN_EVENT_TYPES, 'webhook.disabled'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Row counts of a run at the moment of the event. */
export interface RunRows {
  read: number;
  mapped: number;
  rejected: number;
  written: number;
}

export interface RunEventData {
  run_id: string;
  status: RunStatus;
  flow_version: string;
  source_path: string;
  run_metadata: Record<string, unknown>;
  rows: RunRows;
  /** The user who started the run (a name, never a credential); absent on runs from before users. */
  started_by?: string;
  /** Present on `run.failed` and `run.crashed`: which step and why. */
  error?: RunError;
  /** Present on a `run.succeeded` that read 0 rows: `[{ code: 'EMPTY_SOURCE', message, step }]`. */
  warnings?: RunWarning[];
  /** Present (true) on every event of a dry run, which writes nothing to the target. */
  dry_run?: true;
}

export interface WebhookDisabledData {
  webhook_id: string;
  url: string;
  reason: string;
}

/** An event's JSON body, as signed and sent (`webhook-id` is the event id). */
export interface EventPayload<D = RunEventData | WebhookDisabledData> {
  type: EventType;
  /** ISO 8601, when the transition happened (the publishing activity's clock). */
  timestamp: string;
  data: D;
}

export interface StoredEvent {
  id: string;
  /** Insertion order, across all events. */
  seq: number;
  type: EventType;
  runId: string | null;
  payload: EventPayload;
  createdAt: Date;
}

/** The event type of a run status: `PARTIAL_FAILED` → `run.partial_failed`. */
export function runEventType(status: RunStatus): RunEventType {
  return `run.${status.toLowerCase()}` as RunEventType;
}

/** `evt_` + 26 hex characters of sha256 over the parts, joined by `/`. Stable across retries. */
export function deterministicId(prefix: 'evt' | 'dlv', ...parts: string[]): string {
  return `${prefix}_${createHash('sha256').update(parts.join('/')).digest('hex').slice(0, 26)}`;
}

/** The id of one run transition: one per (Temporal execution, status). */
export function runEventId(executionId: string, status: RunStatus): string {
  return deterministicId('evt', executionId, status);
}

type Queryable = Pool | PoolClient;

interface EventRow {
  id: string;
  seq: string;
  type: EventType;
  run_id: string | null;
  payload: EventPayload;
  created_at: Date;
}

const toEvent = (row: EventRow): StoredEvent => ({
  id: row.id,
  seq: Number(row.seq),
  type: row.type,
  runId: row.run_id,
  payload: row.payload,
  createdAt: row.created_at,
});

/**
 * Stores an event unless one with its id exists.
 * @returns true when this call inserted it, false when it was already stored (a retry).
 */
export async function insertEvent(
  db: Queryable,
  event: { id: string; runId: string | null; executionId: string | null; payload: EventPayload },
): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO sluice.events (id, type, run_id, execution_id, payload) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO NOTHING`,
    [event.id, event.payload.type, event.runId, event.executionId, JSON.stringify(event.payload)],
  );
  return result.rowCount === 1;
}

/**
 * A run's events in the order they happened (every execution of the run id, oldest first).
 * @param after an event id: only the events stored after it (the pull fallback's cursor).
 * @param limit at most this many (1–1000).
 * @returns null when `after` names no event of this run.
 */
export async function listRunEvents(db: Queryable, runId: string, options: { after?: string; limit: number }): Promise<StoredEvent[] | null> {
  let afterSeq = 0;
  if (options.after) {
    const { rows } = await db.query<{ seq: string }>('SELECT seq FROM sluice.events WHERE id = $1 AND run_id = $2', [options.after, runId]);
    if (!rows[0]) return null;
    afterSeq = Number(rows[0].seq);
  }
  const { rows } = await db.query<EventRow>(
    `SELECT id, seq, type, run_id, payload, created_at FROM sluice.events
     WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [runId, afterSeq, options.limit],
  );
  return rows.map(toEvent);
}

/** A run's latest event, or null (the gateway's answer when no worker answers the status query). */
export async function lastRunEvent(db: Queryable, runId: string): Promise<StoredEvent | null> {
  const { rows } = await db.query<EventRow>(
    'SELECT id, seq, type, run_id, payload, created_at FROM sluice.events WHERE run_id = $1 ORDER BY seq DESC LIMIT 1',
    [runId],
  );
  return rows[0] ? toEvent(rows[0]) : null;
}
