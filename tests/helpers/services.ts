/**
 * Real services for integration tests: the Temporal dev server (official CLI, through
 * `TestWorkflowEnvironment.createLocal` with an `existing-path` executable), a fresh PostgreSQL
 * database per test file (from `DATABASE_URL`, else an embedded server), a fresh task queue per test.
 *
 * With `CI` set nothing here skips: a missing service fails the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { Client as PgClient, Pool } from 'pg';
import { SEARCH_ATTRIBUTES } from '../../common/run-model';
import { createLogger } from '../../common/logger';
import { loadConfig, type SluiceConfig } from '../../config/sluice-config';
import { migrate } from '../../db/migrations';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../../local-stack/dev-server';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../local-stack/embedded-postgres';
import { Sluice } from '../../client/sluice';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { findTemporalCli } from '../../local-stack/temporal-cli';
import { createSluiceWorker, type SluiceWorker } from '../../worker/sluice-worker';
import { freePort } from './free-port';

export { freePort };

export const PROJECT_DIR = path.resolve(__dirname, '..', '..', '..');
export const logger = createLogger('sluice-test', process.env.SLUICE_LOG_LEVEL ?? 'warn');

/** Options of {@link startTemporal}. */
export interface StartTemporalOptions {
  /**
   * Also serve the Temporal UI, on a free port of 127.0.0.1; its URL is in `uiUrl` of the result.
   * @default false
   */
  ui?: boolean;
}

/** A dev server started with `{ ui: true }`: the test environment plus the UI's base URL. */
export type TemporalWithUi = TestWorkflowEnvironment & { uiUrl: string };

/** Starts a Temporal dev server with Sluice's search attributes registered (and its UI with `{ ui: true }`). */
export async function startTemporal(options: StartTemporalOptions & { ui: true }): Promise<TemporalWithUi>;
export async function startTemporal(options?: StartTemporalOptions): Promise<TestWorkflowEnvironment>;
export async function startTemporal(options: StartTemporalOptions = {}): Promise<TestWorkflowEnvironment> {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed in this process
  }
  const cli = await findTemporalCli({ projectDir: PROJECT_DIR, logger });
  // The SDK enables the UI only when `ui` is true (despite its doc's "true if uiPort is set").
  const uiPort = options.ui ? await freePort() : undefined;
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      searchAttributes: Object.values(SEARCH_ATTRIBUTES),
      extraArgs: ['--log-level', 'error', ...DEV_SERVER_DYNAMIC_CONFIG],
      ...(uiPort === undefined ? {} : { ui: true, uiPort }),
    },
  });
  return uiPort === undefined ? env : Object.assign(env, { uiUrl: `http://127.0.0.1:${uiPort}` });
}


let embedded: Promise<EmbeddedPostgresHandle> | undefined;
let openDatabases = 0;

/**
 * The admin URL of the test Postgres server: `DATABASE_URL`, else an embedded server under
 * `.sluice/test-postgres` (test files run one at a time, so they share it in turn). The embedded
 * server stops when the file's last test database is dropped, so the test process can exit.
 */
async function adminUrl(): Promise<string> {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  embedded ??= startEmbeddedPostgres(path.join(PROJECT_DIR, '.sluice', 'test-postgres'), logger, 54339);
  return (await embedded).databaseUrl;
}

async function releaseEmbedded(): Promise<void> {
  if (openDatabases > 0 || !embedded) return;
  const handle = await embedded;
  embedded = undefined;
  await handle.stop();
}

export interface TestDatabase {
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

/** Creates a fresh database (migrated) for one test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = await adminUrl();
  const name = `sluice_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const adminClient = new PgClient({ connectionString: admin });
  await adminClient.connect();
  await adminClient.query(`CREATE DATABASE ${name}`);
  await adminClient.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const pool = new Pool({ connectionString: url.toString(), max: 4 });
  // An idle client dropped by the server must not crash the test process; the next query reconnects.
  pool.on('error', () => undefined);
  await migrate(pool);
  openDatabases += 1;
  return {
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      const c = new PgClient({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
      openDatabases -= 1;
      await releaseEmbedded();
    },
  };
}

/** A config for tests: project dir = `dir`, the test database, a fresh task queue, temp staging. */
export function testConfig(options: { dir: string; databaseUrl: string; address: string; taskQueue?: string; connectors?: SluiceConfig['connectors']; chunkRows?: number }): SluiceConfig {
  const base = loadConfig({ projectDir: options.dir, env: {} });
  return {
    ...base,
    databaseUrl: options.databaseUrl,
    temporal: { ...base.temporal, address: options.address, taskQueue: options.taskQueue ?? `test-${randomUUID()}` },
    staging: { ...base.staging, dir: mkdtempSync(path.join(os.tmpdir(), 'sluice-staging-')), chunkRows: options.chunkRows ?? 250_000 },
    connectors: options.connectors ?? base.connectors,
  };
}

/** A fresh temporary project folder. */
export function tempProject(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'sluice-project-'));
}

/** A worker in this process plus a client SDK and the flow version store, on one test task queue. */
export interface InProcessRunner {
  worker: SluiceWorker;
  sluice: Sluice;
  store: FlowVersionStore;
  /** Publishes flow YAML; returns `flow:vN`. */
  publish(yaml: string): Promise<string>;
  /** Drains the worker and closes the client. */
  stop(): Promise<void>;
}

/** Starts a worker on `config`'s task queue (sharing the test environment's connection) and a client for it. */
export async function startInProcessRunner(env: TestWorkflowEnvironment, db: TestDatabase, config: SluiceConfig): Promise<InProcessRunner> {
  const worker = await createSluiceWorker({ config, logger, connection: env.nativeConnection });
  const running = worker.run();
  const sluice = new Sluice({ connection: env.connection, taskQueue: config.temporal.taskQueue, databaseUrl: db.url });
  const store = new FlowVersionStore(db.pool);
  return {
    worker,
    sluice,
    store,
    publish: async (yaml) => (await store.publish(parseFlowSpec(yaml), { sourceText: yaml })).version.id,
    async stop() {
      await worker.shutdown();
      await running;
      await sluice.close();
    },
  };
}

/** What a test file of runs starts once: Temporal, a fresh database, a temp project and an in-process runner. */
export interface RunStack {
  env: TestWorkflowEnvironment;
  db: TestDatabase;
  dir: string;
  config: SluiceConfig;
  runner: InProcessRunner;
  sluice: Sluice;
  /** Stops the runner, tears Temporal down and drops the database. */
  stop(): Promise<void>;
}

/** Starts a {@link RunStack}; `connectors` may name the test database (its url). */
export async function startRunStack(options: { connectors?: (db: TestDatabase) => SluiceConfig['connectors']; chunkRows?: number } = {}): Promise<RunStack> {
  const [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
  const dir = tempProject();
  const config = testConfig({ dir, databaseUrl: db.url, address: env.address, chunkRows: options.chunkRows, connectors: options.connectors?.(db) });
  const stopServices = async () => {
    await env.teardown();
    await db.drop();
  };
  const runner = await startInProcessRunner(env, db, config).catch(async (error: unknown) => {
    await stopServices();
    throw error;
  });
  return {
    env, db, dir, config, runner,
    sluice: runner.sluice,
    async stop() {
      await runner.stop();
      await stopServices();
    },
  };
}

/** What a CLI process printed and how it exited. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The built CLI's entry point. */
export const CLI_MAIN = path.join(PROJECT_DIR, 'dist', 'cli', 'main.js');

/**
 * Runs the built CLI (`node dist/cli/main.js …`) the way a user does: a child process in `cwd` with
 * exactly `env` as its environment, `input` on its stdin (none: stdin is closed), no terminal.
 */
export function runCli(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; input?: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      cwd: options.cwd,
      env: options.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/**
 * Starts `sluice worker` as a separate process in `dir` (its project dir: config file, `files` root),
 * with `env` added to this process's environment — the way operators run workers.
 */
export function spawnCliWorker(dir: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [path.join(PROJECT_DIR, 'dist', 'cli', 'main.js'), 'worker'], {
    cwd: dir,
    env: { ...process.env, ...env, SLUICE_LOG_LEVEL: 'warn', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** SIGKILLs every child process in `children` still running. */
export function killAll(children: ChildProcess[]): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
