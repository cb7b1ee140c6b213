/**
 * Activities of the `deliverWebhook` workflow, run by the gateway's delivery worker.
 *
 * `attemptDelivery` makes one attempt and decides what follows:
 *
 * | response | what happens |
 * |---|---|
 * | 2xx | delivered; the endpoint's failure streak is reset |
 * | 410 Gone | the endpoint is disabled (`webhook.disabled` is emitted), the delivery fails, no retry |
 * | other status, timeout, connection error, unsafe address | retried after the next delay of the schedule, or after `Retry-After` when the response has one (capped at the schedule's longest delay) |
 * | failing for `disable_after` (default 5 days) without a success | the endpoint is disabled, the delivery fails |
 * | last attempt of the schedule fails | the delivery fails (`recover` or `redeliver` send it again) |
 *
 * Every attempt is logged in `sluice.webhook_attempts` (time, HTTP status, latency, error, response
 * excerpt, next retry). Deliveries of a deleted or disabled endpoint fail at their next attempt without
 * sending. Rules from the Standard Webhooks spec (https://www.standardwebhooks.com/): signed
 * `webhook-id` / `webhook-timestamp` / `webhook-signature` headers, redirects not followed, 410 disables.
 */
import type { Logger } from 'pino';
import type { WebhookSettings } from '../config/sluice-config';
import type { DeliveryMetrics } from '../webhooks/delivery-metrics';
import { sendWebhook } from '../webhooks/send-webhook';
import { deterministicId, type EventPayload, type WebhookDisabledData } from '../webhooks/events';
import type { EventPublisher } from '../webhooks/event-publisher';
import { signingSecrets } from '../webhooks/webhook-store';
import { withActivityBoundary } from './activity-boundary';

export interface DeliveryActivityDeps {
  settings: WebhookSettings;
  /** Stores the delivery log and publishes `webhook.disabled`. */
  publisher: EventPublisher;
  metrics: DeliveryMetrics;
  logger: Logger;
}

export type DeliveryOutcome =
  | { outcome: 'succeeded'; attempts: number; httpStatus: number }
  | { outcome: 'failed'; attempts: number; reason: string }
  | { outcome: 'retry'; attempts: number; nextDelayMs: number };

export interface AttemptDeliveryInput {
  deliveryId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The schedule's delay before the next attempt, or null when this is the last one. */
  scheduledDelayMs: number | null;
}

export function createDeliveryActivities(deps: DeliveryActivityDeps) {
  const { settings, publisher, metrics, logger } = deps;
  const store = publisher.webhooks;
  const longestDelayMs = Math.max(...settings.retryScheduleMs);

  /** Disables the endpoint (once) and emits `webhook.disabled` to the other subscribers. */
  const disable = async (webhookId: string, url: string, reason: string) => {
    const disabledAt = await store.disable(webhookId, reason);
    if (!disabledAt) return;
    logger.warn({ webhookId, url, reason }, 'webhook endpoint disabled');
    const payload: EventPayload<WebhookDisabledData> = {
      type: 'webhook.disabled',
      timestamp: disabledAt.toISOString(),
      data: { webhook_id: webhookId, url, reason },
    };
    await publisher.publish({ id: deterministicId('evt', webhookId, 'disabled', payload.timestamp), runId: null, executionId: null, payload });
  };

  const fail = async (deliveryId: string, attempts: number, reason: string): Promise<DeliveryOutcome> => {
    await store.setDeliveryState(deliveryId, { status: 'failed', nextAttemptAt: null, lastError: reason });
    metrics.finished('failed');
    return { outcome: 'failed', attempts, reason };
  };

  return withActivityBoundary(logger, {
    /** The retry schedule and per-attempt timeout, from the gateway's config (recorded in the workflow's history). */
    async planDelivery(_input: { deliveryId: string }): Promise<{ retryScheduleMs: number[]; timeoutMs: number }> {
      return { retryScheduleMs: [...settings.retryScheduleMs], timeoutMs: settings.timeoutMs };
    },

    /**
     * One attempt of a delivery: sign, send, log, decide.
     * @throws only on metadata-database or Temporal errors (the activity is then retried; the attempt row is overwritten).
     */
    async attemptDelivery(input: AttemptDeliveryInput): Promise<DeliveryOutcome> {
      const delivery = await store.deliveryForAttempt(input.deliveryId);
      if (!delivery) throw new Error(`delivery ${input.deliveryId} is not in the delivery log`);
      if (delivery.status === 'succeeded') return { outcome: 'succeeded', attempts: delivery.attempts, httpStatus: delivery.lastHttpStatus ?? 200 };
      if (delivery.status === 'failed') return { outcome: 'failed', attempts: delivery.attempts, reason: delivery.lastError ?? 'failed' };
      const { webhook } = delivery;
      if (webhook.deleted) return fail(delivery.id, input.attempt - 1, 'the webhook was deleted');
      if (webhook.disabled) return fail(delivery.id, input.attempt - 1, `the endpoint is disabled: ${webhook.disabledReason ?? 'no reason recorded'}`);

      const attemptedAt = new Date();
      const result = await sendWebhook({
        url: webhook.url,
        id: delivery.eventId,
        timestamp: attemptedAt,
        payload: JSON.stringify(delivery.payload),
        secrets: signingSecrets(webhook, attemptedAt),
        timeoutMs: settings.timeoutMs,
        policy: settings,
      });
      metrics.attempt(result.kind, result.latencyMs);
      const attempt = {
        attempt: input.attempt,
        attemptedAt,
        httpStatus: result.httpStatus,
        latencyMs: result.latencyMs,
        error: result.error,
        response: result.responseExcerpt,
        nextRetryAt: null as Date | null,
      };
      const log = { deliveryId: delivery.id, webhookId: webhook.id, eventId: delivery.eventId, attempt: input.attempt, httpStatus: result.httpStatus, latencyMs: result.latencyMs };

      if (result.ok) {
        await store.recordHealth(webhook.id, true);
        await store.recordAttempt(delivery.id, attempt, { status: 'succeeded', nextAttemptAt: null, lastError: null });
        metrics.finished('succeeded');
        logger.debug(log, 'webhook delivered');
        return { outcome: 'succeeded', attempts: input.attempt, httpStatus: result.httpStatus! };
      }

      const failingMs = await store.recordHealth(webhook.id, false);
      let final: string | null = null;
      let disabling: string | null = null;
      if (result.gone) {
        final = 'the endpoint answered 410 Gone: it is disabled';
        disabling = 'the endpoint answered 410 Gone';
      } else if (failingMs >= settings.disableAfterMs) {
        final = `the endpoint has been failing for ${Math.round(failingMs / 1000)} s: it is disabled`;
        disabling = `every delivery failed for ${Math.round(failingMs / 1000)} s (gateway.webhooks.disable_after is ${Math.round(settings.disableAfterMs / 1000)} s); last error: ${result.error}`;
      } else if (input.scheduledDelayMs === null) {
        final = `gave up after ${input.attempt} attempts; last error: ${result.error}`;
      }
      if (final !== null) {
        // The attempt is logged before the endpoint is disabled, so whoever sees it disabled sees why.
        await store.recordAttempt(delivery.id, attempt, { status: 'failed', nextAttemptAt: null, lastError: result.error });
        if (disabling !== null) await disable(webhook.id, webhook.url, disabling);
        metrics.finished('failed');
        logger.info({ ...log, error: result.error, reason: final }, 'webhook delivery failed');
        return { outcome: 'failed', attempts: input.attempt, reason: final };
      }
      const nextDelayMs = result.retryAfterMs !== null ? Math.min(Math.max(result.retryAfterMs, 0), longestDelayMs) : input.scheduledDelayMs!;
      attempt.nextRetryAt = new Date(Date.now() + nextDelayMs);
      await store.recordAttempt(delivery.id, attempt, { status: 'pending', nextAttemptAt: attempt.nextRetryAt, lastError: result.error });
      logger.debug({ ...log, error: result.error, nextDelayMs }, 'webhook delivery attempt failed; will retry');
      return { outcome: 'retry', attempts: input.attempt, nextDelayMs };
    },
  });
}

export type DeliveryActivities = ReturnType<typeof createDeliveryActivities>;
