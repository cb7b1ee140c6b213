/**
 * The `runFlow` workflow: one run of a flow version against one source_path.
 *
 * CREATED → SYNCING_SOURCE → TRANSFORMING → SYNCING_TARGET → SUCCEEDED | PARTIAL_FAILED,
 * or FAILED (a user-fixable error, non-retryable) / CRASHED (retries exhausted or an unexpected
 * error). FAILED and CRASHED also fail the Temporal execution, so the workflow-id reuse policy
 * lets the same (flow version, source_path) run again, and the Temporal UI shows it failed.
 *
 * Deterministic: imports only `@temporalio/workflow`, the shared run model and activity *types*.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DryRunActivities } from '../activities/dry-run';
import type { EventActivities } from '../activities/event-activities';
import type { ReprocessActivities } from '../activities/reprocess';
import type { RunActivities, SyncSourceOutput, TransformAndLoadOutput, TransformChunkOutput } from '../activities/run-activities';
import { planChunks } from '../common/chunk-plan';
import type { ErrorCode } from '../common/error-codes';
import { runDetails } from './user-metadata';
import {
  metadataQuery,
  RUN_CRASHED_TYPE,
  RUN_FAILED_TYPE,
  SEARCH_ATTRIBUTES,
  statusQuery,
  TERMINAL_STATUSES,
  type RunError,
  type RunFlowInput,
  type RunMetadata,
  type RunStatus,
  type StepName,
  type TransformProgress,
} from '../common/run-model';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s', maximumAttempts: 10 };

const { syncSource, transformChunk, finishTransform, syncTarget, transformAndLoad } = proxyActivities<RunActivities>({
  startToCloseTimeout: '6h',
  heartbeatTimeout: '30s',
  retry,
});
// A reprocess's source: the earlier run's unresolved rejects, read back from the target (activities/reprocess.ts).
const { stageRejectsOf } = proxyActivities<ReprocessActivities>({ startToCloseTimeout: '6h', heartbeatTimeout: '30s', retry });
const { dryRunReport } = proxyActivities<DryRunActivities>({ startToCloseTimeout: '1h', retry });
// A source connector's after-load action (sftp move_to): a few attempts; a failure is a warning, the load stands.
const { afterSourceLoaded } = proxyActivities<RunActivities>({ startToCloseTimeout: '10m', retry: { ...retry, maximumAttempts: 5 } });

/**
 * The run's bookkeeping (its events and the staging retention marker) runs as **local activities**:
 * on the worker that runs the workflow task, inside that task, without a round trip through the
 * task queue (about 5 of a small run's 8 activity calls; docs/benchmarks.md, "Small runs").
 * An event must never be lost: publishing retries until the metadata database and Temporal answer
 * (no maximumAttempts: unlimited; a retry stores nothing twice, webhooks/event-publisher.ts).
 * Runs started before this change replay with remote activities (the `patched` marker below).
 */
export const LOCAL_BOOKKEEPING_PATCH = 'sluice-local-bookkeeping';
const eventRetry = { initialInterval: retry.initialInterval, backoffCoefficient: retry.backoffCoefficient, maximumInterval: retry.maximumInterval };
// (Each proxy names its activities on use: a proxy object cannot be spread.)
const remote = {
  publishRunEvent: proxyActivities<EventActivities>({ startToCloseTimeout: '1m', retry: eventRetry }).publishRunEvent,
  finishRun: proxyActivities<RunActivities>({ startToCloseTimeout: '10m', retry: { ...retry, maximumAttempts: 3 } }).finishRun,
};
const local = {
  publishRunEvent: proxyLocalActivities<EventActivities>({ startToCloseTimeout: '1m', retry: eventRetry }).publishRunEvent,
  finishRun: proxyLocalActivities<RunActivities>({ startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 3 } }).finishRun,
};
/** The bookkeeping activities: local for runs started on this code, remote for runs in flight from before. */
const bookkeeping = () => (patched(LOCAL_BOOKKEEPING_PATCH) ? local : remote);

/**
 * A one-pass run of at most this many source rows maps and loads in a **local activity**: on the worker that
 * runs the workflow task, without the task queue's round trip (~50–70 ms of a 10-row run's ~250 ms here;
 * docs/benchmarks.md, "Small runs"). Its work takes well under a second, inside the workflow task's
 * heartbeat; a worker lost mid-load leaves its transaction rolled back, and the next workflow task runs it
 * again (the ledger keeps the load exactly once). Larger runs keep the remote activity: it heartbeats, and its
 * progress shows on the pending activity. Runs started before this change replay with the remote one.
 */
export const SMALL_RUN_ROWS = 10_000;
export const SMALL_LOCAL_LOAD_PATCH = 'sluice-small-local-load';
const { transformAndLoad: transformAndLoadLocally } = proxyLocalActivities<RunActivities>({ startToCloseTimeout: '5m', retry });

/** Error codes raised by the target (the one-pass path reports them at step `sync_target`). */
const TARGET_CODES = /^(TARGET_|AUTH_FAILED$|PERMISSION_DENIED$|CONNECTION_LOST$|REJECTS_OF_CONFLICT$)/;

/** Transform chunks in flight at once for one run, spread over the task queue's workers. */
export const MAX_PARALLEL_CHUNKS = 8;

/** Runs one flow version against one source_path; returns the final metadata. */
export async function runFlow(input: RunFlowInput): Promise<RunMetadata> {
  const info = workflowInfo();
  let status: RunStatus = 'CREATED';
  const metadata: RunMetadata = {
    run: {
      id: info.workflowId,
      execution_id: info.runId,
      flow_version: input.flowVersion,
      source_path: input.sourcePath,
      run_metadata: input.runMetadata ?? {},
      ...(input.startedBy !== undefined ? { started_by: input.startedBy } : {}),
    },
    status,
    rows: { read: 0, mapped: 0, rejected: 0, written: 0 },
    rejects: { location: null, by_rule: {} },
    steps: {},
    ...(input.dryRun ? { dry_run: true as const } : {}),
    ...(input.rejectsOf
      ? {
          rejects_of: {
            run_id: input.rejectsOf.runId,
            execution_id: input.rejectsOf.executionId,
            flow_version: input.rejectsOf.flowVersion,
            source_path: input.rejectsOf.sourcePath,
          },
        }
      : {}),
  };
  setHandler(statusQuery, () => status);
  setHandler(metadataQuery, () => metadata);

  // Every activity carries the run's environment: a worker of another environment refuses it (WRONG_ENVIRONMENT).
  const ref = {
    runId: info.workflowId,
    executionId: info.runId,
    flowVersion: input.flowVersion,
    sourcePath: input.sourcePath,
    ...(input.environment !== undefined ? { environment: input.environment } : {}),
    // Whose secrets the activities resolve (a user name, never a value).
    ...(input.startedBy !== undefined ? { startedBy: input.startedBy } : {}),
    ...(input.rejectsOf ? { rejectsOf: input.rejectsOf } : {}),
  };
  /** A reprocess's outcome: mapped rows were loaded (their earlier rejects resolved), rejected ones are still rejects. */
  const countRecovered = () => {
    if (metadata.rejects_of) Object.assign(metadata.rejects_of, { recovered: metadata.rows.mapped, still_rejected: metadata.rows.rejected });
  };
  /** Hands the current status to the webhook gateway as a `run.*` event (an activity, in order). */
  const publish = (next: RunStatus = status) =>
    bookkeeping().publishRunEvent({
      ...ref,
      status: next,
      runMetadata: metadata.run.run_metadata,
      rows: { ...metadata.rows },
      ...(metadata.error ? { error: metadata.error } : {}),
      ...(metadata.warnings ? { warnings: metadata.warnings } : {}),
      ...(TERMINAL_STATUSES.includes(next) ? { stepsMs: stepDurations(metadata) } : {}),
      ...(input.dryRun ? { dryRun: true } : {}),
    });
  /**
   * Moves to `next` and publishes its event. With local bookkeeping the event is stored first and the
   * status shows after: whoever sees a status (the query, the `SluiceStatus` search attribute, the
   * memo) finds its event stored. Returns the event's time then (undefined for runs from before, whose
   * events were remote activities published after the status changed). A step that starts with a
   * transition takes its start time from there: the workflow clock read right after a local activity
   * differs between the first execution and a replay (the query of a closed run), while an activity's
   * result is recorded in the history.
   */
  const transition = async (next: RunStatus): Promise<string | undefined> => {
    const show = () => {
      status = next;
      metadata.status = next;
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: next }]);
      // `runs list` reads source_path and counts from the memo, without a query per run.
      upsertMemo({ source_path: input.sourcePath, rows: { ...metadata.rows } });
      // The Temporal UI shows these details on the run's page: the Sluice status and counts, not only "Completed".
      setCurrentDetails(runDetails(metadata));
    };
    if (!patched(LOCAL_BOOKKEEPING_PATCH)) {
      show();
      await publish(next);
      return undefined;
    }
    const { publishedAt } = await publish(next);
    show();
    return publishedAt;
  };
  let step: StepName = 'sync_source';
  const begin = async (name: StepName, next: RunStatus) => {
    step = name;
    const started = (metadata.steps[name] = { started_at: new Date().toISOString() });
    started.started_at = (await transition(next)) ?? started.started_at;
  };
  const end = (details: Record<string, unknown>) => {
    const current = metadata.steps[step]!;
    const endedAt = new Date();
    Object.assign(current, details, { ended_at: endedAt.toISOString(), duration_ms: endedAt.getTime() - Date.parse(current.started_at) });
  };

  const ratioFailure = (rejected: number, read: number, maxRejectRatio: number, location: string) =>
    ApplicationFailure.create({
      type: 'REJECT_RATIO_EXCEEDED' satisfies ErrorCode,
      nonRetryable: true,
      message:
        `${rejected} of ${read} rows rejected (${((read === 0 ? 0 : rejected / read) * 100).toFixed(1)}%), above max_reject_ratio ` +
        `${maxRejectRatio}; nothing was written to the target. The rejected rows are in ${location}; ` +
        `fix the source or the flow's rules, or raise max_reject_ratio`,
    });

  /** Only with the rows loaded: the source connector's after-load step (sftp `after_load.move_to`); a failure is a warning. */
  const afterLoad = async (staged: SyncSourceOutput) => {
    if (!staged.afterLoad) return;
    try {
      const date = metadata.steps.sync_source!.started_at.slice(0, 10);
      const after = await afterSourceLoaded({ ...ref, date });
      if (after.movedTo !== null) metadata.steps.sync_target!.source_moved_to = after.movedTo;
    } catch (caught) {
      if (isCancellation(caught)) throw caught;
      const reason = caught instanceof ActivityFailure && caught.cause ? caught.cause.message : caught instanceof Error ? caught.message : String(caught);
      metadata.warnings = [
        ...(metadata.warnings ?? []),
        { code: 'AFTER_LOAD_FAILED' satisfies ErrorCode, step: 'sync_target', message: `the rows were loaded, but the source file was not moved by the connector's after_load: ${reason}` },
      ];
    }
  };

  /**
   * The one-pass path: one activity maps the chunks and streams them into the target's open
   * transaction. The status moves TRANSFORMING → SYNCING_TARGET as the activity starts (the target
   * transaction is open for the whole pass); `metadata.steps` gets the real times of each step, which
   * overlap. A failure is the transform's unless the target raised it.
   */
  const onePass = async (staged: SyncSourceOutput) => {
    const plan = planChunks(staged.files, staged.chunkRows);
    step = 'transform';
    metadata.steps.transform = { started_at: new Date().toISOString() };
    metadata.steps.transform.started_at = (await transition('TRANSFORMING')) ?? metadata.steps.transform.started_at;
    const loadStarted = (metadata.steps.sync_target = { started_at: new Date().toISOString() });
    loadStarted.started_at = (await transition('SYNCING_TARGET')) ?? loadStarted.started_at;
    let done: TransformAndLoadOutput;
    try {
      const small = staged.rows <= SMALL_RUN_ROWS && patched(SMALL_LOCAL_LOAD_PATCH);
      done = await (small ? transformAndLoadLocally : transformAndLoad)({ ...ref, plan, rowsRead: staged.rows, ...(staged.held ? { held: staged.held } : {}) });
    } catch (caught) {
      const cause = activityCause(caught);
      const type = cause instanceof ApplicationFailure ? cause.type : undefined;
      if (type && TARGET_CODES.test(type)) {
        end({});
        step = 'sync_target';
      }
      throw caught;
    }
    const timed = (times: { started_at: string | null; ended_at: string }, details: Record<string, unknown>) => {
      const started = times.started_at ?? times.ended_at;
      return { ...details, started_at: started, ended_at: times.ended_at, duration_ms: Date.parse(times.ended_at) - Date.parse(started), one_pass: true };
    };
    metadata.rows.mapped = done.rowsMapped;
    metadata.rows.rejected = done.rowsRejected;
    metadata.rejects = { location: done.rejectsStagingLocation, by_rule: done.byRule };
    metadata.steps.transform = timed(done.transform, { chunks: done.chunks, workers: done.workers, mapped: done.rowsMapped, rejected: done.rowsRejected });
    if (done.rolledBack || !done.loaded) {
      metadata.steps.sync_target = timed(done.load, { rolled_back: true });
      throw ratioFailure(done.rowsRejected, staged.rows, done.maxRejectRatio, done.rejectsStagingLocation);
    }
    step = 'sync_target';
    const loaded = done.loaded;
    metadata.rows.written = loaded.rowsWritten;
    metadata.rejects.location = done.rowsRejected > 0 ? loaded.rejectsLocation : null;
    metadata.steps.sync_target = timed(done.load, {
      location: loaded.location,
      written: loaded.rowsWritten,
      rejected: loaded.rowsRejected,
      already_loaded: loaded.alreadyLoaded,
      ...(loaded.links && { links: loaded.links }),
    });
    await afterLoad(staged);
    countRecovered();
    await markFinished(ref);
    await transition(done.rowsRejected > 0 ? 'PARTIAL_FAILED' : 'SUCCEEDED');
  };

  try {
    await publish(); // run.created
    await begin('sync_source', 'SYNCING_SOURCE');
    // A run that loads (not a dry run) may hold its source in the worker's memory instead of staging it.
    const staged = input.rejectsOf ? await stageRejectsOf(ref) : await syncSource({ ...ref, ...(input.dryRun ? {} : { hold: true }) });
    metadata.rows.read = staged.rows;
    end({ rows: staged.rows, files: staged.held ? 0 : staged.files.length, format: staged.format, ...(staged.held ? { held: true } : {}) });

    // An empty source takes the staged path: its one empty chunk checks the columns and it ends with EMPTY_SOURCE.
    // A dry run always takes the staged path: it stops before the load.
    if (staged.onePass && staged.rows > 0 && !input.dryRun) {
      await onePass(staged);
      return metadata;
    }

    await begin('transform', 'TRANSFORMING');
    // Fan the chunks out over the workers, at most MAX_PARALLEL_CHUNKS at a time.
    const plan = planChunks(staged.files, staged.chunkRows);
    const outputs: TransformChunkOutput[] = [];
    const progress: TransformProgress = (metadata.progress = { chunks_done: 0, chunks_total: plan.length });
    let next = 0;
    let failure: { caught: unknown } | undefined;
    // Runs from before local bookkeeping replay the old fan-out (Promise.all, no stop after a failure).
    const stopOnFailure = patched(LOCAL_BOOKKEEPING_PATCH);
    const lane = async () => {
      while (!(failure && stopOnFailure) && next < plan.length) {
        const index = next++;
        const output = await transformChunk({ ...ref, index, chunk: plan[index]! }).catch((caught: unknown) => {
          failure ??= { caught };
          throw caught;
        });
        outputs.push(output);
        // Live counts for the `metadata` query; finishTransform sets the final ones (after dedupe and a custom map).
        progress.chunks_done++;
        metadata.rows.mapped += output.rowsMapped;
        metadata.rows.rejected += output.rowsRejected;
      }
    };
    // After a chunk fails no other starts, and the run waits for the chunks in flight before it ends: its last
    // events are then published in a workflow task that no late activity result can reject (a rejected task
    // runs its local activities again, with other step times).
    const lanes = Array.from({ length: Math.min(MAX_PARALLEL_CHUNKS, plan.length) }, lane);
    if (!stopOnFailure) await Promise.all(lanes);
    await Promise.allSettled(lanes);
    if (failure) throw failure.caught;
    const transformed = await finishTransform({ ...ref, chunks: outputs, plan, runMetadata: metadata.run.run_metadata });
    metadata.rows.mapped = transformed.rowsMapped;
    metadata.rows.rejected = transformed.rowsRejected;
    metadata.rejects = { location: transformed.rejectsStagingLocation, by_rule: transformed.byRule };
    end({ chunks: transformed.chunks, workers: transformed.workers, mapped: transformed.rowsMapped, rejected: transformed.rowsRejected, ...(transformed.map && { map: transformed.map }) });
    if (input.dryRun) {
      // The report before the ratio check, so a dry run that a real run's ratio would fail still shows why.
      metadata.dry_run_report = await dryRunReport({
        ...ref,
        mappedFiles: transformed.mappedFiles,
        rejectedFiles: transformed.rejectedFiles,
        rows: { read: staged.rows, mapped: transformed.rowsMapped, rejected: transformed.rowsRejected },
      });
    }
    const ratio = staged.rows === 0 ? 0 : transformed.rowsRejected / staged.rows;
    // A reprocess ignores max_reject_ratio: its source is known rejects; the rows it recovers load anyway.
    if (!input.rejectsOf && ratio > transformed.maxRejectRatio) throw ratioFailure(transformed.rowsRejected, staged.rows, transformed.maxRejectRatio, transformed.rejectsStagingLocation);

    if (staged.rows === 0) {
      // (`on_empty: fail` failed in syncSource; the one empty chunk still checked the columns.) An empty batch writes
      // nothing (a `replace` would empty the table); the client and pipelines run the source_path again, not "loaded".
      metadata.warnings = [{ code: 'EMPTY_SOURCE' satisfies ErrorCode, step: 'sync_source', message: `source_path "${input.sourcePath}" read 0 rows; nothing was written and the source_path is not marked loaded (on_empty: fail makes this a failure)` }];
      await markFinished(ref);
      await transition('SUCCEEDED');
      return metadata;
    }
    if (input.dryRun) {
      // Nothing is written: no rows, rejects, ledger row, link steps or table; the source is not moved.
      await markFinished(ref);
      await transition(transformed.rowsRejected > 0 ? 'PARTIAL_FAILED' : 'SUCCEEDED');
      return metadata;
    }
    await begin('sync_target', 'SYNCING_TARGET');
    const loaded = await syncTarget({ ...ref, mappedFiles: transformed.mappedFiles, rejectedFiles: transformed.rejectedFiles });
    metadata.rows.written = loaded.rowsWritten;
    metadata.rejects.location = transformed.rowsRejected > 0 ? loaded.rejectsLocation : null;
    end({ location: loaded.location, written: loaded.rowsWritten, rejected: loaded.rowsRejected, already_loaded: loaded.alreadyLoaded, ...(loaded.links && { links: loaded.links }) });
    await afterLoad(staged);
    countRecovered();

    await markFinished(ref);
    await transition(transformed.rowsRejected > 0 ? 'PARTIAL_FAILED' : 'SUCCEEDED');
    return metadata;
  } catch (caught) {
    const { error, final } = classify(caught, step);
    metadata.error = error;
    const started = metadata.steps[step];
    if (started && !started.ended_at) end({});
    if (error.code === ('WRONG_ENVIRONMENT' satisfies ErrorCode)) {
      // This worker serves another environment: it must not record or announce anything either.
      status = final;
      metadata.status = final;
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: final }]);
    } else {
      // A cancelled run still records and announces how it ended.
      await CancellationScope.nonCancellable(async () => {
        await markFinished(ref);
        await transition(final);
      });
    }
    if (isCancellation(caught)) throw caught;
    throw ApplicationFailure.create({
      type: final === 'FAILED' ? RUN_FAILED_TYPE : RUN_CRASHED_TYPE,
      message: `run ${final}: ${error.code}: ${error.message}`,
      nonRetryable: true,
      details: [metadata],
    });
  }
}

/** Each ended step's duration in ms, for the run metrics of the final event. */
function stepDurations(metadata: RunMetadata): Partial<Record<StepName, number>> {
  const out: Partial<Record<StepName, number>> = {};
  for (const [step, timing] of Object.entries(metadata.steps)) if (timing?.duration_ms !== undefined) out[step as StepName] = timing.duration_ms;
  return out;
}

/** Starts the staging retention clock; a failure here never changes the run's outcome. */
async function markFinished(ref: { runId: string; executionId: string; environment?: string }): Promise<void> {
  try {
    await bookkeeping().finishRun({ runId: ref.runId, executionId: ref.executionId, ...(ref.environment !== undefined ? { environment: ref.environment } : {}) });
  } catch {
    // Without the marker the staged data stays until removed by hand; the outcome is unchanged.
  }
}

/**
 * What an activity raised: a remote activity's failure arrives wrapped in an ActivityFailure, a local
 * activity's (a small run's transformAndLoad) as it is.
 */
function activityCause(caught: unknown): unknown {
  return caught instanceof ActivityFailure ? caught.cause : caught;
}

/** FAILED for non-retryable (user-fixable) failures and cancellation; CRASHED for everything else. */
function classify(caught: unknown, step: StepName): { error: RunError; final: 'FAILED' | 'CRASHED' } {
  if (caught instanceof CancelledFailure || isCancellation(caught)) {
    return { error: { code: 'CANCELLED' satisfies ErrorCode, message: 'the run was cancelled', step }, final: 'FAILED' };
  }
  // The workflow's own failures are non-retryable; an activity's (remote or local) is unwrapped first.
  const cause = activityCause(caught);
  if (cause instanceof ApplicationFailure && cause.nonRetryable) {
    return { error: { code: cause.type ?? ('FAILED' satisfies ErrorCode), message: cause.message, step }, final: 'FAILED' };
  }
  // A retryable failure here is an activity's out of retries (a local one arrives unwrapped).
  if (caught instanceof ActivityFailure || cause instanceof ApplicationFailure) {
    const reason = cause instanceof Error ? cause.message : caught instanceof Error ? caught.message : String(caught);
    return {
      error: { code: 'RETRIES_EXHAUSTED' satisfies ErrorCode, message: `${step} kept failing after its retries: ${reason}`, step },
      final: 'CRASHED',
    };
  }
  const message = caught instanceof Error ? caught.message : String(caught);
  return { error: { code: 'INTERNAL_ERROR' satisfies ErrorCode, message, step }, final: 'CRASHED' };
}
