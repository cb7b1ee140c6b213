/**
 * Workflow tests with mocked activities: the real workflow code (the worker's webpack bundle) on the
 * Temporal dev server, with scripted stand-ins for the activities that record every call. No
 * database, no connector, no staging: a test of the state machine's rules runs in well under a second.
 *
 * @example
 * ```ts
 * const env = await startWorkflowEnv();
 * const mocks = mockRunActivities({ rows: 10, rejected: 2 });
 * const handle = await withMockWorker(env, mocks.activities, (taskQueue) =>
 *   env.client.workflow.execute(runFlow, { taskQueue, workflowId: randomUUID(), args: [input] }));
 * assert.deepEqual(mocks.statuses(), ['CREATED', 'SYNCING_SOURCE', …]);
 * ```
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { EventActivities, PublishRunEventInput } from '../../activities/event-activities';
import type { PipelineActivities, PreparedPipeline } from '../../activities/pipeline-activities';
import type { RunActivities, SyncTargetOutput, TransformAndLoadOutput, TransformChunkOutput, TransformOutput } from '../../activities/run-activities';
import type { RunStatus } from '../../common/run-model';
import type { PipelineRunState } from '../../pipelines/pipeline-model';
import { workflowBundle } from '../../worker/sluice-worker';
import { startTemporal } from './services';

/**
 * Starts the Temporal dev server for one test file. The SDK's logs (its own and its native core's)
 * go through at ERROR only: the activity failures and cancellations these tests script on purpose
 * would otherwise print a warning each.
 */
export async function startWorkflowEnv(): Promise<TestWorkflowEnvironment> {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
  } catch {
    // already installed in this process
  }
  return startTemporal();
}

/**
 * Runs `fn` (given a fresh task queue) while a worker polls that queue with the Sluice workflow
 * bundle and `activities`; shuts the worker down when `fn` settles and returns what it returned.
 *
 * The worker runs workflows in `debugMode`: in this thread (still in the deterministic sandbox), so
 * creating it takes a fraction of a second instead of starting a worker thread that loads the
 * bundle (about 2 s here); the cost is that a workflow task is not stopped by the deadlock timer.
 */
export async function withMockWorker<T>(env: TestWorkflowEnvironment, activities: object, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `workflow-test-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities, debugMode: true });
  return worker.runUntil(() => fn(taskQueue));
}

/** The activities `runFlow` calls. */
export type RunFlowActivities = Pick<RunActivities, 'syncSource' | 'transformChunk' | 'finishTransform' | 'syncTarget' | 'transformAndLoad' | 'finishRun'> & EventActivities;

/** What the mocked source holds and how the mocked transform judges it. */
export interface RunScript {
  /** Source rows. @default 10 */
  rows?: number;
  /** Rows per transform chunk. @default 4 */
  chunkRows?: number;
  /** Rows rejected: the first `rejected` source rows, each by `amount:check`. @default 0 */
  rejected?: number;
  /** The flow's `max_reject_ratio`. @default 0.5 */
  maxRejectRatio?: number;
}

/** One call of a mocked activity: its name, its attempt (1 on the first try) and its input. */
export interface ActivityCall {
  name: keyof RunFlowActivities;
  attempt: number;
  input: unknown;
}

export interface RunActivityMocks {
  /** Pass to the worker. */
  activities: RunFlowActivities;
  /** Every call, in the order they started, failed attempts included. */
  calls: ActivityCall[];
  /**
   * The events stored, in order: the inputs of the `publishRunEvent` calls that succeeded, each
   * (execution, status) once, as the real store keeps them (webhooks/event-publisher.ts). A local
   * activity can run again after it succeeded: when the workflow task that ran it is rejected
   * because new events arrived (a run failing while other chunks complete), its results were not
   * recorded. {@link calls} keeps every call.
   */
  events: PublishRunEventInput[];
  /** The statuses of {@link events}. */
  statuses(): RunStatus[];
  /** The names of the calls, in order. */
  names(): string[];
}

/** Staging location of the mocked rejects (`TransformOutput.rejectsStagingLocation`). */
export const REJECTS_STAGING = 'file:///staging/rejects';
/** Where the mocked target writes (`SyncTargetOutput.location` and `rejectsLocation`). */
export const TARGET_LOCATION = 'public.orders';
export const TARGET_REJECTS_LOCATION = 'sluice.rejects (run orders-test)';

/**
 * Mocks of `runFlow`'s activities following `script`: the source stages one file of `rows` rows,
 * each chunk rejects the script's rejected rows that fall in it, the target writes the mapped rows.
 * `overrides` replace single activities (a function of the defaults, to fall back on them); every
 * call (overridden or not) is recorded.
 */
export function mockRunActivities(
  script: RunScript = {},
  overrides: Partial<RunFlowActivities> | ((defaults: RunFlowActivities) => Partial<RunFlowActivities>) = {},
): RunActivityMocks {
  const rows = script.rows ?? 10;
  const chunkRows = script.chunkRows ?? 4;
  const rejected = script.rejected ?? 0;
  const calls: ActivityCall[] = [];
  const events: PublishRunEventInput[] = [];
  const defaults: RunFlowActivities = {
    async syncSource() {
      return { files: [{ path: 'run/source/source-00000.parquet', rows }], rows, columns: ['id', 'amount'], format: 'csv', chunkRows };
    },
    async transformChunk({ index, chunk }): Promise<TransformChunkOutput> {
      // Rejected rows are source rows 1..rejected.
      const chunkRejected = Math.max(0, Math.min(rejected, chunk.firstRow - 1 + chunk.rows) - (chunk.firstRow - 1));
      return {
        index,
        mappedKey: `run/mapped/part-${index}.parquet`,
        rejectedKey: `run/rejected/part-${index}.parquet`,
        rowsMapped: chunk.rows - chunkRejected,
        rowsRejected: chunkRejected,
        byRule: chunkRejected > 0 ? { 'amount:check': chunkRejected } : {},
        worker: 'test:1',
      };
    },
    async finishTransform({ chunks }): Promise<TransformOutput> {
      const sorted = [...chunks].sort((a, b) => a.index - b.index);
      const rowsRejected = sorted.reduce((n, c) => n + c.rowsRejected, 0);
      return {
        workers: { 'test:1': sorted.length },
        mappedFiles: sorted.map((c) => c.mappedKey),
        rejectedFiles: sorted.map((c) => c.rejectedKey),
        rowsMapped: sorted.reduce((n, c) => n + c.rowsMapped, 0),
        rowsRejected,
        byRule: rowsRejected > 0 ? { 'amount:check': rowsRejected } : {},
        chunks: sorted.length,
        maxRejectRatio: script.maxRejectRatio ?? 0.5,
        rejectsStagingLocation: REJECTS_STAGING,
      };
    },
    async syncTarget({ mappedFiles, rejectedFiles }): Promise<SyncTargetOutput> {
      return {
        rowsWritten: rows - rejected,
        rowsRejected: rejected,
        alreadyLoaded: false,
        location: `${TARGET_LOCATION} (${mappedFiles.length} files)`,
        rejectsLocation: `${TARGET_REJECTS_LOCATION} (${rejectedFiles.length} files)`,
      };
    },
    async transformAndLoad({ plan }): Promise<TransformAndLoadOutput> {
      // The one-pass path: the load starts (1 s) before the transform ends (3 s).
      const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
      const rolledBack = rows > 0 && rejected / rows > (script.maxRejectRatio ?? 0.5);
      return {
        rowsMapped: rows - rejected,
        rowsRejected: rejected,
        byRule: rejected > 0 ? { 'amount:check': rejected } : {},
        chunks: plan.length,
        workers: { 'test:1': plan.length },
        maxRejectRatio: script.maxRejectRatio ?? 0.5,
        rejectsStagingLocation: REJECTS_STAGING,
        rolledBack,
        transform: { started_at: at(0), ended_at: at(3) },
        load: { started_at: at(1), ended_at: at(4) },
        ...(rolledBack ? {} : { loaded: { rowsWritten: rows - rejected, rowsRejected: rejected, alreadyLoaded: false, location: TARGET_LOCATION, rejectsLocation: TARGET_REJECTS_LOCATION } }),
      };
    },
    async finishRun() {},
    async publishRunEvent(input) {
      return { eventId: `${input.executionId}:${input.status}`, deliveries: 0, publishedAt: new Date().toISOString() };
    },
  };
  const replaced = typeof overrides === 'function' ? overrides(defaults) : overrides;
  const activities = recorded({ ...defaults, ...replaced }, (name, input) => calls.push({ name, attempt: Context.current().info.attempt, input }));
  const publish = activities.publishRunEvent;
  activities.publishRunEvent = async (input) => {
    const output = await publish(input);
    if (!events.some((event) => event.executionId === input.executionId && event.status === input.status)) events.push(input);
    return output;
  };
  return {
    activities,
    calls,
    events,
    statuses: () => events.map((event) => event.status),
    names: () => calls.map((call) => call.name),
  };
}

export interface PipelineActivityMocks {
  /** Pass to the worker, beside {@link mockRunActivities}' for the job runs. */
  activities: PipelineActivities;
  /** Every call, in the order they started. */
  calls: { name: keyof PipelineActivities; input: unknown }[];
  /** The states `recordPipelineRun` stored, in order. */
  records: PipelineRunState[];
}

/**
 * Mocks of `runPipeline`'s own activities: the pipeline renders to `prepared`, its requirements are
 * met, a loaded local source moves to `data/backup/<date>/<source_path>`, no rejects file is written
 * and no email is needed. `inspectExistingRun` fails unless overridden (only a rerun calls it).
 */
export function mockPipelineActivities(prepared: PreparedPipeline, overrides: Partial<PipelineActivities> = {}): PipelineActivityMocks {
  const calls: PipelineActivityMocks['calls'] = [];
  const records: PipelineRunState[] = [];
  const defaults: PipelineActivities = {
    async recordPipelineRun({ state }) {
      records.push(state);
    },
    async preparePipelineRun() {
      return prepared;
    },
    async checkPipelineRequirements() {
      return { met: true, reasons: [] };
    },
    async inspectExistingRun({ runId }) {
      throw ApplicationFailure.create({ type: 'UNEXPECTED_CALL', message: `inspectExistingRun(${runId}) was not expected`, nonRetryable: true });
    },
    async backupSource({ sourcePath, date }) {
      return { path: `data/backup/${date}/${sourcePath}` };
    },
    async writeRejectFiles() {
      return { files: [] };
    },
    async sendPipelineEmail() {
      return { status: 'not_needed' };
    },
  };
  const activities = recorded({ ...defaults, ...overrides }, (name, input) => calls.push({ name, input }));
  return { activities, calls, records };
}

/** `activities` with `record(name, input)` called as each call starts. */
function recorded<T extends object>(activities: T, record: (name: keyof T, input: unknown) => void): T {
  const wrapped = {} as Record<keyof T, (input: unknown) => Promise<unknown>>;
  for (const name of Object.keys(activities) as (keyof T)[]) {
    const implementation = activities[name] as (input: unknown) => Promise<unknown>;
    wrapped[name] = async (input: unknown) => {
      record(name, input);
      return implementation(input);
    };
  }
  return wrapped as T;
}
