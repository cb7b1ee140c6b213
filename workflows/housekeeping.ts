/**
 * The `housekeeping` workflow: applies the `retention` windows of config — deletes date folders of
 * `data/backup` and `data/errors`, files of `logs/` and staged data of finished runs older than their window —
 * and never touches the files of a run in flight (the rules: ops/housekeeping.ts). Run daily
 * by a Temporal Schedule (`housekeepingScheduleSpec` in pipelines/pipeline-schedules.ts, created by `sluice schedules apply`), or now with
 * `sluice housekeeping run [--dry-run]`. It runs on the run task queue, where every Sluice worker serves it.
 *
 * One `sweepRetention` activity per kind, in order, all with the workflow's "now". A kind that fails (after its
 * retries) does not stop the others; the workflow then fails with type `HousekeepingIncomplete` and the report
 * of what was done in its details.
 *
 * Deterministic: imports only `@temporalio/workflow` and activity *types*.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import { HOUSEKEEPING_INCOMPLETE_TYPE } from '../common/workflow-types';
import type { HousekeepingActivities } from '../activities/housekeeping-activities';
import type { HousekeepingInput, HousekeepingReport, RetentionKind, SweepRetentionResult } from '../ops/housekeeping';

/** The kinds, in the order they are swept. */
export const RETENTION_KINDS: readonly RetentionKind[] = ['backup', 'errors', 'logs', 'staging'];

/** Sweeps every kind; returns the report (see {@link HousekeepingReport}). */
export async function housekeeping(input: HousekeepingInput = {}): Promise<HousekeepingReport> {
  const { sweepRetention, retentionWindows } = proxyActivities<HousekeepingActivities>({
    startToCloseTimeout: '1h',
    heartbeatTimeout: '2m',
    retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
  });
  const nowMs = Date.now();
  const dryRun = input.dryRun ?? false;
  const windows = await retentionWindows();
  const kinds: SweepRetentionResult[] = [];
  const errors: HousekeepingReport['errors'] = [];
  for (const kind of RETENTION_KINDS) {
    try {
      kinds.push(await sweepRetention({ kind, dryRun, nowMs }));
    } catch (error) {
      if (!(error instanceof ActivityFailure)) throw error;
      errors.push({ kind, message: error.cause?.message ?? error.message });
    }
  }
  const inFlight = [...new Set(kinds.flatMap((k) => k.inFlight))].slice(0, 100);
  const report: HousekeepingReport = { dryRun, startedAt: new Date(nowMs).toISOString(), windows, kinds, inFlight, errors };
  if (errors.length > 0) {
    throw ApplicationFailure.create({
      type: HOUSEKEEPING_INCOMPLETE_TYPE,
      message: `housekeeping could not sweep ${errors.map((e) => `${e.kind} (${e.message})`).join(', ')}; the other kinds were swept`,
      nonRetryable: true,
      details: [report],
    });
  }
  return report;
}
