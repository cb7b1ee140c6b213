/**
 * The pipeline run model shared by the `runPipeline` workflow, its activities, the CLI and the email:
 * statuses, the job table, the `status` query and the pure functions that summarise a run.
 *
 * Terminology: a **pipeline** (`pipelines/<name>.yaml`) lists **jobs**; a **pipeline run** is one
 * `runPipeline` workflow for one date and environment; each job that runs is one child `runFlow` run.
 *
 * This module is imported by workflow code, so it imports only `@temporalio/workflow` and types.
 */
import { defineQuery } from '@temporalio/workflow';
import type { RunError, RunMetadata } from '../common/run-model';

/** Failure type of a pipeline run that ended FAILED (its state is the failure's first detail). */
export const PIPELINE_FAILED_TYPE = 'SluicePipelineFailed';

/**
 * Pipeline run states: `RUNNING`, then one of
 * - `SUCCEEDED`: every job loaded (SUCCEEDED or ALREADY_LOADED) and no row was rejected;
 * - `PARTIAL_FAILED`: at least one job loaded, and something went wrong: rows were rejected, or a job
 *   FAILED, CRASHED or was SKIPPED;
 * - `FAILED`: no job loaded (every job FAILED, CRASHED or SKIPPED), or the pipeline could not start
 *   (invalid file, unknown pipeline); `error` says why;
 * - `SKIPPED`: a `requires` was not met, so no job ran; `reason` says which.
 */
export const PIPELINE_STATUSES = ['RUNNING', 'SUCCEEDED', 'PARTIAL_FAILED', 'FAILED', 'SKIPPED'] as const;
export type PipelineStatus = (typeof PIPELINE_STATUSES)[number];
export const FINAL_PIPELINE_STATUSES: readonly PipelineStatus[] = ['SUCCEEDED', 'PARTIAL_FAILED', 'FAILED', 'SKIPPED'];

/**
 * Job states: `PENDING` (waiting for its dependencies), `RUNNING` (its run started), then one of the run
 * outcomes `SUCCEEDED`, `PARTIAL_FAILED`, `FAILED`, `CRASHED`, or
 * - `SKIPPED`: a dependency did not load (or the pipeline was skipped); `reason` names it;
 * - `ALREADY_LOADED`: this flow version already SUCCEEDED or PARTIAL_FAILED on this source_path in an
 *   earlier run (`run_id`), so it was not loaded again; counts as loaded for dependents.
 */
export const JOB_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'PARTIAL_FAILED', 'FAILED', 'CRASHED', 'SKIPPED', 'ALREADY_LOADED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Job outcomes after which dependents run: the job's rows are in the target. */
export const LOADED_JOB_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'PARTIAL_FAILED', 'ALREADY_LOADED'];

/** Input of the `runPipeline` workflow. Names only; the worker reads the pipeline file. */
export interface RunPipelineInput {
  pipeline: string;
  /** The environment name (`{env}` in templates, the email subject, `sluice.pipeline_runs`). */
  environment: string;
  /** The pipeline run's date, YYYY-MM-DD. @default today in the schedule's time zone (else UTC), on the worker */
  date?: string;
  trigger: 'manual' | 'schedule';
  /**
   * The user its runs are started by (`metadata.run.started_by`, whose `${secret:NAME}` they resolve): who started
   * the pipeline run, or who applied its schedule. Absent on pipeline runs from before users: their runs resolve as `local`.
   */
  startedBy?: string;
}

/** Where a job's local source file went after it loaded. */
export type JobBackup = { status: 'moved'; path: string } | { status: 'failed'; reason: string };

/** One row of the job table. */
export interface PipelineJobState {
  name: string;
  flow_version: string;
  /** The rendered source_path. */
  source_path: string;
  depends_on: string[];
  /** The run id (`<flow>-v<N>-<sha256(source_path)[:16]>`) of this job's run. */
  run_id: string;
  /** The Temporal execution of the run this pipeline started (absent for ALREADY_LOADED and jobs that did not start). */
  execution_id?: string;
  status: JobStatus;
  rows: RunMetadata['rows'] | null;
  /** Why a job is SKIPPED, FAILED, CRASHED or ALREADY_LOADED, in one sentence. */
  reason?: string;
  error?: RunError | { code: string; message: string; step: string };
  started_at?: string;
  ended_at?: string;
  backup?: JobBackup;
  /** The rejected rows of this job as CSV (project-relative path), when there were any. */
  rejects_file?: string;
}

/** What happened to the pipeline run's email. */
export interface PipelineEmail {
  /**
   * `sent`; `failed` (after its retries; `reason`); `not_needed` (nothing rejected, failed or skipped,
   * and `send: problems`); `not_configured` (no `notifications.email`); `pending` (not yet decided).
   */
  status: 'pending' | 'sent' | 'failed' | 'not_needed' | 'not_configured';
  reason?: string;
  message_id?: string;
  to?: string[];
  subject?: string;
  /** File names attached. */
  attachments?: string[];
}

/** Counts over the job table. */
export interface PipelineTotals {
  jobs: number;
  succeeded: number;
  partial_failed: number;
  failed: number;
  crashed: number;
  skipped: number;
  already_loaded: number;
  /** Rows rejected by the runs this pipeline run started. */
  rows_rejected: number;
}

/** The document the `status` query returns and the workflow's result. */
export interface PipelineRunState {
  pipeline: string;
  environment: string;
  /** YYYY-MM-DD; null until the pipeline is loaded. */
  date: string | null;
  /** The time zone `date` is in. */
  timezone: string | null;
  trigger: RunPipelineInput['trigger'];
  workflow_id: string;
  execution_id: string;
  status: PipelineStatus;
  started_at: string;
  ended_at?: string;
  /** Why the pipeline was SKIPPED. */
  reason?: string;
  /** Why it could not run (FAILED before any job ran). */
  error?: { code: string; message: string };
  jobs: PipelineJobState[];
  totals: PipelineTotals;
  email: PipelineEmail;
}

/** The `status` query: the pipeline run with its job table. */
export const pipelineStatusQuery = defineQuery<PipelineRunState>('status');

/** Counts of a job table. */
export function pipelineTotals(jobs: PipelineJobState[]): PipelineTotals {
  const count = (status: JobStatus) => jobs.filter((job) => job.status === status).length;
  return {
    jobs: jobs.length,
    succeeded: count('SUCCEEDED'),
    partial_failed: count('PARTIAL_FAILED'),
    failed: count('FAILED'),
    crashed: count('CRASHED'),
    skipped: count('SKIPPED'),
    already_loaded: count('ALREADY_LOADED'),
    rows_rejected: jobs.filter((job) => job.status !== 'ALREADY_LOADED').reduce((n, job) => n + (job.rows?.rejected ?? 0), 0),
  };
}

/** The pipeline status of a finished job table (see {@link PIPELINE_STATUSES}). */
export function pipelineStatusOf(jobs: PipelineJobState[]): 'SUCCEEDED' | 'PARTIAL_FAILED' | 'FAILED' {
  const totals = pipelineTotals(jobs);
  const loaded = totals.succeeded + totals.partial_failed + totals.already_loaded;
  if (loaded === 0) return 'FAILED';
  return loaded === totals.jobs && totals.rows_rejected === 0 ? 'SUCCEEDED' : 'PARTIAL_FAILED';
}

/** True when a pipeline run has something to report: rows rejected, a job failed, crashed or skipped, or the run itself failed or was skipped. */
export function hasProblems(state: Pick<PipelineRunState, 'status' | 'totals'>): boolean {
  const t = state.totals;
  return state.status !== 'SUCCEEDED' || t.rows_rejected > 0 || t.failed > 0 || t.crashed > 0 || t.skipped > 0;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * One line saying how a pipeline run went, e.g. `PARTIAL_FAILED — 2 rows rejected, 1 job failed, 1 skipped`
 * (the email subject's tail and the CLI's headline).
 */
export function pipelineHeadline(state: Pick<PipelineRunState, 'status' | 'totals' | 'reason' | 'error'>): string {
  if (state.status === 'SKIPPED') return `SKIPPED — ${state.reason ?? 'a requirement was not met'}`;
  if (state.error && state.totals.jobs === 0) return `${state.status} — ${state.error.code}`;
  const t = state.totals;
  const parts: string[] = [];
  if (t.rows_rejected > 0) parts.push(`${plural(t.rows_rejected, 'row')} rejected`);
  if (t.failed > 0) parts.push(`${plural(t.failed, 'job')} failed`);
  if (t.crashed > 0) parts.push(`${parts.length > 0 ? t.crashed : plural(t.crashed, 'job')} crashed`);
  if (t.skipped > 0) parts.push(`${parts.length > 0 ? t.skipped : plural(t.skipped, 'job')} skipped`);
  if (parts.length === 0) {
    const loaded = t.succeeded + t.partial_failed;
    if (loaded > 0 || t.already_loaded === 0) parts.push(`${plural(loaded, 'job')} succeeded`);
    if (t.already_loaded > 0) parts.push(`${loaded > 0 ? t.already_loaded : plural(t.already_loaded, 'job')} already loaded`);
  }
  return `${state.status} — ${parts.join(', ')}`;
}

/**
 * The signature of the `runPipeline` workflow (workflows/run-pipeline.ts), declared here so schedules start it
 * type-checked without importing workflow code; `workflows/workflow-types.test.ts` fails to compile if the
 * workflow drifts from it.
 */
export type RunPipelineWorkflow = (input: RunPipelineInput) => Promise<PipelineRunState>;

/**
 * A pipeline run's one-line summary in the Temporal UI (user metadata, set when it starts):
 * `pipeline <name> (<environment>)`, with ` for <date>` when the date is known at start.
 */
export function pipelineSummary(input: Pick<RunPipelineInput, 'pipeline' | 'environment' | 'date'>): string {
  return `pipeline ${input.pipeline} (${input.environment})${input.date ? ` for ${input.date}` : ''}`;
}

/**
 * A pipeline run's current details in the Temporal UI (Markdown, set at every change of its job table):
 * the headline, then the job table (job, status, rows read/mapped/rejected/written, reason).
 */
export function pipelineDetails(state: Pick<PipelineRunState, 'status' | 'totals' | 'reason' | 'error' | 'jobs'>): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [`**${pipelineHeadline(state)}**`];
  if (state.jobs.length > 0) {
    lines.push('', '| job | status | read | mapped | rejected | written | reason |', '|---|---|---|---|---|---|---|');
    for (const job of state.jobs) {
      const rows = job.rows ? [job.rows.read, job.rows.mapped, job.rows.rejected, job.rows.written].map(String) : ['', '', '', ''];
      lines.push(`| ${cell(job.name)} | ${job.status} | ${rows.join(' | ')} | ${cell(job.reason ?? '')} |`);
    }
  }
  return lines.join('\n');
}
