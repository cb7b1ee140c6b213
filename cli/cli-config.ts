/**
 * The config a `sluice` command runs with: `--config <file>` and `--env <name>` (global options,
 * valid after any subcommand), then `loadConfig` for that environment.
 */
import type { Command } from 'commander';
import { loadConfig, type LoadConfigOptions, type SluiceConfig } from '../config/sluice-config';

export interface GlobalOptions {
  /** `-c, --config <file>` */
  config?: string;
  /** `-e, --env <name>`, defaulting to `SLUICE_ENV` */
  env?: string;
}

/** The global options as given to this command or the program. */
export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/**
 * @param options.staleStack what a stale `.sluice/stack.json` does (see `LoadConfigOptions`). @default 'error'
 * @throws ConfigError when the config file is missing or invalid, the environment unknown, a secret cannot be
 *   decrypted, or the local stack this command would use has exited (`LOCAL_STACK_NOT_RUNNING`).
 */
export function configFrom(command: Command, options: Pick<LoadConfigOptions, 'staleStack'> = {}): SluiceConfig {
  const global = globalOptions(command);
  // Processes this command starts inherit the chosen environment (a write, not a read: common/env.ts reads it).
  // eslint-disable-next-line no-restricted-syntax
  if (global.env) process.env.SLUICE_ENV = global.env;
  return loadConfig({ configFile: global.config, environment: global.env, ...options });
}

/**
 * A failure already reported to the user: `main` exits with `exitCode` and prints nothing more
 * (a FAILED run is 1; a refused request is 2 through UserError).
 */
export class ExitError extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}
