/**
 * Connection tests: `sluice test-connections` checks every connector of an environment, plus the
 * metadata database and Temporal, and says for each whether it works and, if not, what to fix.
 *
 * What each kind checks (every check has a timeout, @default 10 s, and runs in parallel with the others):
 *
 * | kind | check |
 * |---|---|
 * | `postgres` | connect, `SHOW server_version`, `SELECT 1`; with a `query`, `EXPLAIN` it in a read-only transaction with `:source_path` bound to NULL (plans it: tables, columns and grants are checked, nothing is read) |
 * | `s3` | `HeadBucket` on every bucket config sends through this connector (`staging.s3`, `data_store.s3`); when none, `ListBuckets` (endpoint reachable, credentials accepted; an `AccessDenied` answer still proves the credentials and is OK, with a note) |
 * | `mysql` | the connector's own `check()`s (connectors/mysql/): connect, `SELECT 1`, with a `query` prepare it (parsed, tables and columns resolved, nothing read); then the target check (`local_infile` on) — when it fails the row stays OK, its reason saying the connector cannot be a target |
 * | `local` | the root exists, is a directory, can be listed, and a temporary file can be written and deleted in it |
 * | `smtp` | nodemailer `verify()` (connect, greeting, TLS, authentication), then a real test email "Sluice test-connections: <connector> OK" to `notifications.email.to` when that section names this connector, else to the `to` addresses given (`--to`), else no email (said in the reason) |
 * | `sftp` | the connector's own `check()`: connect, the host key matches `host_key`, authenticated, `root` exists and is a folder |
 * | metadata | the metadata database (`DATABASE_URL` / `database_url`): connect, server version, `SELECT 1` |
 * | temporal | a TCP connect to `temporal.address` (so a refused port fails fast), then `GetSystemInfo` and `DescribeNamespace` |
 *
 * Reasons are actionable and never hold a secret: every secret value of the config is replaced with
 * `****`, and any `scheme://user:password@` URL has its password masked.
 *
 * @example
 * ```ts
 * const checks = await testConnections(loadConfig({ environment: 'prod' }), { timeoutMs: 5_000, to: ['ops@example.com'] });
 * for (const c of checks) console.log(c.connector, c.kind, c.ok ? 'OK' : 'FAILED', c.latencyMs, c.reason);
 * ```
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readdir, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { HeadBucketCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import type { RowDataPacket } from 'mysql2/promise';
import { Client as PgClient } from 'pg';
import { ConfigError, UserError } from '../common/errors';
import { LIBPQ_PASSWORD, maskSecret, MASK } from '../config/secrets';
import type { ConnectorConfig, LocalConnectorConfig, MysqlConnectorConfig, PostgresConnectorConfig, S3ConnectorConfig, SluiceConfig, SmtpConnectorConfig } from '../config/sluice-config';
import { MysqlSource } from '../connectors/mysql/mysql-source';
import { MysqlTarget } from '../connectors/mysql/mysql-target';
import { createMysqlPool } from '../connectors/mysql/mysql-pool';
import { bindSourcePath } from '../connectors/postgres/postgres-source';
import { createS3Client, s3ErrorCode } from '../connectors/s3/s3-client';
import { SftpSource } from '../connectors/sftp/sftp-source';
import { createSmtpTransport } from '../connectors/smtp/smtp-transport';

/** The result of one check: a row of the `sluice test-connections` table. */
export interface ConnectionCheck {
  /** The connector's name; `metadata` and `temporal` for the two system rows. */
  connector: string;
  /** The connector's kind; `postgres` for the metadata database, `temporal` for Temporal. */
  kind: ConnectorConfig['kind'] | 'temporal';
  ok: boolean;
  /** What was verified (OK) or what failed and what to fix (FAILED). Never holds a secret. */
  reason: string;
  /** Wall time of the whole check, in milliseconds. */
  latencyMs: number;
  /** Facts found on the way: server version, buckets checked, email recipients… */
  detail?: Record<string, unknown>;
  /** True for the metadata database and Temporal rows, which are not connectors. */
  system?: boolean;
}

/** Options of {@link testConnection}. */
export interface TestConnectionOptions {
  /** Folder `local` roots are resolved against. */
  projectDir: string;
  /** The metadata database, used by `postgres` connectors that have no `url`. */
  databaseUrl?: string;
  /** Give up on the check after this many ms. @default 10000 */
  timeoutMs?: number;
  /** `smtp`: send the test email to these addresses (none: verify only). */
  emailTo?: string[];
  /** `s3`: the buckets config reaches through this connector, with where each is configured (`staging.s3`). */
  buckets?: { bucket: string; usedBy: string }[];
  /** For the test email's text. */
  environment?: string;
  /** Secret values to mask in reasons (all of the config's); the connector's own are always masked. */
  secrets?: string[];
}

/** Default time each check may take. */
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

/** The system rows' names. */
export const METADATA_CHECK = 'metadata';
export const TEMPORAL_CHECK = 'temporal';

/** A check's outcome before timing: what was verified, and facts found. */
interface Verified {
  reason: string;
  detail?: Record<string, unknown>;
}

class CheckTimeout extends Error {}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;

const NETWORK_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'];

/**
 * The error code of a Node, pg or AWS error (`ECONNREFUSED`, `28P01`, …), looking into `errors[]` and `cause`; a
 * wrapper's code (nodemailer's `ESOCKET`) gives way to the network code its message names.
 */
function errorCode(error: unknown): string | undefined {
  const code = ownErrorCode(error);
  if (code && NETWORK_CODES.includes(code)) return code;
  const named = NETWORK_CODES.find((c) => new RegExp(`\\b${c}\\b`).test(messageOf(error)));
  return named ?? code;
}

function ownErrorCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const shaped = current as { code?: unknown; errors?: unknown[]; cause?: unknown };
    if (typeof shaped.code === 'string' && shaped.code !== '') return shaped.code;
    const inner = Array.isArray(shaped.errors) ? shaped.errors.find((e) => e && typeof e === 'object' && typeof (e as { code?: unknown }).code === 'string') : undefined;
    current = inner ?? shaped.cause;
  }
  return undefined;
}

const messageOf = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error);
  if (message) return message;
  const inner = (error as { errors?: unknown[] }).errors?.[0];
  return inner instanceof Error ? inner.message : 'unknown error';
};

/** Network errors every kind reads the same way; null for others. */
function networkReason(code: string | undefined, where: string, service: string, fix: string): string | null {
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused at ${where} — is ${service} running there? check ${fix}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host of ${where} not found (DNS ${code}) — check ${fix}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where} is unreachable (${code}) — check the host in ${fix} and the network`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `${where} closed the connection (${code}) — is it really ${service}, on the right port (TLS vs plain)? check ${fix}`;
    case 'ETIMEDOUT':
      return `no answer from ${where} (ETIMEDOUT) — a firewall, or the wrong host or port? check ${fix}`;
    default:
      return null;
  }
}

/** Replaces every known secret (`secrets`) and every URL password in a text with `****`. */
export function scrubSecrets(text: string, secrets: string[]): string {
  let out = text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s/@:]+:[^\s/@]+@[^\s"')]*/gi, (url) => maskSecret(url, 'url'));
  for (const secret of secrets) if (secret.length >= 3) out = out.split(secret).join(MASK);
  return out;
}

/** The secret values of one connector config (URL passwords decoded and raw, keys, SMTP password). */
function connectorSecrets(config: ConnectorConfig | { kind: 'metadata'; url?: string }): string[] {
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
    case 'metadata':
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

/** Every secret value of a config: what reasons are scrubbed of. */
export function configSecrets(config: Pick<SluiceConfig, 'connectors' | 'databaseUrl'>): string[] {
  return [...Object.values(config.connectors).flatMap((c) => connectorSecrets(c)), ...connectorSecrets({ kind: 'metadata', url: config.databaseUrl })];
}

/** The message of an error a check threw already worded as its reason (`explained: true`), else null. */
const explained = (error: unknown): string | null => ((error as { explained?: boolean }).explained ? messageOf(error) : null);

/**
 * Runs one check under a timeout and times it. `body` gets a signal aborted at the timeout (to close
 * what it opened); its error becomes the reason as it is when `explained`, else through `explain`.
 */
async function runCheck(
  row: Pick<ConnectionCheck, 'connector' | 'kind' | 'system'>,
  timeoutMs: number,
  secrets: string[],
  body: (signal: AbortSignal) => Promise<Verified>,
  explain: (error: unknown) => string,
  onTimeout: string,
): Promise<ConnectionCheck> {
  const started = performance.now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new CheckTimeout());
      controller.abort();
    }, timeoutMs);
  });
  let result: Pick<ConnectionCheck, 'ok' | 'reason' | 'detail'>;
  try {
    const verified = await Promise.race([body(controller.signal), timeout]);
    result = { ok: true, reason: verified.reason, ...(verified.detail ? { detail: verified.detail } : {}) };
  } catch (error) {
    result = {
      ok: false,
      reason: error instanceof CheckTimeout || controller.signal.aborted ? `no answer within ${seconds(timeoutMs)} — ${onTimeout}` : (explained(error) ?? explain(error)),
    };
  } finally {
    clearTimeout(timer);
  }
  const latencyMs = Math.round(performance.now() - started);
  const detail = result.detail ? (JSON.parse(scrubSecrets(JSON.stringify(result.detail), secrets)) as Record<string, unknown>) : undefined;
  return { ...row, ok: result.ok, reason: scrubSecrets(result.reason, secrets), latencyMs, ...(detail ? { detail } : {}) };
}

// ---------------------------------------------------------------------------------------------------------------
// postgres (connectors and the metadata database)

interface PgTarget {
  host: string;
  port: string;
  database: string;
  user: string;
}

function pgTarget(url: string): PgTarget {
  try {
    const parsed = new URL(url);
    return {
      host: parsed.hostname || 'localhost',
      port: parsed.port || '5432',
      database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres',
      user: decodeURIComponent(parsed.username) || 'postgres',
    };
  } catch {
    return { host: 'the server', port: '5432', database: '?', user: '?' };
  }
}

/** Why a postgres connection or query failed, and what to fix (`fix` names the config field). */
function postgresReason(error: unknown, url: string, fix: string, queryFix?: string): string {
  const target = pgTarget(url);
  const where = `${target.host}:${target.port}`;
  const code = errorCode(error);
  const message = messageOf(error);
  const network = networkReason(code, where, 'PostgreSQL', fix);
  if (network) return network;
  if (error instanceof UserError) return `${message} — check ${queryFix ?? fix}`;
  if (/timeout/i.test(message) && /connect/i.test(message)) return `no answer from ${where} while connecting — a firewall, or the wrong host or port? check ${fix}`;
  switch (code) {
    case '28P01':
      return `password authentication failed for user "${target.user}" at ${where} — check the user and password in ${fix}`;
    case '28000':
      return `${message} — the server refuses this user or client address (pg_hba.conf), or the role does not exist; check ${fix}`;
    case '3D000':
      return `database "${target.database}" does not exist at ${where} — check the database name in ${fix}`;
    case '53300':
      return `${where} has too many connections (53300) — try again later, or raise max_connections`;
    case '57P03':
      return `${where} is starting up or shutting down (57P03) — try again in a moment`;
    default:
      break;
  }
  if (/ssl|certificate/i.test(message)) return `${message} — check sslmode and the certificates in ${fix}`;
  if (queryFix && code && /^[0-9A-Z]{5}$/.test(code)) return `the query does not plan: ${message} (${code}) — fix ${queryFix}, or grant this user access`;
  return `${message}${code ? ` (${code})` : ''} — check ${fix}`;
}

async function checkPostgres(url: string, query: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<Verified> {
  // pg's own timeouts a little later than the check's, so the check's timeout is the one reported.
  const client = new PgClient({ connectionString: url, connectionTimeoutMillis: timeoutMs + 1_000, query_timeout: timeoutMs + 1_000, application_name: 'sluice:test-connections' });
  client.on('error', () => undefined);
  const close = () => void client.end().catch(() => undefined);
  signal.addEventListener('abort', close, { once: true });
  try {
    await client.connect();
    const version = String((await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '?').split(' ')[0]!;
    await client.query('SELECT 1');
    const detail: Record<string, unknown> = { server_version: version };
    if (query === undefined) return { reason: `PostgreSQL ${version}, SELECT 1 ok`, detail };
    const bound = bindSourcePath(query);
    await client.query('BEGIN READ ONLY');
    try {
      await client.query(`EXPLAIN ${bound}`, [null]);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
    detail.query = 'plans (EXPLAIN, :source_path bound to NULL)';
    return { reason: `PostgreSQL ${version}, SELECT 1 ok, the query plans (EXPLAIN)`, detail };
  } finally {
    signal.removeEventListener('abort', close);
    close();
  }
}

/** Checks the metadata database (`DATABASE_URL` / `database_url`): the `metadata` row. */
export function testMetadataDatabase(databaseUrl: string | undefined, options: { timeoutMs?: number; secrets?: string[] } = {}): Promise<ConnectionCheck> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const secrets = [...(options.secrets ?? []), ...connectorSecrets({ kind: 'metadata', url: databaseUrl })];
  const fix = 'DATABASE_URL (or database_url in sluice.config.yaml)';
  return runCheck(
    { connector: METADATA_CHECK, kind: 'postgres', system: true },
    timeoutMs,
    secrets,
    async (signal) => {
      if (!databaseUrl) throw new ConfigError('NO_DATABASE', 'no metadata database configured: set DATABASE_URL, set database_url in sluice.config.yaml, or start the local stack with `sluice dev`');
      return checkPostgres(databaseUrl, undefined, timeoutMs, signal);
    },
    (error) => (error instanceof ConfigError ? error.message : postgresReason(error, databaseUrl ?? '', fix)),
    `a firewall, or the wrong host or port? check ${fix}`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// s3

const endpointOf = (config: S3ConnectorConfig) => config.endpoint ?? `https://s3.${config.region}.amazonaws.com`;

/** Why an S3 call failed, and what to fix. */
export function s3Reason(error: unknown, name: string, config: S3ConnectorConfig, bucket?: { bucket: string; usedBy: string }): string {
  const where = endpointOf(config);
  const code = errorCode(error);
  const network = networkReason(code, where, 'the S3 server', `connectors.${name}.endpoint`);
  if (network) return network;
  if (error instanceof UserError) return error.message;
  const s3Code = s3ErrorCode(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const message = messageOf(error);
  if ((error as Error).name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return `no credentials found — set connectors.${name}.access_key_id and secret_access_key, or provide AWS credentials (environment, profile, instance role)`;
  }
  if (s3Code === 'InvalidAccessKeyId' || s3Code === 'XAdminUserNotFound') return `the access key is not known to ${where} (${s3Code}) — check connectors.${name}.access_key_id`;
  if (s3Code === 'SignatureDoesNotMatch') return `the secret key does not match the access key (SignatureDoesNotMatch) — check connectors.${name}.secret_access_key`;
  if (s3Code === 'ExpiredToken' || s3Code === 'InvalidToken') return `the session token is expired or invalid (${s3Code}) — refresh connectors.${name}.session_token`;
  if (bucket) {
    if (status === 404 || s3Code === 'NotFound' || s3Code === 'NoSuchBucket') return `bucket "${bucket.bucket}" (${bucket.usedBy}) does not exist at ${where} — create it, or fix ${bucket.usedBy}.bucket`;
    if (status === 403 || s3Code === 'AccessDenied' || s3Code === 'Forbidden') return `access to bucket "${bucket.bucket}" (${bucket.usedBy}) is denied — check the credentials of connectors.${name} and the bucket policy`;
    if (status === 301 || s3Code === 'PermanentRedirect') return `bucket "${bucket.bucket}" is in another region than ${config.region} — set connectors.${name}.region`;
  }
  return `${message}${s3Code && !message.includes(s3Code) ? ` (${s3Code})` : ''} — check connectors.${name}`;
}

async function checkS3(name: string, config: S3ConnectorConfig, buckets: { bucket: string; usedBy: string }[], signal: AbortSignal): Promise<Verified> {
  const client = createS3Client(config, name);
  try {
    if (buckets.length > 0) {
      for (const b of buckets) {
        try {
          await client.send(new HeadBucketCommand({ Bucket: b.bucket }), { abortSignal: signal });
        } catch (error) {
          throw Object.assign(new Error(s3Reason(error, name, config, b)), { explained: true });
        }
      }
      const list = buckets.map((b) => `${b.bucket} (${b.usedBy})`).join(', ');
      return { reason: `bucket${buckets.length > 1 ? 's' : ''} ${list} reachable`, detail: { endpoint: endpointOf(config), buckets: buckets.map((b) => b.bucket) } };
    }
    try {
      const listed = await client.send(new ListBucketsCommand({}), { abortSignal: signal });
      const count = listed.Buckets?.length ?? 0;
      return {
        reason: `endpoint reached, credentials accepted (ListBuckets: ${count} bucket${count === 1 ? '' : 's'}); no bucket is configured through it, so none was checked`,
        detail: { endpoint: endpointOf(config), buckets: count },
      };
    } catch (error) {
      if (s3ErrorCode(error) === 'AccessDenied') {
        return {
          reason: 'endpoint reached, credentials accepted; listing buckets is not permitted (AccessDenied), and no bucket is configured through it, so none was checked',
          detail: { endpoint: endpointOf(config) },
        };
      }
      throw error;
    }
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// local

async function checkLocal(name: string, config: LocalConnectorConfig, projectDir: string): Promise<Verified> {
  const root = path.resolve(projectDir, config.root);
  const fix = `connectors.${name}.root`;
  const failed = (text: string) => Object.assign(new Error(text), { explained: true });
  let info;
  try {
    info = await stat(root);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') throw failed(`${root} does not exist — create it, or fix ${fix}`);
    throw error;
  }
  if (!info.isDirectory()) throw failed(`${root} is not a directory — fix ${fix}`);
  try {
    await access(root, constants.R_OK | constants.X_OK);
    await readdir(root);
  } catch (error) {
    throw failed(`${root} cannot be listed by this user (${errorCode(error) ?? messageOf(error)}) — fix its permissions`);
  }
  const probe = path.join(root, `.sluice-test-connections-${process.pid}-${randomUUID().slice(0, 8)}`);
  try {
    await writeFile(probe, 'sluice test-connections\n', { flag: 'wx' });
  } catch (error) {
    throw failed(`${root} is not writable by this user (${errorCode(error) ?? messageOf(error)}) — fix its permissions (Sluice moves processed files out of it)`);
  }
  await rm(probe, { force: true });
  return { reason: `${root} is a readable and writable directory`, detail: { root } };
}

// ---------------------------------------------------------------------------------------------------------------
// smtp

/** Why an SMTP verify or send failed, and what to fix. */
export function smtpReason(error: unknown, name: string, config: SmtpConnectorConfig): string {
  const port = config.port ?? (config.secure ? 465 : 587);
  const where = `${config.host}:${port}`;
  const code = errorCode(error);
  const message = messageOf(error);
  const network = networkReason(code, where, 'an SMTP server', `connectors.${name}.host and port`);
  if (network) return network;
  if (code === 'EAUTH') return `authentication failed${config.user ? ` for user "${config.user}"` : ''} (${message}) — check connectors.${name}.user and password`;
  if (code === 'ENOAUTH' || /authentication required|auth.*required/i.test(message)) return `the server requires authentication — set connectors.${name}.user and password`;
  if (code === 'EENVELOPE') return `the server refused the envelope (${message}) — check connectors.${name}.from and the recipients`;
  if (/certificate|self[- ]signed|unable to verify/i.test(message)) return `the TLS certificate of ${where} does not verify (${message}) — fix the server's certificate, or set connectors.${name}.tls_reject_unauthorized: false (not for production)`;
  if (/wrong version number|ssl routines|packet length/i.test(message)) return `TLS mismatch at ${where} (${message}) — set connectors.${name}.secure: true for implicit TLS (port 465), false for STARTTLS (587/25)`;
  if (code === 'ETIMEDOUT' || /timeout/i.test(message)) return `no answer from ${where} within connectors.${name}.timeout_ms (${message}) — a firewall, or the wrong host or port?`;
  return `${message}${code ? ` (${code})` : ''} — check connectors.${name}`;
}

async function checkSmtp(name: string, config: SmtpConnectorConfig, to: string[], environment: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<Verified> {
  const transport = createSmtpTransport({ ...config, timeout_ms: Math.min(config.timeout_ms, timeoutMs) });
  const close = () => transport.close();
  signal.addEventListener('abort', close, { once: true });
  const port = config.port ?? (config.secure ? 465 : 587);
  try {
    await transport.verify();
    if (to.length === 0) {
      return {
        reason: `verified ${config.host}:${port} (connect, greeting${config.user ? ', authentication' : ''}); no test email sent: name this connector in notifications.email or give --to <address>`,
        detail: { host: config.host, port, email: null },
      };
    }
    const info = (await transport.sendMail({
      from: config.from,
      to,
      subject: `Sluice test-connections: ${name} OK`,
      text: [
        `This is a test email from \`sluice test-connections\`${environment ? ` (environment ${environment})` : ''}.`,
        `It was sent through the smtp connector "${name}" (${config.host}:${port}) at ${new Date().toISOString()}.`,
        'If you received it, Sluice can email you about pipeline problems. No action is needed.',
        '',
      ].join('\n'),
    })) as { messageId?: string; accepted?: unknown[]; rejected?: unknown[]; response?: string };
    const rejected = (info.rejected ?? []).map(String);
    if (rejected.length > 0) throw Object.assign(new Error(`the server refused recipient${rejected.length > 1 ? 's' : ''} ${rejected.join(', ')} — check the addresses`), { explained: true });
    return {
      reason: `verified ${config.host}:${port}; test email sent to ${to.join(', ')}`,
      detail: { host: config.host, port, email: { to, message_id: info.messageId ?? null, response: info.response ?? null } },
    };
  } finally {
    signal.removeEventListener('abort', close);
    close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// temporal

/** A TCP connection to host:port, so a refused port fails at once instead of at the gRPC deadline. */
function tcpProbe(host: string, port: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const abort = () => socket.destroy();
    signal.addEventListener('abort', abort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', abort);
      socket.end();
      resolve();
    });
    socket.once('error', (error) => {
      signal.removeEventListener('abort', abort);
      reject(error);
    });
  });
}

function splitAddress(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  return match ? { host: match[1]!, port: Number(match[2]) } : { host: address, port: 7233 };
}

/** Checks Temporal: the `temporal` row. */
export function testTemporal(temporal: { address: string; namespace: string }, options: { timeoutMs?: number } = {}): Promise<ConnectionCheck> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const fix = 'temporal.address (or TEMPORAL_ADDRESS)';
  return runCheck(
    { connector: TEMPORAL_CHECK, kind: 'temporal', system: true },
    timeoutMs,
    [],
    async (signal) => {
      const { host, port } = splitAddress(temporal.address);
      await tcpProbe(host, port, signal);
      const connection = await Connection.connect({ address: temporal.address, connectTimeout: timeoutMs });
      const close = () => void connection.close().catch(() => undefined);
      signal.addEventListener('abort', close, { once: true });
      try {
        const info = await connection.workflowService.getSystemInfo({});
        try {
          await connection.workflowService.describeNamespace({ namespace: temporal.namespace });
        } catch (error) {
          if (/not found|NOT_FOUND/i.test(messageOf(error)) || (error as { code?: unknown }).code === 5) {
            throw Object.assign(
              new Error(`namespace "${temporal.namespace}" does not exist at ${temporal.address} — create it (temporal operator namespace create --namespace ${temporal.namespace}), or fix temporal.namespace (TEMPORAL_NAMESPACE)`),
              { explained: true },
            );
          }
          throw error;
        }
        const version = info.serverVersion || 'server';
        return { reason: `Temporal ${version} at ${temporal.address}, namespace ${temporal.namespace}`, detail: { server_version: info.serverVersion || null, namespace: temporal.namespace } };
      } finally {
        signal.removeEventListener('abort', close);
        close();
      }
    },
    (error) => networkReason(errorCode(error), temporal.address, 'the Temporal server (`sluice dev` starts one)', fix) ?? `${messageOf(error)} — check ${fix}`,
    `is the Temporal server up? check ${fix}`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// one connector, all of them

/**
 * Checks one connector (see the table at the top of this module for what each kind checks).
 * Never throws: a failure is a result with `ok: false` and a reason saying what to fix.
 */
export function testConnection(name: string, config: ConnectorConfig, options: TestConnectionOptions): Promise<ConnectionCheck> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const secrets = [...(options.secrets ?? []), ...connectorSecrets(config)];
  const row = { connector: name, kind: config.kind };
  switch (config.kind) {
    case 'postgres': {
      const url = config.url ?? options.databaseUrl;
      const fix = config.url ? `connectors.${name}.url` : `DATABASE_URL (connectors.${name} has no url, so it uses the metadata database)`;
      return runCheck(
        row,
        timeoutMs,
        [...secrets, ...connectorSecrets({ kind: 'metadata', url })],
        async (signal) => {
          if (!url) throw new ConfigError('NO_DATABASE', `connectors.${name} has no url and no metadata database is configured — set connectors.${name}.url, or DATABASE_URL`);
          return checkPostgres(url, (config as PostgresConnectorConfig).query, timeoutMs, signal);
        },
        (error) => (error instanceof ConfigError ? error.message : postgresReason(error, url ?? '', fix, `connectors.${name}.query`)),
        `a firewall, or the wrong host or port? check ${fix}`,
      );
    }
    case 's3':
      return runCheck(
        row,
        timeoutMs,
        secrets,
        (signal) => checkS3(name, config, options.buckets ?? [], signal),
        (error) => s3Reason(error, name, config),
        `is the S3 endpoint ${endpointOf(config)} right and reachable? check connectors.${name}.endpoint and region`,
      );
    case 'mysql':
      return runCheck(
        row,
        timeoutMs,
        secrets,
        (signal) => checkMysql(name, config, timeoutMs, signal),
        (error) => {
          let where = 'the server';
          try {
            where = `${new URL(config.url).hostname}:${new URL(config.url).port || '3306'}`;
          } catch {
            // an unparsable URL: the driver's own message says so
          }
          return networkReason(errorCode(error), where, 'MySQL/MariaDB', `connectors.${name}.url`) ?? `${messageOf(error)} — check connectors.${name}.url`;
        },
        `a firewall, or the wrong host or port? check connectors.${name}.url`,
      );
    case 'local':
      return runCheck(
        row,
        timeoutMs,
        secrets,
        () => checkLocal(name, config, options.projectDir),
        (error) => `${messageOf(error)} — check connectors.${name}.root`,
        `is ${path.resolve(options.projectDir, config.root)} on a hung network mount?`,
      );
    case 'smtp':
      return runCheck(
        row,
        timeoutMs,
        secrets,
        (signal) => checkSmtp(name, config, options.emailTo ?? [], options.environment, timeoutMs, signal),
        (error) => smtpReason(error, name, config),
        `a firewall, or the wrong host or port? check connectors.${name}.host and port`,
      );
    case 'sftp':
      return runCheck(
        row,
        timeoutMs,
        secrets,
        async () => {
          const { root, hostKey } = await new SftpSource(config, name, options.projectDir).describe();
          return { reason: `connected to ${config.host}:${config.port} as ${config.username}, host key ${hostKey}, root ${root} is a folder`, detail: { root, host_key: hostKey } };
        },
        (error) => messageOf(error),
        `a firewall, or the wrong host or port? check connectors.${name}.host and port`,
      );
  }
}

/**
 * A mysql connector through its own `check()`s: the source's (must pass), then the target's (a failure is a note:
 * the connector still works as a source). Errors carry their own words (AccessError, SourceError) as `explained`.
 */
async function checkMysql(name: string, config: MysqlConnectorConfig, timeoutMs: number, signal: AbortSignal): Promise<Verified> {
  const pool = createMysqlPool(config.url, { label: `mysql connector "${name}"`, logger: { warn: () => undefined }, connectTimeoutMs: timeoutMs });
  signal.addEventListener('abort', () => void pool.end().catch(() => undefined));
  const access = { kind: 'mysql' as const, connector: name, url: config.url };
  try {
    try {
      await new MysqlSource(pool, name, config.query, access).check();
    } catch (error) {
      if (error instanceof UserError) Object.assign(error, { explained: true });
      throw error;
    }
    const [rows] = await pool.query<RowDataPacket[]>('SELECT VERSION() AS version');
    const version = String(rows[0]?.version ?? '');
    let target = 'loadable (local_infile on)';
    try {
      await new MysqlTarget(pool, name, access).check();
    } catch (error) {
      target = `cannot be a target: ${messageOf(error)}`;
    }
    return { reason: `connected, server ${version}${config.query ? ', query prepared' : ''}; ${target}`, detail: { server_version: version } };
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/** Options of {@link testConnections}. */
export interface TestConnectionsOptions {
  /** Only these rows: connector names, `metadata`, `temporal`. @default all */
  only?: string[];
  /** Recipients of the test email for smtp connectors that `notifications.email` does not name. */
  to?: string[];
  /** Per check. @default 10000 */
  timeoutMs?: number;
  /** The environment's name, for the test email. */
  environment?: string;
}

/** The buckets config reaches through each s3 connector: `staging.s3` and `data_store.s3`. */
function configuredBuckets(config: Pick<SluiceConfig, 'staging' | 'dataStore'>): Map<string, { bucket: string; usedBy: string }[]> {
  const byConnector = new Map<string, { bucket: string; usedBy: string }[]>();
  const add = (location: { connector: string; bucket: string } | undefined, usedBy: string) => {
    if (!location) return;
    const list = byConnector.get(location.connector) ?? [];
    if (!list.some((b) => b.bucket === location.bucket)) list.push({ bucket: location.bucket, usedBy });
    byConnector.set(location.connector, list);
  };
  add(config.staging.s3, 'staging.s3');
  if (config.dataStore.backend === 's3') add(config.dataStore.s3, 'data_store.s3');
  return byConnector;
}

/**
 * Checks every connector of a config (in the order written), then the metadata database and Temporal, all in
 * parallel. Never throws for a failed check.
 * @throws ConfigError `UNKNOWN_CONNECTOR` when `only` names something that is neither a connector nor a system row.
 */
export async function testConnections(config: SluiceConfig, options: TestConnectionsOptions = {}): Promise<ConnectionCheck[]> {
  const names = Object.keys(config.connectors);
  const unavailable = Object.entries(config.unavailableConnectors ?? {});
  const known = [...names, ...unavailable.map(([name]) => name), METADATA_CHECK, TEMPORAL_CHECK];
  const only = options.only && options.only.length > 0 ? new Set(options.only) : undefined;
  const unknown = only ? [...only].filter((n) => !known.includes(n)) : [];
  if (unknown.length > 0) {
    throw new ConfigError(
      'UNKNOWN_CONNECTOR',
      `--only names ${unknown.map((n) => `"${n}"`).join(', ')}, which ${unknown.length > 1 ? 'are not connectors' : 'is not a connector'} of this environment; choose from ${known.join(', ')}`,
    );
  }
  const wanted = (name: string) => !only || only.has(name);
  const secrets = configSecrets(config);
  const buckets = configuredBuckets(config);
  const email = config.notifications?.email;
  const checks: Promise<ConnectionCheck>[] = names.filter(wanted).map((name) =>
    testConnection(name, config.connectors[name]!, {
      projectDir: config.projectDir,
      databaseUrl: config.databaseUrl,
      timeoutMs: options.timeoutMs,
      emailTo: email?.connector === name ? email.to : (options.to ?? []),
      buckets: buckets.get(name) ?? [],
      environment: options.environment,
      secrets,
    }),
  );
  // A connector whose ${env:…} is unset cannot be checked: it is FAILED with the reason.
  for (const [name, { kind, reason }] of unavailable.filter(([name]) => wanted(name))) {
    checks.push(Promise.resolve({ connector: name, kind, ok: false, reason: `${reason}; set it and run again`, latencyMs: 0 }));
  }
  if (wanted(METADATA_CHECK)) checks.push(testMetadataDatabase(config.databaseUrl, { timeoutMs: options.timeoutMs, secrets }));
  if (wanted(TEMPORAL_CHECK)) checks.push(testTemporal(config.temporal, { timeoutMs: options.timeoutMs }));
  return Promise.all(checks);
}
