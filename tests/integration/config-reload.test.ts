/**
 * Integration: a worker's config follows its file (real Temporal dev server, real PostgreSQL, the built CLI).
 *
 * - Adding connector `erp` to `sluice.config.yaml` while a worker runs: the worker reloads it (one log line:
 *   `connectors added erp`) and a run loading into `erp` succeeds, without a restart.
 * - An invalid edit is logged and the previous config kept.
 * - A worker that has not loaded the file's new connector fails the run with `WORKER_CONFIG_STALE` ("restart the
 *   worker"), never `UNKNOWN_CONNECTOR`.
 * - A connector whose `${env:…}` is unset: `sluice flows list` exits 0 with one warning line; a run that uses it
 *   fails naming the variable.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { RunFailedError, Sluice } from '../../client/sluice';
import { loadConfig, type SluiceConfig } from '../../config/sluice-config';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { createSluiceWorker, type SluiceWorker } from '../../worker/sluice-worker';
import { createTestDatabase, runCli, startTemporal, tempProject, type TestDatabase } from '../helpers/services';

const flow = (name: string, source: string, target: string) => `name: ${name}
source: { connector: ${source}, format: csv }
target: { connector: ${target}, table: public.${name} }
fields:
  code: { from: code, type: string, required: true }
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('config that follows the file', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let dir: string;
  let configFile: string;
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
  const workers: Array<{ worker: SluiceWorker; running: Promise<void> }> = [];
  let watched: SluiceConfig;
  let watchedWorker: SluiceWorker;
  let stale: SluiceConfig;
  let sluice: Sluice;
  let staleSluice: Sluice;

  const startWorker = async (config: SluiceConfig, watchConfig: boolean, reloadConfig?: () => SluiceConfig) => {
    const worker = await createSluiceWorker({ config, logger, connection: env.nativeConnection, watchConfig, ...(reloadConfig ? { reloadConfig } : {}) });
    workers.push({ worker, running: worker.run() });
    return worker;
  };

  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    dir = tempProject();
    configFile = path.join(dir, 'sluice.config.yaml');
    writeFileSync(
      configFile,
      `database_url: "${db.url}"
temporal: { address: "${env.address}" }
connectors:
  files: { kind: local, root: . }
  warehouse: { kind: postgres }
`,
    );
    mkdirSync(path.join(dir, 'data'));
    writeFileSync(path.join(dir, 'data', 'codes.csv'), 'code\nA\nB\n');
    const store = new FlowVersionStore(db.pool);
    for (const text of [flow('into_erp', 'files', 'erp'), flow('into_erp2', 'files', 'erp2'), flow('from_s3', 's3in', 'warehouse')]) {
      await store.publish(parseFlowSpec(text), { sourceText: text });
    }
    // Two workers on their own queues: one watches the file, one does not (it stays on the file it started with).
    // Each reads only the variables given here (not this test process's DATABASE_URL).
    const load = (queue: string) => () => loadConfig({ projectDir: dir, env: { SLUICE_TASK_QUEUE: queue }, onWarning: () => undefined });
    watched = load('watched')();
    stale = load('stale')();
    watchedWorker = await startWorker(watched, true, load('watched'));
    await startWorker(stale, false);
    sluice = new Sluice({ connection: env.connection, taskQueue: 'watched', databaseUrl: db.url });
    staleSluice = new Sluice({ connection: env.connection, taskQueue: 'stale', databaseUrl: db.url });
  });

  after(async () => {
    for (const { worker, running } of workers) {
      await worker.shutdown();
      await running;
    }
    await sluice?.close();
    await staleSluice?.close();
    await env?.teardown();
    await db?.drop();
  });

  it('adding a connector to the file while the worker runs: reloaded without a restart, logged in one line, and a run using it succeeds', async () => {
    assert.deepEqual(Object.keys(watched.connectors), ['files', 'warehouse']);
    appendFileSync(configFile, `  erp: { kind: postgres, url: "${db.url}" }\n`);
    await until(() => 'erp' in watched.connectors, 'the watching worker to reload');
    const reloads = lines.filter((l) => l.msg.startsWith('config reloaded'));
    assert.deepEqual(
      reloads.map((l) => l.msg),
      [`config reloaded from ${configFile}: connectors added erp`],
    );
    const run = await sluice.run({ flowVersion: 'into_erp:v1', sourcePath: 'data/codes.csv' });
    const metadata = await run.wait({ timeoutMs: 120_000 });
    assert.equal(metadata.status, 'SUCCEEDED');
    assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM public.into_erp')).rows[0].n, 2);
  });

  it('a worker that has not loaded the file’s new connector fails the run with WORKER_CONFIG_STALE, not UNKNOWN_CONNECTOR', async () => {
    appendFileSync(configFile, `  erp2: { kind: postgres, url: "${db.url}" }\n`);
    await until(() => 'erp2' in watched.connectors, 'the watching worker to reload');
    assert.equal('erp2' in stale.connectors, false, 'the non-watching worker still has its old connectors');
    const run = await staleSluice.run({ flowVersion: 'into_erp2:v1', sourcePath: 'data/codes.csv' });
    const error = await run.wait({ timeoutMs: 120_000 }).then(
      () => assert.fail('the run succeeded'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof RunFailedError);
    assert.equal(error.status, 'FAILED');
    assert.equal(error.error.code, 'WORKER_CONFIG_STALE');
    assert.equal(
      error.error.message,
      `connector "erp2" is in ${configFile} but this worker has not loaded it (it read the file before the connector was added, or the edited file is invalid: its log says why); restart the worker (sluice worker, or sluice dev). Connectors this worker has: files, warehouse`,
    );
  });

  it('an invalid edit is logged with its problem and the previous config is kept', async () => {
    const good = readFileSync(configFile, 'utf8');
    const before = lines.length;
    writeFileSync(configFile, `${good}  broken: { kind: postgres, fetch_rows: -1 }\n`);
    await until(() => lines.slice(before).some((l) => l.msg.startsWith('config not reloaded')), 'the invalid edit to be logged');
    const logged = lines.slice(before).filter((l) => l.msg.startsWith('config not reloaded'));
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.level, 50, 'logged as an error');
    assert.match(logged[0]!.msg, /^config not reloaded, the previous one is kept: .*sluice\.config\.yaml is invalid:\n {2}- connectors\.broken\.fetch_rows: Too small: expected number to be >0$/);
    assert.deepEqual(Object.keys(watched.connectors), ['files', 'warehouse', 'erp', 'erp2'], 'the previous connectors stay');
    writeFileSync(configFile, good);
    await watchedWorker.configWatcher!.reload();
    assert.deepEqual(Object.keys(watched.connectors), ['files', 'warehouse', 'erp', 'erp2']);
  });

  it('a connector whose ${env:…} is unset: flows list exits 0 with one warning line; a run using it fails naming the variable', async () => {
    appendFileSync(configFile, '  s3in: { kind: s3, endpoint: "${env:S3_ENDPOINT}", access_key_id: "${env:S3_ACCESS_KEY_ID}", force_path_style: true }\n');
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(DATABASE_URL|TEMPORAL_|SLUICE_|S3_)/.test(name)));
    const listed = await runCli(['flows', 'list'], { cwd: dir, env: inherited });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(
      listed.stderr,
      'warning: connector "s3in" is unavailable: environment variable S3_ENDPOINT is not set (connectors.s3in.endpoint); environment variable S3_ACCESS_KEY_ID is not set (connectors.s3in.access_key_id); a run that uses it will fail until the variable is set\n',
    );
    assert.match(listed.stdout, /into_erp/);

    await until(() => watched.unavailableConnectors?.s3in !== undefined, 'the watching worker to reload');
    const run = await sluice.run({ flowVersion: 'from_s3:v1', sourcePath: 's3://bucket/codes.csv' });
    const error = await run.wait({ timeoutMs: 120_000 }).then(
      () => assert.fail('the run succeeded'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof RunFailedError);
    assert.equal(error.error.code, 'INVALID_CONFIG');
    assert.equal(
      error.error.message,
      'connector "s3in" cannot be used by this worker (environment "dev"): environment variable S3_ENDPOINT is not set (connectors.s3in.endpoint); environment variable S3_ACCESS_KEY_ID is not set (connectors.s3in.access_key_id); set it where the worker runs and restart the worker',
    );
  });
});
