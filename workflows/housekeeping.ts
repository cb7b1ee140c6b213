/**
 * The `housekeeping` workflow: applies the `retention` windows of config — deletes date folders of
 * `data/backup` and `data/errors`, files of `logs/` and staged data of finished runs older than their window —
 * and never touches the files of a run in flight (the rules: activities/housekeeping-activities.ts). Run daily
 * by a Temporal Schedule ({@link housekeepingScheduleSpec}, created by `sluice schedules apply`), or now with
 * `sluice housekeeping run [--dry-run]`. It runs on the run task queue, where every Sluice worker serves it.
 *
 * One `sweepRetention` activity per kind, in order, all with the workflow's "now". A kind that fails (after its
 * retries) does not stop the others; the workflow then fails with type `HousekeepingIncomplete` and the report
 * of what was done in its details.
 *
 * Deterministic: imports only `@temporalio/workflow` and activity *types*.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { HousekeepingActivities, HousekeepingInput, HousekeepingReport, RetentionKind, SweepRetentionResult } from '../activities/housekeeping-activities';

/** The Temporal workflow type. */
export const HOUSEKEEPING_WORKFLOW_TYPE = 'housekeeping';

/** The failure type when some kind could not be swept; its details hold the {@link HousekeepingReport}. */
export const HOUSEKEEPING_INCOMPLETE_TYPE = 'HousekeepingIncomplete';

/** The kinds, in the order they are swept. */
export const RETENTION_KINDS: readonly RetentionKind[] = ['backup', 'errors', 'logs', 'staging'];

/**
 * The daily schedule of housekeeping, for `sluice schedules apply`: 03:30 every day (UTC unless the schedule
 * sets a time zone), on the run task queue. `scheduleId` is a stable id for the Temporal Schedule.
 */
export function housekeepingScheduleSpec(): { scheduleId: string; workflowType: string; cron: string; args: [HousekeepingInput] } {
  return { scheduleId: 'sluice-housekeeping', workflowType: HOUSEKEEPING_WORKFLOW_TYPE, cron: '30 3 * * *', args: [{ dryRun: false }] };
}

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
