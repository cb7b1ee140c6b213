/**
 * A production-shaped Temporal for the scale tests and `npm run bench:scale`: the official server binary
 * (`temporal-server`, built from `go.temporal.io/server/cmd/server@v1.29.1`), PostgreSQL persistence and
 * visibility in two databases of its own (`temporal_<suffix>`, `temporal_visibility_<suffix>`, created and
 * migrated with the official `temporal-sql-tool` from the server module's own schema files), and the frontend,
 * history, matching and worker services as four separate processes on free loopback ports, configured by the
 * committed `docker/temporal/sluice.yaml` — the file `docker/compose.yaml` deploys. Once the frontend answers,
 * the namespace is registered and Sluice's search attributes are added (Keyword), as `sluice dev` does on the
 * dev server. Any one service can be killed and started again ({@link TemporalCluster.kill}, {@link
 * TemporalCluster.restart}).
 *
 * Binaries: `SLUICE_TEMPORAL_SERVER` / `SLUICE_TEMPORAL_SQL_TOOL`, else `temporal-server` / `temporal-sql-tool`
 * on PATH, else the project-local builds in `.tools/bin/`, else built there with Go (`.ci/run` builds them
 * first). Schema files: `SLUICE_TEMPORAL_SCHEMA_DIR` (the `schema/postgresql/v12` folder), else the server
 * module in Go's module cache (`go mod download -json go.temporal.io/server@v1.29.1`).
 *
 * @example
 * ```ts
 * const db = await createTestDatabase();
 * const cluster = await startTemporalCluster({ databaseUrl: db.url });
 * // … TEMPORAL_ADDRESS=cluster.address for workers, cluster.connection for clients …
 * await cluster.kill('history', 'SIGKILL');
 * await cluster.restart('history');
 * await cluster.stop();   // stops the four processes and drops both databases
 * await db.drop();
 * ```
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { Client as PgClient } from 'pg';
import { SEARCH_ATTRIBUTES } from '../../common/run-model';
import { ConfigError } from '../../common/errors';
import { findGoTool, type GoTool } from '../../local-stack/go-tool';
import { freePortInRange } from './free-port';
import { logger, PROJECT_DIR } from './services';

const run = promisify(execFile);

/** The server release the cluster runs; the same as `docker/compose.yaml`'s `temporalio/server` image. */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';

const TEMPORAL_SERVER: GoTool = {
  binary: 'temporal-server',
  installedName: 'server',
  module: `go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`,
  envVar: 'SLUICE_TEMPORAL_SERVER',
  notFoundCode: 'TEMPORAL_SERVER_NOT_FOUND',
  installHint: 'Install the Temporal server (https://github.com/temporalio/temporal/releases)',
};

const TEMPORAL_SQL_TOOL: GoTool = {
  binary: 'temporal-sql-tool',
  installedName: 'sql',
  module: `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`,
  envVar: 'SLUICE_TEMPORAL_SQL_TOOL',
  notFoundCode: 'TEMPORAL_SERVER_NOT_FOUND',
  installHint: 'Install temporal-sql-tool (it ships with the Temporal server releases)',
};

/** The committed server config folder (`sluice.yaml`, `dynamicconfig.yaml`), relative to the project dir. */
export const TEMPORAL_CONFIG_DIR = path.join('docker', 'temporal');

/** The four Temporal services, each run as its own process. */
export const CLUSTER_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type ClusterService = (typeof CLUSTER_SERVICES)[number];

/** Options of {@link startTemporalCluster}. */
export interface TemporalClusterOptions {
  /** A PostgreSQL URL of the server to put Temporal's two databases on (its user must be allowed to create databases). */
  databaseUrl: string;
  /** History shards (`NUM_HISTORY_SHARDS`): fixed for the life of the databases. @default 4 */
  historyShards?: number;
  /** The namespace registered at start. @default 'default' */
  namespace?: string;
  /** How long closed workflows are kept, in hours. @default 24 */
  retentionHours?: number;
  /** Temporal's log level (`LOG_LEVEL`); logs go to `<stateDir>/<service>.log`. @default 'warn' */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** A running {@link startTemporalCluster}. */
export interface TemporalCluster {
  /** The frontend, `127.0.0.1:<port>`: `TEMPORAL_ADDRESS` for workers and clients. */
  address: string;
  namespace: string;
  /** A client connection to the frontend (closed by {@link TemporalCluster.stop}). */
  connection: Connection;
  client: Client;
  /** The persistence and visibility databases' names. */
  databases: { persistence: string; visibility: string };
  historyShards: number;
  /** Where each service's log is kept (deleted by {@link TemporalCluster.stop}). */
  stateDir: string;
  /** The running process id of each service (undefined while it is stopped). */
  pids(): Record<ClusterService, number | undefined>;
  /** Stops one service with `signal` (SIGKILL after 10 s) and resolves once it exited. */
  kill(service: ClusterService, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped service again, on the same ports and databases; resolves once it listens. */
  restart(service: ClusterService): Promise<void>;
  /** The last `chars` characters of a service's log. */
  logTail(service: ClusterService, chars?: number): string;
  /** Stops every service, closes the connection, drops both databases and deletes the state dir. */
  stop(): Promise<void>;
}

/** The `temporal-server` binary (found or built like the Temporal CLI). */
export function findTemporalServer(): Promise<string> {
  return findGoTool(TEMPORAL_SERVER, { projectDir: PROJECT_DIR, logger });
}

/** The `schema/postgresql/v12` folder of the server module (its `temporal/` and `visibility/` schemas). */
async function schemaDir(): Promise<string> {
  const explicit = process.env.SLUICE_TEMPORAL_SCHEMA_DIR;
  if (explicit) return explicit;
  try {
    const { stdout } = await run('go', ['mod', 'download', '-json', `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`], { cwd: os.tmpdir() });
    return path.join((JSON.parse(stdout) as { Dir: string }).Dir, 'schema', 'postgresql', 'v12');
  } catch (error) {
    throw new ConfigError(
      'TEMPORAL_SERVER_NOT_FOUND',
      `the Temporal ${TEMPORAL_SERVER_VERSION} schema files were not found: set SLUICE_TEMPORAL_SCHEMA_DIR to the server's schema/postgresql/v12 folder, or install Go (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/** `temporal-sql-tool` arguments for one database of the server `url` names. */
function sqlToolArgs(url: URL, database: string): string[] {
  return [
    '--plugin', 'postgres12',
    '--endpoint', url.hostname,
    '--port', url.port || '5432',
    '--user', decodeURIComponent(url.username),
    '--password', decodeURIComponent(url.password),
    '--database', database,
  ];
}

/** Creates `database` and brings it to the newest schema of `versionedDir`, with the official SQL tool. */
async function setUpDatabase(tool: string, url: URL, database: string, versionedDir: string): Promise<void> {
  const base = sqlToolArgs(url, database);
  for (const args of [['create-database'], ['setup-schema', '-v', '0.0'], ['update-schema', '-d', versionedDir]]) {
    try {
      await run(tool, [...base, ...args], { maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const { stderr, stdout } = error as { stderr?: string; stdout?: string };
      throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed: ${(stderr || stdout || (error as Error).message).slice(-2000)}`, { cause: error });
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`, or rejects after `timeoutMs` / when `failed()` says so. */
async function waitForPort(port: number, timeoutMs: number, failed: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = failed();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

/** Retries `attempt` every 250 ms until it resolves, up to `timeoutMs`; the last error says what never became ready. */
async function retry<T>(what: string, timeoutMs: number, attempt: () => Promise<T>, failed: () => string | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = failed();
    if (why) throw new Error(why);
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs / 1000} s: ${(error as Error).message}`, { cause: error });
    }
    await sleep(250);
  }
}

/** gRPC status code ALREADY_EXISTS, as the SDK's connection errors carry it. */
const ALREADY_EXISTS = 6;
/** `IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD` of Temporal's API. */
const KEYWORD = 2;

/**
 * Starts a Temporal cluster on PostgreSQL (see the module doc) and resolves once it serves: the frontend
 * answers, a workflow can be started in the namespace, and Sluice's search attributes can be queried.
 * @throws ConfigError `TEMPORAL_SERVER_NOT_FOUND` when the binaries or schema files cannot be found or built;
 *   Error when a service exits at start or the cluster is not ready within 3 minutes (the error carries the log's tail).
 */
export async function startTemporalCluster(options: TemporalClusterOptions): Promise<TemporalCluster> {
  const [server, sqlTool, schema] = await Promise.all([
    findTemporalServer(),
    findGoTool(TEMPORAL_SQL_TOOL, { projectDir: PROJECT_DIR, logger }),
    schemaDir(),
  ]);
  const namespace = options.namespace ?? 'default';
  const historyShards = options.historyShards ?? 4;
  const suffix = randomUUID().replace(/-/g, '').slice(0, 12);
  const databases = { persistence: `temporal_${suffix}`, visibility: `temporal_visibility_${suffix}` };
  const url = new URL(options.databaseUrl);
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-temporal-cluster-'));

  const dropDatabases = async () => {
    const admin = new URL(url);
    admin.pathname = '/postgres';
    const pg = new PgClient({ connectionString: admin.toString() });
    await pg.connect();
    try {
      for (const name of [databases.persistence, databases.visibility]) await pg.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await pg.end();
    }
  };

  try {
    await setUpDatabase(sqlTool, url, databases.persistence, path.join(schema, 'temporal', 'versioned'));
    await setUpDatabase(sqlTool, url, databases.visibility, path.join(schema, 'visibility', 'versioned'));
  } catch (error) {
    await dropDatabases().catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
    throw error;
  }

  // Below the ephemeral range: Temporal stores membership ports as a PostgreSQL smallint.
  const port = () => freePortInRange(20_000, 32_000);
  const ports = {} as Record<ClusterService, { grpc: number; membership: number }>;
  for (const service of CLUSTER_SERVICES) ports[service] = { grpc: await port(), membership: await port() };
  const httpPort = await port();
  // The variables docker/temporal/sluice.yaml reads (docker/compose.yaml sets the same ones).
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    POSTGRES_SEEDS: url.hostname,
    DB_PORT: url.port || '5432',
    POSTGRES_USER: decodeURIComponent(url.username),
    POSTGRES_PWD: decodeURIComponent(url.password),
    DBNAME: databases.persistence,
    VISIBILITY_DBNAME: databases.visibility,
    NUM_HISTORY_SHARDS: String(historyShards),
    BIND_ON_IP: '127.0.0.1',
    TEMPORAL_BROADCAST_ADDRESS: '127.0.0.1',
    FRONTEND_HTTP_PORT: String(httpPort),
    LOG_LEVEL: options.logLevel ?? 'warn',
    DYNAMIC_CONFIG_FILE_PATH: path.join(PROJECT_DIR, TEMPORAL_CONFIG_DIR, 'dynamicconfig.yaml'),
  };
  for (const service of CLUSTER_SERVICES) {
    env[`${service.toUpperCase()}_GRPC_PORT`] = String(ports[service].grpc);
    env[`${service.toUpperCase()}_MEMBERSHIP_PORT`] = String(ports[service].membership);
  }

  const processes: Partial<Record<ClusterService, { child: ChildProcess; exited: Promise<void>; exit?: string }>> = {};
  const logFile = (service: ClusterService) => path.join(stateDir, `${service}.log`);
  const logTail = (service: ClusterService, chars = 3000) => {
    try {
      return readFileSync(logFile(service), 'utf8').slice(-chars);
    } catch {
      return '';
    }
  };
  let stopping = false;
  const spawnService = (service: ClusterService) => {
    const fd = openSync(logFile(service), 'a');
    const child = spawn(
      server,
      ['--root', PROJECT_DIR, '--config', TEMPORAL_CONFIG_DIR, '--env', 'sluice', '--allow-no-auth', 'start', '--service', service],
      { env, stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    const entry: { child: ChildProcess; exited: Promise<void>; exit?: string } = {
      child,
      exited: new Promise<void>((resolve) => {
        child.once('exit', (code, signal) => {
          entry.exit = `the Temporal ${service} service exited (code ${code}, signal ${signal}); its log:\n${logTail(service)}`;
          resolve();
        });
      }),
    };
    processes[service] = entry;
    return entry;
  };
  /** Why the cluster cannot become ready: a service that exited while it should run. */
  const failed = () => (stopping ? 'the cluster is stopping' : CLUSTER_SERVICES.map((s) => processes[s]?.exit).find(Boolean));

  const kill = async (service: ClusterService, signal: NodeJS.Signals = 'SIGTERM') => {
    const entry = processes[service];
    if (!entry) return;
    if (entry.exit === undefined) {
      entry.child.kill(signal);
      const timer = setTimeout(() => entry.child.kill('SIGKILL'), 10_000);
      await entry.exited;
      clearTimeout(timer);
    }
    delete processes[service];
  };
  const stopAll = async () => {
    stopping = true;
    await Promise.all(CLUSTER_SERVICES.map((s) => kill(s)));
  };

  let connection: Connection | undefined;
  try {
    // One service first: on a fresh database each process would try to write the cluster's metadata, and all but
    // one exit with "failed to initialize current cluster metadata". The first one listening has written it.
    spawnService('history');
    await waitForPort(ports.history.grpc, 120_000, failed);
    for (const service of CLUSTER_SERVICES) if (service !== 'history') spawnService(service);
    const address = `127.0.0.1:${ports.frontend.grpc}`;
    connection = await retry('the Temporal frontend', 180_000, async () => {
      const c = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await c.workflowService.getSystemInfo({});
        return c;
      } catch (error) {
        await c.close();
        throw error;
      }
    }, failed);
    const conn = connection;
    await retry(`namespace ${namespace}`, 60_000, async () => {
      try {
        await conn.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(`${options.retentionHours ?? 24} hours`) });
      } catch (error) {
        if ((error as { code?: number }).code !== ALREADY_EXISTS) throw error;
      }
      await conn.workflowService.describeNamespace({ namespace });
    }, failed);
    const wanted = Object.values(SEARCH_ATTRIBUTES).map((key) => key.name);
    await retry('Sluice search attributes', 60_000, async () => {
      const listed = await conn.operatorService.listSearchAttributes({ namespace });
      const missing = wanted.filter((name) => listed.customAttributes?.[name] === undefined);
      if (missing.length === 0) return;
      await conn.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])),
      });
      throw new Error(`added ${missing.join(', ')}; waiting until they are listed`);
    }, failed);
    const client = new Client({ connection: conn, namespace });
    // History and visibility serve: a workflow starts (a history shard is owned) and a query over Sluice's
    // search attributes answers (the frontend maps them to visibility columns).
    await retry('starting a workflow', 120_000, async () => {
      const probe = await client.workflow.start('sluiceClusterProbe', { taskQueue: 'sluice-cluster-probe', workflowId: `sluice-cluster-probe-${randomUUID()}`, args: [] });
      await probe.terminate('cluster readiness probe');
      for await (const _ of client.workflow.list({ query: `${SEARCH_ATTRIBUTES.flow.name} = "sluice-cluster-probe"`, pageSize: 1 })) break;
    }, failed);
    logger.info({ address, databases, historyShards }, 'Temporal cluster ready');

    return {
      address,
      namespace,
      connection: conn,
      client,
      databases,
      historyShards,
      stateDir,
      pids: () => Object.fromEntries(CLUSTER_SERVICES.map((s) => [s, processes[s]?.exit === undefined ? processes[s]?.child.pid : undefined])) as Record<ClusterService, number | undefined>,
      kill,
      async restart(service) {
        if (processes[service]?.exit === undefined && processes[service]) throw new Error(`the Temporal ${service} service is still running`);
        spawnService(service);
        await waitForPort(ports[service].grpc, 60_000, () => processes[service]?.exit);
      },
      logTail,
      async stop() {
        await conn.close().catch(() => undefined);
        await stopAll();
        await dropDatabases();
        rmSync(stateDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await connection?.close().catch(() => undefined);
    await stopAll();
    await dropDatabases().catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
    throw error;
  }
}
