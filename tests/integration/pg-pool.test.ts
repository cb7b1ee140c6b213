/**
 * Integration: db/pg-pool.ts on a real PostgreSQL. A held client's connection is cut by the server
 * (`pg_terminate_backend` on that one backend — the shared server is never restarted) during a
 * query and between queries; an idle pooled client is cut too. Before these helpers each of these
 * ended the process with an unhandled `error` event (which would end this test file).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Pool } from 'pg';
import { TransientError } from '../../common/errors';
import { createPool, withPgClient } from '../../db/pg-pool';
import { createTestDatabase, type TestDatabase } from '../helpers/services';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOST = /^the connection to the test database was lost while in use: terminating connection due to administrator command; the work in progress was abandoned \(an open transaction is rolled back by the server\) and is retried$/;

describe('withPgClient and createPool', () => {
  let db: TestDatabase;
  let pool: Pool;
  const warnings: { object: Record<string, unknown>; message: string }[] = [];

  before(async () => {
    db = await createTestDatabase();
    pool = createPool({ connectionString: db.url, max: 2 }, { label: 'the test database', logger: { warn: ((object: Record<string, unknown>, message: string) => warnings.push({ object, message })) as never } });
  });

  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  /** Terminates the backend with `pid` from another connection. */
  const terminate = (pid: number) => db.pool.query('SELECT pg_terminate_backend($1)', [pid]);

  it('a connection cut during a query: CONNECTION_LOST, and the broken client is not reused', async () => {
    let backend = 0;
    const outcome = withPgClient(pool, 'the test database', async (client) => {
      backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await client.query('BEGIN');
      await client.query('CREATE TABLE cut_mid_query (id int)');
      await client.query('SELECT pg_sleep(30)');
    });
    while (backend === 0) await sleep(10);
    await sleep(100);
    await terminate(backend);
    await assert.rejects(outcome, (error: unknown) => {
      assert.ok(error instanceof TransientError);
      assert.equal(error.code, 'CONNECTION_LOST');
      assert.match(error.message, LOST);
      return true;
    });
    const next = await withPgClient(pool, 'the test database', async (client) => (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    assert.notEqual(next, backend, 'a new connection');
    const table = await pool.query(`SELECT to_regclass('cut_mid_query') AS t`);
    assert.equal(table.rows[0].t, null, 'the open transaction was rolled back');
  });

  it('a connection cut between two queries: the next query fails with CONNECTION_LOST', async () => {
    const outcome = withPgClient(pool, 'the test database', async (client) => {
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await terminate(pid);
      await sleep(200); // the server's goodbye arrives while nothing runs on this client
      await client.query('SELECT 1');
    });
    await assert.rejects(outcome, (error: unknown) => {
      assert.ok(error instanceof TransientError);
      assert.equal(error.code, 'CONNECTION_LOST');
      assert.match(error.message, /^the connection to the test database was lost while in use: /);
      return true;
    });
  });

  it('an idle pooled connection cut: logged with the label, and the pool connects again', async () => {
    const pid = await withPgClient(pool, 'the test database', async (client) => (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    warnings.length = 0;
    await terminate(pid);
    for (let i = 0; i < 100 && warnings.length === 0; i++) await sleep(10);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.object.database, 'the test database');
    assert.equal(warnings[0]!.message, 'an idle connection to the test database was closed (terminating connection due to administrator command); the pool opens a new one on next use');
    assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1);
  });
});
