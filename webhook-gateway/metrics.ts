/**
 * Prometheus metrics of the gateway (prom-client), served at `GET /metrics`:
 * the default process metrics, `sluice_gateway_http_requests_total{route,method,status}` and
 * `sluice_gateway_http_request_duration_seconds{route,method,status}`. `route` is the route template
 * (`/v1/runs/:id`), or `(unmatched)`, never the raw URL, so label cardinality stays bounded.
 *
 * Webhook deliveries (the gateway's delivery worker records them):
 * - `sluice_webhook_delivery_attempts_total{outcome}`: each attempt; outcome `success`, `http_error`,
 *   `gone`, `timeout`, `network_error` or `unsafe_address`.
 * - `sluice_webhook_deliveries_total{outcome}`: deliveries that ended, `succeeded` or `failed`.
 * - `sluice_webhook_delivery_latency_seconds`: time from sending an attempt to its response (or failure).
 * - `sluice_webhook_deliveries_pending`: deliveries waiting for an attempt, read from the delivery log at scrape time.
 */
import type { RequestHandler } from 'express';
import type { WebhookAttemptKind } from './send-webhook';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

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

export interface GatewayMetrics {
  registry: Registry;
  /** Counts and times every request once its response is finished. */
  middleware: RequestHandler;
  deliveries: DeliveryMetrics;
}

/**
 * A fresh registry (one per app, so several apps can live in one process, e.g. in tests).
 * @param pendingDeliveries counts the pending deliveries at scrape time; without it the gauge is absent.
 */
export function createGatewayMetrics(pendingDeliveries?: () => Promise<number>): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ['route', 'method', 'status'] as const;
  const requests = new Counter({ name: 'sluice_gateway_http_requests_total', help: 'HTTP requests served by the gateway', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'sluice_gateway_http_request_duration_seconds',
    help: 'Time to serve an HTTP request of the gateway, in seconds',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const middleware: RequestHandler = (req, res, next) => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const labels = { route: typeof req.route?.path === 'string' ? req.route.path : '(unmatched)', method: req.method, status: String(res.statusCode) };
      requests.inc(labels);
      duration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  };
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
  const deliveries: DeliveryMetrics = {
    attempt(outcome, latencyMs) {
      attempts.inc({ outcome });
      latency.observe(latencyMs / 1000);
    },
    finished(outcome) {
      finished.inc({ outcome });
    },
  };
  return { registry, middleware, deliveries };
}
