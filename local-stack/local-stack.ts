/**
 * The local stack behind `sluice dev` and `npm start`: the Temporal dev server (with its UI),
 * PostgreSQL (`DATABASE_URL`, else embedded), migrations, a mail sink for the dev config's loopback SMTP
 * connectors, and one in-process worker.
 *
 * Writes `<stateDir>/stack.json` (config/stack-file.ts) so other `sluice` commands find it: the addresses,
 * this process's pid and the pids of the servers it started. `stop()` stops the worker, then what the caller
 * adds (the gateway), the mail sink, Postgres and the Temporal dev server, in that order, each within a bound,
 * and removes the file. If this process exits any other way (an uncaught error, `process.exit`) the servers
 * still running are killed on `exit`; if it is SIGKILLed, the next `sluice dev` finds the stale file and stops
 * the servers it names before starting new ones.
 */
import { readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { readEnv } from '../common/env';
import { UserError } from '../common/errors';
import type { SluiceConfig, SmtpConnectorConfig } from '../config/sluice-config';
import { isProcessAlive, readStackFile, stackFilePath, type StackChild, type StackFile } from '../config/stack-file';
import { startEmbeddedPostgres } from './embedded-postgres';
import { migrate } from '../db/migrations';
import { createPool } from '../db/pg-pool';
import { startDevServer } from './dev-server';
import { startMailSink } from './mail-sink';
import { assertPortFree, isPortFree } from './ports';
import { findTemporalCli } from './temporal-cli';
import { createSluiceWorker, type SluiceWorker } from '../worker/sluice-worker';

export interface LocalStack {
  config: SluiceConfig;
  uiUrl: string;
  worker: SluiceWorker;
  /** The mail sink, when one runs: `host:port` and the folder of its `.eml` files. */
  mail?: { address: string; dir: string };
  /** Lines for the user about how the stack started (servers of a crashed stack stopped, where dev mail goes). */
  notes: string[];
  /**
   * Stops, in this order: the worker (draining in-flight activities, up to its 30 s grace), `afterWorker` (the
   * gateway), the mail sink, Postgres, the Temporal dev server; then removes stack.json. Each step is bounded
   * (a server that does not stop in time is killed); `onStep` gets one line per step. Safe to call twice.
   */
  stop(options?: { afterWorker?: () => Promise<void>; onStep?: (line: string) => void }): Promise<void>;
}

/** Options of {@link startLocalStack}. */
export interface LocalStackOptions {
  /** @default 7233 */
  temporalPort?: number;
  /** @default 8233 */
  uiPort?: number;
  /** Embedded Postgres only. @default 54329 */
  postgresPort?: number;
  /** Run the mail sink for loopback `smtp` connectors. @default true */
  mailSink?: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** Resolves with true when `promise` settles within `ms`, false otherwise (it keeps running). */
async function within(ms: number, promise: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The command line of a process (empty when it is gone or unreadable). */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** True when `child` still runs as the process the stack file recorded (not a reused pid). */
const stillRunning = (child: StackChild): boolean => isProcessAlive(child.pid) && commandLine(child.pid).includes(child.marker);

const CHILD_NAMES: Record<StackChild['name'], string> = { temporal: 'the Temporal dev server', postgres: 'PostgreSQL' };

/** Stops a server a crashed `sluice dev` left running: SIGTERM (Postgres: SIGINT, a fast shutdown), SIGKILL after 10 s. */
async function stopLeftover(child: StackChild): Promise<void> {
  process.kill(child.pid, child.name === 'postgres' ? 'SIGINT' : 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (isProcessAlive(child.pid)) {
    if (Date.now() > deadline) {
      process.kill(child.pid, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Checks the stack file before a start: a live `sluice dev` is an error; a stale file's servers still running
 * are stopped (they hold the ports and would otherwise be attached to) and the file removed.
 * @returns lines saying what was stopped.
 */
async function clearStaleStack(stateDir: string): Promise<string[]> {
  const found = readStackFile(stateDir);
  if (!found) return [];
  if (found.alive && found.stack.pid !== process.pid) {
    throw new UserError(
      'LOCAL_STACK_RUNNING',
      `\`sluice dev\` already runs for this project (pid ${found.stack.pid}, ${stackFilePath(stateDir)}): use that one, or stop it first (Ctrl-C in its terminal, or kill ${found.stack.pid})`,
      { details: { pid: found.stack.pid } },
    );
  }
  const notes: string[] = [];
  for (const child of found.stack.children ?? []) {
    if (!stillRunning(child)) continue;
    await stopLeftover(child);
    notes.push(`stopped ${CHILD_NAMES[child.name]} (pid ${child.pid}) left running by a \`sluice dev\` that exited without stopping it`);
  }
  rmSync(stackFilePath(stateDir), { force: true });
  return notes;
}

/**
 * Starts the whole local stack.
 * @throws UserError `LOCAL_STACK_RUNNING` when a `sluice dev` already runs on this state dir; `PORT_IN_USE` when
 *   a port it needs is held by another process; ConfigError when the Temporal CLI cannot be found or built;
 *   Error when a server cannot start.
 */
export async function startLocalStack(config: SluiceConfig, logger: Logger, options: LocalStackOptions = {}): Promise<LocalStack> {
  mkdirSync(config.stateDir, { recursive: true });
  const notes = await clearStaleStack(config.stateDir);
  const external = readEnv('TEMPORAL_ADDRESS');
  let databaseUrl = readEnv('DATABASE_URL');
  const temporalPort = options.temporalPort ?? 7233;
  const uiPort = options.uiPort ?? 8233;
  const postgresPort = options.postgresPort ?? 54329;
  if (!external) {
    await assertPortFree(temporalPort, 'the Temporal dev server', '--temporal-port');
    await assertPortFree(uiPort, 'the Temporal UI', '--ui-port');
  }
  if (!databaseUrl) await assertPortFree(postgresPort, 'the embedded PostgreSQL', '--postgres-port');

  // stack.json from the first server on: a crash during the start still leaves the pids to clean up.
  const stackFile = stackFilePath(config.stateDir);
  const stack: StackFile = { pid: process.pid, children: [] };
  const writeStack = () => writeFileSync(stackFile, JSON.stringify(stack, null, 2));
  const killLeftovers = () => {
    for (const child of stack.children ?? []) if (stillRunning(child)) process.kill(child.pid, 'SIGKILL');
    rmSync(stackFile, { force: true });
  };
  process.on('exit', killLeftovers);

  interface Step {
    line: string;
    stop: () => Promise<void>;
    timeoutMs: number;
    /** Called when `stop` did not finish in time. */
    force?: () => void;
  }
  const steps: Step[] = [];
  let stopped: Promise<void> | undefined;
  const stopAll = (stopOptions: { afterWorker?: () => Promise<void>; onStep?: (line: string) => void } = {}): Promise<void> => {
    stopped ??= (async () => {
      // Steps were pushed in start order: servers first, the worker last. Stop the reverse, the caller's after the worker.
      const order = [...steps].reverse();
      if (stopOptions.afterWorker) {
        const at = order.findIndex((s) => s.line === 'stopped the worker') + 1;
        order.splice(at, 0, { line: 'stopped the gateway', stop: stopOptions.afterWorker, timeoutMs: 10_000 });
      }
      for (const step of order) {
        const done = await within(step.timeoutMs, step.stop().catch((error: unknown) => logger.warn({ err: error }, `${step.line}: failed`)));
        if (!done) step.force?.();
        stopOptions.onStep?.(done ? step.line : `${step.line} (forced: it did not stop within ${step.timeoutMs / 1000} s)`);
      }
      killLeftovers();
      process.off('exit', killLeftovers);
    })();
    return stopped;
  };

  try {
    let address = config.temporal.address;
    let uiUrl = config.temporal.uiUrl;
    if (!external) {
      const cli = await findTemporalCli({ projectDir: config.projectDir, logger });
      const server = await startDevServer({ cli, stateDir: config.stateDir, logger, port: temporalPort, uiPort });
      stack.children!.push({ name: 'temporal', pid: server.pid, marker: path.join(config.stateDir, 'temporal.db') });
      writeStack();
      steps.push({ line: 'stopped the Temporal dev server', stop: () => server.stop(), timeoutMs: 15_000, force: () => void server.stop('SIGKILL') });
      address = server.address;
      uiUrl = server.uiUrl;
    }
    if (!databaseUrl) {
      logger.info('DATABASE_URL is not set: starting the embedded PostgreSQL');
      const postgres = await startEmbeddedPostgres(config.stateDir, logger, postgresPort);
      stack.children!.push({ name: 'postgres', pid: postgres.pid, marker: path.resolve(config.stateDir, 'postgres') });
      writeStack();
      steps.push({ line: 'stopped PostgreSQL', stop: postgres.stop, timeoutMs: 15_000, force: () => isProcessAlive(postgres.pid) && process.kill(postgres.pid, 'SIGKILL') });
      databaseUrl = postgres.databaseUrl;
    }
    const pool = createPool({ connectionString: databaseUrl, max: 1 }, { label: 'the metadata database', logger });
    await migrate(pool);
    await pool.end();

    const mail = options.mailSink === false ? undefined : await startSinks(config, logger, notes);
    if (mail) steps.push({ line: 'stopped the mail sink', stop: mail.close, timeoutMs: 5_000 });

    const stackConfig: SluiceConfig = { ...config, databaseUrl, temporal: { ...config.temporal, address, uiUrl } };
    Object.assign(stack, { databaseUrl, temporalAddress: address, uiUrl, ...(mail ? { mail: { address: mail.address, dir: mail.dir } } : {}) });
    writeStack();
    const worker = await createSluiceWorker({ config: stackConfig, logger });
    const running = worker.run();
    steps.push({
      line: 'stopped the worker',
      stop: async () => {
        // Temporal's runtime may have begun the shutdown on the same signal already.
        await worker.shutdown().catch(() => undefined);
        await running;
      },
      timeoutMs: 40_000,
    });
    return { config: stackConfig, uiUrl, worker, ...(mail ? { mail: { address: mail.address, dir: mail.dir } } : {}), notes, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * The mail sink for the environment's `smtp` connectors on a loopback host without implicit TLS (the dev
 * config's `127.0.0.1:1025`): one sink, on the first such connector's port; a port already served by another
 * process (Mailpit, MailHog) is left to it. Connectors naming another host are real servers: untouched.
 */
async function startSinks(config: SluiceConfig, logger: Logger, notes: string[]): Promise<{ address: string; dir: string; close: () => Promise<void> } | undefined> {
  const local = Object.entries(config.connectors)
    .filter((entry): entry is [string, SmtpConnectorConfig] => entry[1].kind === 'smtp')
    .filter(([, smtp]) => LOOPBACK.has(smtp.host) && !smtp.secure);
  const first = local[0];
  if (!first) return undefined;
  const [name, smtp] = first;
  const port = smtp.port ?? 587;
  const host = smtp.host === 'localhost' ? '127.0.0.1' : smtp.host;
  if (!(await isPortFree(port, host))) {
    notes.push(`mail: ${host}:${port} (connector ${name}) is served by another process; emails go there`);
    return undefined;
  }
  const sink = await startMailSink({ host, port, dir: path.join(config.stateDir, 'mail'), logger });
  notes.push(`mail: emails of connector ${name} are kept by the dev mail sink on ${sink.address} (${path.relative(config.projectDir, sink.dir) || sink.dir}/; sluice mail list)`);
  return sink;
}
