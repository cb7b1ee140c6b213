/**
 * `sluice secrets …`: the secrets store (connectors/secret-store.ts) from the command line, acting as the CLI's user
 * (`--user <name>`, else `SLUICE_USER`, else the config's `user:`, else `local`).
 *
 * ```sh
 * printf %s "$PW" | sluice secrets set WAREHOUSE_PW --org         # an org-level secret (or type it at the prompt)
 * printf %s "$MY_PW" | sluice secrets set WAREHOUSE_PW --user     # the acting user's own, used before the org's
 * sluice secrets list [--json]                                     # names, scopes, owners, times; never values
 * sluice secrets rm WAREHOUSE_PW --user ana                        # ana's own
 * ```
 *
 * A value is never an argument (it would stay in the shell history and `ps`): it comes from stdin or a prompt that
 * does not echo. The CLI acts with role admin: whoever runs it holds the metadata database's URL and the master key,
 * which is all the store is (docs/secrets.md says so).
 */
import { text } from 'node:stream/consumers';
import type { Command } from 'commander';
import { InvalidRequestError, UserError } from '../common/errors';
import { createLogger } from '../common/logger';
import type { Actor } from '../common/users';
import { loadMasterKeys } from '../config/secrets';
import { requireDatabaseUrl, type SluiceConfig } from '../config/sluice-config';
import { SecretStore, secretJson, type SecretScope } from '../connectors/secret-store';
import { migrate } from '../db/migrations';
import { createPool } from '../db/pg-pool';
import { actingUser, configFrom } from './cli-config';
import { promptHidden } from './prompt-hidden';

interface ScopeOptions {
  org?: boolean;
  user?: string | boolean;
}

/** The one scope `--org` / `--user` names. @throws InvalidRequestError `INVALID_SECRET_SCOPE`. */
function scopeOf(options: ScopeOptions): SecretScope {
  const user = options.user !== undefined && options.user !== false;
  if (options.org && user) throw new InvalidRequestError('INVALID_SECRET_SCOPE', 'give either --org or --user, not both');
  if (!options.org && !user) throw new InvalidRequestError('INVALID_SECRET_SCOPE', 'give exactly one scope: --org (every user\'s runs; admins) or --user (your own, used before the org\'s)');
  return options.org ? 'org' : 'user';
}

/** Opens the metadata database's secrets store for the command's acting user (role admin), runs `body`, closes it. */
export async function withSecretStore<T>(config: SluiceConfig, body: (store: SecretStore) => Promise<T>): Promise<T> {
  const pool = createPool({ connectionString: requireDatabaseUrl(config), max: 1 }, { label: 'the metadata database', logger: createLogger('sluice-cli', 'warn') });
  try {
    await migrate(pool);
    return await body(new SecretStore(pool, () => loadMasterKeys({ env: process.env, stateDir: config.stateDir, projectDir: config.projectDir })));
  } finally {
    await pool.end();
  }
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Adds `sluice secrets set|list|rm` to a program. */
export function addSecretsCommands(program: Command): void {
  const secrets = program.command('secrets').description("the secrets store: org-level and user-level secrets that runs resolve as ${secret:NAME}; values are write-only");
  const actor = (command: Command, config: SluiceConfig): Actor => ({ user: actingUser(command, config), role: 'admin' });

  secrets
    .command('set')
    .description('set a secret from stdin or a prompt (never an argument): --org for every user, --user for your own')
    .argument('<name>', 'secret name, as ${secret:NAME} writes it')
    .option('--org', 'an org-level secret (every user\'s runs use it unless they have their own)')
    .option('--user [name]', 'a user-level secret of the acting user (or of <name>)')
    .action(async (name: string, options: ScopeOptions, command: Command) => {
      const scope = scopeOf(options);
      const config = configFrom(command);
      const who = actor(command, config);
      let value: string;
      if (process.stdin.isTTY) {
        value = await promptHidden(`value of ${name} (not echoed): `);
        if (value !== '' && (await promptHidden('again: ')) !== value) throw new UserError('SECRET_MISMATCH', 'the two entries differ; nothing was set');
      } else {
        value = (await text(process.stdin)).replace(/\r?\n$/, '');
      }
      if (value === '') throw new UserError('EMPTY_SECRET', `no value given; type it at the prompt or pipe it: printf %s "$VALUE" | sluice secrets set ${name} --${scope}`);
      const { created } = await withSecretStore(config, (store) => store.set(who, scope, name, value));
      print(`${created ? 'set' : 'replaced'} ${scope === 'org' ? 'org-level' : `user-level (user ${who.user})`} secret ${name}`);
    });

  secrets
    .command('list')
    .description("the org's secrets and the acting user's own: name, scope, owner, created/updated, who changed it — never values")
    .option('--user <name>', 'list as this user')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = configFrom(command);
      const entries = await withSecretStore(config, (store) => store.list(actor(command, config)));
      if (options.json) return print(JSON.stringify(entries.map(secretJson)));
      if (entries.length === 0) return print('no secrets; set one with: printf %s "$VALUE" | sluice secrets set NAME --org (or --user)');
      const rows = entries.map((e) => [e.name, e.scope, e.owner ?? '-', e.createdAt.toISOString(), e.updatedAt.toISOString(), e.updatedBy]);
      const header = ['NAME', 'SCOPE', 'OWNER', 'CREATED', 'UPDATED', 'UPDATED_BY'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const row of [header, ...rows]) print(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
    });

  secrets
    .command('rm')
    .description('delete a secret: --org (admins) or --user (your own)')
    .argument('<name>', 'secret name')
    .option('--org', 'the org-level secret')
    .option('--user [name]', 'the acting user\'s own (or <name>\'s)')
    .action(async (name: string, options: ScopeOptions, command: Command) => {
      const scope = scopeOf(options);
      const config = configFrom(command);
      const who = actor(command, config);
      await withSecretStore(config, (store) => store.remove(who, scope, name));
      print(`deleted ${scope === 'org' ? 'org-level' : `user-level (user ${who.user})`} secret ${name}`);
    });
}
