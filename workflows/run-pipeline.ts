/**
 * The `runPipeline` workflow: one run of a pipeline (`pipelines/<name>.yaml`) for one date and
 * environment. Its jobs run as child `runFlow` workflows on the same task queue, in dependency order,
 * independent ones in parallel; a job whose dependency did not load is SKIPPED with the reason.
 *
 * 1. `recordPipelineRun` (RUNNING in `sluice.pipeline_runs`), then `preparePipelineRun` loads the file
 *    on the worker and renders every job (concrete source_path, run id, backup or not);
 * 2. `checkPipelineRequirements`: a `requires` not met ends the run SKIPPED, no job runs;
 * 3. the jobs: each a child `runFlow` with the deterministic run id, so a (flow version, source_path)
 *    that already loaded is not loaded again (ALREADY_LOADED); after a job loads, `backupSource`
 *    moves its local source file to `data/backup/<date>/`;
 * 4. `writeRejectFiles` (data/errors/<pipeline>/<date>/<job>.csv), `sendPipelineEmail` (the one
 *    email), `recordPipelineRun` with the final state.
 *
 * The `status` query returns the job table. FAILED also fails the Temporal execution (the state is
 * the failure's detail); SUCCEEDED, PARTIAL_FAILED and SKIPPED complete it.
 *
 * Deterministic: imports only `@temporalio/workflow`, the shared models and activity *types*.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  isCancellation,
  type ChildWorkflowHandle,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { PipelineActivities, PreparedJob } from '../activities/pipeline-activities';
import type { ErrorCode } from '../common/error-codes';
import { isEmptyRun, RUN_CRASHED_TYPE, RUN_FAILED_TYPE, SEARCH_ATTRIBUTES, type RunFlowInput, type RunMetadata } from '../common/run-model';
import { RUN_WORKFLOW_TYPE } from '../common/workflow-types';
import type { runFlow } from './run-flow';
import {
  LOADED_JOB_STATUSES,
  PIPELINE_FAILED_TYPE,
  pipelineStatusOf,
  pipelineStatusQuery,
  pipelineDetails,
  pipelineTotals,
  type PipelineJobState,
  type PipelineRunState,
  type RunPipelineInput,
} from '../pipelines/pipeline-model';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s', maximumAttempts: 10 };

const { preparePipelineRun, checkPipelineRequirements, inspectExistingRun, backupSource, writeRejectFiles } = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '1m',
  retry,
});
// The record must not be lost: it retries until the metadata database answers (no maximumAttempts).
const { recordPipelineRun } = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: retry.initialInterval, backoffCoefficient: retry.backoffCoefficient, maximumInterval: retry.maximumInterval },
});
// SMTP outages are retried for about 10 minutes; then the email is recorded as failed.
const { sendPipelineEmail } = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 8 },
});

/** Runs a pipeline; returns its final state (the job table, totals, email). */
export async function runPipeline(input: RunPipelineInput): Promise<PipelineRunState> {
  const info = workflowInfo();
  const state: PipelineRunState = {
    pipeline: input.pipeline,
    environment: input.environment,
    date: input.date ?? null,
    timezone: null,
    trigger: input.trigger,
    workflow_id: info.workflowId,
    execution_id: info.runId,
    status: 'RUNNING',
    started_at: new Date().toISOString(),
    jobs: [],
    totals: pipelineTotals([]),
    email: { status: 'pending' },
  };
  setHandler(pipelineStatusQuery, () => state);
  const refreshTotals = () => {
    state.totals = pipelineTotals(state.jobs);
    // The Temporal UI shows the headline and the job table on the pipeline run's page.
    setCurrentDetails(pipelineDetails(state));
  };

  try {
    await recordPipelineRun({ state, environment: input.environment });
    // A run started by a Temporal Schedule (a backfill too) loads the date of its scheduled time.
    const scheduled = info.typedSearchAttributes.getAll().find((pair) => pair.key.name === 'TemporalScheduledStartTime')?.value;
    const scheduledAt = scheduled instanceof Date ? scheduled.toISOString() : typeof scheduled === 'string' ? scheduled : undefined;
    const prepared = await preparePipelineRun({ pipeline: input.pipeline, environment: input.environment, date: input.date, scheduledAt, workflowId: info.workflowId });
    state.date = prepared.date;
    state.timezone = prepared.timezone;
    state.jobs = prepared.jobs.map((job) => ({
      name: job.name,
      flow_version: job.flowVersion,
      source_path: job.sourcePath,
      depends_on: job.dependsOn,
      run_id: job.runId,
      status: 'PENDING',
      rows: null,
    }));
    refreshTotals();
    await recordPipelineRun({ state, environment: input.environment });

    const requirements = await checkPipelineRequirements({
      pipeline: input.pipeline,
      environment: input.environment,
      requires: prepared.requires,
      timezone: prepared.timezone,
    });
    if (!requirements.met) {
      state.status = 'SKIPPED';
      state.reason = requirements.reasons.join('; ');
      for (const job of state.jobs) Object.assign(job, { status: 'SKIPPED', reason: `the pipeline was skipped: ${state.reason}` });
    } else {
      await runJobs(state, prepared.jobs, input, refreshTotals);
      state.status = pipelineStatusOf(state.jobs);
    }
  } catch (caught) {
    if (isCancellation(caught)) {
      state.status = 'FAILED';
      state.error = { code: 'CANCELLED' satisfies ErrorCode, message: 'the pipeline run was cancelled' };
    } else {
      state.status = 'FAILED';
      state.error = failureOf(caught);
    }
    for (const job of state.jobs) {
      if (job.status === 'PENDING' || job.status === 'RUNNING') Object.assign(job, { status: 'SKIPPED', reason: `the pipeline run ended: ${state.error.message}` });
    }
  }
  refreshTotals();

  // Reports and records run even when the pipeline run was cancelled; not on a worker of another environment,
  // which must not touch anything (its activities would be refused anyway).
  const wrongEnvironment = state.error?.code === ('WRONG_ENVIRONMENT' satisfies ErrorCode);
  await CancellationScope.nonCancellable(async () => {
    if (wrongEnvironment) return;
    if (state.date) {
      try {
        const { files } = await writeRejectFiles({ pipeline: state.pipeline, date: state.date, jobs: state.jobs, environment: input.environment });
        for (const file of files) {
          const job = state.jobs.find((j) => j.name === file.job);
          if (job) job.rejects_file = file.path;
        }
      } catch (caught) {
        // The email still goes out, without attachments; the reason is in the job table.
        const reason = failureOf(caught).message;
        for (const job of state.jobs) if ((job.rows?.rejected ?? 0) > 0 && job.status !== 'ALREADY_LOADED') job.reason = `${job.reason ? `${job.reason}; ` : ''}rejects file not written: ${reason}`;
      }
    }
    state.ended_at = new Date().toISOString();
    try {
      state.email = await sendPipelineEmail({ state, environment: input.environment });
    } catch (caught) {
      state.email = { status: 'failed', reason: failureOf(caught).message };
    }
    await recordPipelineRun({ state, environment: input.environment });
    refreshTotals();
  });

  if (state.status === 'FAILED') {
    throw ApplicationFailure.create({
      type: PIPELINE_FAILED_TYPE,
      message: `pipeline ${state.pipeline} FAILED: ${state.error ? `${state.error.code}: ${state.error.message}` : 'no job loaded'}`,
      nonRetryable: true,
      details: [state],
    });
  }
  return state;
}

/** Runs every job as soon as its dependencies are done; independent jobs run in parallel. */
async function runJobs(state: PipelineRunState, prepared: PreparedJob[], input: RunPipelineInput, refreshTotals: () => void): Promise<void> {
  const byName = new Map(prepared.map((job) => [job.name, job]));
  const outcomes = new Map<string, Promise<PipelineJobState>>();
  const outcome = (name: string): Promise<PipelineJobState> => {
    let found = outcomes.get(name);
    if (!found) {
      found = runJob(byName.get(name)!);
      outcomes.set(name, found);
    }
    return found;
  };
  const runJob = async (job: PreparedJob): Promise<PipelineJobState> => {
    const row = state.jobs.find((j) => j.name === job.name)!;
    const dependencies = await Promise.all(job.dependsOn.map(outcome));
    const blocking = dependencies.filter((dep) => !LOADED_JOB_STATUSES.includes(dep.status));
    if (blocking.length > 0) {
      row.status = 'SKIPPED';
      row.reason = `depends on ${blocking.map((dep) => `${dep.name}, which ${dep.status === 'SKIPPED' ? 'was SKIPPED' : dep.status}`).join(' and ')}`;
    } else if (job.error) {
      row.status = 'FAILED';
      row.error = { ...job.error, step: 'start' };
      row.reason = job.error.message;
    } else {
      try {
        await runChild(job, row, state, input);
      } catch (caught) {
        // One job's unexpected failure (its bookkeeping activity gave up) does not stop the others.
        const failure = isCancellation(caught) ? { code: 'CANCELLED' satisfies ErrorCode, message: 'the pipeline run was cancelled' } : failureOf(caught);
        Object.assign(row, { status: isCancellation(caught) ? 'FAILED' : 'CRASHED', error: { ...failure, step: 'start' }, reason: failure.message, ended_at: new Date().toISOString() });
        if (isCancellation(caught)) throw caught;
      }
      if ((row.status === 'SUCCEEDED' || row.status === 'PARTIAL_FAILED') && job.backup) {
        try {
          const moved = await backupSource({ flowVersion: job.flowVersion, sourcePath: job.sourcePath, date: state.date!, environment: input.environment });
          row.backup = { status: 'moved', path: moved.path };
        } catch (caught) {
          row.backup = { status: 'failed', reason: failureOf(caught).message };
        }
      }
    }
    refreshTotals();
    return row;
  };
  await Promise.all(prepared.map((job) => outcome(job.name)));
}

/** Starts the job's `runFlow` child and waits for it; fills the job's row. */
async function runChild(job: PreparedJob, row: PipelineJobState, state: PipelineRunState, input: RunPipelineInput): Promise<void> {
  const info = workflowInfo();
  const runInput: RunFlowInput = {
    flowVersion: job.flowVersion,
    sourcePath: job.sourcePath,
    environment: input.environment,
    runMetadata: { pipeline: state.pipeline, pipeline_run: info.workflowId, job: job.name, environment: input.environment, date: state.date, trigger: input.trigger },
    ...(input.startedBy !== undefined ? { startedBy: input.startedBy } : {}),
  };
  row.started_at = new Date().toISOString();
  let handle: ChildWorkflowHandle<typeof runFlow> | undefined;
  let existing: Awaited<ReturnType<typeof inspectExistingRun>> | undefined;
  const start = (rerun: boolean) =>
    startChild<typeof runFlow>(RUN_WORKFLOW_TYPE, {
      workflowId: job.runId,
      taskQueue: info.taskQueue,
      args: [runInput],
      // The run id is deterministic: a (flow version, source_path) that SUCCEEDED or PARTIAL_FAILED is refused
      // (except a SUCCEEDED run that read 0 rows, started again with `rerun`).
      workflowIdReusePolicy: rerun ? 'ALLOW_DUPLICATE' : 'ALLOW_DUPLICATE_FAILED_ONLY',
      // Cancelling the pipeline run cancels its runs, which then end FAILED (CANCELLED) cleanly.
      parentClosePolicy: 'REQUEST_CANCEL',
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.flow, value: job.flowVersion.split(':')[0]! },
        { key: SEARCH_ATTRIBUTES.flowVersion, value: job.flowVersion },
        { key: SEARCH_ATTRIBUTES.status, value: 'CREATED' },
        ...(input.startedBy !== undefined ? [{ key: SEARCH_ATTRIBUTES.startedBy, value: input.startedBy }] : []),
      ],
    });
  try {
    handle = await start(false);
  } catch (caught) {
    if ((caught as Error).name !== 'WorkflowExecutionAlreadyStartedError') throw caught;
    existing = await inspectExistingRun({ runId: job.runId, environment: input.environment });
    if (!existing.running && isEmptyRun(existing.metadata)) {
      // The last run read 0 rows and loaded nothing: not ALREADY_LOADED, so it runs again.
      handle = await start(true);
    }
  }
  if (!handle) {
    existing = existing!;
    row.ended_at = new Date().toISOString();
    if (existing.running) {
      row.status = 'FAILED';
      row.reason = `a run of ${job.flowVersion} on "${job.sourcePath}" is already in progress (run ${job.runId}, ${existing.status})`;
      row.error = { code: 'RUN_IN_PROGRESS' satisfies ErrorCode, message: row.reason, step: 'start' };
    } else {
      row.status = 'ALREADY_LOADED';
      row.rows = existing.metadata?.rows ?? null;
      row.reason = `already loaded by run ${job.runId} (${existing.status}${existing.endedAt ? `, ${existing.endedAt}` : ''}); not loaded again`;
    }
    return;
  }
  row.status = 'RUNNING';
  row.execution_id = handle.firstExecutionRunId;
  try {
    const metadata = await handle.result();
    row.status = metadata.status === 'PARTIAL_FAILED' ? 'PARTIAL_FAILED' : 'SUCCEEDED';
    row.rows = metadata.rows;
  } catch (caught) {
    const metadata = runMetadataOf(caught);
    if (metadata) {
      row.status = metadata.status === 'FAILED' ? 'FAILED' : 'CRASHED';
      row.rows = metadata.rows;
      row.error = metadata.error;
      row.reason = metadata.error ? `${metadata.error.code} in ${metadata.error.step}: ${metadata.error.message}` : undefined;
    } else {
      const failure = failureOf(caught);
      row.status = (caught instanceof ChildWorkflowFailure && caught.cause instanceof ApplicationFailure && caught.cause.type === RUN_FAILED_TYPE) || isCancellation(caught) ? 'FAILED' : 'CRASHED';
      row.error = { code: failure.code, message: failure.message, step: 'start' };
      row.reason = failure.message;
    }
  }
  row.ended_at = new Date().toISOString();
}

/** The run metadata a FAILED or CRASHED `runFlow` carries in its failure details. */
function runMetadataOf(caught: unknown): RunMetadata | undefined {
  const cause = caught instanceof ChildWorkflowFailure ? caught.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || (cause.type !== RUN_FAILED_TYPE && cause.type !== RUN_CRASHED_TYPE)) return undefined;
  const details = cause.details?.[0] as RunMetadata | undefined;
  return details?.run && details.status ? details : undefined;
}

/** A failure's stable code and message: an activity's non-retryable type, else RETRIES_EXHAUSTED / INTERNAL_ERROR. */
function failureOf(caught: unknown): { code: string; message: string } {
  const cause = caught instanceof ActivityFailure || caught instanceof ChildWorkflowFailure ? caught.cause : caught;
  if (cause instanceof ApplicationFailure) {
    if (cause.nonRetryable || caught === cause) return { code: cause.type ?? ('FAILED' satisfies ErrorCode), message: cause.message };
    return { code: 'RETRIES_EXHAUSTED' satisfies ErrorCode, message: `kept failing after its retries: ${cause.message}` };
  }
  if (caught instanceof ActivityFailure) return { code: 'RETRIES_EXHAUSTED' satisfies ErrorCode, message: `kept failing after its retries: ${cause instanceof Error ? cause.message : caught.message}` };
  return { code: 'INTERNAL_ERROR' satisfies ErrorCode, message: caught instanceof Error ? caught.message : String(caught) };
}
