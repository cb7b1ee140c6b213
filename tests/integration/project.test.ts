/**
 * Integration, end to end as a team would use it: `sluice init` scaffolds a project; its `test`
 * environment gets an encrypted SMTP password (`sluice secret encrypt`, refused as plain text);
 * `sluice test-connections -e test` reports every connector and sends a real test email; the
 * scaffolded pipeline becomes a Temporal Schedule (`sluice schedules apply -e test`), is triggered,
 * runs on a `sluice worker -e test` process, rejects rows (a check and the custom map), and sends
 * exactly one email with the error file attached. Real Temporal, PostgreSQL and SMTP server.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { waitPipelineRun } from '../../client/pipeline-client';
import { dateIn } from '../../pipelines/pipeline-spec';
import { createTestDatabase, killAll, PROJECT_DIR, spawnCliWorker, startTemporal, tempProject, type TestDatabase, runCli, type CliResult } from '../helpers/services';


const SMTP_PASSWORD = 'smtp-pass-7f3a';

describe('a scaffolded project runs a scheduled pipeline in the test environment', { timeout: 300_000 }, () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let dir: string;
  let smtp: SMTPServer;
  let smtpPort: number;
  const mails: ParsedMail[] = [];
  const logins: string[] = [];
  const workers: ChildProcess[] = [];
  const taskQueue = `project-${Date.now()}`;
  const masterKey = randomBytes(32).toString('hex');

  const childEnv = (): NodeJS.ProcessEnv => ({
    ...process.env,
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: env.address,
    SLUICE_TASK_QUEUE: taskQueue,
    SLUICE_STATE_DIR: path.join(dir, '.sluice'),
    SLUICE_MASTER_KEY: masterKey,
    SLUICE_TEST_WAREHOUSE_URL: db.url,
  });

  const cli = (args: string[], options: { cwd?: string; input?: string } = {}): Promise<CliResult> =>
    runCli(args, { cwd: options.cwd ?? dir, env: childEnv(), ...(options.input === undefined ? {} : { input: options.input }) });

  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      authOptional: false,
      allowInsecureAuth: true,
      onAuth(auth, _session, callback) {
        logins.push(`${auth.username}:${auth.password}`);
        if (auth.username === 'etl' && auth.password === SMTP_PASSWORD) callback(null, { user: 'etl' });
        else callback(new Error('invalid credentials'));
      },
      onData(stream, _session, callback) {
        simpleParser(stream).then((mail) => {
          mails.push(mail);
          callback();
        }, callback);
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    smtpPort = (smtp.server.address() as AddressInfo).port;
  });

  after(async () => {
    killAll(workers);
    for (const id of ['sluice-test-daily', 'sluice-test-housekeeping']) await env?.client.schedule.getHandle(id).delete().catch(() => undefined);
    await new Promise<void>((resolve) => smtp?.close(() => resolve()));
    await env?.teardown();
    await db?.drop();
  });

  it('sluice init scaffolds the project and never overwrites it', async () => {
    dir = path.join(tempProject(), 'accounts-etl');
    const init = await cli(['init', dir], { cwd: PROJECT_DIR });
    assert.equal(init.code, 0, init.stderr);
    for (const file of ['sluice.config.yaml', 'flows/accounts.yaml', 'maps/accounts.ts', 'pipelines/daily.yaml', 'data/export/.gitkeep', 'data/backup/.gitkeep', 'data/errors/.gitkeep', 'logs/.gitkeep']) {
      assert.ok(existsSync(path.join(dir, file)), file);
    }
    assert.ok(existsSync(path.join(dir, 'data', 'import', `accounts_${dateIn('Europe/Paris')}.csv`)), "today's example data");
    const again = await cli(['init', dir], { cwd: PROJECT_DIR });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already has sluice\.config\.yaml, flows\/accounts\.yaml/);
  });

  it('takes an encrypted SMTP password for the test environment and refuses it as plain text', async () => {
    const configFile = path.join(dir, 'sluice.config.yaml');
    const scaffolded = readFileSync(configFile, 'utf8');
    const testBlock = (password: string) =>
      scaffolded.replace(
        /  test:\n(    .*\n)+/,
        `  test:\n    connectors:\n      warehouse: { url: "\${env:SLUICE_TEST_WAREHOUSE_URL}" }\n      mail: { host: 127.0.0.1, port: ${smtpPort}, user: etl, password: "${password}" }\n    notifications:\n      email: { to: ["qa@example.com"] }\n`,
      );
    writeFileSync(configFile, testBlock(SMTP_PASSWORD));
    const plain = await cli(['config', 'show', '-e', 'test']);
    assert.equal(plain.code, 2);
    assert.match(plain.stderr, /connectors\.mail\.password/);
    const encrypted = await cli(['secret', 'encrypt'], { input: SMTP_PASSWORD });
    assert.equal(encrypted.code, 0, encrypted.stderr);
    const secret = encrypted.stdout.trim();
    assert.match(secret, /^enc:v1:/);
    writeFileSync(configFile, testBlock(secret));
    const shown = await cli(['config', 'show', '-e', 'test']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(!shown.stdout.includes(SMTP_PASSWORD), 'the password is never printed');
  });

  it('sluice test-connections -e test reports every connector OK and sends a real test email', async () => {
    const result = await cli(['test-connections', '-e', 'test', '--json']);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const report = JSON.parse(result.stdout) as { environment: string; ok: boolean; checks: Array<{ connector: string; kind: string; ok: boolean; reason: string | null }> };
    assert.equal(report.environment, 'test');
    assert.equal(report.ok, true);
    const byName = new Map(report.checks.map((r) => [r.connector, r]));
    for (const name of ['files', 'warehouse', 'mail']) assert.equal(byName.get(name)?.ok, true, `${name}: ${JSON.stringify(byName.get(name))}`);
    assert.equal(mails.length, 1, 'one test email');
    assert.deepEqual(mails[0]!.to && !Array.isArray(mails[0]!.to) ? mails[0]!.to.value.map((a) => a.address) : [], ['qa@example.com']);
    assert.ok(logins.includes(`etl:${SMTP_PASSWORD}`), 'authenticated with the decrypted password');
    mails.length = 0;
  });

  it('applies and triggers the schedule: the pipeline loads, rejects rows, and sends one email with the error file', async () => {
    workers.push(spawnCliWorker(dir, { ...(childEnv() as Record<string, string>), SLUICE_ENV: 'test' }));
    const published = await cli(['flows', 'publish', 'flows/accounts.yaml', '-e', 'test']);
    assert.equal(published.code, 0, published.stderr);
    const applied = await cli(['schedules', 'apply', '-e', 'test', '--json']);
    assert.equal(applied.code, 0, applied.stderr);
    assert.deepEqual(JSON.parse(applied.stdout), [
      { id: 'sluice-test-daily', pipeline: 'daily', action: 'created' },
      { id: 'sluice-test-housekeeping', pipeline: 'housekeeping', action: 'created' },
    ]);
    assert.equal((await cli(['schedules', 'trigger', 'daily', '-e', 'test'])).code, 0);
    const handle = env.client.schedule.getHandle('sluice-test-daily');
    let workflowId: string | undefined;
    for (let i = 0; i < 200 && !workflowId; i++) {
      workflowId = (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId;
      if (!workflowId) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(workflowId, 'the schedule started a pipeline run');
    const state = await waitPipelineRun(env.client, workflowId);
    const today = dateIn('Europe/Paris');
    assert.equal(state.status, 'PARTIAL_FAILED', JSON.stringify(state));
    assert.equal(state.environment, 'test');
    assert.equal(state.date, today);
    const job = state.jobs[0]!;
    assert.equal(job.status, 'PARTIAL_FAILED');
    assert.deepEqual([job.rows?.read, job.rows?.mapped, job.rows?.rejected], [5, 3, 2], 'a negative balance (check) and a duplicate code (the map)');
    const { rows } = await db.pool.query<{ code: string; name: string }>('SELECT code, name FROM public.accounts ORDER BY code');
    assert.deepEqual(rows, [{ code: 'FR', name: 'France SAS' }, { code: 'IT', name: 'Italy' }, { code: 'ROOT', name: 'Holding' }]);
    // The loaded file moved to data/backup/<date>/; the rejects are in data/errors/.
    assert.ok(!existsSync(path.join(dir, 'data', 'import', `accounts_${today}.csv`)));
    assert.ok(existsSync(path.join(dir, 'data', 'backup', today, `accounts_${today}.csv`)), readdirSync(path.join(dir, 'data', 'backup')).join(', '));
    const errorsFile = path.join(dir, 'data', 'errors', 'daily', today, 'accounts.csv');
    assert.ok(existsSync(errorsFile));
    // Exactly one email, with the error file attached.
    for (let i = 0; i < 40 && mails.length === 0; i++) await new Promise((r) => setTimeout(r, 250));
    assert.equal(mails.length, 1);
    const mail = mails[0]!;
    assert.match(mail.subject ?? '', /^\[test\] pipeline daily \d{4}-\d{2}-\d{2}: PARTIAL_FAILED — 2 rows rejected/);
    assert.deepEqual(mail.attachments.map((a) => a.filename), ['accounts.csv']);
    const attached = mail.attachments[0]!.content.toString('utf8');
    assert.equal(attached, readFileSync(errorsFile, 'utf8'));
    assert.match(attached, /duplicate code: superseded by row 4/);
    assert.match(attached, /balance/);
  });
});
