/**
 * Connection tests: `sluice test-connections` checks every connector of an environment, plus the
 * metadata database and Temporal, and says for each whether it works and, if not, what to fix.
 *
 * This module is orchestration only: each connector is checked by its own `check()` (through
 * {@link ConnectorRegistry.check}; the probes live in connectors/), the metadata database by the postgres
 * connector's probe; only Temporal's check is here. What each kind checks (every check has a timeout,
 * @default 10 s, and runs in parallel with the others):
 *
 * | kind | check |
 * |---|---|
 * | `postgres` | (connectors/postgres/postgres-check.ts) connect, `SHOW server_version`, `SELECT 1`; with a `query`, `EXPLAIN` it in a read-only transaction with `:source_path` bound to NULL (plans it: tables, columns and grants are checked, nothing is read) |
 * | `s3` | (connectors/s3/s3-check.ts) `HeadBucket` on every bucket config sends through this connector (`staging.s3`, `data_store.s3`); when none, `ListBuckets` (endpoint reachable, credentials accepted; an `AccessDenied` answer still proves the credentials and is OK, with a note) |
 * | `mysql` | the connector's own `check()`s (connectors/mysql/): connect, the server version, with a `query` prepare it (parsed, tables and columns resolved, nothing read); then the target check (`local_infile` on) — when it fails the row stays OK, its reason saying the connector cannot be a target |
 * | `local` | (`LocalSource.check`) the root exists, is a directory, can be listed, and a temporary file can be written and deleted in it |
 * | `smtp` | (connectors/smtp/smtp-check.ts) nodemailer `verify()` (connect, greeting, TLS, authentication), then a real test email "Sluice test-connections: <connector> OK" to `notifications.email.to` when that section names this connector, else to the `to` addresses given (`--to`), else no email (said in the reason) |
 * | `sftp` | the connector's own `check()`: connect, the host key matches `host_key`, authenticated, `root` exists and is a folder |
 * | metadata | the metadata database (`DATABASE_URL` / `database_url`), with the postgres probe: connect, server version, `SELECT 1` |
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
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Connection } from '@temporalio/client';
import { ConfigError } from '../common/errors';
import type { ConnectorConfig, SluiceConfig } from '../config/sluice-config';
import { CheckFailure, DEFAULT_CHECK_TIMEOUT_MS, errorCode, messageOf, networkReason, probe, scrubDetail, scrubSecrets } from '../connectors/check';
import type { CheckResult } from '../connectors/connector';
import { checkPostgres } from '../connectors/postgres/postgres-check';
import { connectorSecrets, ConnectorRegistry, urlSecrets } from '../connectors/registry';

export { DEFAULT_CHECK_TIMEOUT_MS, scrubSecrets };

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
  /** Folder `local` roots (and sftp `private_key_file`) are resolved against. */
  projectDir: string;
  /** The metadata database, used by `postgres` connectors that have no `url`. */
  databaseUrl?: string;
  /** Give up on the check after this many ms. @default 10000 */
  timeoutMs?: number;
  /** `smtp`: send the test email to these addresses (none: verify only). */
  emailTo?: string[];
  /** For the test email's text. */
  environment?: string;
  /** Secret values to mask in reasons (all of the config's); the connector's own are always masked. */
  secrets?: string[];
}

/** The system rows' names. */
export const METADATA_CHECK = 'metadata';
export const TEMPORAL_CHECK = 'temporal';

/** Every secret value of a config: what reasons are scrubbed of. */
export function configSecrets(config: Pick<SluiceConfig, 'connectors' | 'databaseUrl'>): string[] {
  return [...Object.values(config.connectors).flatMap((c) => connectorSecrets(c)), ...urlSecrets(config.databaseUrl)];
}

/** Times a check and masks `secrets` in its reason and detail: one row. */
async function timed(row: Pick<ConnectionCheck, 'connector' | 'kind' | 'system'>, secrets: string[], check: () => Promise<CheckResult>): Promise<ConnectionCheck> {
  const started = performance.now();
  let result: CheckResult;
  try {
    result = await check();
  } catch (error) {
    // The registry refuses a name it cannot check (a ConfigError in Sluice's words); a check itself never rejects.
    result = { ok: false, reason: messageOf(error) };
  }
  const latencyMs = Math.round(performance.now() - started);
  const detail = scrubDetail(result.detail, secrets);
  return { ...row, ok: result.ok, reason: scrubSecrets(result.reason, secrets), latencyMs, ...(detail ? { detail } : {}) };
}

/** Checks the metadata database (`DATABASE_URL` / `database_url`) with the postgres connector's probe: the `metadata` row. */
export function testMetadataDatabase(databaseUrl: string | undefined, options: { timeoutMs?: number; secrets?: string[] } = {}): Promise<ConnectionCheck> {
  const secrets = [...(options.secrets ?? []), ...urlSecrets(databaseUrl)];
  const row = { connector: METADATA_CHECK, kind: 'postgres' as const, system: true };
  return timed(row, secrets, async () => {
    if (!databaseUrl) {
      return { ok: false, reason: 'no metadata database configured: set DATABASE_URL, set database_url in sluice.config.yaml, or start the local stack with `sluice dev`', code: 'NO_DATABASE' };
    }
    return checkPostgres({ url: databaseUrl, fix: 'DATABASE_URL (or database_url in sluice.config.yaml)', timeoutMs: options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// temporal (not a connector: its check is Sluice's own)

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
  return timed({ connector: TEMPORAL_CHECK, kind: 'temporal', system: true }, [], () =>
    probe(
      { timeoutMs },
      {
        onTimeout: `is the Temporal server up? check ${fix}`,
        explain: (error) => networkReason(errorCode(error), temporal.address, 'the Temporal server (`sluice dev` starts one)', fix) ?? `${messageOf(error)} — check ${fix}`,
        body: async (signal) => {
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
                throw new CheckFailure(
                  `namespace "${temporal.namespace}" does not exist at ${temporal.address} — create it (temporal operator namespace create --namespace ${temporal.namespace}), or fix temporal.namespace (TEMPORAL_NAMESPACE)`,
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
      },
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// connectors: orchestration over their own check()

/** A registry only for checks: its pools' dropped connections are not logged (the check's result says it all). */
const QUIET = { warn: () => undefined };

/** Ends a registry's pools, waiting at most 2 s (a connect that timed out may still be pending; it ends on its own). */
async function closeSoon(registry: ConnectorRegistry): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([registry.close(), new Promise<void>((resolve) => (timer = setTimeout(resolve, 2_000)))]);
  clearTimeout(timer);
}

/** One connector's row, through {@link ConnectorRegistry.check}. */
function checkRow(registry: ConnectorRegistry, name: string, kind: ConnectorConfig['kind'], secrets: string[], options: { timeoutMs?: number; emailTo?: string[]; environment?: string }): Promise<ConnectionCheck> {
  return timed({ connector: name, kind }, secrets, () =>
    registry.check(name, {
      timeoutMs: options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS,
      emailTo: options.emailTo ?? [],
      ...(options.environment ? { environment: options.environment } : {}),
    }),
  );
}

/**
 * Checks one connector through its own `check()` (see the table at the top of this module).
 * Never throws: a failure is a result with `ok: false` and a reason saying what to fix.
 */
export async function testConnection(name: string, config: ConnectorConfig, options: TestConnectionOptions): Promise<ConnectionCheck> {
  const registry = new ConnectorRegistry(
    {
      projectDir: options.projectDir,
      databaseUrl: options.databaseUrl,
      environment: options.environment ?? 'dev',
      connectors: { [name]: config },
      staging: {},
      dataStore: { backend: 'local' },
    } as unknown as SluiceConfig,
    QUIET,
  );
  try {
    return await checkRow(registry, name, config.kind, [...(options.secrets ?? []), ...connectorSecrets(config)], options);
  } finally {
    await closeSoon(registry);
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

/**
 * Checks every connector of a config (in the order written) through its own `check()`, then the metadata database
 * and Temporal, all in parallel. Never throws for a failed check.
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
  const email = config.notifications?.email;
  const registry = new ConnectorRegistry(config, QUIET);
  try {
    const checks: Promise<ConnectionCheck>[] = names.filter(wanted).map((name) =>
      checkRow(registry, name, config.connectors[name]!.kind, secrets, {
        timeoutMs: options.timeoutMs,
        emailTo: email?.connector === name ? email.to : (options.to ?? []),
        environment: options.environment,
      }),
    );
    // A connector whose ${env:…} is unset cannot be checked: it is FAILED with the reason.
    for (const [name, { kind, reason }] of unavailable.filter(([name]) => wanted(name))) {
      checks.push(Promise.resolve({ connector: name, kind, ok: false, reason: `${reason}; set it and run again`, latencyMs: 0 }));
    }
    if (wanted(METADATA_CHECK)) checks.push(testMetadataDatabase(config.databaseUrl, { timeoutMs: options.timeoutMs, secrets }));
    if (wanted(TEMPORAL_CHECK)) checks.push(testTemporal(config.temporal, { timeoutMs: options.timeoutMs }));
    return await Promise.all(checks);
  } finally {
    await closeSoon(registry);
  }
}
