/**
 * Integration: no value is ever silently changed (issue 10), on the real Temporal dev server and
 * real PostgreSQL, local files → Postgres: a NUL byte PostgreSQL text cannot store is that row's
 * `encoding` reject while the rest loads; a nested JSON value read into a `string` field keeps its
 * JSON text; a CSV header naming a column twice fails the run with DUPLICATE_COLUMN; a header with
 * escaped quotes is mapped by its unescaped name. A CSV Polars cannot read fails the run with a message in
 * Sluice's words (file, line, byte, fix), never Polars' advice.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RunFailedError, type Sluice } from '../../client/sluice';
import { startRunStack, type InProcessRunner, type RunStack, type TestDatabase } from '../helpers/services';

describe('runs never change a value silently', () => {
  let stack: RunStack;
  let db: TestDatabase;
  let runner: InProcessRunner;
  let sluice: Sluice;

  before(async () => {
    stack = await startRunStack({ connectors: () => ({ files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } }) });
    ({ db, runner, sluice } = stack);
    const lines = [
      { id: 1, name: 'alpha', meta: { a: 1, b: 'x' }, tags: ['p', 'q'] },
      { id: 2, name: 'be\u0000ta', meta: { a: 2, b: 'y' }, tags: [] },
      { id: 3, name: 'gamma', meta: { a: 3, b: null }, tags: null },
    ];
    writeFileSync(path.join(stack.dir, 'events.ndjson'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    writeFileSync(path.join(stack.dir, 'dup.csv'), 'id,name,name\n1,a,b\n');
    writeFileSync(path.join(stack.dir, 'quoted.csv'), 'id,"my ""quoted"" col"\n1,q\n');
    mkdirSync(path.join(stack.dir, 'drop'));
    writeFileSync(path.join(stack.dir, 'drop', 'ragged.csv'), 'id,name\n1,alpha\n2,Smith, J\n3,gamma\n');
  });

  after(async () => {
    await stack?.stop();
  });

  it('rejects the row with a NUL byte (rule encoding), loads the others, and keeps nested JSON as text', async () => {
    const version = await runner.publish(`
name: events
source: { connector: files }
target: { connector: warehouse, table: public.events }
fields:
  id:   { from: id, type: int64 }
  name: { from: name, type: string }
  meta: { from: meta, type: string }
  doc:  { from: meta, type: json }
  tags: { from: tags, type: string }
`);
    const run = await sluice.run({ flowVersion: version, sourcePath: 'events.ndjson' });
    const metadata = await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(run.status, 'PARTIAL_FAILED');
    assert.deepEqual(metadata.rows, { read: 3, mapped: 2, rejected: 1, written: 2 });
    assert.deepEqual(metadata.rejects.by_rule, { 'name:encoding': 1 });
    const rows = await db.pool.query('SELECT id, name, meta, doc, tags FROM public.events ORDER BY id');
    assert.deepEqual(rows.rows, [
      { id: '1', name: 'alpha', meta: '{"a":1,"b":"x"}', doc: { a: 1, b: 'x' }, tags: '["p","q"]' },
      { id: '3', name: 'gamma', meta: '{"a":3,"b":null}', doc: { a: 3, b: null }, tags: null },
    ]);
    const rejects = await db.pool.query('SELECT row_number, record, errors FROM public.events_rejects');
    assert.deepEqual(rejects.rows, [
      {
        row_number: '2',
        record: { id: 2, name: 'be\\u0000ta', meta: '{"a":2,"b":"y"}', tags: '[]' },
        errors: [{ field: 'name', rule: 'encoding', message: 'contains a NUL byte (U+0000), which PostgreSQL text cannot store; remove it from the source' }],
      },
    ]);
  });

  it('fails a CSV with a duplicated header name with DUPLICATE_COLUMN naming it', async () => {
    const version = await runner.publish(`
name: dup
source: { connector: files }
target: { connector: warehouse, table: public.dup }
fields:
  name: { from: name, type: string }
`);
    const run = await sluice.run({ flowVersion: version, sourcePath: 'dup.csv' });
    await assert.rejects(run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 }), (error: unknown) => {
      assert.ok(error instanceof RunFailedError);
      assert.equal(error.status, 'FAILED');
      assert.equal(error.error.code, 'DUPLICATE_COLUMN');
      assert.equal(error.error.step, 'sync_source');
      assert.equal(
        error.error.message,
        'dup.csv has more than one column named "name" (columns 2, 3); a field could map either of them. Rename the columns in the file so that each header name is unique.',
      );
      return true;
    });
  });

  it('maps a CSV header with escaped quotes by its unescaped name', async () => {
    const version = await runner.publish(`
name: quoted
source: { connector: files }
target: { connector: warehouse, table: public.quoted }
fields:
  id:   { from: id, type: int64 }
  col:  { from: 'my "quoted" col', type: string }
`);
    const run = await sluice.run({ flowVersion: version, sourcePath: 'quoted.csv' });
    await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(run.status, 'SUCCEEDED');
    const rows = await db.pool.query('SELECT id, col FROM public.quoted');
    assert.deepEqual(rows.rows, [{ id: '1', col: 'q' }]);
  });

  it('fails a CSV with a ragged row with UNREADABLE_SOURCE naming the file, line and fix in Sluice\'s words', async () => {
    const version = await runner.publish(`
name: ragged
source: { connector: files }
target: { connector: warehouse, table: public.ragged }
fields:
  id: { from: id, type: int64 }
`);
    const run = await sluice.run({ flowVersion: version, sourcePath: 'drop/ragged.csv' });
    await assert.rejects(run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 }), (error: unknown) => {
      assert.ok(error instanceof RunFailedError);
      assert.equal(error.status, 'FAILED');
      assert.equal(error.error.code, 'UNREADABLE_SOURCE');
      assert.equal(error.error.step, 'sync_source');
      assert.equal(
        error.error.message,
        'drop/ragged.csv line 3 (byte 16) has 3 fields but the header has 2; fix the row, or quote the field that contains a comma',
      );
      assert.deepEqual(error.metadata?.error, error.error);
      return true;
    });
    assert.equal((await db.pool.query("SELECT to_regclass('public.ragged') AS t")).rows[0].t, null);
  });
});
