/**
 * Integration on the real Temporal dev server: a flow reads a CSV (local connector) into MariaDB with
 * rejects and exact counts; another reads a MariaDB query into Postgres; a wrong MariaDB password ends a run
 * FAILED with AUTH_FAILED within seconds and no secret in the message.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { RunFailedError } from '../../client/sluice';
import { createMysqlTestDatabase, mysqlSkip, type MysqlTestDatabase } from '../helpers/mysql-server';
import { startRunStack, type RunStack } from '../helpers/services';

describe('flows with MariaDB', () => {
  let stack: RunStack;
  let my: MysqlTestDatabase;
  let skip: string | false = false;

  before(async () => {
    skip = await mysqlSkip();
    if (skip) return;
    my = await createMysqlTestDatabase();
    stack = await startRunStack({
      connectors: () => ({
        files: { kind: 'local', root: '.' },
        warehouse: { kind: 'postgres' },
        shop: { kind: 'mysql', url: my.url },
        wrong: { kind: 'mysql', url: `mysql://root:wrong-password-4711@127.0.0.1:3306/${my.name}` },
      }),
    });
  });

  after(async () => {
    if (skip) return;
    await stack.stop();
    await my.drop();
  });

  it('loads a CSV into MariaDB with its rejects and exact counts', async (t) => {
    if (skip) return t.skip(skip);
    const lines = ['id,name,amount'];
    for (let i = 1; i <= 1_000; i++) lines.push(i % 100 === 0 ? `x${i},bad,1` : `${i},name ${i},${i}.25`);
    writeFileSync(path.join(stack.dir, 'orders.csv'), `${lines.join('\n')}\n`);
    const version = await stack.runner.publish(`
name: orders_to_mysql
source: { connector: files, format: csv }
target: { connector: shop, table: orders }
fields:
  id:     { from: id, type: int64, required: true }
  name:   { from: name, type: string }
  amount: { from: amount, type: float64 }
`);
    const run = await stack.sluice.run({ flowVersion: version, sourcePath: 'orders.csv' });
    const metadata = await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(run.status, 'PARTIAL_FAILED');
    assert.deepEqual(metadata.rows, { read: 1_000, mapped: 990, rejected: 10, written: 990 });
    const [[stats]] = await my.connection.query<RowDataPacket[]>('SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids, MIN(id) AS lo, MAX(id) AS hi FROM orders');
    assert.deepEqual({ ...stats }, { n: '990', ids: '990', lo: '1', hi: '999' });
    const [[rejects]] = await my.connection.query<RowDataPacket[]>('SELECT COUNT(*) AS n, MIN(`row_number`) AS lo FROM orders_rejects');
    assert.deepEqual({ ...rejects }, { n: '10', lo: '100' });
  });

  it('reads a MariaDB query into Postgres with exact counts', async (t) => {
    if (skip) return t.skip(skip);
    await my.connection.query('CREATE TABLE invoices (id bigint PRIMARY KEY, batch varchar(10), total decimal(20,4))');
    const values: (string | number)[][] = Array.from({ length: 1_500 }, (_, i) => [i + 1, i < 1_200 ? 'b7' : 'b8', `${i}.1250`]);
    values.push(['9007199254740993', 'b7', '1.0000']);
    await my.connection.query('INSERT INTO invoices VALUES ?', [values]);
    const version = await stack.runner.publish(`
name: invoices_from_mysql
source: { connector: shop, query: "SELECT id, total FROM invoices WHERE batch = :source_path" }
target: { connector: warehouse, table: public.invoices }
fields:
  id:    { from: id, type: int64, required: true }
  total: { from: total, type: float64 }
`);
    const run = await stack.sluice.run({ flowVersion: version, sourcePath: 'b7' });
    const metadata = await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(run.status, 'SUCCEEDED');
    assert.deepEqual(metadata.rows, { read: 1_201, mapped: 1_201, rejected: 0, written: 1_201 });
    const result = await stack.db.pool.query('SELECT COUNT(*)::int AS n, MAX(id)::text AS hi FROM public.invoices');
    assert.deepEqual(result.rows[0], { n: 1_201, hi: '9007199254740993' });
  });

  it('a wrong password ends the run FAILED with AUTH_FAILED, fast, without the password', async (t) => {
    if (skip) return t.skip(skip);
    const version = await stack.runner.publish(`
name: wrong_password
source: { connector: wrong, query: "SELECT 1 AS id FROM DUAL WHERE :source_path = 'x'" }
target: { connector: warehouse, table: public.never }
fields:
  id: { from: id, type: int64 }
`);
    const started = Date.now();
    const run = await stack.sluice.run({ flowVersion: version, sourcePath: 'x' });
    await assert.rejects(run.wait({ timeoutMs: 30_000, pollIntervalMs: 200 }), (error: unknown) => {
      assert.ok(error instanceof RunFailedError);
      assert.equal(error.status, 'FAILED');
      assert.equal(error.error.code, 'AUTH_FAILED');
      assert.match(error.error.message, /^connectors\.wrong: MySQL at 127\.0\.0\.1:3306\/\w+ refused user "root"/);
      assert.doesNotMatch(JSON.stringify(error.error), /wrong-password-4711/);
      return true;
    });
    assert.ok(Date.now() - started < 20_000);
  });
});
