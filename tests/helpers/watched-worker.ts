/**
 * A `sluice worker` process (`node dist/cli/main.js worker`) a fault test watches: its stderr is kept
 * (JSON log lines at `warn`), and the test asserts it is the process started first, still running, and
 * never hit an unhandled `error` event.
 *
 * @example
 * ```ts
 * const worker = spawnWatchedWorker(dir, { DATABASE_URL, TEMPORAL_ADDRESS, SLUICE_TASK_QUEUE });
 * const metadata = await worker.runEnd(run);
 * worker.assertSameWorker();
 * ```
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { SluiceRun } from '../../client/sluice';
import type { RunMetadata } from '../../common/run-model';
import { CLI_MAIN } from './services';

/** One JSON line of the worker's log (the fields fault tests read). */
export interface WorkerLogEntry {
  level?: number;
  msg?: string;
  activity?: string;
  code?: string;
  err?: { message?: string; code?: string };
}

export interface WatchedWorker {
  child: ChildProcess;
  /** The pid it was started with. */
  pid: number;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Its stderr's JSON log lines, parsed. */
  logEntries(): WorkerLogEntry[];
  /**
   * The run's end (polled every 250 ms, up to `timeoutMs`), or a failure naming the worker's exit and
   * its stderr when the worker died first.
   */
  runEnd(run: SluiceRun, timeoutMs: number): Promise<RunMetadata>;
  /** Its log lines at warn and above, `; `-separated (`activity code: msg (err.code: err.message)`, repeats counted), for diagnostics. */
  logSummary(): string;
  /** Asserts it is still running with its first pid and its stderr has no `Unhandled 'error' event`. */
  assertSameWorker(): void;
  /** Resolves once a log line matches `test` (polled every 50 ms); rejects after `timeoutMs` or when the worker exits. */
  waitForLog(test: (entry: WorkerLogEntry) => boolean, timeoutMs: number, what: string): Promise<WorkerLogEntry>;
}

/** Starts `sluice worker` in `dir` with `env` added to this process's environment (log level `warn`). */
export function spawnWatchedWorker(dir: string, env: Record<string, string>): WatchedWorker {
  const child = spawn(process.execPath, [CLI_MAIN, 'worker'], {
    cwd: dir,
    env: { ...process.env, ...env, SLUICE_LOG_LEVEL: 'warn', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const pid = child.pid!;
  const alive = () => child.exitCode === null && child.signalCode === null;
  const tail = () => stderr.slice(-4000);
  const logEntries = () =>
    stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => {
        try {
          return JSON.parse(line) as WorkerLogEntry;
        } catch {
          return {};
        }
      });
  return {
    child,
    pid,
    stderr: () => stderr,
    logEntries,
    runEnd(run, timeoutMs) {
      const died = new Promise<never>((_resolve, reject) => {
        const exited = (code: number | null, signal: string | null) => reject(new Error(`the worker exited (code ${code}, signal ${signal}); its stderr:\n${tail()}`));
        if (!alive()) exited(child.exitCode, child.signalCode);
        else child.once('exit', exited);
      });
      return Promise.race([run.wait({ timeoutMs, pollIntervalMs: 250 }), died]);
    },
    logSummary() {
      const counts = new Map<string, number>();
      for (const e of logEntries()) {
        const err = e.err ? ` (${e.err.code ?? ''}: ${(e.err.message ?? '').slice(0, 160)})` : '';
        const line = `${e.activity ?? '-'} ${e.code ?? ''}: ${e.msg ?? ''}${err}`;
        counts.set(line, (counts.get(line) ?? 0) + 1);
      }
      return [...counts].map(([line, n]) => (n > 1 ? `${line} ×${n}` : line)).join('; ') || '(nothing)';
    },
    assertSameWorker() {
      assert.ok(alive(), `the worker is still running; its stderr:\n${tail()}`);
      assert.equal(child.pid, pid);
      process.kill(pid, 0);
      assert.ok(!stderr.includes("Unhandled 'error' event"), tail());
    },
    async waitForLog(test, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logEntries().find(test);
        if (found) return found;
        if (!alive()) assert.fail(`the worker exited before it logged ${what}; its stderr:\n${tail()}`);
        if (Date.now() > deadline) assert.fail(`the worker did not log ${what} within ${timeoutMs / 1000} s; its stderr:\n${tail()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
