/**
 * Sluice's configuration: connectors by name, the metadata database, Temporal, staging.
 *
 * Read from `sluice.config.yaml` in the project dir (or `--config` / `SLUICE_CONFIG`), validated with
 * zod (every problem at once, with its path). Strings may reference environment variables as
 * `${env:NAME}`. With no config file Sluice provides two connectors: `files` (local, rooted at the
 * project dir) and `warehouse` (the metadata Postgres).
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
import { DEFAULT_TASK_QUEUE } from '../common/run-model';

const localConnectorSchema = z.strictObject({
  kind: z.literal('local'),
  /** Folder every source_path is resolved under; relative to the project dir. */
  root: z.string().min(1).default('.'),
});

const postgresConnectorSchema = z.strictObject({
  kind: z.literal('postgres'),
  /** Connection URL; when absent, the metadata database. */
  url: z.string().min(1).optional(),
  /** Source query; `:source_path` is bound as a parameter, never interpolated. */
  query: z.string().min(1).optional(),
  /** Rows per staged chunk when reading. @default 100000 */
  fetch_rows: z.number().int().positive().optional(),
});

const s3ConnectorSchema = z.strictObject({
  kind: z.literal('s3'),
  /** Endpoint of an S3-compatible store (MinIO, versitygw, …); absent for AWS S3. */
  endpoint: z.string().url().optional(),
  region: z.string().min(1).default('us-east-1'),
  /** Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible stores. */
  force_path_style: z.boolean().default(false),
  /** Credentials; when absent, the AWS SDK's default chain (env, profile, instance role). */
  access_key_id: z.string().min(1).optional(),
  secret_access_key: z.string().min(1).optional(),
  session_token: z.string().min(1).optional(),
});

const connectorSchema = z.discriminatedUnion('kind', [localConnectorSchema, postgresConnectorSchema, s3ConnectorSchema]);
export type LocalConnectorConfig = z.infer<typeof localConnectorSchema>;
export type PostgresConnectorConfig = z.infer<typeof postgresConnectorSchema>;
export type S3ConnectorConfig = z.infer<typeof s3ConnectorSchema>;

/** An S3 location: a bucket and key prefix, reached through an `s3` connector. */
const s3LocationSchema = z.strictObject({
  connector: z.string().min(1),
  bucket: z.string().min(3),
  prefix: z.string().default(''),
});
export type S3Location = z.infer<typeof s3LocationSchema>;
export type ConnectorConfig = z.infer<typeof connectorSchema>;

/** What a gateway API token may do. */
export const API_SCOPES = ['runs:read', 'runs:write', 'webhooks:read', 'webhooks:write'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** One gateway API token: a name for logs, the hex sha256 of the secret, and what it may do. */
const gatewayTokenSchema = z.strictObject({
  name: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be the 64-character lower-case hex digest of the token (sluice token hash)'),
  scopes: z.array(z.enum(API_SCOPES)).min(1),
});
export type GatewayToken = z.infer<typeof gatewayTokenSchema>;

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

const configFileSchema = z.strictObject({
  database_url: z.string().min(1).optional(),
  temporal: z
    .strictObject({
      address: z.string().min(1).optional(),
      namespace: z.string().min(1).optional(),
      task_queue: z.string().min(1).optional(),
      ui_url: z.string().url().optional(),
    })
    .optional(),
  staging: z
    .strictObject({
      dir: z.string().min(1).optional(),
      chunk_rows: z.number().int().positive().optional(),
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
});

export interface SluiceConfig {
  projectDir: string;
  /** Git-ignored folder for the Temporal dev server's database, embedded Postgres and staging. */
  stateDir: string;
  /** URL of the metadata database (flow versions), when known. */
  databaseUrl: string | undefined;
  temporal: { address: string; namespace: string; taskQueue: string; uiUrl: string };
  staging: { dir: string; chunkRows: number; s3?: S3Location; retentionHours: number };
  /** The data store (`data.pipeline`, `data.user`): local disk under `dir`, or S3. */
  dataStore: { backend: 'local' | 's3'; dir: string; s3?: S3Location };
  connectors: Record<string, ConnectorConfig>;
  /** The HTTP gateway (`sluice gateway`), when the file has a `gateway` section; read it through {@link gatewaySettings}. */
  gateway?: GatewaySettings;
  /** Path of the config file read, or null when the defaults were used. */
  configFile: string | null;
}

export interface LoadConfigOptions {
  /** @default process.cwd() */
  projectDir?: string;
  /** Explicit config file; @default `$SLUICE_CONFIG` or `<projectDir>/sluice.config.yaml` when it exists. */
  configFile?: string;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** Replaces `${env:NAME}` in every string of a parsed YAML value. */
function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, where: string, missing: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const found = env[name];
      if (found === undefined) missing.push(`${where}: environment variable ${name} is not set`);
      return found ?? '';
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, `${where}[${i}]`, missing));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, where ? `${where}.${k}` : k, missing)]));
  }
  return value;
}

/** Reads `<stateDir>/stack.json`, written by `sluice dev` so other commands find the embedded stack. */
export function readStackFile(stateDir: string): { databaseUrl?: string; temporalAddress?: string; uiUrl?: string } {
  const file = path.join(stateDir, 'stack.json');
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { databaseUrl?: string; temporalAddress?: string; uiUrl?: string };
  } catch {
    return {};
  }
}

/**
 * Loads and validates the configuration.
 * @throws ConfigError listing every problem with its path, or naming an unreadable file.
 */
export function loadConfig(options: LoadConfigOptions = {}): SluiceConfig {
  const env = options.env ?? process.env;
  const projectDir = path.resolve(options.projectDir ?? process.cwd());
  const explicit = options.configFile ?? env.SLUICE_CONFIG;
  const candidate = explicit ? path.resolve(projectDir, explicit) : path.join(projectDir, 'sluice.config.yaml');
  let file: z.infer<typeof configFileSchema> = {};
  let configFile: string | null = null;
  if (existsSync(candidate)) {
    configFile = candidate;
    const doc = parseDocument(readFileSync(candidate, 'utf8'), { uniqueKeys: true });
    if (doc.errors.length > 0) {
      throw new ConfigError('INVALID_CONFIG', `${candidate} is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    }
    const missing: string[] = [];
    const raw = substituteEnv(doc.toJS() ?? {}, env, '', missing);
    const parsed = configFileSchema.safeParse(raw);
    const issues = [
      ...missing,
      ...(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)),
    ];
    if (parsed.success) {
      const connectors = parsed.data.connectors ?? {};
      const needsS3 = (where: string, location: { connector: string } | undefined) => {
        if (!location) return;
        const connector = connectors[location.connector];
        if (!connector) issues.push(`${where}.connector: no connector named "${location.connector}"`);
        else if (connector.kind !== 's3') issues.push(`${where}.connector: "${location.connector}" is a ${connector.kind} connector, not s3`);
      };
      needsS3('staging.s3', parsed.data.staging?.s3);
      needsS3('data_store.s3', parsed.data.data_store?.s3);
      if (parsed.data.data_store?.backend === 's3' && !parsed.data.data_store.s3) issues.push('data_store.s3: backend s3 needs s3: { connector, bucket, prefix }');
    }
    if (issues.length > 0 || !parsed.success) {
      throw new ConfigError('INVALID_CONFIG', [`${candidate} is invalid:`, ...issues.map((i) => `  - ${i}`)].join('\n'), { details: { issues } });
    }
    file = parsed.data;
  } else if (explicit) {
    throw new ConfigError('CONFIG_NOT_FOUND', `config file ${candidate} does not exist`);
  }
  const chunkRows = Number(env.SLUICE_CHUNK_ROWS ?? file.staging?.chunk_rows ?? 250_000);
  if (!Number.isInteger(chunkRows) || chunkRows < 1) {
    throw new ConfigError('INVALID_CONFIG', `SLUICE_CHUNK_ROWS must be a whole number of rows above 0, not "${env.SLUICE_CHUNK_ROWS}"`);
  }
  const stateDir = path.resolve(projectDir, env.SLUICE_STATE_DIR ?? '.sluice');
  const stack = readStackFile(stateDir);
  const connectors: Record<string, ConnectorConfig> = file.connectors ?? {
    files: { kind: 'local', root: '.' },
    warehouse: { kind: 'postgres' },
  };
  return {
    projectDir,
    stateDir,
    databaseUrl: env.DATABASE_URL ?? file.database_url ?? stack.databaseUrl,
    temporal: {
      address: env.TEMPORAL_ADDRESS ?? file.temporal?.address ?? stack.temporalAddress ?? '127.0.0.1:7233',
      namespace: env.TEMPORAL_NAMESPACE ?? file.temporal?.namespace ?? 'default',
      taskQueue: env.SLUICE_TASK_QUEUE ?? file.temporal?.task_queue ?? DEFAULT_TASK_QUEUE,
      uiUrl: env.TEMPORAL_UI_URL ?? file.temporal?.ui_url ?? stack.uiUrl ?? 'http://127.0.0.1:8233',
    },
    staging: {
      dir: path.resolve(projectDir, env.SLUICE_STAGING_DIR ?? file.staging?.dir ?? path.join(stateDir, 'staging')),
      chunkRows,
      ...(file.staging?.s3 ? { s3: file.staging.s3 } : {}),
      retentionHours: file.staging?.retention_hours ?? 24,
    },
    dataStore: {
      backend: file.data_store?.backend ?? 'local',
      dir: path.resolve(projectDir, file.data_store?.dir ?? path.join(stateDir, 'data')),
      ...(file.data_store?.s3 ? { s3: file.data_store.s3 } : {}),
    },
    connectors,
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
    configFile,
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
