/**
 * The config a `sluice` command runs with: `--config <file>` and `--env <name>` (global options,
 * valid after any subcommand), then `loadConfig`.
 */
import type { Command } from 'commander';
import { loadConfig, type SluiceConfig } from '../config/sluice-config';

interface GlobalOptions {
  config?: string;
  env?: string;
}

/** @throws ConfigError when the config file is missing or invalid. */
export function configFrom(command: Command): SluiceConfig {
  const options = command.optsWithGlobals<GlobalOptions>();
  if (options.env) process.env.SLUICE_ENV = options.env;
  return loadConfig({ configFile: options.config });
}
