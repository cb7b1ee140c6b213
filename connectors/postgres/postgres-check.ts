/**
 * The `postgres` connector's check (its source's and its target's), and the metadata database's: a connection of
 * its own (not the pool's, so a check never waits behind a busy pool), `SHOW server_version`, `SELECT 1`; with a
 * `query`, `EXPLAIN` it in a read-only transaction with `:source_path` bound to NULL (plans it: tables, columns
 * and grants are checked, nothing is read).
 *
 * @example
 * ```ts
 * await checkPostgres({ url, fix: 'connectors.warehouse.url', query: 'SELECT * FROM t WHERE batch = :source_path', queryFix: 'connectors.warehouse.query' });
 * // { ok: true, reason: 'PostgreSQL 16.4, SELECT 1 ok, the query plans (EXPLAIN)', detail: { server_version: '16.4', query: '…' } }
 * ```
 */
import { Client as PgClient } from 'pg';
import { UserError } from '../../common/errors';
import { LIBPQ_PASSWORD } from '../../config/secrets';
import { accessError, type PostgresAccess } from '../access-errors';
import { CheckFailure, DEFAULT_CHECK_TIMEOUT_MS, errorCode, messageOf, networkReason, probe } from '../check';
import type { CheckOptions, CheckResult } from '../connector';
import { bindSourcePath } from './bind-source-path';

/** What {@link checkPostgres} checks. */
export interface PostgresCheckRequest extends CheckOptions {
  /** The connection URL (or libpq string). */
  url: string;
  /** The setting to fix, named in reasons: `connectors.warehouse.url`, `DATABASE_URL (…)`. */
  fix: string;
  /** A source query with `:source_path`, planned with EXPLAIN. */
  query?: string;
  /** The setting of the query, named in reasons: `connectors.warehouse.query`. */
  queryFix?: string;
}

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

/** The password of a URL (raw and decoded) or libpq string: masked in reasons besides URL passwords. */
function urlSecrets(url: string): string[] {
  try {
    const password = new URL(url).password;
    return password ? [password, decodeURIComponent(password)] : [];
  } catch {
    const password = LIBPQ_PASSWORD.exec(url)?.[2];
    return password ? [password.replace(/^'|'$/g, '')] : [];
  }
}

/** Why a postgres connection or query failed, and what to fix. */
function postgresReason(error: unknown, url: string, fix: string, queryFix?: string): string {
  const target = pgTarget(url);
  const where = `${target.host}:${target.port}`;
  const code = errorCode(error);
  const message = messageOf(error);
  const network = networkReason(code, where, 'PostgreSQL', fix);
  if (network) return network;
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

/** The stable code of a failure: AUTH_FAILED / PERMISSION_DENIED when the server refused, INVALID_QUERY when the query does not plan. */
function failureCode(error: unknown, access: PostgresAccess, query: boolean): CheckFailure['code'] {
  const refused = accessError(error, access);
  if (refused) return refused.code;
  const code = (error as { code?: unknown }).code;
  if (query && typeof code === 'string' && /^(42|22)/.test(code)) return 'INVALID_QUERY';
  return undefined;
}

/** Checks a PostgreSQL server (see the module comment). Never rejects. */
export function checkPostgres(request: PostgresCheckRequest): Promise<CheckResult> {
  const { url, fix, query, queryFix } = request;
  const timeoutMs = request.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const access: PostgresAccess = { kind: 'postgres', name: fix, url, setting: fix };
  return probe(request, {
    secrets: urlSecrets(url),
    onTimeout: `a firewall, or the wrong host or port? check ${fix}`,
    explain: (error) => postgresReason(error, url, fix, queryFix),
    body: async (signal) => {
      // pg's own timeouts a little later than the check's, so the check's timeout is the one reported.
      const client = new PgClient({ connectionString: url, connectionTimeoutMillis: timeoutMs + 1_000, query_timeout: timeoutMs + 1_000, application_name: 'sluice:check' });
      client.on('error', () => undefined);
      const close = () => void client.end().catch(() => undefined);
      signal.addEventListener('abort', close, { once: true });
      try {
        await client.connect();
        const version = String((await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '?').split(' ')[0]!;
        await client.query('SELECT 1');
        const detail: Record<string, unknown> = { server_version: version };
        if (query === undefined) return { reason: `PostgreSQL ${version}, SELECT 1 ok`, detail };
        let bound: string;
        try {
          bound = bindSourcePath(query);
        } catch (error) {
          throw new CheckFailure(`${messageOf(error)} — check ${queryFix ?? fix}`, error instanceof UserError ? error.code : undefined);
        }
        await client.query('BEGIN READ ONLY');
        try {
          await client.query(`EXPLAIN ${bound}`, [null]);
        } finally {
          await client.query('ROLLBACK').catch(() => undefined);
        }
        detail.query = 'plans (EXPLAIN, :source_path bound to NULL)';
        return { reason: `PostgreSQL ${version}, SELECT 1 ok, the query plans (EXPLAIN)`, detail };
      } catch (error) {
        if (error instanceof CheckFailure || signal.aborted) throw error;
        throw new CheckFailure(postgresReason(error, url, fix, queryFix), failureCode(error, access, query !== undefined));
      } finally {
        signal.removeEventListener('abort', close);
        close();
      }
    },
  });
}
