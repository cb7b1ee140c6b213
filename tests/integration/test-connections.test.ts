/**
 * Integration: `sluice test-connections` as a user runs it (the built CLI in a child process, in a temp project
 * with a sluice.config.yaml) against real services: the test PostgreSQL (a working connector whose query is
 * EXPLAINed, and the metadata database), a broken postgres connector (127.0.0.1:1), a local folder, an S3
 * connector on versitygw with its staging bucket, two smtp connectors on a real `smtp-server` (one named by
 * notifications.email, which sends one real test email; one verified only), and the Temporal dev server.
 */
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { SMTPServer } from 'smtp-server';
import { createS3Client } from '../../connectors/s3/s3-client';
import { startS3Server, type S3Server } from '../helpers/s3-server';
import { createTestDatabase, PROJECT_DIR, startTemporal, tempProject, type TestDatabase, runCli, type CliResult } from '../helpers/services';


interface ReceivedMail {
  from: string;
  to: string[];
  data: string;
}

describe('sluice test-connections (CLI)', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let s3: S3Server;
  let smtp: SMTPServer;
  let smtpPort: number;
  let dir: string;
  const received: ReceivedMail[] = [];
  const BROKEN_PASSWORD = 'hunter2-broken';

  const cli = (args: string[]): Promise<CliResult> =>
    runCli(args, {
      cwd: dir,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        TEMPORAL_ADDRESS: env.address,
        SLUICE_STATE_DIR: path.join(dir, '.sluice'),
        SLUICE_ENV: '',
        WAREHOUSE_URL: db.url,
        BROKEN_PASSWORD,
        LAKE_KEY: s3.accessKeyId,
        LAKE_SECRET: s3.secretAccessKey,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });

  before(async () => {
    [env, db, s3] = await Promise.all([startTemporal(), createTestDatabase(), startS3Server(PROJECT_DIR)]);
    await db.pool.query('CREATE TABLE public.invoices (batch_id text, amount integer)');
    const client = createS3Client({ kind: 's3', endpoint: s3.endpoint, region: s3.region, force_path_style: true, access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey });
    await client.send(new CreateBucketCommand({ Bucket: 'sluice-staging' }));
    client.destroy();

    // A real SMTP server, plain text (no STARTTLS offered), no authentication required.
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        let data = '';
        stream.on('data', (chunk: Buffer) => (data += chunk.toString()));
        stream.on('end', () => {
          received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), data });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
    smtpPort = (smtp.server.address() as AddressInfo).port;

    dir = realpathSync(tempProject());
    mkdirSync(path.join(dir, 'data'));
    writeFileSync(
      path.join(dir, 'sluice.config.yaml'),
      [
        'connectors:',
        '  warehouse: { kind: postgres, url: "${env:WAREHOUSE_URL}", query: "SELECT * FROM public.invoices WHERE batch_id = :source_path" }',
        '  broken: { kind: postgres, url: "postgres://app:${env:BROKEN_PASSWORD}@127.0.0.1:1/erp" }',
        '  files: { kind: local, root: ./data }',
        `  lake: { kind: s3, endpoint: "${s3.endpoint}", region: ${s3.region}, force_path_style: true, access_key_id: "\${env:LAKE_KEY}", secret_access_key: "\${env:LAKE_SECRET}" }`,
        `  mail: { kind: smtp, host: 127.0.0.1, port: ${smtpPort}, from: "Sluice <etl@example.com>" }`,
        `  mail-backup: { kind: smtp, host: 127.0.0.1, port: ${smtpPort}, from: "Sluice <etl@example.com>" }`,
        'staging: { s3: { connector: lake, bucket: sluice-staging } }',
        'notifications: { email: { connector: mail, to: [ops@example.com] } }',
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
    await s3?.stop();
    await env?.teardown();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--json: the broken connector FAILED with its reason, the others OK, exit 1, and one test email to the configured recipient', { timeout: 120_000 }, async () => {
    const result = await cli(['test-connections', '--json']);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr, '');
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'exactly one JSON object on stdout');
    const out = JSON.parse(lines[0]!) as { environment: string; ok: boolean; checks: { connector: string; kind: string; status: string; ok: boolean; latency_ms: number; reason: string; detail?: Record<string, unknown>; system?: boolean }[] };
    assert.equal(out.environment, 'dev');
    assert.equal(out.ok, false);
    assert.deepEqual(
      out.checks.map((c) => [c.connector, c.kind, c.status]),
      [
        ['warehouse', 'postgres', 'OK'],
        ['broken', 'postgres', 'FAILED'],
        ['files', 'local', 'OK'],
        ['lake', 's3', 'OK'],
        ['mail', 'smtp', 'OK'],
        ['mail-backup', 'smtp', 'OK'],
        ['metadata', 'postgres', 'OK'],
        ['temporal', 'temporal', 'OK'],
      ],
    );
    const check = (name: string) => out.checks.find((c) => c.connector === name)!;
    assert.equal(check('broken').reason, 'connection refused at 127.0.0.1:1 — is PostgreSQL running there? check connectors.broken.url');
    assert.equal(check('broken').ok, false);
    assert.match(check('warehouse').reason, /^PostgreSQL \d+(\.\d+)?, SELECT 1 ok, the query plans \(EXPLAIN\)$/);
    assert.equal(check('files').reason, `${path.join(dir, 'data')} is a readable and writable directory`);
    assert.equal(check('lake').reason, 'bucket sluice-staging (staging.s3) reachable');
    assert.equal(check('mail').reason, `verified 127.0.0.1:${smtpPort}; test email sent to ops@example.com`);
    assert.equal(check('mail-backup').reason, `verified 127.0.0.1:${smtpPort} (connect, greeting); no test email sent: name this connector in notifications.email or give --to <address>`);
    assert.match(check('metadata').reason, /^PostgreSQL \d+(\.\d+)?, SELECT 1 ok$/);
    assert.match(check('temporal').reason, new RegExp(`^Temporal \\S+ at ${env.address.replace(/\./g, '\\.')}, namespace default$`));
    assert.equal(check('temporal').system, true);
    for (const c of out.checks) assert.ok(Number.isInteger(c.latency_ms) && c.latency_ms >= 0 && c.latency_ms < 10_000, `${c.connector}: ${c.latency_ms}`);
    // No secret in the output.
    for (const secret of [BROKEN_PASSWORD, s3.secretAccessKey]) assert.ok(!result.stdout.includes(secret), `${secret} is not printed`);

    assert.equal(received.length, 1, 'exactly one email');
    assert.equal(received[0]!.from, 'etl@example.com');
    assert.deepEqual(received[0]!.to, ['ops@example.com']);
    assert.match(received[0]!.data, /^Subject: Sluice test-connections: mail OK\r?$/m);
    assert.match(received[0]!.data, /^To: ops@example\.com\r?$/m);
  });

  it('prints a table (connector, kind, status, latency, reason) and a summary; --only narrows it; exit 0 when all OK', { timeout: 120_000 }, async () => {
    const failed = await cli(['test-connections', '--only', 'files,broken,temporal']);
    assert.equal(failed.code, 1, failed.stderr);
    const lines = failed.stdout.split('\n');
    assert.match(lines[0]!, /^CONNECTOR {2}KIND {6}STATUS {2}LATENCY {2}REASON$/);
    assert.match(lines[1]!, new RegExp(`^broken {5}postgres {2}FAILED +\\d+ ms {2}connection refused at 127\\.0\\.0\\.1:1 — is PostgreSQL running there\\? check connectors\\.broken\\.url$`));
    assert.match(lines[2]!, new RegExp(`^files {6}local {5}OK +\\d+ ms {2}${path.join(dir, 'data').replace(/[/.-]/g, '\\$&')} is a readable and writable directory$`));
    assert.match(lines[3]!, /^temporal {3}temporal {2}OK +\d+ ms {2}Temporal \S+ at .*, namespace default$/);
    assert.deepEqual(lines.slice(4), ['', '1 of 3 FAILED', '']);

    const ok = await cli(['test-connections', '--only', 'files,warehouse']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.split('\n').slice(-3).join('\n'), '\nall 2 OK\n');
    assert.equal(received.length, 1, 'no other email was sent');
  });

  it('--to sends the test email of a connector notifications.email does not name; unknown --only names exit 2', { timeout: 120_000 }, async () => {
    const sent = await cli(['test-connections', '--only', 'mail-backup', '--to', 'me@example.com', '--json']);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(JSON.parse(sent.stdout).checks[0].reason, `verified 127.0.0.1:${smtpPort}; test email sent to me@example.com`);
    assert.equal(received.length, 2);
    assert.deepEqual(received[1]!.to, ['me@example.com']);
    assert.match(received[1]!.data, /^Subject: Sluice test-connections: mail-backup OK\r?$/m);

    const unknown = await cli(['test-connections', '--only', 'files,nope']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stdout, '');
    assert.equal(unknown.stderr, 'error: --only names "nope", which is not a connector of this environment; choose from warehouse, broken, files, lake, mail, mail-backup, metadata, temporal\n');
  });
});
