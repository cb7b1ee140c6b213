/**
 * Finds (or builds) the official Temporal CLI, which serves the dev server and the Temporal UI.
 *
 * Order (DESIGN.md): `TEMPORAL_CLI` → `temporal` on PATH → the project-local cached build in
 * `.tools/bin/temporal` → a build from its official Go module pinned to v1.5.1 (later tags carry a
 * `replace` directive that `go install` refuses) → a ConfigError saying how to install it.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../common/errors';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The project-local tools folder (git-ignored). */
export function toolsBinDir(projectDir: string): string {
  return path.join(projectDir, '.tools', 'bin');
}

/**
 * Returns the path of a usable Temporal CLI binary, building it with Go when needed.
 * @param options.build whether building from the Go module is allowed. @default true
 * @throws ConfigError `TEMPORAL_CLI_NOT_FOUND` when none is found and it cannot be built.
 */
export async function findTemporalCli(options: { projectDir: string; logger: Logger; env?: NodeJS.ProcessEnv; build?: boolean }): Promise<string> {
  const env = options.env ?? process.env;
  if (env.TEMPORAL_CLI) {
    if (!isExecutable(env.TEMPORAL_CLI)) throw new ConfigError('TEMPORAL_CLI_NOT_FOUND', `TEMPORAL_CLI=${env.TEMPORAL_CLI} is not an executable file`);
    return env.TEMPORAL_CLI;
  }
  const fromPath = onPath('temporal', env);
  if (fromPath) return fromPath;
  const binDir = toolsBinDir(options.projectDir);
  const cached = path.join(binDir, 'temporal');
  if (existsSync(cached) && isExecutable(cached)) return cached;
  const go = onPath('go', env);
  if (options.build === false || !go) {
    throw new ConfigError(
      'TEMPORAL_CLI_NOT_FOUND',
      `the Temporal CLI was not found. Install it (https://docs.temporal.io/cli), set TEMPORAL_CLI to its path, ` +
        `or install Go so Sluice can build it: go install ${TEMPORAL_CLI_MODULE}`,
    );
  }
  await mkdir(binDir, { recursive: true });
  options.logger.info({ module: TEMPORAL_CLI_MODULE, into: binDir }, 'building the Temporal CLI from its Go module (a few minutes, once)');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(go, ['install', TEMPORAL_CLI_MODULE], { env: { ...env, GOBIN: binDir, CGO_ENABLED: env.CGO_ENABLED ?? '0' }, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new ConfigError('TEMPORAL_CLI_BUILD_FAILED', `go install ${TEMPORAL_CLI_MODULE} exited with ${code}`))));
  });
  return cached;
}
