/**
 * `<stateDir>/stack.json`: written by `sluice dev` so other `sluice` commands find the local stack (its
 * Temporal address, its database URL, its UI), removed when the stack stops. It names the `sluice dev`
 * process and the servers it started, so a file left by a crashed stack is told from a live one (its pid is
 * gone) and the servers it left behind can be found and stopped.
 *
 * ```ts
 * const found = readStackFile(stateDir);
 * if (found && !found.alive) throw staleStackError(stateDir, found.stack);
 * ```
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../common/errors';

/** A server `sluice dev` started: what it is (`temporal`, `postgres`, `mail`) and its process id (none for in-process ones). */
export interface StackChild {
  name: 'temporal' | 'postgres';
  pid: number;
  /** A word the process's command line contains (`/proc/<pid>/cmdline`), so a reused pid is not mistaken for it. */
  marker: string;
}

/** The content of `stack.json`. */
export interface StackFile {
  /** The `sluice dev` process. */
  pid?: number;
  databaseUrl?: string;
  temporalAddress?: string;
  uiUrl?: string;
  /** The SMTP sink of `sluice dev` (`host:port`) and the folder of its messages, when it runs one. */
  mail?: { address: string; dir: string };
  children?: StackChild[];
}

/** The path of the stack file under a state dir. */
export const stackFilePath = (stateDir: string): string => path.join(stateDir, 'stack.json');

/** True when a process with this id exists (signal 0; EPERM means it exists but is not ours). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Reads `<stateDir>/stack.json`. `alive` is false when the `sluice dev` that wrote it is gone (a crash, a
 * SIGKILL): its addresses then point at servers that may not answer.
 * @returns null when there is no (readable) stack file.
 */
export function readStackFile(stateDir: string): { stack: StackFile; alive: boolean } | null {
  const file = stackFilePath(stateDir);
  if (!existsSync(file)) return null;
  let stack: StackFile;
  try {
    stack = JSON.parse(readFileSync(file, 'utf8')) as StackFile;
  } catch {
    return null;
  }
  return { stack, alive: typeof stack.pid === 'number' ? isProcessAlive(stack.pid) : true };
}

/**
 * The one-line error of a command that needs the local stack while its stack file is stale.
 * @returns ConfigError `LOCAL_STACK_NOT_RUNNING`.
 */
export function staleStackError(stateDir: string, stack: StackFile): ConfigError {
  const file = path.relative(process.cwd(), stackFilePath(stateDir)) || stackFilePath(stateDir);
  return new ConfigError(
    'LOCAL_STACK_NOT_RUNNING',
    `the local stack is not running: ${file} was left by \`sluice dev\` (pid ${stack.pid}), which has exited; start it again with \`sluice dev\` (or set TEMPORAL_ADDRESS and DATABASE_URL)`,
    { details: { stack_file: stackFilePath(stateDir), pid: stack.pid } },
  );
}
