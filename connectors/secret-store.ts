/**
 * The secrets store: credentials a team shares without seeing them, in the metadata database (`sluice.secrets`).
 *
 * - **org-level** secrets are written by admins and resolve for every user's runs;
 * - **user-level** secrets belong to one user and resolve only for that user's runs, before an org-level one of
 *   the same name.
 *
 * Each value is stored as an `enc:v1` envelope (AES-256-GCM with the master key, config/secrets.ts), so a database
 * dump alone reveals nothing. Values are write-only: {@link SecretStore.list} gives names, scopes, owners and times,
 * never values; only {@link SecretStore.resolve} (inside an activity, for the user who started the run) decrypts.
 *
 * @example
 * ```ts
 * const store = new SecretStore(pool, () => loadMasterKeys({ env: process.env, stateDir: '.sluice' }));
 * await store.set({ user: 'ana', role: 'admin' }, 'org', 'WAREHOUSE_PW', 's3cret');
 * await store.set({ user: 'ben', role: 'member' }, 'user', 'WAREHOUSE_PW', 'bens-own');
 * (await store.resolve('ben', 'WAREHOUSE_PW')).scope;   // 'user'
 * (await store.resolve('cleo', 'WAREHOUSE_PW')).scope;  // 'org'
 * await store.list({ user: 'ben', role: 'member' });      // [{ name: 'WAREHOUSE_PW', scope: 'org', … }, { …, scope: 'user', owner: 'ben' }]
 * ```
 */
import type { Pool } from 'pg';
import { ConfigError, InvalidRequestError, UserError } from '../common/errors';
import type { Actor } from '../common/users';
import { registerSecretValue } from '../common/redaction';
import { decryptSecret, encryptedKeyId, encryptSecret, SECRET_NAME, type MasterKeyRing } from '../config/secrets';

/** Where a secret lives: `org` (every user's runs) or `user` (its owner's runs only). */
export type SecretScope = 'org' | 'user';
export const SECRET_SCOPES: readonly SecretScope[] = ['org', 'user'];

/** A secret as it may be shown: everything but its value. */
export interface SecretEntry {
  name: string;
  scope: SecretScope;
  /** The owning user of a user-level secret; null for an org-level one. */
  owner: string | null;
  createdAt: Date;
  createdBy: string;
  updatedAt: Date;
  /** Who last set it. */
  updatedBy: string;
}

/** The largest value accepted, in bytes of UTF-8. */
export const MAX_SECRET_BYTES = 65_536;

/**
 * `name` when it is a secret name (what `${secret:NAME}` accepts: a letter or `_`, then letters, digits or `_`; at most 128).
 * @throws InvalidRequestError `INVALID_SECRET_NAME`.
 */
export function parseSecretName(name: string): string {
  if (name.length <= 128 && SECRET_NAME.test(name)) return name;
  throw new InvalidRequestError('INVALID_SECRET_NAME', `"${name}" is not a secret name: a letter or "_" followed by letters, digits or "_", at most 128 characters (it is written \${secret:${'NAME'}} in config)`);
}

/** Resolves `${secret:NAME}` for a user: what the connector registry and custom maps need. */
export interface SecretResolver {
  /**
   * The value of secret `name` for runs of `user`: their user-level secret, else the org-level one.
   * @throws UserError `SECRET_NOT_FOUND` naming the secret and the scopes looked in (never a value).
   */
  resolve(user: string, name: string): Promise<{ value: string; scope: SecretScope }>;
}

interface SecretRow {
  name: string;
  scope: SecretScope;
  owner: string;
  value: string;
  created_at: Date;
  created_by: string;
  updated_at: Date;
  updated_by: string;
}

/** A secret as the API and `sluice secrets list --json` show it: snake_case, never its value. */
export function secretJson(entry: SecretEntry) {
  return {
    name: entry.name,
    scope: entry.scope,
    owner: entry.owner,
    created_at: entry.createdAt.toISOString(),
    created_by: entry.createdBy,
    updated_at: entry.updatedAt.toISOString(),
    updated_by: entry.updatedBy,
  };
}

const entryOf = (row: SecretRow): SecretEntry => ({
  name: row.name,
  scope: row.scope,
  owner: row.scope === 'user' ? row.owner : null,
  createdAt: row.created_at,
  createdBy: row.created_by,
  updatedAt: row.updated_at,
  updatedBy: row.updated_by,
});

export class SecretStore implements SecretResolver {
  /**
   * @param pool the metadata database, migrated.
   * @param keys the master key ring, read when needed (so a rotated key file is picked up); null when none is configured.
   */
  constructor(
    private readonly pool: Pool,
    private readonly keys: () => MasterKeyRing | null,
  ) {}

  /** @throws ConfigError `NO_MASTER_KEY`. */
  private ring(): MasterKeyRing {
    const ring = this.keys();
    if (!ring) {
      throw new ConfigError('NO_MASTER_KEY', 'the secrets store needs the master key: set SLUICE_MASTER_KEY or SLUICE_MASTER_KEY_FILE, or create .sluice/master.key with `sluice secret keygen`');
    }
    return ring;
  }

  /** The owner column of a scope for an actor: '' for org, the actor's user for user. */
  private static owner(actor: Actor, scope: SecretScope): string {
    return scope === 'org' ? '' : actor.user;
  }

  /** @throws UserError `ADMIN_REQUIRED` when a member writes an org-level secret. */
  private static mayWrite(actor: Actor, scope: SecretScope, what: string): void {
    if (scope === 'org' && actor.role !== 'admin') {
      throw new UserError('ADMIN_REQUIRED', `${what} org-level secrets needs role admin; user "${actor.user}" is a ${actor.role}. Set a user-level secret instead (scope user), or ask an admin`, {
        details: { user: actor.user, role: actor.role },
      });
    }
  }

  /**
   * Sets secret `name` in `scope` (the actor's own for `user`) to `value`, encrypted with the first master key.
   * @returns whether it was created (false: replaced) and its entry.
   * @throws InvalidRequestError `INVALID_SECRET_NAME`, `EMPTY_SECRET` (empty or above {@link MAX_SECRET_BYTES});
   *   UserError `ADMIN_REQUIRED` (a member writing org); ConfigError `NO_MASTER_KEY`.
   */
  async set(actor: Actor, scope: SecretScope, name: string, value: string): Promise<{ created: boolean; entry: SecretEntry }> {
    parseSecretName(name);
    SecretStore.mayWrite(actor, scope, 'writing');
    if (value === '' || Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES) {
      throw new InvalidRequestError('EMPTY_SECRET', value === '' ? `no value given for secret ${name}` : `the value of secret ${name} is larger than ${MAX_SECRET_BYTES} bytes`);
    }
    const encrypted = encryptSecret(value, this.ring());
    const { rows } = await this.pool.query<SecretRow & { inserted: boolean }>(
      `INSERT INTO sluice.secrets (scope, owner, name, value, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $5)
       ON CONFLICT (scope, owner, name) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = EXCLUDED.updated_by
       RETURNING scope, owner, name, created_at, created_by, updated_at, updated_by, (xmax = 0) AS inserted`,
      [scope, SecretStore.owner(actor, scope), name, encrypted, actor.user],
    );
    return { created: rows[0]!.inserted, entry: entryOf(rows[0]!) };
  }

  /**
   * What `actor` may see: the names of every org-level secret and of the actor's own user-level ones (never another
   * user's, whatever the role), sorted by name then scope. Never values.
   */
  async list(actor: Actor): Promise<SecretEntry[]> {
    const { rows } = await this.pool.query<SecretRow>(
      `SELECT scope, owner, name, created_at, created_by, updated_at, updated_by FROM sluice.secrets
       WHERE scope = 'org' OR (scope = 'user' AND owner = $1) ORDER BY name, scope`,
      [actor.user],
    );
    return rows.map(entryOf);
  }

  /**
   * Deletes secret `name` of `scope` (the actor's own for `user`).
   * @throws UserError `ADMIN_REQUIRED` (a member deleting org), `SECRET_NOT_FOUND`; InvalidRequestError `INVALID_SECRET_NAME`.
   */
  async remove(actor: Actor, scope: SecretScope, name: string): Promise<void> {
    parseSecretName(name);
    SecretStore.mayWrite(actor, scope, 'deleting');
    const { rowCount } = await this.pool.query('DELETE FROM sluice.secrets WHERE scope = $1 AND owner = $2 AND name = $3', [scope, SecretStore.owner(actor, scope), name]);
    if (rowCount === 0) {
      throw new UserError('SECRET_NOT_FOUND', `no ${scope === 'org' ? 'org-level' : `user-level (user "${actor.user}")`} secret named ${name}`, { details: { name, scope } });
    }
  }

  /**
   * The value of `name` for runs of `user`: the user-level secret, else the org-level one. The value is registered
   * for redaction (common/redaction.ts) before it is returned.
   * @throws UserError `SECRET_NOT_FOUND` naming the secret, the user and the scopes looked in; ConfigError
   *   `NO_MASTER_KEY`, `SECRET_DECRYPT_FAILED` (the key it was encrypted with is not configured).
   */
  async resolve(user: string, name: string): Promise<{ value: string; scope: SecretScope }> {
    const { rows } = await this.pool.query<Pick<SecretRow, 'scope' | 'value'>>(
      `SELECT scope, value FROM sluice.secrets WHERE name = $1 AND ((scope = 'user' AND owner = $2) OR scope = 'org')
       ORDER BY CASE scope WHEN 'user' THEN 0 ELSE 1 END LIMIT 1`,
      [name, user],
    );
    const row = rows[0];
    if (!row) {
      throw new UserError(
        'SECRET_NOT_FOUND',
        `secret ${name} is not set for user "${user}": looked in the user-level secrets of "${user}", then the org-level secrets. ` +
          `Set it with \`sluice secrets set ${name} --user\` (as ${user}) or, as an admin, \`sluice secrets set ${name} --org\``,
        { details: { name, user, scopes: ['user', 'org'] } },
      );
    }
    const value = decryptSecret(row.value, this.ring());
    registerSecretValue(value);
    return { value, scope: row.scope };
  }

  /**
   * Re-encrypts every stored secret not encrypted with the first master key (key rotation), each row in place.
   * @returns how many there are and how many were re-encrypted.
   * @throws ConfigError `NO_MASTER_KEY`; `SECRET_DECRYPT_FAILED` naming the secrets whose key is missing (nothing is changed then).
   */
  async rotate(options: { dryRun?: boolean } = {}): Promise<{ total: number; changed: number }> {
    const ring = this.ring();
    const primary = ring.keys[0]!.id;
    const client = await this.pool.connect();
    client.on('error', () => undefined);
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<SecretRow>('SELECT scope, owner, name, value FROM sluice.secrets ORDER BY scope, owner, name FOR UPDATE');
      const problems: string[] = [];
      const updates: { row: SecretRow; value: string }[] = [];
      for (const row of rows) {
        if (encryptedKeyId(row.value) === primary) continue;
        try {
          updates.push({ row, value: encryptSecret(decryptSecret(row.value, ring), ring) });
        } catch (error) {
          problems.push(`${row.scope === 'org' ? 'org' : `user ${row.owner}`} secret ${row.name}: ${(error as Error).message}`);
        }
      }
      if (problems.length > 0) {
        throw new ConfigError('SECRET_DECRYPT_FAILED', ['the secrets store: nothing was re-encrypted:', ...problems.map((p) => `  - ${p}`)].join('\n'), { details: { issues: problems } });
      }
      if (!options.dryRun) {
        for (const { row, value } of updates) {
          await client.query('UPDATE sluice.secrets SET value = $4 WHERE scope = $1 AND owner = $2 AND name = $3', [row.scope, row.owner, row.name, value]);
        }
      }
      await client.query('COMMIT');
      return { total: rows.length, changed: updates.length };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
