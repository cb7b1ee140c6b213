/**
 * Integration: many one-pass loads at once through one postgres target pool, on real PostgreSQL. A small
 * run's `transformAndLoad` is a local activity, so a worker can run dozens of loads at once (up to its local
 * activity slots, 100 by default); each holds a connection for its transaction and asks the pool for a second
 * one to make the tables when its first chunk is ready. With a pool of 2 connections, 8 loads at once into
 * tables that do not exist yet must all commit, each exactly once (before the target bounded its loads to one
 * fewer than the pool's connections, they waited for each other's connections forever).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { Pool } from 'pg';
import { PostgresTarget } from '../../connectors/postgres/postgres-target';
import { validateFlowSpec } from '../../flows/flow-spec';
import { ROW_COLUMN } from '../../transform/map-chunk';
import { createTestDatabase, type TestDatabase } from '../helpers/services';

describe('concurrent one-pass loads through a small pool', () => {
  let db: TestDatabase;
  let pool: Pool;

  before(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => undefined);
  });

  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('8 loads at once into new tables over 2 connections all commit, each once', { timeout: 60_000 }, async () => {
    const spec = validateFlowSpec({
      name: 'many',
      source: { connector: 'files' },
      target: { connector: 'warehouse', table: 'public.many' },
      fields: { id: { from: 'id', type: 'int64', required: true }, name: { from: 'name', type: 'string' } },
    });
    const target = new PostgresTarget(pool, 'warehouse');
    const load = (n: number) =>
      target.loadStream({
        runId: `run-${n}`,
        executionId: `exec-${n}`,
        flowVersion: 'many:v1',
        sourcePath: `part-${n}.csv`,
        spec,
        mapped: (async function* () {
          yield pl.DataFrame({
            id: pl.Series('id', [n * 10 + 1, n * 10 + 2], pl.Int64),
            name: pl.Series('name', [`a${n}`, `b${n}`], pl.Utf8),
            [ROW_COLUMN]: pl.Series(ROW_COLUMN, [1, 2], pl.Int64),
          });
        })(),
        rejected: async () => [],
        onProgress: () => undefined,
        signal: new AbortController().signal,
      });
    const results = await Promise.all(Array.from({ length: 8 }, (_, n) => load(n)));
    assert.deepEqual(results.map((r) => [r?.rowsWritten, r?.alreadyLoaded]), Array(8).fill([2, false]));
    const counts = await db.pool.query('SELECT count(*) AS rows, count(DISTINCT id) AS ids, count(DISTINCT _sluice_run_id) AS runs FROM public.many');
    assert.deepEqual(counts.rows[0], { rows: '16', ids: '16', runs: '8' });
    const ledger = await db.pool.query("SELECT count(*) AS n FROM sluice.load_ledger WHERE flow_version = 'many:v1'");
    assert.equal(ledger.rows[0].n, '8');
  });
});
