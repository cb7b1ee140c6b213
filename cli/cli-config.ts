/**
 * The config a `sluice` command runs with: `--config <file>` and `--env <name>` (global options,
 * valid after any subcommand), then `loadConfig` for that environment.
 */
import type { Command } from 'commander';
import { readEnv } from '../common/env';
import { LOCAL_USER, parseUserName } from '../common/users';
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

/**
 * The user a command acts as: `--user <name>` given to it (a string; a bare `--user` on `data` and `secrets` only
 * chooses the user scope), else `SLUICE_USER`, else the config's `user:`, else `local`.
 * @throws InvalidRequestError `INVALID_USER` naming where the bad name came from.
 */
export function actingUser(command: Command, config: Pick<SluiceConfig, 'user'>): string {
  const option = command.opts<{ user?: string | boolean }>().user;
  if (typeof option === 'string') return parseUserName(option, '--user');
  const fromEnv = readEnv('SLUICE_USER');
  if (fromEnv) return parseUserName(fromEnv, 'SLUICE_USER');
  if (config.user !== undefined) return config.user;
  return LOCAL_USER;
}
