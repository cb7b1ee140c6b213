/**
 * Finds a tool Sluice provisions from a Go module (the Temporal CLI; versitygw for the tests):
 * an explicit path from an environment variable → the binary on PATH → the project-local cached
 * build in `.tools/bin/` → `go install <module>` into `.tools/bin/` → a ConfigError saying how to
 * install it.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { UserErrorCode } from '../common/error-codes';
import { ConfigError } from '../common/errors';

export interface GoTool {
  /** Binary name, e.g. `temporal`. */
  binary: string;
  /** Pinned module, e.g. `github.com/temporalio/cli/cmd/temporal@v1.5.1`. */
  module: string;
  /** Environment variable that names the binary explicitly, e.g. `TEMPORAL_CLI`. */
  envVar: string;
  /** Stable error code when it cannot be found or built, e.g. `TEMPORAL_CLI_NOT_FOUND` (declared in common/error-codes.ts). */
  notFoundCode: UserErrorCode;
  /** Where to install it by hand, for the error message. */
  installHint: string;
  /**
   * The name `go install` gives the binary when it differs from `binary` (the last element of the package path:
   * `server` for `go.temporal.io/server/cmd/server`); the build is then renamed to `binary`.
   * @default binary
   */
  installedName?: string;
}

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
 * Returns the path of a usable binary of `tool`, building it with Go when needed.
 * @param options.build whether building from the Go module is allowed. @default true
 * @throws ConfigError `tool.notFoundCode` when none is found and it cannot be built, `GO_BUILD_FAILED` when the build fails.
 */
export async function findGoTool(tool: GoTool, options: { projectDir: string; logger: Logger; env?: NodeJS.ProcessEnv; build?: boolean }): Promise<string> {
  const env = options.env ?? process.env;
  const explicit = env[tool.envVar];
  if (explicit) {
    if (!isExecutable(explicit)) throw new ConfigError(tool.notFoundCode, `${tool.envVar}=${explicit} is not an executable file`);
    return explicit;
  }
  const fromPath = onPath(tool.binary, env);
  if (fromPath) return fromPath;
  const binDir = toolsBinDir(options.projectDir);
  const cached = path.join(binDir, tool.binary);
  if (isExecutable(cached)) return cached;
  const go = onPath('go', env);
  if (options.build === false || !go) {
    throw new ConfigError(
      tool.notFoundCode,
      `${tool.binary} was not found. ${tool.installHint}, set ${tool.envVar} to its path, or install Go so Sluice can build it: go install ${tool.module}`,
    );
  }
  await mkdir(binDir, { recursive: true });
  options.logger.info({ module: tool.module, into: binDir }, `building ${tool.binary} from its Go module (once)`);
  // A binary go install names otherwise is built in a folder of its own, then moved to its name.
  const gobin = tool.installedName ? await mkdtemp(path.join(binDir, `.${tool.binary}-`)) : binDir;
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(go, ['install', tool.module], { env: { ...env, GOBIN: gobin, CGO_ENABLED: env.CGO_ENABLED ?? '0' }, stdio: ['ignore', 'inherit', 'inherit'] });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new ConfigError('GO_BUILD_FAILED', `go install ${tool.module} exited with ${code}`))));
    });
    if (tool.installedName) await rename(path.join(gobin, tool.installedName), cached);
  } finally {
    if (tool.installedName) await rm(gobin, { recursive: true, force: true });
  }
  return cached;
}
