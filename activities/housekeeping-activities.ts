/**
 * The activities of the `housekeeping` workflow (workflows/housekeeping.ts): `sweepRetention`, one kind at a time,
 * over the rules of ops/housekeeping.ts, and `retentionWindows`.
 */
import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import { retentionSettings, type RetentionSettings, type SluiceConfig } from '../config/sluice-config';
import { listInFlightFromVisibility, sweepKind, type InFlightRun, type SweepRetentionInput, type SweepRetentionResult } from '../ops/housekeeping';
import type { Staging } from '../storage/staging';
import { withActivityBoundary } from './activity-boundary';

export interface HousekeepingDeps {
  config: SluiceConfig;
  staging: Staging;
  logger: Logger;
  /** Lists the workflows in flight. @default {@link listInFlightFromVisibility} on the activity's client */
  listInFlight?: () => Promise<InFlightRun[]>;
}

export function createHousekeepingActivities(deps: HousekeepingDeps) {
  const listInFlight = deps.listInFlight ?? (() => listInFlightFromVisibility(Context.current().client));
  return withActivityBoundary(deps.logger, {
    /** Deletes one kind's files older than its window, keeping those of runs in flight; see the module doc. */
    async sweepRetention(input: SweepRetentionInput): Promise<SweepRetentionResult> {
      const context = Context.current();
      const inFlight = await listInFlight();
      const result = await sweepKind(input.kind, {
        config: deps.config,
        staging: deps.staging,
        dryRun: input.dryRun,
        nowMs: input.nowMs,
        inFlight,
        heartbeat: () => context.heartbeat(),
        logger: deps.logger,
      });
      deps.logger.info(
        { kind: input.kind, dryRun: input.dryRun, deleted: result.deleted.count, files: result.deleted.files, bytes: result.deleted.bytes, kept: result.keptCount },
        'housekeeping: retention swept',
      );
      return result;
    },
    /** The retention windows of the worker's config (what the report states). */
    async retentionWindows(): Promise<RetentionSettings> {
      return retentionSettings(deps.config);
    },
  });
}

export type HousekeepingActivities = ReturnType<typeof createHousekeepingActivities>;
