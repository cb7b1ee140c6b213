/**
 * Prometheus metrics of runs (prom-client), recorded by the worker that publishes a run's final event
 * (`publishRunEvent`, once per run execution that ends) and served by the gateway at `GET /metrics`
 * when the gateway runs in the same process as the worker (`sluice dev`, `npm start`):
 * - `sluice_runs_total{flow,status}`: runs that ended, by flow and final status (SUCCEEDED, PARTIAL_FAILED, FAILED, CRASHED).
 * - `sluice_run_rows_total{flow,kind}`: rows of ended runs, `kind` one of read, mapped, rejected, written.
 * - `sluice_run_step_duration_seconds{flow,step}`: how long each step of an ended run took (sync_source, transform, sync_target).
 *
 * The registry is one per process ({@link runMetricsRegistry}): every worker of the process records into it,
 * and each gateway app merges it into its own registry.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import type { RunStatus, StepName } from '../common/run-model';

/** The process's run metrics. */
export const runMetricsRegistry = new Registry();

const runs = new Counter({ name: 'sluice_runs_total', help: 'Runs that ended, by flow and final status', labelNames: ['flow', 'status'], registers: [runMetricsRegistry] });
const rows = new Counter({
  name: 'sluice_run_rows_total',
  help: 'Rows of ended runs, by flow and kind (read, mapped, rejected, written)',
  labelNames: ['flow', 'kind'],
  registers: [runMetricsRegistry],
});
const stepDuration = new Histogram({
  name: 'sluice_run_step_duration_seconds',
  help: 'Time a step of a run took (sync_source, transform, sync_target), in seconds',
  labelNames: ['flow', 'step'],
  buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600],
  registers: [runMetricsRegistry],
});

/** What {@link recordRunEnded} needs of an ended run. */
export interface EndedRun {
  /** `flow:vN`; the metrics carry the flow name only (bounded label cardinality). */
  flowVersion: string;
  status: RunStatus;
  rows: { read: number; mapped: number; rejected: number; written: number };
  /** Each ended step's duration in milliseconds. */
  stepsMs?: Partial<Record<StepName, number>>;
}

/** Counts one ended run, its rows and its step durations. */
export function recordRunEnded(run: EndedRun): void {
  const flow = run.flowVersion.split(':')[0] ?? run.flowVersion;
  runs.inc({ flow, status: run.status });
  for (const kind of ['read', 'mapped', 'rejected', 'written'] as const) rows.inc({ flow, kind }, run.rows[kind]);
  for (const [step, ms] of Object.entries(run.stepsMs ?? {})) if (ms !== undefined) stepDuration.observe({ flow, step }, ms / 1000);
}
