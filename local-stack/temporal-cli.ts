/**
 * Finds (or builds) the official Temporal CLI, which serves the dev server and the Temporal UI.
 *
 * Order: `TEMPORAL_CLI` → `temporal` on PATH → the project-local cached build in
 * `.tools/bin/temporal` → a build from its official Go module pinned to v1.5.1 (later tags carry a
 * `replace` directive that `go install` refuses) → a ConfigError saying how to install it.
 */
import type { Logger } from 'pino';
import type { EnvName } from '../common/env';
import { findGoTool, type GoTool } from './go-tool';

const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

const TEMPORAL_CLI: GoTool = {
  binary: 'temporal',
  module: TEMPORAL_CLI_MODULE,
  envVar: 'TEMPORAL_CLI' satisfies EnvName,
  notFoundCode: 'TEMPORAL_CLI_NOT_FOUND',
  installHint: 'Install the Temporal CLI (https://docs.temporal.io/cli)',
};

/**
 * Returns the path of a usable Temporal CLI binary, building it with Go when needed.
 * @param options.build whether building from the Go module is allowed. @default true
 * @throws ConfigError `TEMPORAL_CLI_NOT_FOUND` when none is found and it cannot be built.
 */
export function findTemporalCli(options: { projectDir: string; logger: Logger; env?: NodeJS.ProcessEnv; build?: boolean }): Promise<string> {
  return findGoTool(TEMPORAL_CLI, options);
}
