/**
 * Starting and following pipeline runs from outside a worker (the CLI; `sluice schedules` starts them
 * through Temporal Schedules instead).
 *
 * @example
 * ```ts
 * const run = await startPipelineRun(client, { taskQueue: 'sluice', input: { pipeline: 'daily', environment: 'prod', date: '2026-11-21', trigger: 'manual' } });
 * const state = await waitPipelineRun(client, run.workflowId);   // FAILED too: its state is returned, not thrown
 * console.log(state.status, state.jobs.map((j) => [j.name, j.status]));
 * ```
 */
import { randomBytes } from 'node:crypto';
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { InvalidRequestError } from '../common/errors';
import { PIPELINE_WORKFLOW_TYPE } from '../common/workflow-types';
import type { runPipeline } from '../workflows/run-pipeline';
import { PIPELINE_FAILED_TYPE, pipelineStatusQuery, pipelineSummary, type PipelineRunState, type RunPipelineInput } from '../pipelines/pipeline-model';

/** `pipeline-<name>-<env>-<date>-<6 hex>`: findable by name and date, unique per start. */
export function pipelineWorkflowId(input: Pick<RunPipelineInput, 'pipeline' | 'environment'> & { date?: string }): string {
  return `pipeline-${input.pipeline}-${input.environment}${input.date ? `-${input.date}` : ''}-${randomBytes(3).toString('hex')}`;
}

/** Starts a `runPipeline` workflow; returns its workflow id. */
export async function startPipelineRun(client: Client, options: { taskQueue: string; input: RunPipelineInput; workflowId?: string }): Promise<{ workflowId: string }> {
  const workflowId = options.workflowId ?? pipelineWorkflowId(options.input);
  await client.workflow.start<typeof runPipeline>(PIPELINE_WORKFLOW_TYPE, { workflowId, taskQueue: options.taskQueue, args: [options.input], workflowIdConflictPolicy: 'FAIL', staticSummary: pipelineSummary(options.input) });
  return { workflowId };
}

/** The state a FAILED pipeline run carries in its failure details. */
function failedState(error: unknown): PipelineRunState | undefined {
  const failure = error instanceof WorkflowFailedError ? error.cause : undefined;
  if (!(failure instanceof ApplicationFailure) || failure.type !== PIPELINE_FAILED_TYPE) return undefined;
  const state = failure.details?.[0] as PipelineRunState | undefined;
  return state?.jobs && state.status ? state : undefined;
}

/**
 * Waits for a pipeline run to end and returns its final state (FAILED included).
 * @throws InvalidRequestError `PIPELINE_RUN_NOT_FOUND`; the workflow's own error when it ended without a state (terminated, timed out).
 */
export async function waitPipelineRun(client: Client, workflowId: string): Promise<PipelineRunState> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    return (await handle.result()) as PipelineRunState;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new InvalidRequestError('PIPELINE_RUN_NOT_FOUND', `no pipeline run with id "${workflowId}"`);
    const state = failedState(error);
    if (state) return state;
    throw error;
  }
}

/**
 * The state of a pipeline run: its result when it has ended, else the `status` query (5 s deadline),
 * else its row in `sluice.pipeline_runs` (when `pool` is given).
 * @throws InvalidRequestError `PIPELINE_RUN_NOT_FOUND`.
 */
export async function getPipelineRun(client: Client, workflowId: string, pool?: Pool): Promise<PipelineRunState> {
  const handle = client.workflow.getHandle(workflowId);
  let running: boolean;
  try {
    running = (await handle.describe()).status.name === 'RUNNING';
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
    const recorded = pool ? await fromDatabase(pool, workflowId) : undefined;
    if (recorded) return recorded;
    throw new InvalidRequestError('PIPELINE_RUN_NOT_FOUND', `no pipeline run with id "${workflowId}"`);
  }
  if (!running) {
    try {
      return (await handle.result()) as PipelineRunState;
    } catch (error) {
      const state = failedState(error);
      if (state) return state;
    }
  } else {
    try {
      return await client.connection.withDeadline(Date.now() + 5_000, () => handle.query(pipelineStatusQuery));
    } catch {
      // no worker answers: the recorded row below
    }
  }
  const recorded = pool ? await fromDatabase(pool, workflowId) : undefined;
  if (recorded) return recorded;
  throw new InvalidRequestError('PIPELINE_RUN_NOT_FOUND', `pipeline run "${workflowId}" has no state yet (no worker answered, and it is not recorded)`);
}

async function fromDatabase(pool: Pool, workflowId: string): Promise<PipelineRunState | undefined> {
  const { rows } = await pool.query<{ summary: PipelineRunState }>('SELECT summary FROM sluice.pipeline_runs WHERE workflow_id = $1 ORDER BY started_at DESC LIMIT 1', [workflowId]);
  const summary = rows[0]?.summary;
  return summary && summary.status ? summary : undefined;
}
