/**
 * `sluice config show`: the merged, validated config of one environment, with every secret masked.
 * Also registers `sluice secret …` (cli/secret-command.ts).
 *
 * ```sh
 * sluice config show               # dev
 * sluice config show -e prod       # prod: its block merged over the top level; plain-text secrets refused
 * sluice config show -e prod --json
 * ```
 *
 * Encrypted secrets are decrypted when a master key is configured (so a wrong key fails here, as it would in a
 * worker) and shown masked either way; without a key they show as `enc:v1:<key-id>:****`. Exit 2 when the config
 * is invalid for that environment.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { readEnv } from '../common/env';
import { maskSecret } from '../config/secrets';
import { OVERRIDING_VARIABLES, resolveConfigFile, type ResolvedConfigFile } from '../config/sluice-config';
import { globalOptions } from './cli-config';
import { addSecretCommands } from './secret-command';

/** A copy of the resolved file with every secret field masked. */
export function maskedConfig(resolved: ResolvedConfigFile): Record<string, unknown> {
  const copy = structuredClone(resolved.file) as Record<string, unknown>;
  for (const field of resolved.secrets) {
    const parent = field.path.slice(0, -1).reduce<Record<string, unknown> | undefined>((node, key) => node?.[key] as Record<string, unknown> | undefined, copy);
    const key = field.path[field.path.length - 1]!;
    const value = parent?.[key];
    if (parent && typeof value === 'string') parent[key] = maskSecret(value, field.kind);
  }
  return copy;
}

const describeSecret = (s: ResolvedConfigFile['secrets'][number]) =>
  `${s.path.join('.')} (${s.source === 'encrypted' ? `encrypted, key ${s.keyId ?? '?'}${s.decrypted ? '' : ', not decrypted: no master key'}` : s.source === 'env' ? 'from ${env:…}' : 'plain text'})`;

/** Adds `sluice config show` and `sluice secret …` to a program. */
export function addConfigCommands(program: Command): void {
  const config = program.command('config').description('inspect the configuration (sluice.config.yaml and its environments)');
  config
    .command('show')
    .description('print the merged, validated config of an environment (-e/--env, default dev) with every secret masked')
    .option('--json', 'print one JSON object')
    .action((options: { json?: boolean }, command: Command) => {
      const global = globalOptions(command);
      const resolved = resolveConfigFile({ configFile: global.config, environment: global.env, secrets: 'decrypt-if-key' });
      for (const warning of resolved.warnings) process.stderr.write(`warning: ${warning}\n`);
      const masked = maskedConfig(resolved);
      const overrides = OVERRIDING_VARIABLES.filter((name) => readEnv(name) !== undefined && readEnv(name) !== '');
      if (options.json) {
        process.stdout.write(
          `${JSON.stringify({
            environment: resolved.environment,
            environments: resolved.environments,
            config_file: resolved.configFile,
            require_encrypted_secrets: resolved.requireEncryptedSecrets,
            secrets: resolved.secrets.map((s) => ({ path: s.path.join('.'), source: s.source, ...(s.keyId ? { key_id: s.keyId, decrypted: s.decrypted } : {}) })),
            overridden_by: overrides,
            config: masked,
          })}\n`,
        );
        return;
      }
      const lines = [
        `# ${resolved.configFile ?? 'no config file: the defaults apply (connectors files and warehouse)'}`,
        `# environment: ${resolved.environment} (defined: ${resolved.environments.length > 0 ? resolved.environments.join(', ') : 'none'}); require_encrypted_secrets: ${resolved.requireEncryptedSecrets}`,
        ...(resolved.secrets.length > 0 ? [`# secrets, masked: ${resolved.secrets.map(describeSecret).join(', ')}`] : []),
        ...(overrides.length > 0 ? [`# overridden by environment variables: ${overrides.join(', ')}`] : []),
      ];
      const body = Object.keys(masked).length > 0 ? stringify(masked, { lineWidth: 0 }) : '';
      process.stdout.write(`${lines.join('\n')}\n${body}`);
    });

  addSecretCommands(program);
}
