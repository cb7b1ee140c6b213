/**
 * Resolves connectors by name, inside the worker. Credentials come from the worker's own config
 * and never appear in workflow inputs, Temporal history, logs or the UI.
 *
 * A connector whose fields write `${secret:NAME}` (the secrets store, connectors/secret-store.ts) is built per
 * user: {@link ConnectorRegistry.sourceFor} / {@link ConnectorRegistry.targetFor} resolve each reference for the
 * user who started the run — inside the activity, never earlier — and keep one pool per resolved config.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Pool as MysqlPool } from 'mysql2/promise';
import type { Pool } from 'pg';
import { ConfigError } from '../common/errors';
import { parse } from 'yaml';
import { LIBPQ_PASSWORD, SECRET_REFERENCE } from '../config/secrets';
import { LOCAL_USER } from '../common/users';
import type { SecretResolver } from './secret-store';
import { resolveConfigFile, type ConnectorConfig, type S3ConnectorConfig, type SluiceConfig } from '../config/sluice-config';
import { createPool, type PoolLogger } from '../db/pg-pool';
import { postgresConnectorAccess, type MysqlAccess } from './access-errors';
import { scrubDetail, scrubSecrets } from './check';
import type { CheckOptions, CheckResult, SourceConnector, TargetConnector } from './connector';
import { LocalSource } from './local/local-source';
import { createMysqlPool } from './mysql/mysql-pool';
import { MysqlSource } from './mysql/mysql-source';
import { MysqlTarget } from './mysql/mysql-target';
import { PostgresSource } from './postgres/postgres-source';
import { PostgresTarget } from './postgres/postgres-target';
import { createS3Client } from './s3/s3-client';
import type { ConfiguredBucket, S3CheckSettings } from './s3/s3-check';
import { S3Source } from './s3/s3-source';
import { S3Target } from './s3/s3-target';
import { SftpSource } from './sftp/sftp-source';
import { checkSmtp } from './smtp/smtp-check';

/** Options of {@link ConnectorRegistry.check}. */
export interface ConnectorCheckOptions extends CheckOptions {
  /** `smtp`: send the test email to these addresses (none: verify only). */
  emailTo?: string[];
  /** `smtp`: the environment's name, for the test email's text. */
  environment?: string;
}

export class ConnectorRegistry {
  private readonly pools = new Map<string, Pool>();
  private readonly s3Clients = new Map<string, S3Client>();
  private readonly mysqlPools = new Map<string, MysqlPool>();
  /**
   * @param logger where a pool's dropped idle connections are logged.
   * @param secrets resolves `${secret:NAME}` (the worker's secrets store); without it such a connector cannot be used.
   */
  constructor(
    private readonly config: SluiceConfig,
    private readonly logger: PoolLogger,
    readonly secrets?: SecretResolver,
  ) {}

  /**
   * The values of secrets `names` for runs of `user` (a custom map's `ctx.secrets`), by name.
   * @throws UserError `SECRET_NOT_FOUND`; ConfigError `NO_DATABASE` when this registry has no secrets store.
   */
  async resolveSecrets(names: readonly string[], user: string = LOCAL_USER): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const name of names) out[name] = (await this.requireSecrets(name).resolve(user, name)).value;
    return out;
  }

  private requireSecrets(what: string): SecretResolver {
    if (!this.secrets) throw new ConfigError('NO_DATABASE', `${what} needs the secrets store (the metadata database), which this process has not opened`);
    return this.secrets;
  }

  /**
   * Connector `name`'s config with every `${secret:NAME}` resolved for `user`, and the key of its pools (the name,
   * plus a digest of the resolved config when it holds secrets). In a URL's text a value is percent-encoded.
   */
  private async resolvedConfig(name: string, user: string): Promise<{ config: ConnectorConfig; key: string }> {
    const config = this.connectorConfig(name);
    const references = secretReferences(config);
    if (references.length === 0) return { config, key: name };
    const secrets = this.requireSecrets(`connector "${name}" (\${secret:${references[0]}})`);
    const values = new Map<string, string>();
    for (const ref of references) values.set(ref, (await secrets.resolve(user, ref)).value);
    const resolved: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(config)) {
      if (typeof value !== 'string') {
        resolved[field] = value;
        continue;
      }
      const inUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(value);
      resolved[field] = value.replace(SECRET_REFERENCE, (_, ref: string) => (inUrl ? encodeURIComponent(values.get(ref)!) : values.get(ref)!));
    }
    const digest = createHash('sha256').update(JSON.stringify(resolved)).digest('hex').slice(0, 16);
    return { config: resolved as ConnectorConfig, key: `${name}#${digest}` };
  }

  /**
   * Connector `name` as a source for a run started by `user`: `${secret:NAME}` resolved for that user.
   * @throws as {@link source}; UserError `SECRET_NOT_FOUND`.
   */
  async sourceFor(name: string, user: string = LOCAL_USER): Promise<SourceConnector> {
    const { config, key } = await this.resolvedConfig(name, user);
    return this.sourceOf(name, config, key);
  }

  /**
   * Connector `name` as a target for a run started by `user`: `${secret:NAME}` resolved for that user.
   * @throws as {@link target}; UserError `SECRET_NOT_FOUND`.
   */
  async targetFor(name: string, user: string = LOCAL_USER): Promise<TargetConnector> {
    const { config, key } = await this.resolvedConfig(name, user);
    return this.targetOf(name, config, key);
  }

  /** A connector's config for a use without a user: one with `${secret:NAME}` is refused, naming the fix. */
  private unresolvedConfig(name: string): ConnectorConfig {
    const config = this.connectorConfig(name);
    const references = secretReferences(config);
    if (references.length > 0) {
      throw new ConfigError('INVALID_CONFIG', `connector "${name}" uses \${secret:${references[0]}}, which is resolved only inside a run, for the user who started it; it cannot be used here`, {
        details: { connector: name },
      });
    }
    return config;
  }

  /** Names of the configured connectors, sorted. */
  names(): string[] {
    return Object.keys(this.config.connectors).sort();
  }

  /**
   * @throws ConfigError `INVALID_CONFIG` for a connector whose `${env:NAME}` is unset here; `WORKER_CONFIG_STALE` for
   *   one the config file on disk has but this worker has not loaded; else `UNKNOWN_CONNECTOR`.
   */
  private connectorConfig(name: string): ConnectorConfig {
    const found = this.config.connectors[name];
    if (found) return found;
    const unavailable = this.config.unavailableConnectors?.[name];
    if (unavailable) {
      throw new ConfigError('INVALID_CONFIG', `connector "${name}" cannot be used by this worker (environment "${this.config.environment}"): ${unavailable.reason}; set it where the worker runs and restart the worker`, {
        details: { connector: name },
      });
    }
    const file = this.config.configFile;
    if (file && connectorInFile(file, this.config, name)) {
      throw new ConfigError(
        'WORKER_CONFIG_STALE',
        `connector "${name}" is in ${file} but this worker has not loaded it (it read the file before the connector was added, or the edited file is invalid: ` +
          `its log says why); restart the worker (sluice worker, or sluice dev). Connectors this worker has: ${this.names().join(', ') || '(none)'}`,
        { details: { connector: name, config_file: file } },
      );
    }
    throw new ConfigError('UNKNOWN_CONNECTOR', `no connector named "${name}"; configured connectors: ${this.names().join(', ') || '(none)'}`);
  }

  /** Closes and forgets the pools and clients of `names` (their config changed or they were removed); the next use opens new ones. */
  async forget(names: Iterable<string>): Promise<void> {
    const closing: Promise<unknown>[] = [];
    const wanted = new Set(names);
    const keys = new Set<string>();
    for (const map of [this.pools, this.s3Clients, this.mysqlPools] as Map<string, unknown>[]) {
      for (const key of map.keys()) if (wanted.has(key.split('#')[0]!)) keys.add(key);
    }
    for (const name of [...wanted, ...keys]) {
      const pool = this.pools.get(name);
      if (pool) closing.push(pool.end().catch(() => undefined));
      this.pools.delete(name);
      this.s3Clients.get(name)?.destroy();
      this.s3Clients.delete(name);
      const mysqlPool = this.mysqlPools.get(name);
      if (mysqlPool) closing.push(mysqlPool.end().catch(() => undefined));
      this.mysqlPools.delete(name);
    }
    await Promise.all(closing);
  }

  private pool(name: string, url: string | undefined, key = name): Pool {
    let pool = this.pools.get(key);
    if (!pool) {
      const connectionString = url ?? this.config.databaseUrl;
      if (!connectionString) {
        throw new ConfigError('NO_DATABASE', `connector "${name}" has no url and no metadata database is configured (set DATABASE_URL)`);
      }
      // An idle client's error (server restart) is logged, never thrown; the next query reconnects.
      pool = createPool({ connectionString, max: 4, application_name: `sluice:${name}` }, { label: `postgres connector "${name}"`, logger: this.logger });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** One S3 client per s3 connector, shared by its source and target. */
  private s3Client(name: string, config: S3ConnectorConfig, key = name): S3Client {
    let client = this.s3Clients.get(key);
    if (!client) {
      client = createS3Client(config, name);
      this.s3Clients.set(key, client);
    }
    return client;
  }

  /** One mysql2 pool per mysql connector, shared by its source and target. */
  private mysqlPool(name: string, url: string, key = name): { pool: MysqlPool; access: MysqlAccess } {
    let pool = this.mysqlPools.get(key);
    if (!pool) {
      pool = createMysqlPool(url, { label: `mysql connector "${name}"`, logger: this.logger });
      this.mysqlPools.set(key, pool);
    }
    return { pool, access: { kind: 'mysql', connector: name, url } };
  }

  /** What an s3 connector's check heads: the buckets config reaches through it (`staging.s3`, `data_store.s3`). */
  private s3CheckSettings(name: string, config: S3ConnectorConfig): S3CheckSettings {
    const buckets: ConfiguredBucket[] = [];
    const add = (location: { connector: string; bucket: string } | undefined, usedBy: string) => {
      if (location?.connector === name && !buckets.some((b) => b.bucket === location.bucket)) buckets.push({ bucket: location.bucket, usedBy });
    };
    add(this.config.staging?.s3, 'staging.s3');
    if (this.config.dataStore?.backend === 's3') add(this.config.dataStore.s3, 'data_store.s3');
    return { ...(config.endpoint ? { endpoint: config.endpoint } : {}), region: config.region, buckets, secrets: connectorSecrets(config) };
  }

  /**
   * Checks connector `name` through its own `check()`s: what `sluice test-connections` prints for it. A kind that is
   * both a source and a target is checked as a source (postgres, s3: the target's check is the same probe); mysql
   * then also as a target, whose failure is a note (the connector still works as a source); smtp verifies, and sends
   * a test email to `emailTo`. Never rejects; every secret of the connector is masked.
   * @throws ConfigError `UNKNOWN_CONNECTOR` (and the other errors of {@link source}) for a name it cannot check.
   */
  async check(name: string, options: ConnectorCheckOptions = {}): Promise<CheckResult> {
    const config = this.connectorConfig(name);
    const references = secretReferences(config);
    if (references.length > 0) {
      return { ok: false, reason: `uses \${secret:${references[0]}} of the secrets store, resolved only inside a run for the user who started it; not checked here`, code: 'INVALID_CONFIG' };
    }
    const secrets = connectorSecrets(config);
    const result = await this.checkKind(name, config, options);
    const detail = scrubDetail(result.detail, secrets);
    return { ...result, reason: scrubSecrets(result.reason, secrets), ...(detail ? { detail } : {}) };
  }

  private async checkKind(name: string, config: ConnectorConfig, options: ConnectorCheckOptions): Promise<CheckResult> {
    const { signal, timeoutMs } = options;
    switch (config.kind) {
      case 'postgres':
        if (!config.url && !this.config.databaseUrl) {
          return { ok: false, reason: `connectors.${name} has no url and no metadata database is configured — set connectors.${name}.url, or DATABASE_URL`, code: 'NO_DATABASE' };
        }
        return this.source(name).check({ signal, timeoutMs });
      case 'local':
      case 's3':
      case 'sftp':
        return this.source(name).check({ signal, timeoutMs });
      case 'mysql': {
        const source = await this.source(name).check({ signal, timeoutMs });
        if (!source.ok) return source;
        const target = await this.target(name).check({ signal, timeoutMs });
        return { ...source, reason: `${source.reason}; ${target.ok ? target.reason : `cannot be a target: ${target.reason}`}` };
      }
      case 'smtp':
        return checkSmtp(name, config, { signal, timeoutMs, to: options.emailTo ?? [], ...(options.environment ? { environment: options.environment } : {}) });
    }
  }

  /**
   * @throws ConfigError `UNKNOWN_CONNECTOR`, or `CONNECTOR_NOT_A_SOURCE` for kinds that cannot read.
   */
  source(name: string): SourceConnector {
    return this.sourceOf(name, this.unresolvedConfig(name), name);
  }

  private sourceOf(name: string, config: ConnectorConfig, key: string): SourceConnector {
    switch (config.kind) {
      case 'local':
        return new LocalSource(path.resolve(this.config.projectDir, config.root), name);
      case 'postgres':
        return new PostgresSource(this.pool(name, config.url, key), name, config.query, config.fetch_rows ?? 100_000, postgresConnectorAccess(name, config.url, this.config.databaseUrl ?? ''));
      case 's3':
        return new S3Source(this.s3Client(name, config, key), name, this.s3CheckSettings(name, config));
      case 'sftp':
        return new SftpSource(config, name, this.config.projectDir, this.logger);
      case 'mysql': {
        const { pool, access } = this.mysqlPool(name, config.url, key);
        return new MysqlSource(pool, name, config.query, access);
      }
      case 'smtp':
        throw new ConfigError('CONNECTOR_NOT_A_SOURCE', `connector "${name}" (kind smtp) sends email; it cannot be a source`);
    }
  }

  /**
   * @throws ConfigError `UNKNOWN_CONNECTOR`, or `CONNECTOR_NOT_A_TARGET` for kinds that cannot be loaded into.
   */
  target(name: string): TargetConnector {
    return this.targetOf(name, this.unresolvedConfig(name), name);
  }

  private targetOf(name: string, config: ConnectorConfig, key: string): TargetConnector {
    switch (config.kind) {
      case 'postgres':
        return new PostgresTarget(this.pool(name, config.url, key), name, postgresConnectorAccess(name, config.url, this.config.databaseUrl ?? ''), {
          binaryCopy: config.copy_format !== 'csv',
        });
      case 'local':
        throw new ConfigError('CONNECTOR_NOT_A_TARGET', `connector "${name}" (kind local) cannot be a target yet; use a postgres connector`);
      case 's3':
        return new S3Target(this.s3Client(name, config, key), name, { check: this.s3CheckSettings(name, config) });
      case 'sftp':
        throw new ConfigError('CONNECTOR_NOT_A_TARGET', `connector "${name}" (kind sftp) is a source only; load into a postgres or s3 connector`);
      case 'mysql': {
        const { pool, access } = this.mysqlPool(name, config.url, key);
        return new MysqlTarget(pool, name, access);
      }
      case 'smtp':
        throw new ConfigError('CONNECTOR_NOT_A_TARGET', `connector "${name}" (kind smtp) sends email; it cannot be a target`);
    }
  }

  /** Ends every pool this registry opened. */
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.end().catch(() => undefined)));
    this.pools.clear();
    await Promise.all([...this.mysqlPools.values()].map((pool) => pool.end().catch(() => undefined)));
    this.mysqlPools.clear();
    for (const client of this.s3Clients.values()) client.destroy();
    this.s3Clients.clear();
  }
}

/** The names of the secrets a connector config refers to as `${secret:NAME}`, in order, each once. */
export function secretReferences(config: ConnectorConfig): string[] {
  const names = new Set<string>();
  for (const value of Object.values(config)) {
    if (typeof value === 'string') for (const match of value.matchAll(SECRET_REFERENCE)) names.add(match[1]!);
  }
  return [...names];
}

/** The secret values of one connector config (URL passwords raw and decoded, keys, passwords): what its check masks. */
export function connectorSecrets(config: ConnectorConfig): string[] {
  const values: string[] = [];
  const fromUrl = (url: string | undefined) => {
    if (!url) return;
    try {
      const password = new URL(url).password;
      if (password) values.push(password, decodeURIComponent(password));
    } catch {
      const password = LIBPQ_PASSWORD.exec(url)?.[2];
      if (password) values.push(password.replace(/^'|'$/g, ''));
    }
  };
  switch (config.kind) {
    case 'postgres':
    case 'mysql':
      fromUrl(config.url);
      break;
    case 's3':
      for (const value of [config.access_key_id, config.secret_access_key, config.session_token]) if (value) values.push(value);
      break;
    case 'smtp':
      if (config.password) values.push(config.password);
      break;
    case 'sftp':
      for (const value of [config.password, config.private_key, config.passphrase]) if (value) values.push(value);
      break;
    case 'local':
      break;
  }
  return values;
}

/** The secret values of a connection URL (its password, raw and decoded): what a check of it masks. */
export function urlSecrets(url: string | undefined): string[] {
  return connectorSecrets({ kind: 'postgres', ...(url ? { url } : {}) } as ConnectorConfig);
}

/**
 * Whether the config file on disk defines connector `name` for the config's environment: validated when it can be,
 * else (an invalid file) by its raw YAML (`connectors.<name>` or `environments.<env>.connectors.<name>`).
 */
function connectorInFile(file: string, config: SluiceConfig, name: string): boolean {
  try {
    const resolved = resolveConfigFile({ projectDir: config.projectDir, configFile: file, environment: config.environment, secrets: 'keep' });
    return name in (resolved.file.connectors ?? {}) || name in resolved.unavailableConnectors;
  } catch {
    try {
      const doc = parse(readFileSync(file, 'utf8')) as { connectors?: Record<string, unknown>; environments?: Record<string, { connectors?: Record<string, unknown> } | null> } | null;
      return Boolean(doc?.connectors?.[name] ?? doc?.environments?.[config.environment]?.connectors?.[name]);
    } catch {
      return false;
    }
  }
}
