/**
 * The `runPipeline` workflow with mocked activities (`tests/helpers/workflow-mocks.ts`) on the
 * Temporal dev server; its jobs are real child `runFlow` workflows on mocked run activities.
 * Dependency rules (a job whose dependency did not load is SKIPPED, independent jobs run regardless,
 * an already-loaded job counts as loaded), unmet requirements, the job table and the records.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { PreparedJob, PreparedPipeline } from '../activities/pipeline-activities';
import type { RunRef } from '../activities/run-activities';
import type { RunMetadata } from '../common/run-model';
import type { PipelineJobState, PipelineRunState, RunPipelineInput } from '../pipelines/pipeline-model';
import { mockPipelineActivities, mockRunActivities, startWorkflowEnv, withMockWorker, type PipelineActivityMocks, type RunActivityMocks } from '../tests/helpers/workflow-mocks';
import { runFlow } from './run-flow';
import { runPipeline } from './run-pipeline';

const DATE = '2026-11-20';
const INPUT: RunPipelineInput = { pipeline: 'daily', environment: 'test', date: DATE, trigger: 'manual' };
const LOADED = { read: 10, mapped: 10, rejected: 0, written: 10 };

/** A prepared job with a fresh run id (each test starts its own runs). */
function job(name: string, flowVersion: string, sourcePath: string, dependsOn: string[] = [], extra: Partial<PreparedJob> = {}): PreparedJob {
  return { name, flowVersion, sourcePath, dependsOn, runId: `${flowVersion.replace(':', '-')}-${randomUUID()}`, backup: true, ...extra };
}

const prepared = (jobs: PreparedJob[]): PreparedPipeline => ({ date: DATE, timezone: 'UTC', requires: [], jobs });

/** Runs `runPipeline` on the mocks (after `before`, on the same worker) and returns its final state. */
async function runToEnd(env: TestWorkflowEnvironment, runs: RunActivityMocks, pipeline: PipelineActivityMocks, before?: (taskQueue: string) => Promise<void>): Promise<PipelineRunState> {
  return withMockWorker(env, { ...runs.activities, ...pipeline.activities }, async (taskQueue) => {
    await before?.(taskQueue);
    return env.client.workflow.execute(runPipeline, { taskQueue, workflowId: `pipeline-${randomUUID()}`, args: [INPUT] });
  });
}

/** The job table without its times and execution ids; asserts the times are ordered ISO-8601 strings. */
function jobTable(state: PipelineRunState): Omit<PipelineJobState, 'started_at' | 'ended_at' | 'execution_id'>[] {
  return state.jobs.map(({ started_at, ended_at, execution_id: _executionId, ...rest }) => {
    if (ended_at !== undefined) {
      assert.equal(new Date(ended_at).toISOString(), ended_at);
      if (started_at !== undefined) assert.ok(started_at <= ended_at, `${rest.name}: started ${started_at}, ended ${ended_at}`);
    }
    return rest;
  });
}

/** The Temporal execution id of the run of `sourcePath`, as its activities saw it. */
const executionOf = (runs: RunActivityMocks, sourcePath: string) =>
  (runs.calls.find((call) => call.name === 'syncSource' && (call.input as RunRef).sourcePath === sourcePath)?.input as RunRef | undefined)?.executionId;

describe('runPipeline with mocked activities', { timeout: 120_000 }, () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await startWorkflowEnv();
  });
  after(async () => {
    await env?.teardown();
  });

  it('a job whose dependency FAILED is SKIPPED with the reason; independent jobs still run', async () => {
    const jobs = [
      job('customers', 'customers:v1', 'customers.csv'),
      job('orders', 'orders:v2', 'orders.csv', ['customers']),
      job('rates', 'rates:v1', 'rates.csv'),
      job('refunds', 'refunds:v1', 'refunds.csv', [], { error: { code: 'UNKNOWN_FLOW_VERSION', message: 'refunds:v1 is not published' } }),
    ];
    const runs = mockRunActivities({ rows: 10 }, (defaults) => ({
      async syncSource(input) {
        if (input.sourcePath === 'customers.csv') throw ApplicationFailure.create({ type: 'SOURCE_NOT_FOUND', message: 'no file customers.csv under connectors.files.root', nonRetryable: true });
        return defaults.syncSource(input);
      },
    }));
    const pipeline = mockPipelineActivities(prepared(jobs));
    const state = await runToEnd(env, runs, pipeline);

    assert.deepEqual(
      runs.calls.filter((call) => call.name === 'syncSource').map((call) => (call.input as RunRef).sourcePath).sort(),
      ['customers.csv', 'rates.csv'],
      'only the jobs whose dependencies loaded start a run',
    );
    assert.equal(state.status, 'PARTIAL_FAILED');
    assert.deepEqual(jobTable(state), [
      {
        name: 'customers', flow_version: 'customers:v1', source_path: 'customers.csv', depends_on: [], run_id: jobs[0]!.runId,
        status: 'FAILED', rows: { read: 0, mapped: 0, rejected: 0, written: 0 },
        error: { code: 'SOURCE_NOT_FOUND', message: 'no file customers.csv under connectors.files.root', step: 'sync_source' },
        reason: 'SOURCE_NOT_FOUND in sync_source: no file customers.csv under connectors.files.root',
      },
      {
        name: 'orders', flow_version: 'orders:v2', source_path: 'orders.csv', depends_on: ['customers'], run_id: jobs[1]!.runId,
        status: 'SKIPPED', rows: null, reason: 'depends on customers, which FAILED',
      },
      {
        name: 'rates', flow_version: 'rates:v1', source_path: 'rates.csv', depends_on: [], run_id: jobs[2]!.runId,
        status: 'SUCCEEDED', rows: LOADED, backup: { status: 'moved', path: `data/backup/${DATE}/rates.csv` },
      },
      {
        name: 'refunds', flow_version: 'refunds:v1', source_path: 'refunds.csv', depends_on: [], run_id: jobs[3]!.runId,
        status: 'FAILED', rows: null, error: { code: 'UNKNOWN_FLOW_VERSION', message: 'refunds:v1 is not published', step: 'start' }, reason: 'refunds:v1 is not published',
      },
    ]);
    const [customers, orders, rates, refunds] = state.jobs;
    assert.equal(customers!.execution_id, executionOf(runs, 'customers.csv'));
    assert.equal(rates!.execution_id, executionOf(runs, 'rates.csv'));
    assert.equal(typeof rates!.execution_id, 'string');
    for (const notStarted of [orders!, refunds!]) assert.deepEqual([notStarted.execution_id, notStarted.started_at], [undefined, undefined]);
    assert.deepEqual(state.totals, { jobs: 4, succeeded: 1, partial_failed: 0, failed: 2, crashed: 0, skipped: 1, already_loaded: 0, rows_rejected: 0 });
    assert.deepEqual(pipeline.calls.filter((call) => call.name === 'backupSource').map((call) => call.input), [{ flowVersion: 'rates:v1', sourcePath: 'rates.csv', date: DATE, environment: 'test' }]);
    assert.deepEqual(state.email, { status: 'not_needed' });
    assert.deepEqual(pipeline.records.map((record) => [record.status, record.jobs.map((j) => j.status)]), [
      ['RUNNING', []],
      ['RUNNING', ['PENDING', 'PENDING', 'PENDING', 'PENDING']],
      ['PARTIAL_FAILED', ['FAILED', 'SKIPPED', 'SUCCEEDED', 'FAILED']],
    ]);
    assert.deepEqual(pipeline.records.at(-1), state, 'the last record is the final state');
  });

  it('an unmet requirement SKIPS the pipeline: no job runs, and each says why', async () => {
    const jobs = [job('rates', 'rates:v1', 'rates.csv'), job('orders', 'orders:v2', 'orders.csv', ['rates'])];
    const reason = `rates.csv has not arrived (required by ${DATE} 06:00 UTC)`;
    const runs = mockRunActivities();
    const pipeline = mockPipelineActivities(prepared(jobs), {
      async checkPipelineRequirements() {
        return { met: false, reasons: [reason] };
      },
    });
    const state = await runToEnd(env, runs, pipeline);
    assert.deepEqual(runs.calls, [], 'no run started');
    assert.equal(state.status, 'SKIPPED');
    assert.equal(state.reason, reason);
    assert.deepEqual(state.jobs.map((j) => [j.name, j.status, j.reason]), [
      ['rates', 'SKIPPED', `the pipeline was skipped: ${reason}`],
      ['orders', 'SKIPPED', `the pipeline was skipped: ${reason}`],
    ]);
    assert.deepEqual(state.totals, { jobs: 2, succeeded: 0, partial_failed: 0, failed: 0, crashed: 0, skipped: 2, already_loaded: 0, rows_rejected: 0 });
    assert.deepEqual(pipeline.records.map((record) => record.status), ['RUNNING', 'RUNNING', 'SKIPPED']);
  });

  it('a job already loaded by an earlier run is ALREADY_LOADED, not loaded again, and its dependents run', async () => {
    const jobs = [job('customers', 'customers:v1', 'customers.csv'), job('orders', 'orders:v2', 'orders.csv', ['customers'])];
    const runs = mockRunActivities({ rows: 10 });
    let earlier: RunMetadata | undefined;
    const pipeline = mockPipelineActivities(prepared(jobs), {
      async inspectExistingRun() {
        return { running: false, status: 'SUCCEEDED', metadata: earlier, endedAt: `${DATE} 06:01 UTC` };
      },
    });
    const state = await runToEnd(env, runs, pipeline, async (taskQueue) => {
      // The earlier run of customers.csv, under the job's (deterministic) run id.
      earlier = await env.client.workflow.execute(runFlow, { taskQueue, workflowId: jobs[0]!.runId, args: [{ flowVersion: 'customers:v1', sourcePath: 'customers.csv' }] });
    });
    assert.deepEqual(
      runs.calls.filter((call) => call.name === 'syncSource').map((call) => (call.input as RunRef).sourcePath),
      ['customers.csv', 'orders.csv'],
      'customers.csv was synced once, by the earlier run',
    );
    assert.deepEqual(pipeline.calls.filter((call) => call.name === 'inspectExistingRun').map((call) => call.input), [{ runId: jobs[0]!.runId, environment: 'test' }]);
    assert.equal(state.status, 'SUCCEEDED');
    assert.deepEqual(jobTable(state).map((j) => [j.name, j.status, j.rows, j.reason, j.backup]), [
      ['customers', 'ALREADY_LOADED', LOADED, `already loaded by run ${jobs[0]!.runId} (SUCCEEDED, ${DATE} 06:01 UTC); not loaded again`, undefined],
      ['orders', 'SUCCEEDED', LOADED, undefined, { status: 'moved', path: `data/backup/${DATE}/orders.csv` }],
    ]);
    assert.equal(state.jobs[0]!.execution_id, undefined, 'no run was started for customers');
    assert.deepEqual(state.totals, { jobs: 2, succeeded: 1, partial_failed: 0, failed: 0, crashed: 0, skipped: 0, already_loaded: 1, rows_rejected: 0 });
  });

  it('a job whose earlier run read 0 rows (EMPTY_SOURCE) is not ALREADY_LOADED: it runs again and loads', async () => {
    const jobs = [job('customers', 'customers:v1', 'customers.csv')];
    let syncs = 0;
    // The earlier run finds the file empty; by the time the pipeline runs, it holds 10 rows.
    const runs = mockRunActivities({ rows: 10 }, (defaults) => ({
      async syncSource(input) {
        const staged = await defaults.syncSource(input);
        return syncs++ === 0 ? { ...staged, rows: 0, files: [{ path: 'run/source/source-00000.parquet', rows: 0 }] } : staged;
      },
    }));
    let earlier: RunMetadata | undefined;
    const pipeline = mockPipelineActivities(prepared(jobs), {
      async inspectExistingRun() {
        return { running: false, status: 'SUCCEEDED', metadata: earlier, endedAt: `${DATE} 06:01 UTC` };
      },
    });
    const state = await runToEnd(env, runs, pipeline, async (taskQueue) => {
      earlier = await env.client.workflow.execute(runFlow, { taskQueue, workflowId: jobs[0]!.runId, args: [{ flowVersion: 'customers:v1', sourcePath: 'customers.csv' }] });
    });
    assert.equal(earlier?.warnings?.[0]?.code, 'EMPTY_SOURCE');
    assert.equal(syncs, 2, 'customers.csv was synced by the earlier run and again by the pipeline');
    assert.deepEqual(jobTable(state).map((j) => [j.name, j.status, j.rows, j.reason]), [['customers', 'SUCCEEDED', LOADED, undefined]]);
    assert.notEqual(state.jobs[0]!.execution_id, undefined, 'a new execution of the same run id');
    assert.notEqual(state.jobs[0]!.execution_id, earlier!.run.execution_id);
    assert.equal(state.status, 'SUCCEEDED');
  });
});
