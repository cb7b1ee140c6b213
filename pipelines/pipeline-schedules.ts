/**
 * Temporal Schedules from a project's pipelines: each `pipelines/<name>.yaml` with a `schedule`
 * becomes one Temporal Schedule per environment, id `sluice-<env>-<name>`, whose action starts the
 * `runPipeline` workflow (`{ pipeline, environment, trigger: 'schedule' }`).
 *
 * ```yaml
 * schedule:
 *   cron: ["*\/5 7-18 * * *"]     # every 5 minutes from 07:00 to 18:55
 *   timezone: Europe/Paris
 *   overlap: skip                # default: a run still going makes the next one skip
 * ```
 *
 * `applySchedules` also keeps one housekeeping schedule per environment (`sluice-<env>-housekeeping`,
 * daily at 03:30 UTC: the retention windows of `retention`, see docs/operations.md).
 *
 * `applySchedules` makes Temporal match the project: it creates missing schedules, updates changed ones
 * (the spec's content hash is kept in the schedule's memo, so unchanged ones are left alone, paused or
 * not), and with `prune` deletes this environment's Sluice schedules whose pipeline no longer has a
 * schedule. Schedules of other environments are never touched.
 *
 * Where rules come from: Temporal Schedules (https://docs.temporal.io/schedule): cron lines and time
 * zones in `ScheduleSpec`, overlap policies, `trigger`, `backfill` (runs of past times, each starting
 * with its scheduled time, which `runPipeline` reads as its date).
 */
import { createHash } from 'node:crypto';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleOptions, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { UserError } from '../common/errors';
import type { SluiceConfig } from '../config/sluice-config';
import { listPipelines, type OverlapPolicy, type PipelineSpec } from './pipeline-spec';
import { pipelineSummary, type RunPipelineInput, type RunPipelineWorkflow } from './pipeline-model';
import { HOUSEKEEPING_WORKFLOW_TYPE, PIPELINE_WORKFLOW_TYPE } from '../common/workflow-types';
import type { HousekeepingWorkflow } from '../ops/housekeeping';

/**
 * The daily schedule of housekeeping, for `sluice schedules apply`: 03:30 every day (UTC unless the schedule
 * sets a time zone), on the run task queue. `scheduleId` is a stable id for the Temporal Schedule.
 */
function housekeepingScheduleSpec(): { scheduleId: string; workflowType: string; cron: string; args: [{ dryRun: boolean }] } {
  return { scheduleId: 'sluice-housekeeping', workflowType: HOUSEKEEPING_WORKFLOW_TYPE, cron: '30 3 * * *', args: [{ dryRun: false }] };
}

const SPEC_HASH_MEMO = 'sluiceSpecHash';
const PIPELINE_MEMO = 'sluicePipeline';
const ENVIRONMENT_MEMO = 'sluiceEnvironment';
/** Temporal turns cron lines into calendars; the lines as written are kept for `list`. */
const CRON_MEMO = 'sluiceCron';

/** Temporal's overlap policy for each spelling a pipeline file may use. */
const OVERLAP: Record<OverlapPolicy, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  buffer_one: ScheduleOverlapPolicy.BUFFER_ONE,
  buffer_all: ScheduleOverlapPolicy.BUFFER_ALL,
  cancel_other: ScheduleOverlapPolicy.CANCEL_OTHER,
  terminate_other: ScheduleOverlapPolicy.TERMINATE_OTHER,
  allow_all: ScheduleOverlapPolicy.ALLOW_ALL,
};

/** The name `sluice schedules` uses for the housekeeping schedule (no pipeline may take it). */
export const HOUSEKEEPING = 'housekeeping';

/** `sluice-<env>-<pipeline>`. */
export function scheduleId(environment: string, pipeline: string): string {
  return `sluice-${environment}-${pipeline}`;
}

/** The schedule a scheduled pipeline needs in one environment. */
export interface DesiredSchedule {
  id: string;
  pipeline: string;
  /** Content hash of everything that defines the schedule (stored in its memo). */
  specHash: string;
  options: ScheduleOptions;
}

/**
 * The Temporal schedule options for a pipeline with a `schedule`, in one environment.
 * @param startedBy the user who applies it: its runs are started by that user (and resolve that user's secrets).
 */
export function desiredSchedule(spec: PipelineSpec, environment: string, taskQueue: string, startedBy?: string): DesiredSchedule {
  if (!spec.schedule) throw new UserError('PIPELINE_NOT_SCHEDULED', `pipeline ${spec.name} has no schedule; add schedule: { cron: "0 6 * * *" } to pipelines/${spec.name}.yaml`);
  const id = scheduleId(environment, spec.name);
  const input: RunPipelineInput = { pipeline: spec.name, environment, trigger: 'schedule', ...(startedBy !== undefined ? { startedBy } : {}) };
  const defining = { cron: spec.schedule.cron, timezone: spec.schedule.timezone, overlap: spec.schedule.overlap, input, taskQueue };
  const specHash = createHash('sha256').update(JSON.stringify(defining)).digest('hex').slice(0, 16);
  return {
    id,
    pipeline: spec.name,
    specHash,
    options: {
      scheduleId: id,
      spec: { cronExpressions: spec.schedule.cron, timezone: spec.schedule.timezone },
      action: {
        type: 'startWorkflow',
        workflowType: PIPELINE_WORKFLOW_TYPE,
        // Temporal appends the scheduled time to this id, so every run has its own.
        workflowId: `pipeline-${spec.name}-${environment}`,
        taskQueue,
        args: [input],
        staticSummary: pipelineSummary(input),
        // The action's memo (unlike the schedule's) can be updated: it carries the spec's hash.
        memo: { [SPEC_HASH_MEMO]: specHash, [CRON_MEMO]: spec.schedule.cron },
      } satisfies ScheduleOptionsStartWorkflowAction<RunPipelineWorkflow>,
      policies: { overlap: OVERLAP[spec.schedule.overlap], catchupWindow: '10m', pauseOnFailure: false },
      memo: { [PIPELINE_MEMO]: spec.name, [ENVIRONMENT_MEMO]: environment },
      state: { note: `sluice schedules apply (${environment}): pipelines/${spec.name}.yaml` },
    },
  };
}

/** The daily housekeeping (retention) schedule of one environment: `sluice-<env>-housekeeping`. */
export function housekeepingSchedule(environment: string, taskQueue: string): DesiredSchedule {
  const plan = housekeepingScheduleSpec();
  const id = scheduleId(environment, HOUSEKEEPING);
  const specHash = createHash('sha256').update(JSON.stringify({ ...plan, taskQueue })).digest('hex').slice(0, 16);
  return {
    id,
    pipeline: HOUSEKEEPING,
    specHash,
    options: {
      scheduleId: id,
      spec: { cronExpressions: [plan.cron] },
      action: {
        type: 'startWorkflow',
        workflowType: plan.workflowType,
        workflowId: `housekeeping-${environment}`,
        taskQueue,
        args: plan.args,
        memo: { [SPEC_HASH_MEMO]: specHash, [CRON_MEMO]: [plan.cron] },
      } satisfies ScheduleOptionsStartWorkflowAction<HousekeepingWorkflow>,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1h' },
      memo: { [PIPELINE_MEMO]: HOUSEKEEPING, [ENVIRONMENT_MEMO]: environment },
      state: { note: `sluice schedules apply (${environment}): retention housekeeping` },
    },
  };
}

/** What `applySchedules` did to one schedule. */
export interface AppliedSchedule {
  id: string;
  pipeline: string;
  action: 'created' | 'updated' | 'unchanged' | 'deleted';
}

async function describeOrNull(client: Client, id: string): Promise<ScheduleDescription | null> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return null;
    throw error;
  }
}

/** Ids of this environment's Sluice schedules in Temporal (by their memo). */
async function existingSluiceSchedules(client: Client, environment: string): Promise<Array<{ id: string; pipeline: string }>> {
  const found: Array<{ id: string; pipeline: string }> = [];
  for await (const summary of client.schedule.list()) {
    const memo = summary.memo as Record<string, unknown> | undefined;
    if (memo?.[ENVIRONMENT_MEMO] === environment && typeof memo[PIPELINE_MEMO] === 'string') found.push({ id: summary.scheduleId, pipeline: memo[PIPELINE_MEMO] });
  }
  return found;
}

/**
 * Creates or updates the schedules of every scheduled pipeline of the project in one environment.
 * A paused schedule stays paused when updated.
 * @param options.prune also delete this environment's Sluice schedules whose pipeline is gone or no longer scheduled.
 * @param options.housekeeping also keep the daily retention housekeeping schedule (`sluice-<env>-housekeeping`, 03:30 UTC). @default true
 * @param options.startedBy the user applying them: the pipelines' scheduled runs are started by this user (a
 *   schedule applied by another user is updated to start its runs as that user).
 * @throws PipelineSpecError for an invalid pipeline file (nothing is applied then).
 */
export async function applySchedules(
  client: Client,
  config: SluiceConfig,
  environment: string,
  options: { prune?: boolean; housekeeping?: boolean; startedBy?: string } = {},
): Promise<AppliedSchedule[]> {
  // Every pipeline is parsed first (by listPipelines, once): one bad file applies nothing.
  const specs = listPipelines(config).map((listed) => {
    if (listed.error) throw listed.error;
    return listed.spec!;
  });
  if (specs.some((spec) => spec.name === HOUSEKEEPING)) {
    throw new UserError('RESERVED_PIPELINE_NAME', `pipelines/${HOUSEKEEPING}.yaml: the name "${HOUSEKEEPING}" is the retention schedule's; rename the pipeline`);
  }
  const desired = specs.filter((spec) => spec.schedule).map((spec) => desiredSchedule(spec, environment, config.temporal.taskQueue, options.startedBy));
  // Retention runs daily in every environment that has schedules applied (docs/operations.md).
  if (options.housekeeping ?? true) desired.push(housekeepingSchedule(environment, config.temporal.taskQueue));
  const applied: AppliedSchedule[] = [];
  for (const want of desired) {
    const current = await describeOrNull(client, want.id);
    if (!current) {
      await client.schedule.create(want.options);
      applied.push({ id: want.id, pipeline: want.pipeline, action: 'created' });
    } else if (current.action.type === 'startWorkflow' && (current.action.memo as Record<string, unknown> | undefined)?.[SPEC_HASH_MEMO] === want.specHash) {
      applied.push({ id: want.id, pipeline: want.pipeline, action: 'unchanged' });
    } else {
      await client.schedule.getHandle(want.id).update((previous) => ({
        ...previous,
        spec: want.options.spec,
        action: want.options.action as typeof previous.action,
        policies: { ...previous.policies, ...want.options.policies },
        state: { ...previous.state, note: want.options.state?.note },
      }));
      applied.push({ id: want.id, pipeline: want.pipeline, action: 'updated' });
    }
  }
  if (options.prune) {
    const wanted = new Set(desired.map((d) => d.id));
    for (const existing of await existingSluiceSchedules(client, environment)) {
      if (wanted.has(existing.id)) continue;
      await client.schedule.getHandle(existing.id).delete();
      applied.push({ id: existing.id, pipeline: existing.pipeline, action: 'deleted' });
    }
  }
  return applied;
}

/** One schedule as `sluice schedules list` shows it. */
export interface ScheduleListing {
  id: string;
  pipeline: string;
  environment: string;
  cron: string[];
  timezone: string;
  paused: boolean;
  note: string | null;
  nextRuns: Date[];
  recentRuns: Array<{ scheduledAt: Date; workflowId: string }>;
}

/** Every Sluice schedule of one environment, with its next and recent runs. */
export async function listSchedules(client: Client, environment: string): Promise<ScheduleListing[]> {
  const listed: ScheduleListing[] = [];
  for (const { id, pipeline } of await existingSluiceSchedules(client, environment)) {
    const description = await describeOrNull(client, id);
    if (!description) continue;
    listed.push({
      id,
      pipeline,
      environment,
      cron: description.action.type === 'startWorkflow' ? (((description.action.memo as Record<string, unknown> | undefined)?.[CRON_MEMO] as string[] | undefined) ?? []) : [],
      timezone: description.spec.timezone ?? 'UTC',
      paused: description.state.paused,
      note: description.state.note ?? null,
      nextRuns: description.info.nextActionTimes.slice(0, 3),
      recentRuns: description.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt, workflowId: a.action.workflow.workflowId })),
    });
  }
  return listed.sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * The handle of a pipeline's schedule in an environment.
 * @throws UserError `SCHEDULE_NOT_FOUND` when it does not exist (with how to create it).
 */
export async function pipelineSchedule(client: Client, environment: string, pipeline: string) {
  const id = scheduleId(environment, pipeline);
  if (!(await describeOrNull(client, id))) {
    throw new UserError('SCHEDULE_NOT_FOUND', `no schedule ${id}: pipeline ${pipeline} has no schedule in environment ${environment}; add one to pipelines/${pipeline}.yaml and run \`sluice schedules apply -e ${environment}\``);
  }
  return client.schedule.getHandle(id);
}
