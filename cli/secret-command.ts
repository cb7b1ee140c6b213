/**
 * `sluice secret …`: encrypt secrets for sluice.config.yaml and manage the master key.
 *
 * ```sh
 * sluice secret keygen                                   # .sluice/master.key, mode 0600
 * printf %s "$WAREHOUSE_URL" | sluice secret encrypt     # → enc:v1:1a2b3c4d:…  (or type it at the prompt)
 * sluice secret keygen --add                             # rotation: a new first key; the old ones still decrypt
 * sluice secret rotate                                   # re-encrypt every enc:v1 value of the config with it
 * sluice secret keys                                     # ids of the configured keys, the encrypting one first
 * ```
 *
 * The key comes from `SLUICE_MASTER_KEY` (one key, or several separated by commas), else the key file
 * `SLUICE_MASTER_KEY_FILE`, else `<state dir>/master.key`. A secret is never printed, only its ciphertext.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import type { Command } from 'commander';
import { ConfigError, UserError } from '../common/errors';
import { readEnv } from '../common/env';
import {
  decryptSecret,
  ENCRYPTED_VALUE_PATTERN,
  encryptedKeyId,
  encryptSecret,
  generateMasterKey,
  loadMasterKeys,
  masterKeyFilePath,
  parseMasterKeys,
  readMasterKeyFile,
  SecretDecryptError,
  type MasterKeyRing,
} from '../config/secrets';
import { loadConfig, resolveStateDir } from '../config/sluice-config';
import { globalOptions } from './cli-config';
import { withSecretStore } from './secrets-command';
import { promptHidden } from './prompt-hidden';

const keyOptions = () => {
  const projectDir = process.cwd();
  return { env: process.env, stateDir: resolveStateDir(projectDir, process.env), projectDir };
};

/** The configured keys, or ConfigError `NO_MASTER_KEY` saying how to make one. */
function requireKeys(): MasterKeyRing {
  const options = keyOptions();
  const ring = loadMasterKeys(options);
  if (!ring) {
    const file = path.relative(process.cwd(), masterKeyFilePath(options)) || masterKeyFilePath(options);
    throw new ConfigError('NO_MASTER_KEY', `no master key: set SLUICE_MASTER_KEY or SLUICE_MASTER_KEY_FILE, or create ${file} with \`sluice secret keygen\``);
  }
  return ring;
}

/** Writes a file atomically (temporary file + rename) with the given mode. */
function writePrivately(file: string, text: string, mode: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode });
  chmodSync(temporary, mode); // the umask may have narrowed it; never widened
  renameSync(temporary, file);
}

/** Adds `sluice secret encrypt|keygen|keys|rotate` to a program. */
export function addSecretCommands(program: Command): void {
  const secret = program.command('secret').description('encrypt secrets for sluice.config.yaml; create and rotate the master key');

  secret
    .command('encrypt')
    .description('read a secret from a prompt (on a terminal) or stdin and print it encrypted (enc:v1:…) with the master key')
    .action(async () => {
      const ring = requireKeys();
      let value: string;
      if (process.stdin.isTTY) {
        value = await promptHidden('secret (not echoed): ');
        if (value !== '' && (await promptHidden('again: ')) !== value) throw new UserError('SECRET_MISMATCH', 'the two entries differ; nothing was encrypted');
      } else {
        value = (await text(process.stdin)).replace(/\r?\n$/, '');
      }
      if (value === '') throw new UserError('EMPTY_SECRET', 'no secret given; type it at the prompt or pipe it: printf %s "$SECRET" | sluice secret encrypt');
      process.stdout.write(`${encryptSecret(value, ring)}\n`);
    });

  secret
    .command('keygen')
    .description('create a master key file (mode 0600); with --add, put a new key first in an existing one (rotation)')
    .option('--file <path>', 'key file (default: SLUICE_MASTER_KEY_FILE, else <state dir>/master.key)')
    .option('--add', 'add a new key before the existing ones: it encrypts from now on, the old keys still decrypt')
    .action((options: { file?: string; add?: boolean }) => {
      const file = options.file ? path.resolve(options.file) : masterKeyFilePath(keyOptions());
      const key = generateMasterKey();
      const id = parseMasterKeys(key, 'the new key').keys[0]!.id;
      const created = new Date().toISOString();
      if (existsSync(file)) {
        const existing = readMasterKeyFile(file);
        if (!options.add) {
          throw new ConfigError(
            'MASTER_KEY_FILE_EXISTS',
            `${file} already exists (keys ${existing.keys.map((k) => k.id).join(', ')}); to rotate, add a new key with \`sluice secret keygen --add\``,
          );
        }
        writePrivately(file, `# ${id} created ${created}\n${key}\n${readFileSync(file, 'utf8')}`, 0o600);
        process.stdout.write(
          `added key ${id} to ${file}: it encrypts from now on; ${existing.keys.map((k) => k.id).join(', ')} still decrypt.\n` +
            `next: \`sluice secret rotate\` re-encrypts the config with it; remove the old key lines once every process runs with the new config\n`,
        );
      } else {
        writePrivately(file, `# Sluice master key: the first key encrypts, every key decrypts. Keep this file private (mode 0600).\n# ${id} created ${created}\n${key}\n`, 0o600);
        process.stdout.write(`wrote key ${id} to ${file} (mode 0600)\n`);
      }
      if (readEnv('SLUICE_MASTER_KEY')) process.stderr.write('warning: SLUICE_MASTER_KEY is set and is used instead of any key file\n');
    });

  secret
    .command('keys')
    .description('list the ids of the configured master keys (the first encrypts) and where they come from')
    .action(() => {
      const ring = requireKeys();
      process.stdout.write(`${ring.source}\n${ring.keys.map((k, i) => `  ${k.id}${i === 0 ? '  (encrypts)' : ''}`).join('\n')}\n`);
    });

  secret
    .command('rotate')
    .description('re-encrypt every enc:v1 value of the config file (all environments), and every secret of the secrets store when a metadata database is configured, with the first master key, in place')
    .option('--dry-run', 'say what would change, write nothing')
    .action(async (options: { dryRun?: boolean }, command: Command) => {
      const explicit = globalOptions(command).config ?? readEnv('SLUICE_CONFIG');
      const file = path.resolve(explicit ?? 'sluice.config.yaml');
      // The secrets store, when this project has a metadata database: its values are enc:v1 too.
      const config = explicit && !existsSync(file) ? undefined : loadConfig({ configFile: explicit, environment: globalOptions(command).env, staleStack: 'ignore', onWarning: () => undefined });
      if (config?.databaseUrl) {
        const ring = requireKeys();
        const store = await withSecretStore(config, (s) => s.rotate({ dryRun: options.dryRun }));
        const primary = ring.keys[0]!.id;
        process.stdout.write(
          store.changed === 0
            ? `${store.total === 0 ? 'no secrets in the secrets store' : `all ${store.total} secrets of the secrets store already use key ${primary}`}\n`
            : `${options.dryRun ? 'would re-encrypt' : 're-encrypted'} ${store.changed} of ${store.total} secrets of the secrets store with key ${primary}\n`,
        );
        if (!existsSync(file)) return;
      }
      if (!existsSync(file)) throw new ConfigError('CONFIG_NOT_FOUND', `config file ${file} does not exist`);
      rotateConfigFile(file, options);
    });
}

/** Re-encrypts every `enc:v1` value of `file` not encrypted with the first key, in place (`sluice secret rotate`). */
function rotateConfigFile(file: string, options: { dryRun?: boolean }): void {
  const ring = requireKeys();
  const primary = ring.keys[0]!.id;
  const text = readFileSync(file, 'utf8');
  const problems: string[] = [];
  let total = 0;
  let changed = 0;
  const rotated = text.replace(ENCRYPTED_VALUE_PATTERN, (value: string, offset: number) => {
    total += 1;
    if (encryptedKeyId(value) === primary) return value;
    try {
      const plain = decryptSecret(value, ring);
      changed += 1;
      return encryptSecret(plain, ring);
    } catch (error) {
      if (!(error instanceof SecretDecryptError)) throw error;
      problems.push(`line ${text.slice(0, offset).split('\n').length}: ${error.message}`);
      return value;
    }
  });
  if (problems.length > 0) {
    throw new ConfigError('SECRET_DECRYPT_FAILED', [`${file}: nothing was re-encrypted:`, ...problems.map((p) => `  - ${p}`)].join('\n'), { details: { issues: problems } });
  }
  if (changed === 0) {
    process.stdout.write(`${total === 0 ? `no encrypted values in ${file}` : `all ${total} encrypted values in ${file} already use key ${primary}`}\n`);
    return;
  }
  if (!options.dryRun) writePrivately(file, rotated, statSync(file).mode & 0o777);
  process.stdout.write(`${options.dryRun ? 'would re-encrypt' : 're-encrypted'} ${changed} of ${total} encrypted values in ${file} with key ${primary}\n`);
}
