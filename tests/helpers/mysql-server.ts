/**
 * The machine's MySQL/MariaDB for tests (`MYSQL_TEST_URL`-less: root, no password, 127.0.0.1:3306): a
 * fresh database per test file, dropped after. Without CI a test file skips when no server answers;
 * with `CI` set it fails instead (`.ci/run` starts MariaDB when it is not running).
 */
import { randomUUID } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';

/** The server tests use, as root. */
export const MYSQL_ADMIN_URL = 'mysql://root@127.0.0.1:3306/';

/** A fresh database on the test server. */
export interface MysqlTestDatabase {
  /** `mysql://root@127.0.0.1:3306/<name>`. */
  url: string;
  name: string;
  /** A connection to it, for assertions (closed by `drop`). */
  connection: Connection;
  drop(): Promise<void>;
}

/** True when the test server answers; never throws. */
export async function mysqlAvailable(): Promise<boolean> {
  try {
    const connection = await createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 3_000 });
    await connection.end();
    return true;
  } catch {
    return false;
  }
}

/** Why a test file skips: a reason without CI, false (run; fail when the server is missing) with CI. */
export async function mysqlSkip(): Promise<string | false> {
  if (process.env.CI) return false;
  return (await mysqlAvailable()) ? false : 'no MySQL/MariaDB at 127.0.0.1:3306 (root, no password)';
}

/** Creates `sluice_test_<random>` and returns it with a connection (BIGINT and DECIMAL as exact strings, dates as text). */
export async function createMysqlTestDatabase(): Promise<MysqlTestDatabase> {
  const name = `sluice_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = await createConnection({ uri: MYSQL_ADMIN_URL });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  await admin.end();
  const url = `${MYSQL_ADMIN_URL}${name}`;
  const connection = await createConnection({ uri: url, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true, jsonStrings: true, timezone: 'Z' });
  connection.on('error', () => undefined);
  return {
    url,
    name,
    connection,
    async drop() {
      await connection.end().catch(() => undefined);
      const c = await createConnection({ uri: MYSQL_ADMIN_URL });
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}
