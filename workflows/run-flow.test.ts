/**
 * The `runFlow` state machine with mocked activities (`tests/helpers/workflow-mocks.ts`) on the
 * Temporal dev server: how failures are classified (FAILED vs CRASHED), the reject-ratio decision,
 * cancellation, the chunk fan-out and the order of the run's events. No database, no connector.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { PublishRunEventInput } from '../activities/event-activities';
import type { SyncSourceOutput, TransformChunkInput } from '../activities/run-activities';
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
  type StepMetadata,
  type StepName,
} from '../common/run-model';
import {
  mockRunActivities,
  REJECTS_STAGING,
  startWorkflowEnv,
  TARGET_LOCATION,
  TARGET_REJECTS_LOCATION,
  withMockWorker,
  type RunActivityMocks,
} from '../tests/helpers/workflow-mocks';
import { MAX_PARALLEL_CHUNKS, runFlow, SMALL_RUN_ROWS } from './run-flow';

const INPUT: RunFlowInput = { flowVersion: 'orders:v1', sourcePath: 'orders.csv', runMetadata: { ticket: 'T-1' } };
type Rows = RunMetadata['rows'];
const rows = (read: number, mapped: number, rejected: number, written: number): Rows => ({ read, mapped, rejected, written });
const NO_ROWS = rows(0, 0, 0, 0);

/** How a run ended, read from Temporal after it closed. */
interface Finished {
  runId: string;
  executionId: string;
  /** From the `metadata` query on the closed workflow. */
  metadata: RunMetadata;
  /** Why the execution did not complete (FAILED, CRASHED, cancelled). */
  failure?: WorkflowFailedError;
  /** The execution's Temporal status: COMPLETED, FAILED, CANCELLED. */
  executionStatus: string;
  /** The `SluiceStatus` search attribute at the end. */
  searchStatus: unknown;
}

/** Runs `runFlow` on `mocks` to its end; `during` runs once the run has started (and may cancel it). */
async function runToEnd(env: TestWorkflowEnvironment, mocks: RunActivityMocks, during?: (handle: WorkflowHandle<typeof runFlow>) => Promise<void>): Promise<Finished> {
  return withMockWorker(env, mocks.activities, async (taskQueue) => {
    const handle = await env.client.workflow.start(runFlow, { taskQueue, workflowId: `run-${randomUUID()}`, args: [INPUT] });
    if (during) await during(handle);
    let failure: WorkflowFailedError | undefined;
    let result: RunMetadata | undefined;
    try {
      result = await handle.result();
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) throw error;
      failure = error;
    }
    const metadata = await handle.query(metadataQuery);
    if (result) assert.deepEqual(result, metadata, 'the result is the final metadata');
    const description = await handle.describe();
    return {
      runId: handle.workflowId,
      executionId: handle.firstExecutionRunId,
      metadata,
      failure,
      executionStatus: description.status.name,
      searchStatus: description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.status),
    };
  });
}

/** The events a run should have published: one per (status, rows, error), in order. */
function expectedEvents(run: Finished, list: [RunStatus, Rows, RunError?][]): PublishRunEventInput[] {
  return list.map(([status, eventRows, error]) => ({
    runId: run.runId,
    executionId: run.executionId,
    flowVersion: INPUT.flowVersion,
    sourcePath: INPUT.sourcePath,
    runMetadata: INPUT.runMetadata!,
    status,
    rows: eventRows,
    ...(error ? { error } : {}),
    // The final event carries each ended step's duration, for the run metrics.
    ...(TERMINAL_STATUSES.includes(status)
      ? { stepsMs: Object.fromEntries(Object.entries(run.metadata.steps).flatMap(([step, t]) => (t?.duration_ms === undefined ? [] : [[step, t.duration_ms]]))) }
      : {}),
  }));
}

/** A step's details without its times; asserts the times are ISO-8601 and the duration is their difference. */
function stepDetails(step: StepMetadata | undefined): Record<string, unknown> {
  assert.ok(step, 'the step ran');
  const { started_at, ended_at, duration_ms, ...details } = step;
  assert.ok(ended_at, 'the step ended');
  assert.equal(new Date(started_at).toISOString(), started_at);
  assert.equal(new Date(ended_at).toISOString(), ended_at);
  assert.equal(duration_ms, Date.parse(ended_at) - Date.parse(started_at));
  return details;
}

/** The run's failure: Temporal failed the execution with `type`, the message naming the error, and the metadata as its detail. */
function assertRunFailure(run: Finished, type: string, error: RunError): void {
  const cause = run.failure?.cause;
  assert.ok(cause instanceof ApplicationFailure, `an ApplicationFailure, got ${String(cause)}`);
  assert.equal(cause.type, type);
  assert.equal(cause.nonRetryable, true);
  assert.equal(cause.message, `run ${run.metadata.status}: ${error.code}: ${error.message}`);
  assert.deepEqual(cause.details, [run.metadata]);
  assert.equal(run.executionStatus, 'FAILED');
}

/** An activity's calls' inputs. */
const inputsOf = (mocks: RunActivityMocks, name: string) => mocks.calls.filter((call) => call.name === name).map((call) => call.input);

describe('runFlow with mocked activities', { timeout: 120_000 }, () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await startWorkflowEnv();
  });
  after(async () => {
    await env?.teardown();
  });

  it('no rejects: SUCCEEDED; steps in order, the chunks planned from chunk_rows, one event per status', async () => {
    const mocks = mockRunActivities({ rows: 10, chunkRows: 4 });
    const run = await runToEnd(env, mocks);
    assert.deepEqual(mocks.names(), [
      'publishRunEvent', 'publishRunEvent', 'syncSource',
      'publishRunEvent', 'transformChunk', 'transformChunk', 'transformChunk', 'finishTransform',
      'publishRunEvent', 'syncTarget', 'finishRun', 'publishRunEvent',
    ]);
    assert.deepEqual(mocks.events, expectedEvents(run, [
      ['CREATED', NO_ROWS],
      ['SYNCING_SOURCE', NO_ROWS],
      ['TRANSFORMING', rows(10, 0, 0, 0)],
      ['SYNCING_TARGET', rows(10, 10, 0, 0)],
      ['SUCCEEDED', rows(10, 10, 0, 10)],
    ]));
    const ref = { runId: run.runId, executionId: run.executionId, flowVersion: INPUT.flowVersion, sourcePath: INPUT.sourcePath };
    assert.deepEqual(
      (inputsOf(mocks, 'transformChunk') as TransformChunkInput[]).sort((a, b) => a.index - b.index),
      [
        { ...ref, index: 0, chunk: { file: 'run/source/source-00000.parquet', offset: 0, rows: 4, firstRow: 1 } },
        { ...ref, index: 1, chunk: { file: 'run/source/source-00000.parquet', offset: 4, rows: 4, firstRow: 5 } },
        { ...ref, index: 2, chunk: { file: 'run/source/source-00000.parquet', offset: 8, rows: 2, firstRow: 9 } },
      ],
    );
    assert.deepEqual(inputsOf(mocks, 'finishRun'), [{ runId: run.runId, executionId: run.executionId }]);

    const { metadata } = run;
    assert.equal(metadata.status, 'SUCCEEDED');
    assert.deepEqual(metadata.run, { id: run.runId, execution_id: run.executionId, flow_version: 'orders:v1', source_path: 'orders.csv', run_metadata: { ticket: 'T-1' } });
    assert.deepEqual(metadata.rows, rows(10, 10, 0, 10));
    assert.deepEqual(metadata.rejects, { location: null, by_rule: {} });
    assert.equal(metadata.error, undefined);
    assert.deepEqual(Object.keys(metadata.steps), ['sync_source', 'transform', 'sync_target']);
    assert.deepEqual(stepDetails(metadata.steps.sync_source), { rows: 10, files: 1, format: 'csv' });
    assert.deepEqual(stepDetails(metadata.steps.transform), { chunks: 3, workers: { 'test:1': 3 }, mapped: 10, rejected: 0 });
    assert.deepEqual(stepDetails(metadata.steps.sync_target), { location: `${TARGET_LOCATION} (3 files)`, written: 10, rejected: 0, already_loaded: false });
    assert.equal(run.failure, undefined);
    assert.equal(run.executionStatus, 'COMPLETED');
    assert.equal(run.searchStatus, 'SUCCEEDED');
  });

  it('one pass: TRANSFORMING then SYNCING_TARGET as transformAndLoad starts, in order; the steps keep its real, overlapping times', async () => {
    const mocks = mockRunActivities({ rows: 10, chunkRows: 4, rejected: 2 }, (defaults) => ({
      syncSource: async (input) => ({ ...(await defaults.syncSource(input)), onePass: true }),
    }));
    const run = await runToEnd(env, mocks);
    assert.deepEqual(mocks.names(), [
      'publishRunEvent', 'publishRunEvent', 'syncSource', 'publishRunEvent', 'publishRunEvent', 'transformAndLoad', 'finishRun', 'publishRunEvent',
    ]);
    assert.deepEqual(mocks.events, expectedEvents(run, [
      ['CREATED', NO_ROWS],
      ['SYNCING_SOURCE', NO_ROWS],
      ['TRANSFORMING', rows(10, 0, 0, 0)],
      ['SYNCING_TARGET', rows(10, 0, 0, 0)],
      ['PARTIAL_FAILED', rows(10, 8, 2, 8)],
    ]));
    // The bookkeeping ran as local activities (markers in the history), behind the patch marker; so did the small
    // run's transformAndLoad, behind its own: only syncSource was scheduled on the task queue.
    const history = await env.client.workflow.getHandle(run.runId).fetchHistory();
    const scheduled = history.events!.flatMap((event) => event.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    assert.deepEqual(scheduled, ['syncSource']);
    const markers = history.events!.flatMap((event) => event.markerRecordedEventAttributes?.markerName ?? []);
    assert.deepEqual(markers, [
      'core_patch', ...Array(4).fill('core_local_activity'), 'core_patch', ...Array(3).fill('core_local_activity'),
    ]);
    const { metadata } = run;
    assert.deepEqual(metadata.rows, rows(10, 8, 2, 8));
    assert.deepEqual(metadata.rejects, { location: TARGET_REJECTS_LOCATION, by_rule: { 'amount:check': 2 } });
    assert.deepEqual(metadata.steps.transform, {
      chunks: 3, workers: { 'test:1': 3 }, mapped: 8, rejected: 2, one_pass: true,
      started_at: '2026-01-01T00:00:00.000Z', ended_at: '2026-01-01T00:00:03.000Z', duration_ms: 3_000,
    });
    assert.deepEqual(metadata.steps.sync_target, {
      location: TARGET_LOCATION, written: 8, rejected: 2, already_loaded: false, one_pass: true,
      started_at: '2026-01-01T00:00:01.000Z', ended_at: '2026-01-01T00:00:04.000Z', duration_ms: 3_000,
    });
    assert.equal(run.searchStatus, 'PARTIAL_FAILED');
  });

  it(`one pass of more than ${SMALL_RUN_ROWS.toLocaleString('en')} rows: transformAndLoad is a remote activity (it heartbeats)`, async () => {
    const mocks = mockRunActivities({ rows: SMALL_RUN_ROWS + 1, chunkRows: 4_000, rejected: 3 }, (defaults) => ({
      syncSource: async (input) => ({ ...(await defaults.syncSource(input)), onePass: true }),
    }));
    const run = await runToEnd(env, mocks);
    assert.equal(run.metadata.status, 'PARTIAL_FAILED');
    assert.deepEqual(run.metadata.rows, rows(SMALL_RUN_ROWS + 1, SMALL_RUN_ROWS - 2, 3, SMALL_RUN_ROWS - 2));
    const history = await env.client.workflow.getHandle(run.runId).fetchHistory();
    const scheduled = history.events!.flatMap((event) => event.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    assert.deepEqual(scheduled, ['syncSource', 'transformAndLoad']);
    assert.deepEqual(mocks.statuses(), ['CREATED', 'SYNCING_SOURCE', 'TRANSFORMING', 'SYNCING_TARGET', 'PARTIAL_FAILED']);
  });

  it('one pass above max_reject_ratio (6 of 10 at 0.5): FAILED at transform with REJECT_RATIO_EXCEEDED, the load rolled back', async () => {
    const mocks = mockRunActivities({ rows: 10, chunkRows: 4, rejected: 6, maxRejectRatio: 0.5 }, (defaults) => ({
      syncSource: async (input) => ({ ...(await defaults.syncSource(input)), onePass: true }),
    }));
    const run = await runToEnd(env, mocks);
    assert.equal(run.metadata.status, 'FAILED');
    assert.deepEqual(run.metadata.error, {
      code: 'REJECT_RATIO_EXCEEDED',
      message: `6 of 10 rows rejected (60.0%), above max_reject_ratio 0.5; nothing was written to the target. The rejected rows are in ${REJECTS_STAGING}; fix the source or the flow's rules, or raise max_reject_ratio`,
      step: 'transform',
    });
    assert.deepEqual(run.metadata.rows, rows(10, 4, 6, 0));
    assert.equal(run.metadata.steps.sync_target?.rolled_back, true);
    assert.deepEqual(mocks.statuses(), ['CREATED', 'SYNCING_SOURCE', 'TRANSFORMING', 'SYNCING_TARGET', 'FAILED']);
  });

  it('rejects at max_reject_ratio (5 of 10 at 0.5): PARTIAL_FAILED, mapped and rejected rows both written', async () => {
    const mocks = mockRunActivities({ rows: 10, chunkRows: 4, rejected: 5, maxRejectRatio: 0.5 });
    const run = await runToEnd(env, mocks);
    assert.deepEqual(mocks.statuses(), ['CREATED', 'SYNCING_SOURCE', 'TRANSFORMING', 'SYNCING_TARGET', 'PARTIAL_FAILED']);
    assert.deepEqual(mocks.events.at(-1), expectedEvents(run, [['PARTIAL_FAILED', rows(10, 5, 5, 5)]])[0]);
    assert.equal(inputsOf(mocks, 'syncTarget').length, 1);
    assert.equal(run.metadata.status, 'PARTIAL_FAILED');
    assert.deepEqual(run.metadata.rows, rows(10, 5, 5, 5));
    assert.deepEqual(run.metadata.rejects, { location: `${TARGET_REJECTS_LOCATION} (3 files)`, by_rule: { 'amount:check': 5 } });
    assert.deepEqual(stepDetails(run.metadata.steps.transform), { chunks: 3, workers: { 'test:1': 3 }, mapped: 5, rejected: 5 });
    assert.equal(run.executionStatus, 'COMPLETED');
    assert.equal(run.searchStatus, 'PARTIAL_FAILED');
  });

  it('rejects above max_reject_ratio (6 of 10 at 0.5): FAILED at transform with REJECT_RATIO_EXCEEDED, nothing written', async () => {
    const mocks = mockRunActivities({ rows: 10, chunkRows: 4, rejected: 6, maxRejectRatio: 0.5 });
    const run = await runToEnd(env, mocks);
    const error: RunError = {
      code: 'REJECT_RATIO_EXCEEDED',
      message:
        `6 of 10 rows rejected (60.0%), above max_reject_ratio 0.5; nothing was written to the target. The rejected rows are in ${REJECTS_STAGING}; ` +
        `fix the source or the flow's rules, or raise max_reject_ratio`,
      step: 'transform',
    };
    assert.deepEqual(mocks.events, expectedEvents(run, [
      ['CREATED', NO_ROWS],
      ['SYNCING_SOURCE', NO_ROWS],
      ['TRANSFORMING', rows(10, 0, 0, 0)],
      ['FAILED', rows(10, 4, 6, 0), error],
    ]));
    assert.deepEqual(inputsOf(mocks, 'syncTarget'), [], 'the target is never called');
    assert.equal(inputsOf(mocks, 'finishRun').length, 1);
    assert.equal(run.metadata.status, 'FAILED');
    assert.deepEqual(run.metadata.error, error);
    assert.deepEqual(run.metadata.rows, rows(10, 4, 6, 0));
    assert.deepEqual(run.metadata.rejects, { location: REJECTS_STAGING, by_rule: { 'amount:check': 6 } });
    assert.deepEqual(Object.keys(run.metadata.steps), ['sync_source', 'transform']);
    assert.deepEqual(stepDetails(run.metadata.steps.transform), { chunks: 3, workers: { 'test:1': 3 }, mapped: 4, rejected: 6 });
    assertRunFailure(run, RUN_FAILED_TYPE, error);
    assert.equal(run.searchStatus, 'FAILED');
  });

  it('an empty source (0 rows): SUCCEEDED with an EMPTY_SOURCE warning, columns checked, nothing loaded', async () => {
    const mocks = mockRunActivities({ rows: 0, maxRejectRatio: 0 });
    const run = await runToEnd(env, mocks);
    assert.deepEqual(mocks.statuses(), ['CREATED', 'SYNCING_SOURCE', 'TRANSFORMING', 'SUCCEEDED']);
    assert.deepEqual(inputsOf(mocks, 'transformChunk').length, 1, 'one empty chunk, so the columns are still checked');
    assert.deepEqual(inputsOf(mocks, 'syncTarget'), [], 'an empty batch is not loaded (a replace would empty the table)');
    assert.equal(inputsOf(mocks, 'finishRun').length, 1);
    assert.deepEqual(run.metadata.rows, NO_ROWS);
    assert.deepEqual(run.metadata.warnings, [
      {
        code: 'EMPTY_SOURCE',
        step: 'sync_source',
        message: 'source_path "orders.csv" read 0 rows; nothing was written and the source_path is not marked loaded (on_empty: fail makes this a failure)',
      },
    ]);
    assert.equal(run.executionStatus, 'COMPLETED');
  });

  it('while transforming, the metadata query shows chunks done of total and mapped/rejected growing per chunk', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // 3 chunks of 4, 4, 2 rows; the first row rejected. Chunk 2 waits until the test has looked.
    const mocks = mockRunActivities({ rows: 10, chunkRows: 4, rejected: 1 }, (defaults) => ({
      async transformChunk(input) {
        if (input.index === 2) await held;
        return defaults.transformChunk(input);
      },
    }));
    const seen: RunMetadata[] = [];
    const run = await runToEnd(env, mocks, async (handle) => {
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
        const metadata = await handle.query(metadataQuery);
        if (metadata.progress?.chunks_done === 2) {
          seen.push(metadata);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      release();
    });
    assert.equal(seen.length, 1, 'the query showed 2 chunks done while the third was held');
    assert.equal(seen[0]!.status, 'TRANSFORMING');
    assert.deepEqual(seen[0]!.progress, { chunks_done: 2, chunks_total: 3 });
    assert.deepEqual(seen[0]!.rows, rows(10, 7, 1, 0));
    assert.deepEqual(run.metadata.progress, { chunks_done: 3, chunks_total: 3 });
    assert.deepEqual(run.metadata.rows, rows(10, 9, 1, 9));
  });

  const userErrors: { step: StepName; activity: 'syncSource' | 'transformChunk' | 'syncTarget'; code: string; message: string; events: [RunStatus, Rows][]; rows: Rows }[] = [
    {
      step: 'sync_source', activity: 'syncSource', code: 'SOURCE_NOT_FOUND', message: 'no file orders.csv under connectors.files.root',
      events: [['CREATED', NO_ROWS], ['SYNCING_SOURCE', NO_ROWS]], rows: NO_ROWS,
    },
    {
      step: 'transform', activity: 'transformChunk', code: 'INVALID_FLOW_SPEC', message: 'fields.amount.check: column "amout" does not exist',
      events: [['CREATED', NO_ROWS], ['SYNCING_SOURCE', NO_ROWS], ['TRANSFORMING', rows(10, 0, 0, 0)]], rows: rows(10, 0, 0, 0),
    },
    {
      step: 'sync_target', activity: 'syncTarget', code: 'TARGET_SCHEMA_MISMATCH', message: 'public.orders has no column "amount"',
      events: [['CREATED', NO_ROWS], ['SYNCING_SOURCE', NO_ROWS], ['TRANSFORMING', rows(10, 0, 0, 0)], ['SYNCING_TARGET', rows(10, 10, 0, 0)]], rows: rows(10, 10, 0, 0),
    },
  ];
  for (const { step, activity, code, message, events, rows: finalRows } of userErrors) {
    it(`a user error (non-retryable ApplicationFailure) in ${step}: FAILED with its code, message and step, not retried`, async () => {
      const mocks = mockRunActivities({ rows: 10, chunkRows: 4 }, {
        [activity]: async () => {
          throw ApplicationFailure.create({ type: code, message, nonRetryable: true });
        },
      });
      const run = await runToEnd(env, mocks);
      const error: RunError = { code, message, step };
      assert.deepEqual(mocks.events, expectedEvents(run, [...events, ['FAILED', finalRows, error]]));
      // Not retried: every call of the activity is a first attempt (transform: once per chunk at most).
      const attempts = mocks.calls.filter((call) => call.name === activity).map((call) => call.attempt);
      assert.ok(attempts.length >= 1 && attempts.length <= (activity === 'transformChunk' ? 3 : 1), `calls: ${attempts.length}`);
      assert.deepEqual(attempts, attempts.map(() => 1));
      assert.equal(run.metadata.status, 'FAILED');
      assert.deepEqual(run.metadata.error, error);
      assert.deepEqual(run.metadata.rows, finalRows);
      assert.ok(run.metadata.steps[step]?.ended_at, `the failed step ${step} is closed`);
      assert.equal(mocks.names().at(-2), 'finishRun', 'the staging retention clock starts before the last event');
      assertRunFailure(run, RUN_FAILED_TYPE, error);
      assert.equal(run.searchStatus, 'FAILED');
    });
  }

  it('a small one-pass run whose (local) load the target refuses: FAILED at step sync_target with the target\'s code', async () => {
    const mocks = mockRunActivities({ rows: 10, chunkRows: 4 }, (defaults) => ({
      syncSource: async (input) => ({ ...(await defaults.syncSource(input)), onePass: true }),
      transformAndLoad: async () => {
        throw ApplicationFailure.create({ type: 'AUTH_FAILED', message: 'connectors.warehouse: the server refused the password', nonRetryable: true });
      },
    }));
    const run = await runToEnd(env, mocks);
    const error: RunError = { code: 'AUTH_FAILED', message: 'connectors.warehouse: the server refused the password', step: 'sync_target' };
    assert.deepEqual(run.metadata.error, error);
    assert.equal(run.metadata.status, 'FAILED');
    assert.deepEqual(mocks.calls.filter((call) => call.name === 'transformAndLoad').map((call) => call.attempt), [1]);
  });

  it('a small one-pass run whose (local) load keeps failing (retryable): CRASHED with RETRIES_EXHAUSTED after its 10 attempts', async () => {
    const mocks = mockRunActivities({ rows: 10, chunkRows: 4 }, (defaults) => ({
      syncSource: async (input) => ({ ...(await defaults.syncSource(input)), onePass: true }),
      transformAndLoad: async () => {
        throw ApplicationFailure.create({ type: 'ECONNRESET', message: 'read ECONNRESET', nextRetryDelay: '10ms' });
      },
    }));
    const run = await runToEnd(env, mocks);
    assert.deepEqual(mocks.calls.filter((call) => call.name === 'transformAndLoad').map((call) => call.attempt), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(run.metadata.error, { code: 'RETRIES_EXHAUSTED', message: 'transform kept failing after its retries: read ECONNRESET', step: 'transform' });
    assert.equal(run.metadata.status, 'CRASHED');
    assertRunFailure(run, RUN_CRASHED_TYPE, run.metadata.error!);
  });

  it('an activity that keeps failing (retryable): CRASHED with RETRIES_EXHAUSTED after its 10 attempts', async () => {
    const mocks = mockRunActivities({ rows: 10 }, {
      async syncTarget() {
        throw ApplicationFailure.create({ type: 'ECONNRESET', message: 'read ECONNRESET', nextRetryDelay: '10ms' });
      },
    });
    const run = await runToEnd(env, mocks);
    const error: RunError = { code: 'RETRIES_EXHAUSTED', message: 'sync_target kept failing after its retries: read ECONNRESET', step: 'sync_target' };
    assert.deepEqual(mocks.calls.filter((call) => call.name === 'syncTarget').map((call) => call.attempt), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(mocks.events, expectedEvents(run, [
      ['CREATED', NO_ROWS],
      ['SYNCING_SOURCE', NO_ROWS],
      ['TRANSFORMING', rows(10, 0, 0, 0)],
      ['SYNCING_TARGET', rows(10, 10, 0, 0)],
      ['CRASHED', rows(10, 10, 0, 0), error],
    ]));
    assert.equal(run.metadata.status, 'CRASHED');
    assert.deepEqual(run.metadata.error, error);
    assertRunFailure(run, RUN_CRASHED_TYPE, error);
    assert.equal(run.searchStatus, 'CRASHED');
  });

  it('an unexpected error in the workflow code: CRASHED with INTERNAL_ERROR and the error message', async () => {
    const mocks = mockRunActivities({ rows: 10 }, {
      // Output the workflow does not expect: reading `files.length` throws a TypeError.
      syncSource: async () => ({ rows: 10, files: null, columns: [], format: 'csv', chunkRows: 4 }) as unknown as SyncSourceOutput,
    });
    const run = await runToEnd(env, mocks);
    const error: RunError = { code: 'INTERNAL_ERROR', message: "Cannot read properties of null (reading 'length')", step: 'sync_source' };
    assert.deepEqual(mocks.events, expectedEvents(run, [
      ['CREATED', NO_ROWS],
      ['SYNCING_SOURCE', NO_ROWS],
      ['CRASHED', rows(10, 0, 0, 0), error],
    ]));
    assert.deepEqual(run.metadata.error, error);
    assert.deepEqual(stepDetails(run.metadata.steps.sync_source), {});
    assertRunFailure(run, RUN_CRASHED_TYPE, error);
  });

  it('a cancelled run ends FAILED with CANCELLED, still starts the retention clock and publishes its last event', async () => {
    let started!: () => void;
    const syncing = new Promise<void>((resolve) => (started = resolve));
    const mocks = mockRunActivities({ rows: 10 }, {
      // Runs until cancelled (here: when the worker shuts down after the test).
      syncSource: async () => {
        started();
        return Context.current().cancelled;
      },
    });
    const run = await runToEnd(env, mocks, async (handle) => {
      await syncing;
      assert.equal(await handle.query(statusQuery), 'SYNCING_SOURCE');
      await handle.cancel();
    });
    const error: RunError = { code: 'CANCELLED', message: 'the run was cancelled', step: 'sync_source' };
    assert.deepEqual(mocks.events, expectedEvents(run, [
      ['CREATED', NO_ROWS],
      ['SYNCING_SOURCE', NO_ROWS],
      ['FAILED', NO_ROWS, error],
    ]));
    assert.deepEqual(inputsOf(mocks, 'finishRun'), [{ runId: run.runId, executionId: run.executionId }]);
    assert.equal(run.metadata.status, 'FAILED');
    assert.deepEqual(run.metadata.error, error);
    assert.ok(run.metadata.steps.sync_source?.ended_at, 'the cancelled step is closed');
    assert.ok(run.failure?.cause instanceof CancelledFailure, `a CancelledFailure, got ${String(run.failure?.cause)}`);
    assert.equal(run.executionStatus, 'CANCELLED');
    assert.equal(run.searchStatus, 'FAILED');
  });

  it('a failed event publish is retried, never skipped: each status is still published once, in order', async () => {
    const mocks = mockRunActivities({ rows: 10 }, {
      async publishRunEvent(input) {
        if (input.status === 'TRANSFORMING' && Context.current().info.attempt === 1) {
          throw ApplicationFailure.create({ type: 'DATABASE_UNAVAILABLE', message: 'the metadata database is restarting', nextRetryDelay: '10ms' });
        }
        return { eventId: `${input.executionId}:${input.status}`, deliveries: 0, publishedAt: new Date().toISOString() };
      },
    });
    await runToEnd(env, mocks);
    const publishes = mocks.calls.filter((call) => call.name === 'publishRunEvent').map((call) => [(call.input as PublishRunEventInput).status, call.attempt]);
    assert.deepEqual(publishes, [['CREATED', 1], ['SYNCING_SOURCE', 1], ['TRANSFORMING', 1], ['TRANSFORMING', 2], ['SYNCING_TARGET', 1], ['SUCCEEDED', 1]]);
    assert.deepEqual(mocks.statuses(), ['CREATED', 'SYNCING_SOURCE', 'TRANSFORMING', 'SYNCING_TARGET', 'SUCCEEDED']);
  });

  it('a failing retention marker (finishRun) does not change the outcome', async () => {
    const mocks = mockRunActivities({ rows: 10 }, {
      async finishRun() {
        throw ApplicationFailure.create({ type: 'STAGING_UNAVAILABLE', message: 'staging is read-only', nonRetryable: true });
      },
    });
    const run = await runToEnd(env, mocks);
    assert.equal(inputsOf(mocks, 'finishRun').length, 1);
    assert.equal(run.metadata.status, 'SUCCEEDED');
    assert.equal(run.metadata.error, undefined);
    assert.deepEqual(mocks.statuses(), ['CREATED', 'SYNCING_SOURCE', 'TRANSFORMING', 'SYNCING_TARGET', 'SUCCEEDED']);
  });

  it(`fans 20 chunks out at most ${MAX_PARALLEL_CHUNKS} at a time and hands every output to finishTransform`, async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const mocks = mockRunActivities({ rows: 100, chunkRows: 5 }, {
      async transformChunk({ index, chunk }) {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // Hold each chunk until the limit is reached (or 2 s passed), then a little longer, so more
        // chunks in flight than the limit would be seen.
        const deadline = Date.now() + 2_000;
        while (inFlight < MAX_PARALLEL_CHUNKS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
        await new Promise((resolve) => setTimeout(resolve, 50));
        inFlight -= 1;
        return { index, mappedKey: `m${index}`, rejectedKey: `r${index}`, rowsMapped: chunk.rows, rowsRejected: 0, byRule: {}, worker: 'test:1' };
      },
    });
    const run = await runToEnd(env, mocks);
    assert.equal(maxInFlight, MAX_PARALLEL_CHUNKS);
    const [finish] = inputsOf(mocks, 'finishTransform') as { chunks: { index: number }[]; plan: unknown[] }[];
    assert.deepEqual(finish!.chunks.map((c) => c.index).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
    assert.equal(finish!.plan.length, 20);
    assert.equal(run.metadata.status, 'SUCCEEDED');
    assert.deepEqual(run.metadata.rows, rows(100, 100, 0, 100));
  });
});
