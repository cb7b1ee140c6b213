/**
 * The config a `sluice` command runs with: `--config <file>` and `--env <name>` (global options,
 * valid after any subcommand), then `loadConfig` for that environment.
 */
import type { Command } from 'commander';
import { loadConfig, type SluiceConfig } from '../config/sluice-config';

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

/** @throws ConfigError when the config file is missing or invalid, the environment unknown, or a secret cannot be decrypted. */
export function configFrom(command: Command): SluiceConfig {
  const options = globalOptions(command);
  // Processes this command starts inherit the chosen environment (a write, not a read: common/env.ts reads it).
  // eslint-disable-next-line no-restricted-syntax
  if (options.env) process.env.SLUICE_ENV = options.env;
  return loadConfig({ configFile: options.config, environment: options.env });
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
