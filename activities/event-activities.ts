/**
 * `publishRunEvent`: hands one status transition of a run to the webhook gateway. Called by the
 * `runFlow` workflow at every transition (events come from an activity, never from workflow code).
 *
 * The event is stored in `sluice.events` under a deterministic id (execution, status) and one
 * durable `deliverWebhook` workflow is started per subscribed webhook, on the webhooks task queue
 * that `sluice gateway` serves (see `webhooks/event-publisher.ts`). A retry of this activity stores
 * nothing new and starts nothing twice.
 */
import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { TERMINAL_STATUSES, type RunError, type RunStatus, type RunWarning, type StepName } from '../common/run-model';
import { runEventId, runEventType, type EventPayload, type RunEventData, type RunRows } from '../webhooks/events';
import { EventPublisher, webhooksTaskQueue } from '../webhooks/event-publisher';
import { withActivityBoundary } from './activity-boundary';
import { recordRunEnded } from './run-metrics';

export interface PublishRunEventInput {
  runId: string;
  executionId: string;
  status: RunStatus;
  flowVersion: string;
  sourcePath: string;
  runMetadata: Record<string, unknown>;
  rows: RunRows;
  error?: RunError;
  warnings?: RunWarning[];
  /** With a final status: each ended step's duration in ms, for the run metrics (activities/run-metrics.ts). */
  stepsMs?: Partial<Record<StepName, number>>;
  /** A dry run's events carry `dry_run: true`. */
  dryRun?: boolean;
  /** The user who started the run: the events carry it as `started_by`. */
  startedBy?: string;
}

export function createEventActivities(deps: { pool: Pool; runTaskQueue: string; logger: Logger }) {
  const taskQueue = webhooksTaskQueue(deps.runTaskQueue);
  return withActivityBoundary(deps.logger, {
    /**
     * Stores the transition's event and starts its deliveries.
     * @returns the event id, how many deliveries it has, and `publishedAt`, the time of this attempt
     * (ISO-8601): `runFlow` takes a step's start time from it, because a local activity's result is
     * recorded in the history and the workflow clock after one is not the same on replay.
     */
    async publishRunEvent(input: PublishRunEventInput): Promise<{ eventId: string; deliveries: number; publishedAt: string }> {
      const data: RunEventData = {
        run_id: input.runId,
        status: input.status,
        flow_version: input.flowVersion,
        source_path: input.sourcePath,
        run_metadata: input.runMetadata,
        rows: input.rows,
        ...(input.startedBy !== undefined ? { started_by: input.startedBy } : {}),
        ...(input.error ? { error: input.error } : {}),
        ...(input.warnings ? { warnings: input.warnings } : {}),
        ...(input.dryRun ? { dry_run: true as const } : {}),
      };
      const payload: EventPayload<RunEventData> = { type: runEventType(input.status), timestamp: new Date().toISOString(), data };
      const eventId = runEventId(input.executionId, input.status);
      const publisher = new EventPublisher(deps.pool, Context.current().client, taskQueue, deps.logger);
      const { inserted, deliveries } = await publisher.publish({ id: eventId, runId: input.runId, executionId: input.executionId, payload });
      // Counted when the final event is first stored: a retry, or a local activity run again after its
      // workflow task was rejected, finds it stored and does not count twice.
      // A dry run loads nothing: it is not counted with the runs.
      if (inserted && TERMINAL_STATUSES.includes(input.status) && !input.dryRun) recordRunEnded({ flowVersion: input.flowVersion, status: input.status, rows: input.rows, stepsMs: input.stepsMs });
      return { eventId, deliveries: deliveries.length, publishedAt: payload.timestamp };
    },
  });
}

export type EventActivities = ReturnType<typeof createEventActivities>;
