/**
 * Integration: pipelines end to end — real Temporal dev server, real PostgreSQL, an in-process worker,
 * and a real SMTP server (the `smtp-server` package on 127.0.0.1) that receives the one email.
 *
 * A four-job pipeline where job 2 fails (missing source file), job 3 (depends on 2) is SKIPPED, and
 * jobs 1 and 4 load with a rejected row each: exactly one email with both rejects CSVs attached and the
 * summary table; the loaded source files moved to data/backup/<date>/. A clean pipeline sends no
 * email (and a second run of it finds its job ALREADY_LOADED). `requires` not met ends a pipeline
 * SKIPPED with the reasons. An SMTP refusal is recorded as `email: failed`. The CLI runs and shows them.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { SluiceConfig } from '../../config/sluice-config';
import { startPipelineRun, waitPipelineRun } from '../../client/pipeline-client';
import { pipelineStatusQuery, type PipelineRunState } from '../../pipelines/pipeline-model';
import { MailSink } from '../helpers/mail-sink';
import { createTestDatabase, startInProcessRunner, startTemporal, tempProject, testConfig, type InProcessRunner, type TestDatabase, runCli } from '../helpers/services';

const DATE = '2026-11-21';

const flow = (name: string, fields: string) => `
name: ${name}
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.${name} }
fields:
${fields}
`;

const DAILY = `name: daily
description: four jobs, one failing
jobs:
  - name: companies
    flow_version: companies:v1
    source_path: "data/import/companies_{date}.csv"
  - name: contacts
    flow_version: contacts:v1
    source_path: "data/import/contacts_{date}.csv"
  - name: orders
    flow_version: orders:v1
    source_path: "data/import/orders_{date}.csv"
    depends_on: [contacts]
  - name: products
    flow_version: products:v1
    source_path: "data/import/{env}/products_{yyyy}{mm}{dd}.csv"
`;

describe('pipelines: jobs with dependencies, backups and the one error email', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let dir: string;
  let config: SluiceConfig;
  let runner: InProcessRunner;
  const mail = new MailSink();

  const write = (relative: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
    writeFileSync(path.join(dir, relative), text);
  };
  const run = async (pipeline: string, date = DATE): Promise<PipelineRunState> => {
    const { workflowId } = await startPipelineRun(env.client, { taskQueue: config.temporal.taskQueue, input: { pipeline, environment: 'dev', date, trigger: 'manual' } });
    return waitPipelineRun(env.client, workflowId);
  };

  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase(), mail.start()]);
    dir = tempProject();
    config = {
      ...testConfig({
        dir,
        databaseUrl: db.url,
        address: env.address,
        connectors: {
          files: { kind: 'local', root: '.' },
          warehouse: { kind: 'postgres' },
          mail: { kind: 'smtp', host: '127.0.0.1', port: mail.port, secure: false, from: 'Sluice <sluice@example.com>', tls_reject_unauthorized: false, timeout_ms: 5_000 },
        },
      }),
      notifications: { email: { connector: 'mail', to: ['ops@example.com', 'data@example.com'], send: 'problems' } },
    };
    runner = await startInProcessRunner(env, db, config);
    await runner.publish(flow('companies', '  id: { from: id, type: int64, required: true }\n  name: { from: name, type: string, required: true }'));
    await runner.publish(flow('contacts', '  id: { from: id, type: int64, required: true }'));
    await runner.publish(flow('orders', '  id: { from: id, type: int64, required: true }'));
    await runner.publish(flow('products', '  id: { from: id, type: int64, required: true }\n  price: { from: price, type: float64 }'));
    await runner.publish(flow('regions', '  code: { from: code, type: string, required: true }'));
    write(`data/import/companies_${DATE}.csv`, 'id,name\n1,Acme\n2,\n3,"Globex, Inc."\n');
    write(`data/import/orders_${DATE}.csv`, 'id\n1\n');
    write('data/import/dev/products_20261121.csv', 'id,price\n1,9.5\n2,abc\n3,4\n');
    write(`data/import/regions_${DATE}.csv`, 'code\nEU\nUS\n');
    write('pipelines/daily.yaml', DAILY);
    write('pipelines/clean.yaml', 'name: clean\njobs:\n  - { name: regions, flow_version: regions:v1, source_path: "data/import/regions_{date}.csv" }\n');
    write(
      'pipelines/downstream.yaml',
      'name: downstream\nrequires:\n  - never-ran\n  - daily\n  - { pipeline: clean, within: 1h }\njobs:\n  - { name: regions, flow_version: regions:v1, source_path: "data/import/regions_{date}.csv" }\n',
    );
  });

  after(async () => {
    await runner?.stop();
    await env?.teardown();
    await db?.drop();
    await mail.close();
  });

  it('runs four jobs: job 2 FAILED, job 3 SKIPPED, jobs 1 and 4 loaded; exactly one email with the rejects attached; sources backed up', async () => {
    const state = await run('daily');
    assert.equal(state.status, 'PARTIAL_FAILED');
    assert.equal(state.date, DATE);
    const byName = Object.fromEntries(state.jobs.map((j) => [j.name, j]));
    assert.deepEqual(
      state.jobs.map((j) => [j.name, j.status]),
      [
        ['companies', 'PARTIAL_FAILED'],
        ['contacts', 'FAILED'],
        ['orders', 'SKIPPED'],
        ['products', 'PARTIAL_FAILED'],
      ],
    );
    assert.equal(byName.contacts!.error?.code, 'SOURCE_NOT_FOUND');
    assert.equal(byName.orders!.reason, 'depends on contacts, which FAILED');
    assert.equal(byName.orders!.execution_id, undefined, 'a skipped job starts no run');
    assert.equal((await db.pool.query(`SELECT to_regclass('public.orders') AS t`)).rows[0].t, null, 'the skipped job loaded nothing');
    assert.deepEqual(byName.companies!.rows, { read: 3, mapped: 2, rejected: 1, written: 2 });
    assert.equal(byName.products!.source_path, 'data/import/dev/products_20261121.csv');
    assert.deepEqual(state.totals, { jobs: 4, succeeded: 0, partial_failed: 2, failed: 1, crashed: 0, skipped: 1, already_loaded: 0, rows_rejected: 2 });

    // Backups: the loaded local files moved to data/backup/<date>/, relative to data/import/.
    assert.deepEqual(byName.companies!.backup, { status: 'moved', path: `data/backup/${DATE}/companies_${DATE}.csv` });
    assert.deepEqual(byName.products!.backup, { status: 'moved', path: `data/backup/${DATE}/dev/products_20261121.csv` });
    assert.equal(existsSync(path.join(dir, `data/import/companies_${DATE}.csv`)), false);
    assert.equal(readFileSync(path.join(dir, `data/backup/${DATE}/companies_${DATE}.csv`), 'utf8'), 'id,name\n1,Acme\n2,\n3,"Globex, Inc."\n');
    assert.equal(existsSync(path.join(dir, `data/import/orders_${DATE}.csv`)), true, 'a skipped job keeps its source file');
    assert.equal(byName.orders!.backup, undefined);

    // The rejects files, written from staging.
    const companiesCsv = 'row_number,id,name,errors\n2,2,,name (required): name is required but missing\n';
    const productsCsv = 'row_number,id,price,errors\n2,2,abc,"price (type): cannot convert ""abc"" to a float64 (number)"\n';
    assert.equal(byName.companies!.rejects_file, `data/errors/daily/${DATE}/companies.csv`);
    assert.equal(readFileSync(path.join(dir, `data/errors/daily/${DATE}/companies.csv`), 'utf8'), companiesCsv);

    // Exactly one email, to every recipient, with both CSVs and the summary.
    assert.equal(mail.received.length, 1);
    const [email] = mail.received;
    assert.deepEqual(email!.to, ['ops@example.com', 'data@example.com']);
    assert.equal(email!.from, 'sluice@example.com');
    const message = email!.message;
    assert.equal(message.subject, `[dev] pipeline daily ${DATE}: PARTIAL_FAILED — 2 rows rejected, 1 job failed, 1 skipped`);
    assert.equal(message.messageId, `<${state.workflow_id}.${state.execution_id}@sluice>`);
    assert.deepEqual(
      message.attachments.map((a) => [a.filename, a.content.toString('utf8')]),
      [
        ['companies.csv', companiesCsv],
        ['products.csv', productsCsv],
      ],
    );
    const text = message.text ?? '';
    assert.match(text, /job\s+flow version\s+source_path\s+status\s+read\s+mapped\s+rejected\s+written\s+reason/);
    assert.match(text, /contacts\s+contacts:v1\s+data\/import\/contacts_2026-11-21\.csv\s+FAILED\s+0\s+0\s+0\s+0\s+SOURCE_NOT_FOUND in sync_source/);
    assert.match(text, /orders\s+orders:v1\s+data\/import\/orders_2026-11-21\.csv\s+SKIPPED\s+-\s+-\s+-\s+-\s+depends on contacts, which FAILED/);
    assert.match(text, /products\s+products:v1\s+data\/import\/dev\/products_20261121\.csv\s+PARTIAL_FAILED\s+3\s+2\s+1\s+2\s+source moved to data\/backup\/2026-11-21\/dev\/products_20261121\.csv/);
    const html = typeof message.html === 'string' ? message.html : '';
    assert.match(html, /<table/);
    assert.match(html, /depends on contacts, which FAILED/);
    assert.deepEqual(state.email, {
      status: 'sent',
      message_id: `<${state.workflow_id}.${state.execution_id}@sluice>`,
      to: ['ops@example.com', 'data@example.com'],
      subject: message.subject,
      attachments: ['companies.csv', 'products.csv'],
    });

    // The status query answers with the job table; the run is recorded.
    const queried = await env.client.workflow.getHandle(state.workflow_id).query(pipelineStatusQuery);
    assert.deepEqual(queried.jobs.map((j) => j.status), ['PARTIAL_FAILED', 'FAILED', 'SKIPPED', 'PARTIAL_FAILED']);
    const recorded = await db.pool.query(`SELECT pipeline, environment, status, run_date::text AS run_date, trigger, ended_at IS NOT NULL AS ended, email->>'status' AS email FROM sluice.pipeline_runs WHERE workflow_id = $1`, [
      state.workflow_id,
    ]);
    assert.deepEqual(recorded.rows, [{ pipeline: 'daily', environment: 'dev', status: 'PARTIAL_FAILED', run_date: DATE, trigger: 'manual', ended: true, email: 'sent' }]);
  });

  it('sends no email when nothing was rejected, failed or skipped; a second run finds the job ALREADY_LOADED', async () => {
    const before = mail.received.length;
    const first = await run('clean');
    assert.equal(first.status, 'SUCCEEDED');
    assert.deepEqual(first.jobs.map((j) => [j.name, j.status, j.rows]), [['regions', 'SUCCEEDED', { read: 2, mapped: 2, rejected: 0, written: 2 }]]);
    assert.deepEqual(first.email, { status: 'not_needed' });
    const second = await run('clean');
    assert.equal(second.status, 'SUCCEEDED');
    assert.equal(second.jobs[0]!.status, 'ALREADY_LOADED');
    assert.match(second.jobs[0]!.reason!, new RegExp(`^already loaded by run ${first.jobs[0]!.run_id} \\(SUCCEEDED, \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2} UTC\\); not loaded again$`));
    assert.equal(mail.received.length, before, 'no email');
    assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM public.regions')).rows[0].n, 2, 'loaded once');
  });

  it('skips a pipeline whose requires are not met, records it, and emails the reason; an SMTP refusal is recorded as email: failed', async () => {
    const before = mail.received.length;
    const state = await run('downstream');
    assert.equal(state.status, 'SKIPPED');
    assert.match(
      state.reason!,
      /^requires never-ran: it has no finished run in environment dev; requires daily: its latest run \(\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC, PARTIAL_FAILED\) did not succeed within 24h$/,
    );
    assert.deepEqual(state.jobs.map((j) => j.status), ['SKIPPED']);
    assert.equal(state.jobs[0]!.execution_id, undefined);
    assert.equal(mail.received.length, before + 1);
    assert.equal(mail.received.at(-1)!.message.subject, `[dev] pipeline downstream ${DATE}: SKIPPED — ${state.reason}`);
    const recorded = await db.pool.query(`SELECT status, summary->>'reason' AS reason FROM sluice.pipeline_runs WHERE workflow_id = $1`, [state.workflow_id]);
    assert.deepEqual(recorded.rows, [{ status: 'SKIPPED', reason: state.reason }]);

    mail.refuse = true;
    try {
      const refused = await run('downstream');
      assert.equal(refused.status, 'SKIPPED', 'a failed email does not change the outcome');
      assert.equal(refused.email.status, 'failed');
      assert.match(refused.email.reason!, /the SMTP server refused the email: .*550/);
    } finally {
      mail.refuse = false;
    }
  });

  it('fails a job with an unknown flow version (its dependents SKIPPED) and a pipeline whose file became invalid: FAILED, with the state', async () => {
    write(
      'pipelines/ghosts.yaml',
      'name: ghosts\njobs:\n  - { name: ghost, flow_version: ghost:v9, source_path: "x_{date}.csv" }\n  - { name: after-ghost, flow_version: regions:v1, source_path: "y.csv", depends_on: [ghost] }\n',
    );
    const ghosts = await run('ghosts');
    assert.equal(ghosts.status, 'FAILED');
    assert.deepEqual(ghosts.jobs.map((j) => [j.name, j.status, j.error?.code ?? null, j.reason]), [
      ['ghost', 'FAILED', 'UNKNOWN_FLOW_VERSION', 'unknown flow version "ghost:v9"; no flow "ghost" has been published; publish it with: sluice flows publish flows/ghost.yaml'],
      ['after-ghost', 'SKIPPED', null, 'depends on ghost, which FAILED'],
    ]);
    assert.equal(mail.received.at(-1)!.message.subject, `[dev] pipeline ghosts ${DATE}: FAILED — 1 job failed, 1 skipped`);

    write('pipelines/ghosts.yaml', 'name: ghosts\njobs: []\n');
    const invalid = await run('ghosts');
    assert.equal(invalid.status, 'FAILED');
    assert.equal(invalid.error?.code, 'INVALID_PIPELINE_SPEC');
    assert.match(invalid.error!.message, /ghosts\.yaml is invalid \(1 problem\):\n {2}- jobs \(line 2\): a pipeline needs at least one job$/);
    assert.equal(mail.received.at(-1)!.message.subject, `[dev] pipeline ghosts ${DATE}: FAILED — INVALID_PIPELINE_SPEC`);
    const recorded = await db.pool.query(`SELECT status, summary->'error'->>'code' AS code FROM sluice.pipeline_runs WHERE workflow_id = $1`, [invalid.workflow_id]);
    assert.deepEqual(recorded.rows, [{ status: 'FAILED', code: 'INVALID_PIPELINE_SPEC' }]);
    const description = await env.client.workflow.getHandle(invalid.workflow_id).describe();
    assert.equal(description.status.name, 'FAILED', 'a FAILED pipeline run fails its Temporal execution');
  });

  it('sluice pipeline list | run --wait --json | status: exit 0 on PARTIAL_FAILED, 1 on SKIPPED, 2 on an invalid pipeline', async () => {
    const cli = (args: string[]) =>
      runCli(args, { cwd: dir, env: { ...process.env, DATABASE_URL: db.url, TEMPORAL_ADDRESS: env.address, SLUICE_TASK_QUEUE: config.temporal.taskQueue, SLUICE_ENV: '' } });
    write('pipelines/broken.yaml', 'name: broken\njobs:\n  - { name: a, flow_version: a, source_path: "x_{hour}.csv" }\n');

    const listed = await cli(['pipeline', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const list = JSON.parse(listed.stdout) as { name: string; valid: boolean; issues: string[] | null }[];
    assert.deepEqual(list.map((p) => [p.name, p.valid]), [['broken', false], ['clean', true], ['daily', true], ['downstream', true], ['ghosts', false]]);

    const broken = await cli(['pipeline', 'run', 'broken']);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /broken\.yaml is invalid \(2 problems\):\n {2}- jobs\[0\]\.flow_version \(line 3\): must be "flow:vN"/);

    write('data/import/regions_2026-11-23.csv', 'code\nJP\n');
    const clean = await cli(['pipeline', 'run', 'clean', '--date', '2026-11-23', '--wait', '--json']);
    assert.equal(clean.code, 0, clean.stderr);
    const out = JSON.parse(clean.stdout) as PipelineRunState & { id: string };
    assert.match(out.id, /^pipeline-clean-dev-2026-11-23-[0-9a-f]{6}$/);
    assert.equal(out.status, 'SUCCEEDED');
    assert.equal(out.date, '2026-11-23');
    assert.deepEqual(out.jobs.map((j) => [j.name, j.status, j.source_path]), [['regions', 'SUCCEEDED', 'data/import/regions_2026-11-23.csv']]);

    const status = await cli(['pipeline', 'status', out.id]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^pipeline clean 2026-11-23 \(dev\): SUCCEEDED — 1 job succeeded\n/);
    assert.match(status.stdout, /\n {2}regions\s+regions:v1\s+data\/import\/regions_2026-11-23\.csv\s+SUCCEEDED\s+1\s+1\s+0\s+1\s+source moved to data\/backup\/2026-11-23\/regions_2026-11-23\.csv\n/);
    assert.match(status.stdout, /email: not_needed/);

    const skipped = await cli(['pipeline', 'run', 'downstream', '--wait']);
    assert.equal(skipped.code, 1, skipped.stderr);
    assert.match(skipped.stdout, /^pipeline downstream \d{4}-\d{2}-\d{2} \(dev\): SKIPPED — requires never-ran: it has no finished run in environment dev/);

    const started = await cli(['pipeline', 'run', 'clean', '--date', '2026-11-24', '--json']);
    assert.equal(started.code, 0, started.stderr);
    const startedOut = JSON.parse(started.stdout) as { id: string; status: string; date: string };
    assert.equal(startedOut.status, 'RUNNING');
    const ended = await waitPipelineRun(env.client, startedOut.id);
    assert.equal(ended.status, 'FAILED', 'no regions file for 2026-11-24');
    assert.equal(ended.jobs[0]!.error?.code, 'SOURCE_NOT_FOUND');
    const failedStatus = await cli(['pipeline', 'status', startedOut.id, '--json']);
    assert.equal(failedStatus.code, 0, failedStatus.stderr);
    assert.equal((JSON.parse(failedStatus.stdout) as PipelineRunState).status, 'FAILED');
  });
});
