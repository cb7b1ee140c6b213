/**
 * Prometheus metrics of webhook deliveries (prom-client), recorded by the delivery activities and served by
 * the gateway at `GET /metrics`:
 * - `sluice_webhook_delivery_attempts_total{outcome}`: each attempt; outcome `success`, `http_error`,
 *   `gone`, `timeout`, `network_error` or `unsafe_address`.
 * - `sluice_webhook_deliveries_total{outcome}`: deliveries that ended, `succeeded` or `failed`.
 * - `sluice_webhook_delivery_latency_seconds`: time from sending an attempt to its response (or failure).
 * - `sluice_webhook_deliveries_pending`: deliveries waiting for an attempt, read from the delivery log at scrape time.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { WebhookAttemptKind } from './send-webhook';

/** An attempt's outcome label: the `kind` of its result. */
export type AttemptOutcome = WebhookAttemptKind;

/** What the delivery activities report; a no-op implementation is used where no gateway serves metrics. */
export interface DeliveryMetrics {
  /** One attempt ended; latency in ms. */
  attempt(outcome: AttemptOutcome, latencyMs: number): void;
  /** One delivery ended for good. */
  finished(outcome: 'succeeded' | 'failed'): void;
}

export const NO_DELIVERY_METRICS: DeliveryMetrics = { attempt() {}, finished() {} };

/**
 * Registers the delivery metrics on `registry`.
 * @param pendingDeliveries counts the pending deliveries at scrape time; without it the gauge is absent.
 */
export function createDeliveryMetrics(registry: Registry, pendingDeliveries?: () => Promise<number>): DeliveryMetrics {
  const attempts = new Counter({ name: 'sluice_webhook_delivery_attempts_total', help: 'Webhook delivery attempts, by outcome', labelNames: ['outcome'], registers: [registry] });
  const finished = new Counter({ name: 'sluice_webhook_deliveries_total', help: 'Webhook deliveries that ended, by outcome', labelNames: ['outcome'], registers: [registry] });
  const latency = new Histogram({
    name: 'sluice_webhook_delivery_latency_seconds',
    help: 'Time from sending a webhook delivery attempt to its response or failure, in seconds',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
    registers: [registry],
  });
  if (pendingDeliveries) {
    new Gauge({
      name: 'sluice_webhook_deliveries_pending',
      help: 'Webhook deliveries waiting for an attempt (first or retry)',
      registers: [registry],
      async collect() {
        this.set(await pendingDeliveries());
      },
    });
  }
  return {
    attempt(outcome, latencyMs) {
      attempts.inc({ outcome });
      latency.observe(latencyMs / 1000);
    },
    finished(outcome) {
      finished.inc({ outcome });
    },
  };
}
