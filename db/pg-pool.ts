/**
 * PostgreSQL pools and held clients that survive the server going away (a restart, a failover, a
 * network cut): a dropped connection fails the operation in progress with a retryable error, never
 * the process.
 *
 * Why this is needed: `pg` emits `error` on a client whose connection drops, besides failing the
 * query in progress, and an `error` event with no listener ends a Node process. `pg-pool` listens on
 * *idle* clients only — it removes its listener when a client is checked out (`pool.connect()`) — and
 * re-emits an idle client's error on the Pool, where again nobody may listen. So:
 * - every Pool is made with {@link createPool}, which logs its idle clients' errors (the pool drops the
 *   broken client and opens a new one on next use);
 * - every held client is taken with {@link withPgClient}, which listens for the client's `error` while
 *   it is held and turns a dropped connection into `TransientError` `CONNECTION_LOST` (the activity
 *   fails, Temporal retries it; an open transaction was rolled back by the server).
 *
 * `pool.query()` needs neither: pg-pool listens on the client for the one query.
 *
 * @example
 * ```ts
 * const pool = createPool({ connectionString, max: 4 }, { label: 'postgres connector "warehouse"', logger });
 * const rows = await withPgClient(pool, 'postgres connector "warehouse"', async (client) => {
 *   await client.query('BEGIN');
 *   …
 * });
 * ```
 */
import { Pool, type PoolClient, type PoolConfig } from 'pg';
import type { Logger } from 'pino';
import { TransientError } from '../common/errors';

/** What {@link createPool} logs with. */
export type PoolLogger = Pick<Logger, 'warn'>;

/**
 * A `pg` Pool whose idle clients' connection errors are logged at `warn` (with `label`), never thrown.
 * @param label what the pool connects to, for the log: `the metadata database`, `postgres connector "erp"`.
 */
export function createPool(config: PoolConfig, options: { label: string; logger: PoolLogger }): Pool {
  const pool = new Pool(config);
  pool.on('error', (error) =>
    options.logger.warn({ err: error, database: options.label }, `an idle connection to ${options.label} was closed (${error.message}); the pool opens a new one on next use`),
  );
  return pool;
}

/**
 * SQLSTATEs and socket errors that mean the connection itself is gone: class 08 (connection
 * exception), 57P01–57P03 (the server shutting down, crashed, or starting up), and Node's socket errors.
 */
function isConnectionLoss(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^(08|57P0[1-3]|ECONNRESET$|EPIPE$|ETIMEDOUT$|ECONNREFUSED$)/.test(code)) return true;
  return error instanceof Error && /^(Connection terminated|Client has encountered a connection error)/.test(error.message);
}

/**
 * Checks a client out of `pool`, runs `work` with it and releases it, listening for the client's
 * `error` event for as long as it is held. A client whose connection dropped is released broken
 * (the pool discards it), so it is never handed out again.
 *
 * @param label what the pool connects to, in the error message: `postgres connector "warehouse"`,
 *   `the metadata database`.
 * @returns what `work` returns.
 * @throws TransientError `CONNECTION_LOST` (retryable; the cause is pg's error) when the connection
 *   dropped while held and `work` failed; otherwise whatever `work` throws, and pg's errors from the
 *   checkout itself (server unreachable, credentials refused).
 */
export async function withPgClient<T>(pool: Pool, label: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost ??= error;
  };
  client.on('error', onError);
  let broken: Error | undefined;
  try {
    return await work(client);
  } catch (error) {
    if (lost || isConnectionLoss(error)) {
      broken = lost ?? (error as Error);
      throw new TransientError(
        'CONNECTION_LOST',
        `the connection to ${label} was lost while in use: ${(error as Error).message}; the work in progress was abandoned (an open transaction is rolled back by the server) and is retried`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    client.removeListener('error', onError);
    client.release(broken ?? lost);
  }
}
