/**
 * The embedded Temporal: the official CLI's dev server (`temporal server start-dev`), its state in
 * a SQLite file under the state dir, the Temporal UI on its own port, and Sluice's search
 * attributes registered at start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { SEARCH_ATTRIBUTES } from '../common/run-model';

export interface DevServerHandle {
  address: string;
  uiUrl: string;
  /** The dev server's process id (recorded in stack.json, so a crashed `sluice dev`'s server can be found). */
  pid: number;
  /**
   * Stops the server and resolves once it exited: `SIGTERM` (@default; SIGKILL after 10 s), or `SIGKILL`
   * (a crash: its SQLite file is kept, a server started again on it resumes every workflow).
   */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

/** `--search-attribute Name=Keyword` arguments for every Sluice search attribute. */
export function searchAttributeArgs(): string[] {
  return Object.values(SEARCH_ATTRIBUTES).flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]);
}

/**
 * Dynamic config Sluice sets on the dev server (and in docker/temporal/dynamicconfig.yaml): eager activity
 * dispatch, so an activity scheduled by a workflow task comes back to the same worker in the task's
 * response, without a trip through matching (syncSource and transformAndLoad of a small run;
 * docs/benchmarks.md, "Small runs"). The server still enforces each activity's retry policy.
 */
export const DEV_SERVER_DYNAMIC_CONFIG = ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'];

/**
 * Starts the dev server and waits until it answers.
 * @param options.port gRPC port (@default 7233); the UI listens on `uiPort` (@default 8233).
 * @throws Error when the process exits or does not answer within 60 s.
 */
export async function startDevServer(options: { cli: string; stateDir: string; logger: Logger; port?: number; uiPort?: number }): Promise<DevServerHandle> {
  const port = options.port ?? 7233;
  const uiPort = options.uiPort ?? 8233;
  await mkdir(options.stateDir, { recursive: true });
  const args = [
    'server', 'start-dev',
    '--db-filename', path.join(options.stateDir, 'temporal.db'),
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--ui-port', String(uiPort),
    '--log-level', 'error',
    ...DEV_SERVER_DYNAMIC_CONFIG,
    ...searchAttributeArgs(),
  ];
  const child: ChildProcess = spawn(options.cli, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`the Temporal dev server exited at start: ${stderr.trim() || 'no output'}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the Temporal dev server did not answer on ${address} within 60 s: ${(error as Error).message}`, { cause: error });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  options.logger.info({ address, ui: `http://127.0.0.1:${uiPort}` }, 'Temporal dev server ready');
  return {
    address,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    pid: child.pid!,
    stop: (signal = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
