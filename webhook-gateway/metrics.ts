/**
 * Prometheus metrics of the gateway (prom-client), served at `GET /metrics`:
 * the default process metrics, `sluice_gateway_http_requests_total{route,method,status}` and
 * `sluice_gateway_http_request_duration_seconds{route,method,status}`. `route` is the route template
 * (`/v1/runs/:id`), or `(unmatched)`, never the raw URL, so label cardinality stays bounded.
 *
 * Webhook deliveries, recorded by the gateway's delivery worker on the same registry: `webhooks/delivery-metrics.ts`.
 * Runs (`sluice_runs_total`, `sluice_run_rows_total`, `sluice_run_step_duration_seconds`), recorded by a worker in
 * the same process: `activities/run-metrics.ts`.
 */
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { runMetricsRegistry } from '../activities/run-metrics';
import { createDeliveryMetrics, type DeliveryMetrics } from '../webhooks/delivery-metrics';

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
  const deliveries = createDeliveryMetrics(registry, pendingDeliveries);
  // The process's run metrics, live (merge keeps the metric objects, not a copy of their values).
  return { registry: Registry.merge([registry, runMetricsRegistry]), middleware, deliveries };
}
