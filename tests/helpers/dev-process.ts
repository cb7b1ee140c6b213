/**
 * `sluice dev` as a child process, the way a user runs it in a terminal: its output collected, waits on a
 * line of it, and the pids of the servers it started (from its `.sluice/stack.json`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { StackFile } from '../../config/stack-file';

/** A running `sluice dev`. */
export interface DevProcess {
  child: ChildProcess;
  /** Everything it wrote so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves with the output once it matches `pattern`; rejects after `timeoutMs` or when the process exits first. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Resolves with the exit code (or the signal's name) once it exited. */
  exited: Promise<number | string>;
}

/**
 * Starts `command args` (e.g. `node dist/cli/main.js dev …`, or an installed `sluice dev …`) in `cwd` with
 * exactly `env`.
 */
export function startDevProcess(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): DevProcess {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const listeners = new Set<() => void>();
  const append = (d: Buffer) => {
    output += d.toString();
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => output,
    exited,
    waitFor: (pattern, timeoutMs) =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(output)) return;
          done();
          resolve(output);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} within ${timeoutMs / 1000} s; output:\n${output}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exited.then((code) => {
          if (!listeners.has(check)) return;
          done();
          if (pattern.test(output)) resolve(output);
          else reject(new Error(`exited (${code}) before ${pattern}; output:\n${output}`));
        });
        check();
      }),
  };
}

/** The stack file under a state dir, or null. */
export function readStack(stateDir: string): StackFile | null {
  const file = path.join(stateDir, 'stack.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as StackFile) : null;
}

/** True when a process with this pid exists and is not a zombie. */
export function processExists(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}
