/**
 * MySQL/MariaDB pools and held connections that survive the server going away (a restart, a
 * network cut): a dropped connection fails the operation in progress with the retryable
 * `CONNECTION_LOST`, never the process — the `mysql2` counterpart of db/pg-pool.ts.
 *
 * `mysql2` emits `error` on a connection whose socket drops when no command is waiting for it, and
 * an `error` event with no listener ends a Node process. So every connection the pool opens gets a
 * permanent listener that logs (the pool drops the broken connection and opens a new one on next use),
 * and {@link withMysqlConnection} records such an error while it holds a connection, so the work's
 * failure becomes `CONNECTION_LOST`.
 *
 * Every connection reads values the way the mysql source stages them: `BIGINT` and `DECIMAL` as exact
 * text (`supportBigNumbers`, `bigNumberStrings`), dates and times as the server's text (`dateStrings`),
 * JSON as its text (`jsonStrings`), in the session time zone UTC (`TIMESTAMP` columns are shown in UTC).
 *
 * @example
 * ```ts
 * const pool = createMysqlPool('mysql://app:secret@db:3306/shop', { label: 'mysql connector "shop"', logger });
 * const rows = await withMysqlConnection(pool, 'mysql connector "shop"', (connection) => connection.query('SELECT 1'));
 * ```
 */
import { createPool, type Pool, type PoolConnection } from 'mysql2/promise';
import { TransientError } from '../../common/errors';
import type { PoolLogger } from '../../db/pg-pool';

/**
 * A `mysql2` pool on `url` (`mysql://user:password@host:port/database`) with at most 4 connections,
 * whose connections' errors are logged at `warn` (with `label`), never thrown.
 */
export function createMysqlPool(url: string, options: { label: string; logger: PoolLogger; connectTimeoutMs?: number }): Pool {
  const pool = createPool({
    uri: url,
    connectionLimit: 4,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    jsonStrings: true,
    timezone: 'Z',
    charset: 'utf8mb4',
    connectTimeout: options.connectTimeoutMs ?? 10_000,
  });
  const core = pool.pool;
  core.on('connection', (connection) => {
    connection.on('error', (error: Error) =>
      options.logger.warn({ err: error, database: options.label }, `a connection to ${options.label} was closed (${error.message}); the pool opens a new one on next use`),
    );
    // TIMESTAMP values are converted to the session zone: read and write them in UTC.
    connection.query("SET time_zone = '+00:00'");
  });
  return pool;
}

/** mysql2 and Node codes that mean the connection itself is gone; `ER_SERVER_SHUTDOWN` (1053) too. */
const LOST_CODES = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED', 'PROTOCOL_SEQUENCE_TIMEOUT']);

/** True when `error` says the connection dropped (not a statement's own error). */
export function isMysqlConnectionLoss(error: unknown): boolean {
  const shape = error as { code?: unknown; fatal?: unknown; errno?: unknown };
  if (typeof shape.code === 'string' && LOST_CODES.has(shape.code)) return true;
  return error instanceof Error && /Can't add new command when connection is in closed state|connection is in closed state/i.test(error.message);
}

/**
 * Takes a connection from `pool`, runs `work` with it and releases it (destroys it when it broke, or
 * when `work` failed mid-command, so a half-read result never reaches the next user).
 *
 * @param label what the pool connects to, in the error message: `mysql connector "shop"`.
 * @throws TransientError `CONNECTION_LOST` (retryable; the cause is mysql2's error) when the connection
 *   dropped while held and `work` failed; otherwise whatever `work` throws, and mysql2's errors from
 *   the checkout itself (server unreachable, credentials refused).
 */
export async function withMysqlConnection<T>(pool: Pool, label: string, work: (connection: PoolConnection) => Promise<T>): Promise<T> {
  const connection = await pool.getConnection();
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost ??= error;
  };
  connection.connection.on('error', onError);
  let healthy = true;
  try {
    return await work(connection);
  } catch (error) {
    healthy = false;
    if (lost || isMysqlConnectionLoss(error)) {
      throw new TransientError(
        'CONNECTION_LOST',
        `the connection to ${label} was lost while in use: ${(error as Error).message}; the work in progress was abandoned (an open transaction is rolled back by the server) and is retried`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    connection.connection.removeListener('error', onError);
    if (healthy && !lost) connection.release();
    else connection.destroy();
  }
}
