/**
 * Webhook subscriptions, their secrets, and the delivery log, in the metadata database
 * (`sluice.webhooks`, `sluice.webhook_deliveries`, `sluice.webhook_attempts`; migration 2).
 *
 * Secrets follow the Standard Webhooks format: `whsec_` + base64 of 24 random bytes. A secret is
 * returned when a webhook is created or rotated and never again by the API. After a rotation the
 * previous secret keeps signing until `previous_secret_expires_at` (both signatures are sent), so
 * receivers can switch without dropping a delivery.
 *
 * Deleting a webhook is soft (`deleted_at`): its delivery log stays, its pending deliveries stop at
 * their next attempt, and it disappears from every listing.
 */
import { randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { EventPayload, EventType } from './events';

type Queryable = Pool | PoolClient;

export interface Webhook {
  id: string;
  url: string;
  description: string | null;
  /** Subscribed event types; empty means every type. */
  events: EventType[];
  disabled: boolean;
  disabledReason: string | null;
  disabledAt: Date | null;
  /** First failed attempt since the last success, or null when the endpoint is healthy. */
  failingSince: Date | null;
  /** Until when the previous secret still signs, after a rotation. */
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A webhook with what signs its deliveries; only delivery code reads these. */
export interface WebhookWithSecrets extends Webhook {
  secret: string;
  previousSecret: string | null;
  deleted: boolean;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';
export type DeliveryTrigger = 'event' | 'redeliver' | 'recover';

export interface DeliveryAttempt {
  attempt: number;
  attemptedAt: Date;
  /** null when no HTTP response came back (timeout, refused connection, unsafe address). */
  httpStatus: number | null;
  latencyMs: number;
  error: string | null;
  /** First 1 KiB of the response body. */
  response: string | null;
  /** When the next attempt is due, or null when this was the last. */
  nextRetryAt: Date | null;
}

export interface Delivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: EventType;
  trigger: DeliveryTrigger;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  nextAttemptAt: Date | null;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What one attempt of a delivery reads (see {@link WebhookStore.deliveryForAttempt}). */
export interface DeliveryForAttempt {
  id: string;
  status: DeliveryStatus;
  /** Attempts made so far. */
  attempts: number;
  /** The HTTP status of the latest attempt, or null (none yet, or no response). */
  lastHttpStatus: number | null;
  lastError: string | null;
  /** Its webhook, with secrets; deleted ones included (the delivery must learn it was deleted). */
  webhook: WebhookWithSecrets;
  eventId: string;
  payload: EventPayload;
}

/** A new `whsec_…` secret (24 random bytes, base64, per the Standard Webhooks spec). */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** The secrets that sign a delivery now: the current one, and the previous one during its overlap. */
export function signingSecrets(webhook: WebhookWithSecrets, now: Date): string[] {
  const previousValid = webhook.previousSecret && webhook.previousSecretExpiresAt && webhook.previousSecretExpiresAt > now;
  return previousValid ? [webhook.secret, webhook.previousSecret!] : [webhook.secret];
}

interface WebhookRow {
  id: string;
  url: string;
  description: string | null;
  events: EventType[];
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  disabled: boolean;
  disabled_reason: string | null;
  disabled_at: Date | null;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

const toWebhookWithSecrets = (row: WebhookRow): WebhookWithSecrets => ({
  id: row.id,
  url: row.url,
  description: row.description,
  events: row.events,
  disabled: row.disabled,
  disabledReason: row.disabled_reason,
  disabledAt: row.disabled_at,
  failingSince: row.failing_since,
  previousSecretExpiresAt: row.previous_secret_expires_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  secret: row.secret,
  previousSecret: row.previous_secret,
  deleted: row.deleted_at !== null,
});

/** The public view: everything but the secrets. */
export function withoutSecrets(webhook: WebhookWithSecrets): Webhook {
  const { secret: _secret, previousSecret: _previous, deleted: _deleted, ...rest } = webhook;
  return rest;
}

export class WebhookStore {
  constructor(readonly pool: Pool) {}

  /** Creates an enabled webhook. @returns it, and its secret (the only time the secret is returned). */
  async create(input: { url: string; events: EventType[]; description: string | null }): Promise<{ webhook: Webhook; secret: string }> {
    const id = `wh_${randomBytes(12).toString('hex')}`;
    const secret = generateWebhookSecret();
    const { rows } = await this.pool.query<WebhookRow>(
      `INSERT INTO sluice.webhooks (id, url, description, events, secret) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
      [id, input.url, input.description, input.events, secret],
    );
    return { webhook: withoutSecrets(toWebhookWithSecrets(rows[0]!)), secret };
  }

  /** Every webhook not deleted, oldest first. */
  async list(): Promise<Webhook[]> {
    const { rows } = await this.pool.query<WebhookRow>('SELECT * FROM sluice.webhooks WHERE deleted_at IS NULL ORDER BY created_at, id');
    return rows.map((r) => withoutSecrets(toWebhookWithSecrets(r)));
  }

  /** A webhook not deleted, or null. */
  async get(id: string): Promise<Webhook | null> {
    const found = await this.getWithSecrets(id);
    return found && !found.deleted ? withoutSecrets(found) : null;
  }

  /** A webhook with its secrets, deleted ones included (a pending delivery must learn it was deleted). */
  async getWithSecrets(id: string, db: Queryable = this.pool): Promise<WebhookWithSecrets | null> {
    const { rows } = await db.query<WebhookRow>('SELECT * FROM sluice.webhooks WHERE id = $1', [id]);
    return rows[0] ? toWebhookWithSecrets(rows[0]) : null;
  }

  /**
   * Changes a webhook. `disabled: false` re-enables it and forgets its failure streak.
   * @returns the updated webhook, or null when there is none (or it was deleted).
   */
  async update(
    id: string,
    patch: { url?: string; events?: EventType[]; description?: string | null; disabled?: boolean },
  ): Promise<Webhook | null> {
    const sets: string[] = ['updated_at = now()'];
    const values: unknown[] = [id];
    const set = (column: string, value: unknown) => {
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    };
    if (patch.url !== undefined) set('url', patch.url);
    if (patch.events !== undefined) set('events', patch.events);
    if (patch.description !== undefined) set('description', patch.description);
    if (patch.disabled === true) sets.push(`disabled = true, disabled_at = COALESCE(disabled_at, now()), disabled_reason = COALESCE(disabled_reason, 'disabled through the API')`);
    if (patch.disabled === false) sets.push('disabled = false, disabled_at = NULL, disabled_reason = NULL, failing_since = NULL');
    const { rows } = await this.pool.query<WebhookRow>(
      `UPDATE sluice.webhooks SET ${sets.join(', ')} WHERE id = $1 AND deleted_at IS NULL RETURNING *`,
      values,
    );
    return rows[0] ? withoutSecrets(toWebhookWithSecrets(rows[0])) : null;
  }

  /** Soft-deletes a webhook. @returns false when there was none. */
  async delete(id: string): Promise<boolean> {
    const result = await this.pool.query('UPDATE sluice.webhooks SET deleted_at = now(), updated_at = now() WHERE id = $1 AND deleted_at IS NULL', [id]);
    return result.rowCount === 1;
  }

  /**
   * Replaces the secret; the old one keeps signing for `overlapMs`.
   * @returns the new secret and until when the old one signs, or null when there is no such webhook.
   */
  async rotateSecret(id: string, overlapMs: number): Promise<{ secret: string; previousSecretExpiresAt: Date } | null> {
    const secret = generateWebhookSecret();
    const { rows } = await this.pool.query<{ previous_secret_expires_at: Date }>(
      `UPDATE sluice.webhooks
       SET previous_secret = secret, secret = $2, previous_secret_expires_at = now() + make_interval(secs => $3::double precision / 1000), updated_at = now()
       WHERE id = $1 AND deleted_at IS NULL RETURNING previous_secret_expires_at`,
      [id, secret, overlapMs],
    );
    return rows[0] ? { secret, previousSecretExpiresAt: rows[0].previous_secret_expires_at } : null;
  }

  /**
   * Disables a webhook unless it already is.
   * @returns when this call disabled it (the caller then emits `webhook.disabled`), or null when it did not.
   */
  async disable(id: string, reason: string, db: Queryable = this.pool): Promise<Date | null> {
    const { rows } = await db.query<{ disabled_at: Date }>(
      `UPDATE sluice.webhooks SET disabled = true, disabled_reason = $2, disabled_at = now(), updated_at = now()
       WHERE id = $1 AND NOT disabled AND deleted_at IS NULL RETURNING disabled_at`,
      [id, reason],
    );
    return rows[0]?.disabled_at ?? null;
  }

  /**
   * Records the endpoint's health after an attempt.
   * @returns how long it has been failing in ms (0 after a success).
   */
  async recordHealth(id: string, ok: boolean, db: Queryable = this.pool): Promise<number> {
    if (ok) {
      await db.query('UPDATE sluice.webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL', [id]);
      return 0;
    }
    const { rows } = await db.query<{ failing_ms: number }>(
      `UPDATE sluice.webhooks SET failing_since = COALESCE(failing_since, now()) WHERE id = $1
       RETURNING (extract(epoch FROM now() - failing_since) * 1000)::float8 AS failing_ms`,
      [id],
    );
    return rows[0]?.failing_ms ?? 0;
  }

  /**
   * Adds a delivery of an event to a webhook. Idempotent for a given id.
   * @returns true when this call inserted it.
   */
  async addDelivery(delivery: { id: string; webhookId: string; eventId: string; trigger: DeliveryTrigger }, db: Queryable = this.pool): Promise<boolean> {
    const result = await db.query(
      `INSERT INTO sluice.webhook_deliveries (id, webhook_id, event_id, trigger) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
      [delivery.id, delivery.webhookId, delivery.eventId, delivery.trigger],
    );
    return result.rowCount === 1;
  }

  /** The enabled webhooks subscribed to an event type. */
  async subscribersOf(type: EventType, db: Queryable = this.pool): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>(
      `SELECT id FROM sluice.webhooks WHERE NOT disabled AND deleted_at IS NULL AND (cardinality(events) = 0 OR $1 = ANY(events)) ORDER BY id`,
      [type],
    );
    return rows.map((r) => r.id);
  }

  /** Ids of an event's deliveries still pending (those a publisher must make sure are started). */
  async pendingDeliveriesOf(eventId: string, db: Queryable = this.pool): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>(`SELECT id FROM sluice.webhook_deliveries WHERE event_id = $1 AND status = 'pending' ORDER BY id`, [eventId]);
    return rows.map((r) => r.id);
  }

  /** One delivery with its attempts, or null. */
  async getDelivery(id: string): Promise<Delivery | null> {
    const found = await this.deliveries('d.id = $1', [id], 1);
    return found[0] ?? null;
  }

  /** A delivery, its webhook and its event's payload, in one query; null when there is no such delivery. */
  async deliveryForAttempt(id: string): Promise<DeliveryForAttempt | null> {
    const { rows } = await this.pool.query<
      WebhookRow & { delivery_status: DeliveryStatus; delivery_attempts: number; delivery_last_error: string | null; last_http_status: number | null; event_id: string; payload: EventPayload }
    >(
      `SELECT w.*, d.status AS delivery_status, d.attempts AS delivery_attempts, d.last_error AS delivery_last_error, d.event_id, e.payload,
         (SELECT a.http_status FROM sluice.webhook_attempts a WHERE a.delivery_id = d.id ORDER BY a.attempt DESC LIMIT 1) AS last_http_status
       FROM sluice.webhook_deliveries d JOIN sluice.webhooks w ON w.id = d.webhook_id JOIN sluice.events e ON e.id = d.event_id
       WHERE d.id = $1`,
      [id],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      id,
      status: row.delivery_status,
      attempts: row.delivery_attempts,
      lastHttpStatus: row.last_http_status,
      lastError: row.delivery_last_error,
      webhook: toWebhookWithSecrets(row),
      eventId: row.event_id,
      payload: row.payload,
    };
  }

  /**
   * A webhook's deliveries, newest first, each with its attempts (oldest first).
   * @param options.status only those in this status; `limit` 1–500.
   */
  async listDeliveries(webhookId: string, options: { status?: DeliveryStatus; limit: number }): Promise<Delivery[]> {
    return options.status
      ? this.deliveries('d.webhook_id = $1 AND d.status = $2', [webhookId, options.status], options.limit)
      : this.deliveries('d.webhook_id = $1', [webhookId], options.limit);
  }

  /** Events whose latest delivery to this webhook failed at or after `since` (what `recover` re-sends). */
  async failedEventsSince(webhookId: string, since: Date): Promise<string[]> {
    const { rows } = await this.pool.query<{ event_id: string }>(
      `SELECT event_id FROM (
         SELECT DISTINCT ON (event_id) event_id, status, updated_at FROM sluice.webhook_deliveries
         WHERE webhook_id = $1 ORDER BY event_id, created_at DESC, id DESC
       ) latest
       WHERE status = 'failed' AND updated_at >= $2 ORDER BY updated_at`,
      [webhookId, since],
    );
    return rows.map((r) => r.event_id);
  }

  /** Deliveries waiting for an attempt, across all webhooks (the `pending deliveries` gauge). */
  async countPending(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM sluice.webhook_deliveries WHERE status = 'pending'`);
    return Number(rows[0]!.n);
  }

  /** Records an attempt (idempotent per attempt number: a retried activity overwrites its own row) and the delivery's new state. */
  async recordAttempt(
    deliveryId: string,
    attempt: DeliveryAttempt,
    state: { status: DeliveryStatus; nextAttemptAt: Date | null; lastError: string | null },
    db: Queryable = this.pool,
  ): Promise<void> {
    await db.query(
      `INSERT INTO sluice.webhook_attempts (delivery_id, attempt, attempted_at, http_status, latency_ms, error, response, next_retry_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (delivery_id, attempt) DO UPDATE SET attempted_at = EXCLUDED.attempted_at, http_status = EXCLUDED.http_status,
         latency_ms = EXCLUDED.latency_ms, error = EXCLUDED.error, response = EXCLUDED.response, next_retry_at = EXCLUDED.next_retry_at`,
      [deliveryId, attempt.attempt, attempt.attemptedAt, attempt.httpStatus, Math.round(attempt.latencyMs), attempt.error, attempt.response, attempt.nextRetryAt],
    );
    await this.setDeliveryState(deliveryId, { ...state, attempts: attempt.attempt }, db);
  }

  /** Sets a delivery's status (e.g. failed without an attempt, when its webhook was deleted or disabled). */
  async setDeliveryState(
    deliveryId: string,
    state: { status: DeliveryStatus; nextAttemptAt: Date | null; lastError: string | null; attempts?: number },
    db: Queryable = this.pool,
  ): Promise<void> {
    await db.query(
      `UPDATE sluice.webhook_deliveries SET status = $2, next_attempt_at = $3, last_error = $4,
         attempts = GREATEST(attempts, COALESCE($5, 0)), updated_at = now() WHERE id = $1`,
      [deliveryId, state.status, state.nextAttemptAt, state.lastError, state.attempts ?? null],
    );
  }

  private async deliveries(where: string, values: unknown[], limit: number): Promise<Delivery[]> {
    const { rows } = await this.pool.query<{
      id: string;
      webhook_id: string;
      event_id: string;
      event_type: EventType;
      trigger: DeliveryTrigger;
      status: DeliveryStatus;
      next_attempt_at: Date | null;
      last_error: string | null;
      created_at: Date;
      updated_at: Date;
      attempts: Array<{ attempt: number; attempted_at: string; http_status: number | null; latency_ms: number; error: string | null; response: string | null; next_retry_at: string | null }> | null;
    }>(
      `SELECT d.id, d.webhook_id, d.event_id, e.type AS event_type, d.trigger, d.status, d.next_attempt_at, d.last_error, d.created_at, d.updated_at,
         (SELECT json_agg(a ORDER BY a.attempt) FROM sluice.webhook_attempts a WHERE a.delivery_id = d.id) AS attempts
       FROM sluice.webhook_deliveries d JOIN sluice.events e ON e.id = d.event_id
       WHERE ${where} ORDER BY d.created_at DESC, d.id DESC LIMIT ${Number(limit)}`,
      values,
    );
    return rows.map((r) => ({
      id: r.id,
      webhookId: r.webhook_id,
      eventId: r.event_id,
      eventType: r.event_type,
      trigger: r.trigger,
      status: r.status,
      nextAttemptAt: r.next_attempt_at,
      lastError: r.last_error,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      attempts: (r.attempts ?? []).map((a) => ({
        attempt: a.attempt,
        attemptedAt: new Date(a.attempted_at),
        httpStatus: a.http_status,
        latencyMs: a.latency_ms,
        error: a.error,
        response: a.response,
        nextRetryAt: a.next_retry_at ? new Date(a.next_retry_at) : null,
      })),
    }));
  }
}
