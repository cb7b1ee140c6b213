/**
 * Sluice's configuration: connectors by name, the metadata database, Temporal, staging.
 *
 * Read from `sluice.config.yaml` in the project dir (or `--config` / `SLUICE_CONFIG`), validated with
 * zod (every problem at once, with its path). Strings may reference environment variables as
 * `${env:NAME}`. With no config file Sluice provides two connectors: `files` (local, rooted at the
 * project dir) and `warehouse` (the metadata Postgres).
 *
 * One file serves every environment: an `environments.<name>` block is merged over the top-level keys
 * (config/environments.ts), chosen with `--env/-e` or `SLUICE_ENV` (@default `dev`). Secret fields (marked
 * with `secret(…)`, config/secrets.ts) may be `enc:v1:…` values, decrypted here at load with the master key;
 * plain-text secrets are refused where `require_encrypted_secrets` holds (every environment but `dev` by
 * default). docs/configuration.md has the whole story.
 *
 * @example sluice.config.yaml
 * ```yaml
 * connectors:
 *   files:     { kind: local, root: ./data }
 *   warehouse: { kind: postgres, url: "${env:WAREHOUSE_URL}" }
 *   erp:       { kind: postgres, url: "${env:ERP_URL}", query: "SELECT * FROM invoices WHERE batch_id = :source_path" }
 * ```
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { msToNumber, type Duration } from '@temporalio/common';
import { ConfigError } from '../common/errors';
import { USER_ROLES, userNameSchema, type Actor } from '../common/users';
import { DEFAULT_CHUNK_ROWS, readEnv, readEnvCount, type EnvName } from '../common/env';
import { readStackFile as readLocalStackFile, staleStackError } from './stack-file';
import { DEFAULT_ENVIRONMENT, requiresEncryptedSecrets, selectEnvironment, taskQueueFor, unknownEnvironment } from './environments';
import {
  decryptSecret,
  encryptedKeyId,
  ENV_REFERENCE,
  findSecretFields,
  isEncrypted,
  loadMasterKeys,
  plainTextSecret,
  secret,
  SecretDecryptError,
  type MasterKeyRing,
  type SecretKind,
} from './secrets';

const localConnectorSchema = z.strictObject({
  kind: z.literal('local'),
  /** Folder every source_path is resolved under; relative to the project dir. */
  root: z.string().min(1).default('.'),
});

const postgresConnectorSchema = z.strictObject({
  kind: z.literal('postgres'),
  /** Connection URL; when absent, the metadata database. Secret: its password is masked, and must be encrypted where required. */
  url: secret(z.string().min(1), 'url').optional(),
  /** Source query; `:source_path` is bound as a parameter, never interpolated. */
  query: z.string().min(1).optional(),
  /** Rows per staged chunk when reading. @default 100000 */
  fetch_rows: z.number().int().positive().optional(),
  /**
   * How a load feeds COPY: `auto` sends mapped rows in PostgreSQL's binary format when every target column has
   * the type Sluice creates, else CSV; `csv` always CSV (a server that speaks the protocol but not binary COPY).
   * @default auto
   */
  copy_format: z.enum(['auto', 'csv']).optional(),
});

/** A MySQL or MariaDB database (connectors/mysql/): a query source and a `LOAD DATA LOCAL INFILE` target. */
const mysqlConnectorSchema = z.strictObject({
  kind: z.literal('mysql'),
  /** Connection URL, `mysql://user:password@host:3306/database`. Secret: its password is masked, and must be encrypted where required. */
  url: secret(z.string().min(1), 'url'),
  /** Source query; `:source_path` is bound as a parameter, never interpolated. */
  query: z.string().min(1).optional(),
});

const s3ConnectorSchema = z.strictObject({
  kind: z.literal('s3'),
  /** Endpoint of an S3-compatible store (MinIO, versitygw, …); absent for AWS S3. */
  endpoint: z.string().url().optional(),
  region: z.string().min(1).default('us-east-1'),
  /** Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible stores. */
  force_path_style: z.boolean().default(false),
  /** Credentials; when absent, the AWS SDK's default chain (env, profile, instance role). */
  access_key_id: secret(z.string().min(1)).optional(),
  secret_access_key: secret(z.string().min(1)).optional(),
  session_token: secret(z.string().min(1)).optional(),
});

/** An SMTP server Sluice sends email through (the error email of pipelines; `sluice test-connections`). */
const smtpConnectorSchema = z.strictObject({
  kind: z.literal('smtp'),
  host: z.string().min(1),
  /** @default 587 (465 with `secure: true`) */
  port: z.number().int().min(1).max(65535).optional(),
  /** Implicit TLS from the first byte (port 465). Otherwise STARTTLS is used when the server offers it. @default false */
  secure: z.boolean().default(false),
  user: z.string().min(1).optional(),
  password: secret(z.string().min(1)).optional(),
  /** The sender, e.g. `"Sluice <etl@example.com>"`. */
  from: z.string().min(3),
  /** Refuse servers whose TLS certificate does not verify. @default true */
  tls_reject_unauthorized: z.boolean().default(true),
  /** Give up connecting after this many ms. @default 10000 */
  timeout_ms: z.number().int().positive().default(10_000),
});

/** `host_key` value that turns host key pinning off (logged as a warning at every connect). */
export const SFTP_INSECURE_HOST_KEY = 'insecure-accept-any';

/**
 * An SFTP server (OpenSSH or any SSH-2 SFTP server) whose files are sources; see docs/connectors.md "sftp".
 * The host key is pinned: `host_key` is required (its SHA256 fingerprint, `SHA256:…` as `ssh-keygen -lf` prints it).
 */
const sftpConnectorSchema = z
  .strictObject({
    kind: z.literal('sftp'),
    host: z.string().min(1),
    /** @default 22 */
    port: z.number().int().min(1).max(65535).default(22),
    username: z.string().min(1),
    /** Password authentication. Secret. */
    password: secret(z.string().min(1)).optional(),
    /** The private key's text (OpenSSH or PEM), e.g. `${env:PARTNER_SFTP_KEY}`. Secret. */
    private_key: secret(z.string().min(1)).optional(),
    /** A file holding the private key, relative to the project dir (the file is the secret; the path is not). */
    private_key_file: z.string().min(1).optional(),
    /** The private key's passphrase. Secret. */
    passphrase: secret(z.string().min(1)).optional(),
    /** Remote folder every source_path is resolved under (absolute, or relative to the login folder). @default `.` */
    root: z.string().min(1).default('.'),
    /** The server's host key fingerprint, `SHA256:…`; `insecure-accept-any` accepts any key (not for production). */
    host_key: z
      .string({ error: "host_key is required: the server's SHA256 host key fingerprint, e.g. from `ssh-keyscan -p PORT HOST | ssh-keygen -lf -` (or insecure-accept-any, not for production)" })
      .regex(/^(SHA256:[A-Za-z0-9+/]{43}=?|insecure-accept-any)$/, 'expected SHA256:<43 base64 characters> as `ssh-keygen -lf` prints it, or insecure-accept-any'),
    /** Give up connecting (TCP, handshake, authentication) after this many ms. @default 10000 */
    timeout_ms: z.number().int().positive().default(10_000),
    /** After a run loaded a file (SUCCEEDED or PARTIAL_FAILED), move it on the server. */
    after_load: z
      .strictObject({
        /** Folder under the root to move the file into; `{date}` is the run's start day (UTC, YYYY-MM-DD). */
        move_to: z.string().min(1),
      })
      .optional(),
  })
  .refine((c) => c.password !== undefined || c.private_key !== undefined || c.private_key_file !== undefined, {
    message: 'set password, private_key or private_key_file (secrets: use ${env:NAME} or an encrypted value)',
    path: ['password'],
  });
export type SftpConnectorConfig = z.infer<typeof sftpConnectorSchema>;

const connectorSchema = z.discriminatedUnion('kind', [localConnectorSchema, postgresConnectorSchema, s3ConnectorSchema, smtpConnectorSchema, sftpConnectorSchema, mysqlConnectorSchema]);
export type SmtpConnectorConfig = z.infer<typeof smtpConnectorSchema>;
export type LocalConnectorConfig = z.infer<typeof localConnectorSchema>;
export type PostgresConnectorConfig = z.infer<typeof postgresConnectorSchema>;
export type S3ConnectorConfig = z.infer<typeof s3ConnectorSchema>;
export type MysqlConnectorConfig = z.infer<typeof mysqlConnectorSchema>;

/** An S3 location: a bucket and key prefix, reached through an `s3` connector. */
const s3LocationSchema = z.strictObject({
  connector: z.string().min(1),
  bucket: z.string().min(3),
  prefix: z.string().default(''),
});
export type S3Location = z.infer<typeof s3LocationSchema>;
export type ConnectorConfig = z.infer<typeof connectorSchema>;

/** What a gateway API token may do. */
export const API_SCOPES = ['runs:read', 'runs:write', 'webhooks:read', 'webhooks:write', 'secrets:read', 'secrets:write'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/**
 * One gateway API token: a name for logs, the hex sha256 of the secret, what it may do, and the user it belongs to
 * (who starts its runs and owns its user-level secrets and `data.user`) with that user's role.
 */
const gatewayTokenSchema = z.strictObject({
  name: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be the 64-character lower-case hex digest of the token (sluice token hash)'),
  scopes: z.array(z.enum(API_SCOPES)).min(1),
  /** The user the token belongs to. @default the token's `name` */
  user: userNameSchema.optional(),
  /** `admin` may write org-level secrets; `member` may not. @default member */
  role: z.enum(USER_ROLES).optional(),
});
/** A token as config gives it; {@link tokenActor} says whose it is. */
export type GatewayToken = z.infer<typeof gatewayTokenSchema>;

/** The user and role of a gateway token (`user` defaults to the token's name, `role` to member). */
export function tokenActor(token: GatewayToken): Actor {
  return { user: token.user ?? token.name, role: token.role ?? 'member' };
}

/** A duration as Temporal and the `ms` package read it: `"500ms"`, `"5s"`, `"5m"`, `"2h"`, `"5d"`, or a number of ms. */
const durationSchema = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  try {
    const ms = msToNumber(value as Duration);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  } catch {
    // reported below
  }
  ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration; write e.g. "500ms", "5s", "5m", "2h", "5d" or a number of milliseconds` });
  return z.NEVER;
});

/**
 * Webhook deliveries. Defaults follow the Standard Webhooks recommendations: attempts immediately, then after
 * 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; a 15 s timeout per attempt; an endpoint failing for 5 days is disabled.
 */
const webhooksSchema = z.strictObject({
  /** Delay before each attempt, the first included (usually 0). Its length is the number of attempts. */
  retry_schedule: z.array(durationSchema).min(1).max(50).optional(),
  /** Time allowed per attempt: connect, send, and receive the response status. @default 15s */
  timeout: durationSchema.optional(),
  /** An endpoint whose deliveries have failed without a success for this long is disabled. @default 5d */
  disable_after: durationSchema.optional(),
  /** How long the previous secret keeps signing after `rotate-secret`. @default 24h */
  secret_overlap: durationSchema.optional(),
  /** Accept `http://` URLs (development only; production endpoints must be https). @default false */
  allow_http: z.boolean().optional(),
  /**
   * Hosts and address ranges that may be private (loopback, RFC 1918, link-local…): host names (`localhost`,
   * `receiver.internal`), addresses (`127.0.0.1`, `::1`) or CIDR ranges (`10.0.0.0/8`). Everything else must resolve to public addresses.
   */
  allowlist: z.array(z.string().min(1)).optional(),
});

/** The webhook delivery settings, in milliseconds, with defaults applied. */
export interface WebhookSettings {
  retryScheduleMs: number[];
  timeoutMs: number;
  disableAfterMs: number;
  secretOverlapMs: number;
  allowHttp: boolean;
  allowlist: string[];
}

/**
 * `staging.hold_max_bytes` when the file does not set it: 64 MiB. A held CSV takes ~2.5× its bytes in memory on top
 * of the pass's own working set: the bench's 51 MiB, 1,000,000-row file peaked at ~820 MiB (staged: ~680 MiB), its
 * 155 MiB, 3,000,000-row file at 1,293 MiB, over a worker's 1 GiB (docs/benchmarks.md, "The source held in memory").
 */
export const DEFAULT_HOLD_MAX_BYTES = 64 * 1024 * 1024;

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = {
  retryScheduleMs: ['0s', '5s', '5m', '30m', '2h', '5h', '10h', '10h'].map((d) => msToNumber(d as Duration)),
  timeoutMs: 15_000,
  disableAfterMs: msToNumber('5d'),
  secretOverlapMs: msToNumber('24h'),
  allowHttp: false,
  allowlist: [],
};

/** Where the gateway listens, the API tokens it accepts, and how it delivers webhooks. */
export interface GatewaySettings {
  port: number;
  host: string;
  tokens: GatewayToken[];
  webhooks: WebhookSettings;
}

/** The gateway settings, with the defaults when config has no `gateway` section: 127.0.0.1:8700, no tokens. */
export function gatewaySettings(config: SluiceConfig): GatewaySettings {
  return config.gateway ?? { port: 8700, host: '127.0.0.1', tokens: [], webhooks: DEFAULT_WEBHOOK_SETTINGS };
}

/**
 * The config file after its environment is merged (see config/environments.ts). Secret fields are marked with
 * `secret(…)` (config/secrets.ts) and nowhere else.
 */
const configFileSchema = z.strictObject({
  /** The user the CLI acts as when neither `--user <name>` nor `SLUICE_USER` names one. @default local */
  user: userNameSchema.optional(),
  /** Refuse plain-text secrets. @default false in `dev`, true in every other environment */
  require_encrypted_secrets: z.boolean().optional(),
  database_url: secret(z.string().min(1), 'url').optional(),
  temporal: z
    .strictObject({
      address: z.string().min(1).optional(),
      namespace: z.string().min(1).optional(),
      /**
       * Task queue of runs. At the top level it is a base: the queue is `<it>` in dev and `<it>-<env>` elsewhere. In
       * an `environments.<name>` block it is that environment's queue, as written. @default `sluice` / `sluice-<env>`
       */
      task_queue: z.string().min(1).optional(),
      ui_url: z.string().url().optional(),
    })
    .optional(),
  staging: z
    .strictObject({
      dir: z.string().min(1).optional(),
      chunk_rows: z.number().int().positive().optional(),
      /** A one-pass run holds a local source file up to this many bytes in the worker's memory instead of staging it; 0: never. */
      hold_max_bytes: z.number().int().nonnegative().optional(),
      /** Staged chunks in S3, so one run's activities can run on several machines. */
      s3: s3LocationSchema.optional(),
      /** Hours a finished run's staged data is kept. @default 24 */
      retention_hours: z.number().positive().optional(),
    })
    .optional(),
  data_store: z
    .strictObject({
      backend: z.enum(['local', 's3']).default('local'),
      dir: z.string().min(1).optional(),
      s3: s3LocationSchema.optional(),
    })
    .optional(),
  connectors: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'connector names are lower-case letters, digits, "-" or "_"'), connectorSchema).optional(),
  gateway: z
    .strictObject({
      /** @default 8700 */
      port: z.number().int().min(0).max(65535).optional(),
      /** @default 127.0.0.1 */
      host: z.string().min(1).optional(),
      /** API tokens, stored as the hex sha256 of the token (`sluice token hash`). */
      tokens: z.array(gatewayTokenSchema).default([]),
      webhooks: webhooksSchema.optional(),
    })
    .optional(),
  /** Who hears about problems: one email per pipeline run with the rejected rows attached. */
  notifications: z
    .strictObject({
      email: z
        .strictObject({
          /** An `smtp` connector. */
          connector: z.string().min(1),
          to: z.array(z.string().min(3)).min(1),
          /** `problems`: only when rows were rejected or a job failed or was skipped; `always`: after every pipeline run. @default problems */
          send: z.enum(['problems', 'always']).default('problems'),
          /** Prepended to the subject, e.g. `[prod]`. @default `[<environment>]` */
          subject_prefix: z.string().optional(),
        })
        .optional(),
    })
    .optional(),
  /** How long files are kept, in days, by the scheduled housekeeping workflow. */
  retention: z
    .strictObject({
      /** Source files moved to data/backup/<date>/ after a successful run. @default 30 */
      backup_days: z.number().positive().optional(),
      /** Rejected-row files in data/errors/. @default 30 */
      errors_days: z.number().positive().optional(),
      /** Staged data of finished runs (overrides staging.retention_hours). @default 1 */
      staging_days: z.number().positive().optional(),
      /** Files in logs/. @default 14 */
      logs_days: z.number().positive().optional(),
    })
    .optional(),
});

/** A connector of the file that cannot be used in this process: its kind, and why (an unset `${env:NAME}`, with its path). */
export interface UnavailableConnector {
  kind: ConnectorConfig['kind'];
  reason: string;
}

export interface SluiceConfig {
  projectDir: string;
  /** The environment this config is for (`dev`, `test`, `prod`, …): a worker serves exactly this one. */
  environment: string;
  /** Git-ignored folder for the Temporal dev server's database, embedded Postgres and staging. */
  stateDir: string;
  /** URL of the metadata database (flow versions), when known. */
  databaseUrl: string | undefined;
  temporal: { address: string; namespace: string; taskQueue: string; uiUrl: string };
  /**
   * `holdMaxBytes`: a one-pass run reads a local source file of at most this many bytes whole into the worker's
   * memory instead of staging it (activities/held-sources.ts); 0 never does. @default {@link DEFAULT_HOLD_MAX_BYTES}
   */
  staging: { dir: string; chunkRows: number; holdMaxBytes: number; s3?: S3Location; retentionHours: number };
  /** The data store (`data.pipeline`, `data.user`): local disk under `dir`, or S3. */
  dataStore: { backend: 'local' | 's3'; dir: string; s3?: S3Location };
  connectors: Record<string, ConnectorConfig>;
  /**
   * Connectors of the file that cannot be used in this process, by name, with the reason (an `${env:NAME}` they
   * reference is not set). Commands that do not use them only warn; using one fails with the reason.
   */
  unavailableConnectors?: Record<string, UnavailableConnector>;
  /** The HTTP gateway (`sluice gateway`), when the file has a `gateway` section; read it through {@link gatewaySettings}. */
  gateway?: GatewaySettings;
  /** The error email of pipelines, when the file has `notifications.email`. */
  notifications?: { email?: { connector: string; to: string[]; send: 'problems' | 'always'; subjectPrefix?: string } };
  /** Retention windows in days, when the file has a `retention` section; read them through {@link retentionSettings}. */
  retention?: RetentionSettings;
  /** Path of the config file read, or null when the defaults were used. */
  configFile: string | null;
  /** The file's `user:` (the CLI's acting user unless `--user` or `SLUICE_USER` says otherwise), when set. */
  user?: string;
}

export interface LoadConfigOptions {
  /** @default process.cwd() */
  projectDir?: string;
  /** Explicit config file; @default `$SLUICE_CONFIG` or `<projectDir>/sluice.config.yaml` when it exists. */
  configFile?: string;
  /** Environment variables (for `${env:NAME}`, overrides and the master key). @default process.env */
  env?: NodeJS.ProcessEnv;
  /** The environment whose `environments.<name>` block is merged. @default `$SLUICE_ENV`, else `dev` */
  environment?: string;
  /** Receives warnings, e.g. plain-text secrets accepted in `dev`. @default writes `warning: …` to stderr */
  onWarning?: (message: string) => void;
  /**
   * A stale `stack.json` (its `sluice dev` has exited) when Temporal or the database would come from it: `error`
   * (`LOCAL_STACK_NOT_RUNNING`, at once rather than a long connect timeout), or `ignore` (`sluice dev`, which replaces it).
   * @default 'error'
   */
  staleStack?: 'error' | 'ignore';
}

/** The config file as validated, after its environment is merged, `${env:NAME}` substituted and secrets resolved. */
export type ConfigFileDocument = z.infer<typeof configFileSchema>;

export interface ResolveConfigFileOptions extends LoadConfigOptions {
  /**
   * What to do with `enc:` secrets: `decrypt` them (a missing or wrong key is an error); `keep` them encrypted (the
   * key is not read; for showing config); or `decrypt-if-key`: decrypt when a master key is configured, else keep.
   * @default 'decrypt'
   */
  secrets?: 'decrypt' | 'keep' | 'decrypt-if-key';
}

/** A secret field of the resolved file: where it is, and where its value came from. */
export interface ResolvedSecret {
  path: string[];
  kind: SecretKind;
  /** `encrypted` (`enc:v1:…`, in the file or an environment variable), `env` (`${env:NAME}`), or `plain` text. */
  source: 'encrypted' | 'env' | 'plain';
  /** For `encrypted`: the id of the key it was encrypted with. */
  keyId?: string;
  /** For `encrypted`: whether the value in `file` is decrypted (false when kept encrypted). */
  decrypted?: boolean;
}

/** The result of {@link resolveConfigFile}. */
export interface ResolvedConfigFile {
  projectDir: string;
  stateDir: string;
  /** The chosen environment. */
  environment: string;
  /** The environments the file defines (`dev` is available even when not listed). */
  environments: string[];
  configFile: string | null;
  requireEncryptedSecrets: boolean;
  /** The merged, validated file (`{}` without a file). Holds decrypted secrets: never print or log it unmasked. */
  file: ConfigFileDocument;
  secrets: ResolvedSecret[];
  warnings: string[];
  /**
   * Connectors left out of `file` because an `${env:NAME}` they reference is not set, with the reason
   * (`environment variable S3_ENDPOINT is not set (connectors.s3in.endpoint)`). Only connectors that staging or the
   * data store use make such a variable an error.
   */
  unavailableConnectors: Record<string, UnavailableConnector>;
  /** Whether `path` of the merged document (e.g. `['temporal', 'task_queue']`) was written in the environment's block. */
  setByEnvironment: (path: readonly string[]) => boolean;
}

/** Replaces `${env:NAME}` in every string of a parsed YAML value; unset variables are collected in `missing`. */
function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, at: string[], missing: { path: string[]; message: string }[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REFERENCE, (_, name: string) => {
      const found = env[name];
      if (found === undefined) missing.push({ path: at, message: `environment variable ${name} is not set` });
      return found ?? '';
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, [...at, String(i)], missing));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...at, k], missing)]));
  }
  return value;
}

/** The paths of every string of `value` that contains `needle`. */
function stringPathsWith(value: unknown, needle: string, at: string[] = []): string[][] {
  if (typeof value === 'string') return value.includes(needle) ? [at] : [];
  if (Array.isArray(value)) return value.flatMap((item, i) => stringPathsWith(item, needle, [...at, String(i)]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => stringPathsWith(v, needle, [...at, k]));
  return [];
}

const getAt = (doc: unknown, at: string[]): unknown => at.reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), doc);
function setAt(doc: unknown, at: string[], value: unknown): void {
  const parent = getAt(doc, at.slice(0, -1)) as Record<string, unknown>;
  parent[at[at.length - 1]!] = value;
}

/** The state dir: `$SLUICE_STATE_DIR` (relative to the project dir), @default `<projectDir>/.sluice`. */
export function resolveStateDir(projectDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(projectDir, readEnv('SLUICE_STATE_DIR', env) ?? '.sluice');
}

/**
 * Reads `<stateDir>/stack.json`, written by `sluice dev` so other commands find the embedded stack (config/stack-file.ts).
 * A stale file (its `sluice dev` has exited) gives nothing.
 */
export function readStackFile(stateDir: string): { databaseUrl?: string; temporalAddress?: string; uiUrl?: string } {
  const found = readLocalStackFile(stateDir);
  return found?.alive ? found.stack : {};
}

const invalid = (header: string, issues: string[]) =>
  new ConfigError('INVALID_CONFIG', [`${header} is invalid:`, ...issues.map((i) => `  - ${i}`)].join('\n'), { details: { issues } });

/**
 * Reads the config file for one environment: merges its `environments.<name>` block over the top-level keys,
 * substitutes `${env:NAME}`, applies the plain-text secret policy, decrypts `enc:` secrets (see `secrets`) and
 * validates the result. {@link loadConfig} builds on it; `sluice config show` prints it masked.
 * @throws ConfigError `INVALID_CONFIG` listing every problem with its path (`environments.prod.…` when the
 *   environment block wrote it), `UNKNOWN_ENVIRONMENT`, `CONFIG_NOT_FOUND`, or a master key error.
 */
export function resolveConfigFile(options: ResolveConfigFileOptions = {}): ResolvedConfigFile {
  const env = options.env ?? process.env;
  const projectDir = path.resolve(options.projectDir ?? process.cwd());
  const stateDir = resolveStateDir(projectDir, env);
  const environment = options.environment || readEnv('SLUICE_ENV', env) || DEFAULT_ENVIRONMENT;
  const explicit = options.configFile ?? readEnv('SLUICE_CONFIG', env);
  const candidate = explicit ? path.resolve(projectDir, explicit) : path.join(projectDir, 'sluice.config.yaml');
  if (!existsSync(candidate)) {
    if (explicit) throw new ConfigError('CONFIG_NOT_FOUND', `config file ${candidate} does not exist`);
    if (environment !== DEFAULT_ENVIRONMENT) throw unknownEnvironment(environment, [], null);
    return { projectDir, stateDir, environment, environments: [], configFile: null, requireEncryptedSecrets: false, file: {}, secrets: [], warnings: [], unavailableConnectors: {}, setByEnvironment: () => false };
  }
  const doc = parseDocument(readFileSync(candidate, 'utf8'), { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError('INVALID_CONFIG', `${candidate} is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  }
  const top: unknown = doc.toJS() ?? {};
  if (top === null || typeof top !== 'object' || Array.isArray(top)) {
    const parsed = configFileSchema.safeParse(top);
    throw invalid(candidate, parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`));
  }
  const selection = selectEnvironment(top as Record<string, unknown>, environment, candidate);
  const { origin } = selection;
  const merged = selection.merged.value;
  const missing: { path: string[]; message: string }[] = [];
  const resolved = substituteEnv(merged, env, [], missing) as Record<string, unknown>;
  // A connector whose `${env:NAME}` is unset is left out, with its reason: only a command that uses it fails.
  // Staging and the data store are used by every run, so theirs stay errors.
  const alwaysUsed = new Set([getAt(merged, ['staging', 's3', 'connector']), getAt(merged, ['data_store', 's3', 'connector'])]);
  const unavailable: Record<string, string[]> = {};
  const issues: string[] = [];
  for (const m of missing) {
    const [section, name] = m.path;
    if (section === 'connectors' && name !== undefined && m.path.length > 2 && !alwaysUsed.has(name)) (unavailable[name] ??= []).push(`${m.message} (${origin(m.path)})`);
    else issues.push(`${origin(m.path)}: ${m.message}`);
  }
  const kindOf = (name: string) => (getAt(resolved, ['connectors', name, 'kind']) as ConnectorConfig['kind']) ?? 'local';
  const unavailableConnectors: Record<string, UnavailableConnector> = Object.fromEntries(
    Object.entries(unavailable).map(([name, reasons]) => [name, { kind: kindOf(name), reason: reasons.join('; ') }]),
  );
  const missingPaths = new Set(missing.map((m) => m.path.join('.')));
  for (const name of Object.keys(unavailableConnectors)) {
    const connectors = resolved.connectors as Record<string, unknown>;
    // Its shape is still checked (a wrong kind or key is a mistake whatever the variables), but not the values of
    // the fields whose variable is unset: those would only repeat the warning.
    const shape = connectorSchema.safeParse(connectors[name]);
    for (const i of shape.success ? [] : shape.error.issues) {
      const at = ['connectors', name, ...i.path.map(String)];
      if (!missingPaths.has(at.join('.'))) issues.push(`${origin(at)}: ${i.message}`);
    }
    delete connectors[name];
  }

  // Secrets: the policy looks at the text as written (merged, before substitution); decryption at the value.
  const requireEncrypted = requiresEncryptedSecrets(environment, merged.require_encrypted_secrets);
  let ring: MasterKeyRing | null | undefined = options.secrets === 'decrypt-if-key' ? loadMasterKeys({ env, stateDir, projectDir }) : undefined;
  const keepEncrypted = options.secrets === 'keep' || (options.secrets === 'decrypt-if-key' && ring === null);
  const keptPaths = new Set<string>();
  const secrets: ResolvedSecret[] = [];
  const plainInDev: string[] = [];
  for (const field of findSecretFields(configFileSchema, resolved)) {
    const written = getAt(merged, field.path);
    const value = getAt(resolved, field.path) as string;
    const where = origin(field.path);
    if (isEncrypted(value)) {
      const keyId = encryptedKeyId(value) ?? undefined;
      if (keepEncrypted) {
        if (!keyId) issues.push(`${where}: not a valid encrypted value (expected enc:v1:<key-id>:<iv>:<ciphertext>, as printed by \`sluice secret encrypt\`)`);
        keptPaths.add(field.path.join('.'));
        secrets.push({ ...field, source: 'encrypted', keyId, decrypted: false });
        continue;
      }
      ring ??= loadMasterKeys({ env, stateDir, projectDir });
      try {
        setAt(resolved, field.path, decryptSecret(value, ring));
        secrets.push({ ...field, source: 'encrypted', keyId, decrypted: true });
      } catch (error) {
        if (!(error instanceof SecretDecryptError)) throw error;
        issues.push(`${where}: ${error.message}`);
      }
      continue;
    }
    const plain = typeof written === 'string' ? plainTextSecret(written, field.kind) : null;
    secrets.push({ ...field, source: typeof written === 'string' && /\$\{env:/.test(written) ? 'env' : 'plain' });
    if (!plain) continue;
    if (requireEncrypted) {
      issues.push(
        `${where}: ${plain} is refused in environment "${environment}" (require_encrypted_secrets is true); encrypt it with \`sluice secret encrypt\` or reference an environment variable as \${env:NAME}`,
      );
    } else {
      plainInDev.push(where);
    }
  }

  // `${secret:NAME}` (the secrets store, resolved in a run's activities for the user who started it) only where a
  // secret may be written, and never in a connector that staging or the data store use (they have no user).
  const secretPaths = new Set(secrets.map((s) => s.path.join('.')));
  for (const at of stringPathsWith(resolved, '${secret:')) {
    const where = origin(at);
    if (!secretPaths.has(at.join('.'))) issues.push(`${where}: \${secret:NAME} is allowed only in a secret field (a password, a key, a connection URL's password)`);
    else if (at[0] === 'connectors' && alwaysUsed.has(at[1])) issues.push(`${where}: connector "${at[1]}" is used by staging or the data store, which run for no user; \${secret:NAME} cannot be resolved there (use enc:v1:… or \${env:NAME})`);
  }

  const parsed = configFileSchema.safeParse(resolved);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      if (keptPaths.has(i.path.map(String).join('.'))) continue; // an encrypted value shown without its key
      // One line per unknown key, so each names where it was written (top level or environment block).
      if (i.code === 'unrecognized_keys') for (const key of i.keys) issues.push(`${origin(i.path, [...i.path, key])}: Unrecognized key: "${key}"`);
      else issues.push(`${origin(i.path)}: ${i.message}`);
    }
  } else {
    const connectors = parsed.data.connectors ?? {};
    const needsS3 = (where: string, location: { connector: string } | undefined) => {
      if (!location) return;
      const connector = connectors[location.connector];
      const at = origin([...where.split('.'), 'connector']);
      if (!connector) issues.push(`${at}: no connector named "${location.connector}"`);
      else if (connector.kind !== 's3') issues.push(`${at}: "${location.connector}" is a ${connector.kind} connector, not s3`);
    };
    needsS3('staging.s3', parsed.data.staging?.s3);
    needsS3('data_store.s3', parsed.data.data_store?.s3);
    if (parsed.data.data_store?.backend === 's3' && !parsed.data.data_store.s3) issues.push(`${origin(['data_store', 's3'], ['data_store', 'backend'])}: backend s3 needs s3: { connector, bucket, prefix }`);
  }
  const named = selection.defined.length > 0 || environment !== DEFAULT_ENVIRONMENT;
  if (issues.length > 0 || !parsed.success) throw invalid(named ? `${candidate} (environment ${environment})` : candidate, issues);
  const warnings =
    plainInDev.length > 0
      ? [
          `plain-text secrets in ${candidate}: ${plainInDev.join(', ')}; accepted in environment "${environment}", refused wherever require_encrypted_secrets is true (by default every environment but dev). Encrypt them with \`sluice secret encrypt\` or use \${env:NAME}`,
        ]
      : [];
  if (Object.keys(unavailableConnectors).length > 0) {
    warnings.push(`${Object.entries(unavailableConnectors).map(([name, { reason }]) => `connector "${name}" is unavailable: ${reason}`).join('; ')}; a run that uses it will fail until the variable is set`);
  }
  const setByEnvironment = (at: readonly string[]) => origin(at).startsWith(`environments.${environment}.`);
  return { projectDir, stateDir, environment, environments: selection.defined, configFile: candidate, requireEncryptedSecrets: requireEncrypted, file: parsed.data, secrets, warnings, unavailableConnectors, setByEnvironment };
}

/** The environment variables that override a value of the file in {@link loadConfig} (`sluice config show` names those set). */
export const OVERRIDING_VARIABLES = ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'SLUICE_TASK_QUEUE', 'TEMPORAL_UI_URL', 'SLUICE_STAGING_DIR', 'SLUICE_CHUNK_ROWS'] as const satisfies readonly EnvName[];

/**
 * Loads and validates the configuration for one environment (`options.environment`, else `SLUICE_ENV`, else `dev`),
 * decrypting its secrets. Environment variables (`DATABASE_URL`, `TEMPORAL_ADDRESS`, …) override the file.
 * @throws ConfigError listing every problem with its path, or naming an unreadable file, an unknown environment,
 *   or a master key that is missing, wrong or readable by others.
 */
export function loadConfig(options: LoadConfigOptions = {}): SluiceConfig {
  const env = options.env ?? process.env;
  const resolved = resolveConfigFile({ ...options, secrets: 'decrypt' });
  const { projectDir, stateDir, file, configFile } = resolved;
  const warn = options.onWarning ?? ((message: string) => process.stderr.write(`warning: ${message}\n`));
  for (const warning of resolved.warnings) warn(warning);
  const chunkRows = readEnvCount('SLUICE_CHUNK_ROWS', env) ?? file.staging?.chunk_rows ?? DEFAULT_CHUNK_ROWS;
  const stackFile = readLocalStackFile(stateDir);
  const stack = stackFile?.alive ? stackFile.stack : {};
  if (stackFile && !stackFile.alive && options.staleStack !== 'ignore') {
    const fromStack = !(readEnv('DATABASE_URL', env) ?? file.database_url) || !(readEnv('TEMPORAL_ADDRESS', env) ?? file.temporal?.address);
    if (fromStack) throw staleStackError(stateDir, stackFile.stack);
  }
  const connectors: Record<string, ConnectorConfig> = file.connectors ?? {
    files: { kind: 'local', root: '.' },
    warehouse: { kind: 'postgres' },
  };
  // The task queue: SLUICE_TASK_QUEUE, or temporal.task_queue as an environment block sets it, used as is; else
  // derived from the environment (config/environments.ts taskQueueFor), so environments never share a queue.
  const taskQueue =
    readEnv('SLUICE_TASK_QUEUE', env) ??
    (file.temporal?.task_queue !== undefined && resolved.setByEnvironment(['temporal', 'task_queue']) ? file.temporal.task_queue : taskQueueFor(resolved.environment, file.temporal?.task_queue));
  return {
    projectDir,
    stateDir,
    environment: resolved.environment,
    databaseUrl: readEnv('DATABASE_URL', env) ?? file.database_url ?? stack.databaseUrl,
    temporal: {
      address: readEnv('TEMPORAL_ADDRESS', env) ?? file.temporal?.address ?? stack.temporalAddress ?? '127.0.0.1:7233',
      namespace: readEnv('TEMPORAL_NAMESPACE', env) ?? file.temporal?.namespace ?? 'default',
      taskQueue,
      uiUrl: readEnv('TEMPORAL_UI_URL', env) ?? file.temporal?.ui_url ?? stack.uiUrl ?? 'http://127.0.0.1:8233',
    },
    staging: {
      dir: path.resolve(projectDir, readEnv('SLUICE_STAGING_DIR', env) ?? file.staging?.dir ?? path.join(stateDir, 'staging')),
      chunkRows,
      holdMaxBytes: file.staging?.hold_max_bytes ?? DEFAULT_HOLD_MAX_BYTES,
      ...(file.staging?.s3 ? { s3: file.staging.s3 } : {}),
      retentionHours: file.staging?.retention_hours ?? 24,
    },
    dataStore: {
      backend: file.data_store?.backend ?? 'local',
      dir: path.resolve(projectDir, file.data_store?.dir ?? path.join(stateDir, 'data')),
      ...(file.data_store?.s3 ? { s3: file.data_store.s3 } : {}),
    },
    connectors,
    ...(Object.keys(resolved.unavailableConnectors).length > 0 ? { unavailableConnectors: resolved.unavailableConnectors } : {}),
    ...(file.gateway
      ? {
          gateway: {
            port: file.gateway.port ?? 8700,
            host: file.gateway.host ?? '127.0.0.1',
            tokens: file.gateway.tokens,
            webhooks: webhookSettings(file.gateway.webhooks),
          },
        }
      : {}),
    ...(file.notifications
      ? {
          notifications: {
            ...(file.notifications.email
              ? {
                  email: {
                    connector: file.notifications.email.connector,
                    to: file.notifications.email.to,
                    send: file.notifications.email.send,
                    ...(file.notifications.email.subject_prefix !== undefined ? { subjectPrefix: file.notifications.email.subject_prefix } : {}),
                  },
                }
              : {}),
          },
        }
      : {}),
    ...(file.retention
      ? {
          retention: {
            backupDays: file.retention.backup_days ?? DEFAULT_RETENTION.backupDays,
            errorsDays: file.retention.errors_days ?? DEFAULT_RETENTION.errorsDays,
            stagingDays: file.retention.staging_days ?? DEFAULT_RETENTION.stagingDays,
            logsDays: file.retention.logs_days ?? DEFAULT_RETENTION.logsDays,
          },
        }
      : {}),
    configFile,
    ...(file.user !== undefined ? { user: file.user } : {}),
  };
}

/** Retention windows, in days. */
export interface RetentionSettings {
  backupDays: number;
  errorsDays: number;
  stagingDays: number;
  logsDays: number;
}

export const DEFAULT_RETENTION: RetentionSettings = { backupDays: 30, errorsDays: 30, stagingDays: 1, logsDays: 14 };

/** The retention windows, with defaults when config has no `retention` section (staging from `staging.retention_hours`). */
export function retentionSettings(config: SluiceConfig): RetentionSettings {
  return config.retention ?? { ...DEFAULT_RETENTION, stagingDays: config.staging.retentionHours / 24 };
}

/**
 * The folders of a project (`sluice init` makes them), absolute: `flows/`, `maps/`, `pipelines/`,
 * `data/import`, `data/export`, `data/backup`, `data/errors`, `logs/`, under the project dir.
 */
export function projectPaths(config: Pick<SluiceConfig, 'projectDir'>) {
  const at = (...parts: string[]) => path.join(config.projectDir, ...parts);
  return {
    flows: at('flows'),
    maps: at('maps'),
    pipelines: at('pipelines'),
    import: at('data', 'import'),
    export: at('data', 'export'),
    backup: at('data', 'backup'),
    errors: at('data', 'errors'),
    logs: at('logs'),
  };
}

function webhookSettings(file: z.infer<typeof webhooksSchema> | undefined): WebhookSettings {
  const d = DEFAULT_WEBHOOK_SETTINGS;
  return {
    retryScheduleMs: file?.retry_schedule ?? d.retryScheduleMs,
    timeoutMs: file?.timeout ?? d.timeoutMs,
    disableAfterMs: file?.disable_after ?? d.disableAfterMs,
    secretOverlapMs: file?.secret_overlap ?? d.secretOverlapMs,
    allowHttp: file?.allow_http ?? d.allowHttp,
    allowlist: file?.allowlist ?? d.allowlist,
  };
}

/**
 * The metadata database URL, or a ConfigError saying how to provide one.
 * @throws ConfigError `NO_DATABASE`.
 */
export function requireDatabaseUrl(config: SluiceConfig): string {
  if (!config.databaseUrl) {
    throw new ConfigError(
      'NO_DATABASE',
      'no metadata database: set DATABASE_URL (e.g. postgres://user@127.0.0.1:5432/db), set database_url in sluice.config.yaml, or start the local stack with `sluice dev`',
    );
  }
  return config.databaseUrl;
}
