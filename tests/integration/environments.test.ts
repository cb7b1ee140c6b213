/**
 * Integration: environments never cross. One Temporal dev server; a `dev` worker and a `test` worker, each from
 * the same project's `sluice.config.yaml` (no task queue written: each derives its own, `sluice` and
 * `sluice-test`), each with its own metadata/target database and its own real SMTP server.
 *
 * - `sluice pipeline run daily -e test --wait` and `sluice run … -e test --wait` (the built CLI): only the test
 *   worker's database and SMTP server see anything; dev's database has no table, no event, no pipeline run, and
 *   dev's SMTP server no email. The run ids carry `test`, so a dev run of the same source_path is not ALREADY_LOADED.
 * - A run and a pipeline run stamped `test` but delivered to the dev worker's queue are refused with
 *   `WRONG_ENVIRONMENT` and execute nothing there.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { startPipelineRun, waitPipelineRun } from '../../client/pipeline-client';
import { RUN_FAILED_TYPE, type RunMetadata } from '../../common/run-model';
import { RUN_WORKFLOW_TYPE } from '../../common/workflow-types';
import { loadConfig, type SluiceConfig } from '../../config/sluice-config';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import type { runFlow } from '../../workflows/run-flow';
import { createSluiceWorker, type SluiceWorker } from '../../worker/sluice-worker';
import { MailSink } from '../helpers/mail-sink';
import { createTestDatabase, logger, runCli, startTemporal, tempProject, type TestDatabase } from '../helpers/services';

const DATE = '2026-11-21';

/** The subjects of the emails `sink` received, in order. */
const subjects = (sink: MailSink) => sink.received.map((m) => m.message.subject ?? '');

const FLOW = `name: accounts
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.accounts }
fields:
  code: { from: code, type: string, required: true }
  balance: { from: balance, type: float64 }
`;

const tableExists = async (db: TestDatabase, table: string) => (await db.pool.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [table])).rows[0]!.t !== null;
const count = async (db: TestDatabase, sql: string) => Number((await db.pool.query<{ n: string }>(sql)).rows[0]!.n);

describe('environments: a test run never touches dev; a worker refuses another environment’s work', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let devDb: TestDatabase;
  let testDb: TestDatabase;
  const devMail = new MailSink();
  const testMail = new MailSink();
  let dir: string;
  let devConfig: SluiceConfig;
  let testConfig: SluiceConfig;
  const workers: Array<{ worker: SluiceWorker; running: Promise<void> }> = [];
  let cliEnv: NodeJS.ProcessEnv;

  before(async () => {
    [env, devDb, testDb] = await Promise.all([startTemporal(), createTestDatabase(), createTestDatabase(), devMail.start(), testMail.start()]);
    dir = tempProject();
    const write = (relative: string, text: string) => {
      mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
      writeFileSync(path.join(dir, relative), text);
    };
    // The scaffold's shape: connectors at the top, the test environment overrides only what differs.
    write(
      'sluice.config.yaml',
      `database_url: "${devDb.url}"
temporal: { address: "${env.address}" }
connectors:
  files: { kind: local, root: . }
  warehouse: { kind: postgres }
  mail: { kind: smtp, host: 127.0.0.1, port: ${devMail.port}, from: "Sluice <sluice@localhost>", tls_reject_unauthorized: false, timeout_ms: 5000 }
notifications:
  email: { connector: mail, to: ["data@example.com"], send: always }
environments:
  dev: {}
  test:
    require_encrypted_secrets: false
    database_url: "${testDb.url}"
    staging: { dir: .sluice/staging-test }
    connectors:
      mail: { port: ${testMail.port} }
`,
    );
    write('flows/accounts.yaml', FLOW);
    write('pipelines/daily.yaml', 'name: daily\njobs:\n  - { name: accounts, flow_version: accounts:v1, source_path: "data/import/accounts_{date}.csv", backup: false }\n');
    write(`data/import/accounts_${DATE}.csv`, 'code,balance\nFR,1.5\nDE,2\n');
    write('data/import/extra.csv', 'code,balance\nIT,3\n');

    devConfig = loadConfig({ projectDir: dir, env: {}, environment: 'dev' });
    testConfig = loadConfig({ projectDir: dir, env: {}, environment: 'test' });
    for (const [config, db] of [
      [devConfig, devDb],
      [testConfig, testDb],
    ] as const) {
      await new FlowVersionStore(db.pool).publish(parseFlowSpec(FLOW), { sourceText: FLOW });
      const worker = await createSluiceWorker({ config, logger, connection: env.nativeConnection });
      workers.push({ worker, running: worker.run() });
    }
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(DATABASE_URL|TEMPORAL_|SLUICE_)/.test(name)));
    cliEnv = { ...inherited, SLUICE_LOG_LEVEL: 'warn' };
  });

  after(async () => {
    for (const { worker, running } of workers) {
      await worker.shutdown();
      await running;
    }
    await env?.teardown();
    await devDb?.drop();
    await testDb?.drop();
    await devMail.close();
    await testMail.close();
  });

  it('derives one task queue per environment from the same file', () => {
    assert.equal(devConfig.temporal.taskQueue, 'sluice');
    assert.equal(testConfig.temporal.taskQueue, 'sluice-test');
    assert.equal(devConfig.environment, 'dev');
    assert.equal(testConfig.environment, 'test');
  });

  it('sluice pipeline run daily -e test --wait: only the test worker’s database and SMTP server are touched', async () => {
    const result = await runCli(['pipeline', 'run', 'daily', '-e', 'test', '--date', DATE, '--wait', '--json'], { cwd: dir, env: cliEnv });
    assert.equal(result.code, 0, result.stderr);
    const state = JSON.parse(result.stdout) as { environment: string; status: string; jobs: Array<{ status: string; run_id: string }> };
    assert.equal(state.environment, 'test');
    assert.equal(state.status, 'SUCCEEDED');
    assert.equal(state.jobs[0]!.status, 'SUCCEEDED');
    assert.match(state.jobs[0]!.run_id, /^accounts-v1-test-[0-9a-f]{16}$/);

    assert.equal(await count(testDb, 'SELECT count(*) AS n FROM public.accounts'), 2, 'the test warehouse got the rows');
    assert.equal(await count(testDb, "SELECT count(*) AS n FROM sluice.pipeline_runs WHERE environment = 'test'"), 1);
    assert.equal(subjects(testMail).length, 1, 'the test SMTP server got the email');
    assert.match(subjects(testMail)[0]!, /^\[test\] pipeline daily 2026-11-21: SUCCEEDED/);

    assert.equal(await tableExists(devDb, 'public.accounts'), false, 'dev’s warehouse got nothing');
    assert.equal(await count(devDb, 'SELECT count(*) AS n FROM sluice.pipeline_runs'), 0, 'dev recorded no pipeline run');
    assert.equal(await count(devDb, 'SELECT count(*) AS n FROM sluice.events'), 0, 'dev recorded no run event');
    assert.deepEqual(subjects(devMail), [], 'dev’s SMTP server got no email');
  });

  it('sluice run … -e test --wait: the run is the test worker’s; dev untouched', async () => {
    const result = await runCli(['run', 'accounts:v1', '--source', 'data/import/extra.csv', '-e', 'test', '--wait', '--json'], { cwd: dir, env: cliEnv });
    assert.equal(result.code, 0, result.stderr);
    const run = JSON.parse(result.stdout) as { id: string; status: string };
    assert.match(run.id, /^accounts-v1-test-[0-9a-f]{16}$/);
    assert.equal(run.status, 'SUCCEEDED');
    assert.equal(await count(testDb, 'SELECT count(*) AS n FROM public.accounts'), 3);
    assert.equal(await tableExists(devDb, 'public.accounts'), false);
    assert.equal(await count(devDb, 'SELECT count(*) AS n FROM sluice.events'), 0);
  });

  it('a dev pipeline run of the same source_path is not ALREADY_LOADED by the test run: it loads dev’s warehouse', async () => {
    const result = await runCli(['pipeline', 'run', 'daily', '--date', DATE, '--wait', '--json'], { cwd: dir, env: cliEnv });
    assert.equal(result.code, 0, result.stderr);
    const state = JSON.parse(result.stdout) as { environment: string; jobs: Array<{ status: string; run_id: string }> };
    assert.equal(state.environment, 'dev');
    assert.equal(state.jobs[0]!.status, 'SUCCEEDED');
    assert.match(state.jobs[0]!.run_id, /^accounts-v1-[0-9a-f]{16}$/, 'a dev run id has no environment part');
    assert.equal(await count(devDb, 'SELECT count(*) AS n FROM public.accounts'), 2);
    assert.equal(subjects(devMail).length, 1);
    assert.equal(subjects(testMail).length, 1, 'the test SMTP server got nothing more');
  });

  it('a run stamped test delivered to the dev worker’s queue is refused with WRONG_ENVIRONMENT, executing nothing', async () => {
    const eventsBefore = await count(devDb, 'SELECT count(*) AS n FROM sluice.events');
    const handle = await env.client.workflow.start<typeof runFlow>(RUN_WORKFLOW_TYPE, {
      taskQueue: devConfig.temporal.taskQueue,
      workflowId: 'misrouted-run',
      args: [{ flowVersion: 'accounts:v1', sourcePath: 'data/import/extra.csv', environment: 'test' }],
    });
    const failure = await handle.result().then(
      () => assert.fail('the misrouted run succeeded'),
      (error: unknown) => error,
    );
    assert.ok(failure instanceof WorkflowFailedError);
    assert.ok(failure.cause instanceof ApplicationFailure);
    assert.equal(failure.cause.type, RUN_FAILED_TYPE);
    const metadata = failure.cause.details?.[0] as RunMetadata;
    assert.equal(metadata.status, 'FAILED');
    assert.equal(metadata.error?.code, 'WRONG_ENVIRONMENT');
    assert.match(metadata.error!.message, /^this work belongs to environment "test" but reached a worker of environment "dev" \(they share a task queue\); nothing was executed\./);
    assert.match(metadata.error!.message, /sluice worker -e test$/);
    assert.deepEqual(metadata.rows, { read: 0, mapped: 0, rejected: 0, written: 0 }, 'nothing was read');
    assert.equal(await count(devDb, 'SELECT count(*) AS n FROM public.accounts'), 2, 'dev’s warehouse unchanged');
    assert.equal(await count(devDb, 'SELECT count(*) AS n FROM sluice.events'), eventsBefore, 'no event recorded in dev');
  });

  it('a pipeline run stamped test delivered to the dev worker’s queue is refused: no record, no email in dev', async () => {
    const { workflowId } = await startPipelineRun(env.client, { taskQueue: devConfig.temporal.taskQueue, input: { pipeline: 'daily', environment: 'test', date: DATE, trigger: 'manual' } });
    const state = await waitPipelineRun(env.client, workflowId);
    assert.equal(state.status, 'FAILED');
    assert.equal(state.error?.code, 'WRONG_ENVIRONMENT');
    assert.equal(state.jobs.length, 0, 'no job was prepared');
    assert.equal(await count(devDb, 'SELECT count(*) AS n FROM sluice.pipeline_runs WHERE environment = $$test$$'), 0);
    assert.equal(subjects(devMail).length, 1, 'dev’s SMTP server got nothing more');
    assert.equal(subjects(testMail).length, 1);
  });
});
