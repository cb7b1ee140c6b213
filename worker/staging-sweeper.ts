/**
 * The worker's hourly staging sweep. It has no rules of its own: each pass is housekeeping's staging sweep
 * (`sweepKind('staging', …)` in ops/housekeeping.ts), with the runs in flight listed right before it, so the staged
 * data of runs that ended more than `retention.staging_days` (else `staging.retention_hours`) ago is deleted with
 * their `data.pipeline` scope, except the scope of a run id that is in flight again. It keeps staging bounded where
 * no housekeeping schedule is applied (a plain `sluice dev` or `sluice worker`).
 *
 * @example
 * ```ts
 * const client = new Client({ connection, namespace: config.temporal.namespace });
 * const sweeper = startStagingSweeper({ config, staging, logger, listInFlight: () => listInFlightFromVisibility(client) });
 * // … at shutdown:
 * sweeper.stop();
 * ```
 */
import type { Logger } from 'pino';
import type { SluiceConfig } from '../config/sluice-config';
import { sweepKind, type InFlightRun, type SweepRetentionResult } from '../ops/housekeeping';
import type { Staging } from '../storage/staging';

/** Time between two sweeps, in ms: one hour. */
export const STAGING_SWEEP_INTERVAL_MS = 3_600_000;

export interface StagingSweepOptions {
  config: SluiceConfig;
  staging: Staging;
  /** Lists the workflows in flight (the worker: `listInFlightFromVisibility` on a client over its connection). */
  listInFlight: () => Promise<InFlightRun[]>;
  logger: Logger;
}

/**
 * One pass of the sweep. Never throws: a failure is logged, and when the runs in flight cannot be listed nothing
 * is deleted this time.
 * @returns housekeeping's staging report, or undefined when the pass failed.
 */
export async function sweepStagingOnce(options: StagingSweepOptions): Promise<SweepRetentionResult | undefined> {
  const { config, staging, logger } = options;
  try {
    const inFlight = await options.listInFlight();
    const result = await sweepKind('staging', { config, staging, dryRun: false, nowMs: Date.now(), inFlight, logger });
    if (result.deleted.count > 0) {
      logger.info(
        { deleted: result.deleted.count, pipelineDataPurged: result.pipelineDataPurged?.length ?? 0, kept: result.keptCount },
        'staging retention: deleted finished runs and their pipeline data',
      );
    }
    return result;
  } catch (error) {
    logger.warn({ err: error }, 'staging retention sweep failed');
    return undefined;
  }
}

/** Sweeps once now, then every {@link STAGING_SWEEP_INTERVAL_MS}; the timer does not keep the process alive. */
export function startStagingSweeper(options: StagingSweepOptions): { stop(): void } {
  const timer = setInterval(() => void sweepStagingOnce(options), STAGING_SWEEP_INTERVAL_MS);
  timer.unref();
  void sweepStagingOnce(options);
  return { stop: () => clearInterval(timer) };
}
