/**
 * FlowVersionStore against real PostgreSQL: a fresh, migrated database for this file
 * (`DATABASE_URL`, e.g. postgres://postgres@127.0.0.1:5432/test; else an embedded server).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvalidRequestError } from '../../common/errors';
import { createTestDatabase, type TestDatabase } from '../helpers/services';
import { parseFlowSpec } from '../../flows/flow-spec';
import { contentHash, FlowVersionStore } from '../../flows/flow-versions';

const ordersYaml = (amountType: string) => `
name: orders
source: { connector: files, format: csv }
target: { connector: warehouse, table: orders }
fields:
  id:     { from: id, type: int64, required: true }
  amount: { from: amount, type: ${amountType} }
`;

describe('FlowVersionStore on PostgreSQL', () => {
  let db: TestDatabase;
  let store: FlowVersionStore;

  before(async () => {
    db = await createTestDatabase();
    store = new FlowVersionStore(db.pool);
  });

  after(async () => {
    await db?.drop();
  });

  it('publishes v1, returns it again for identical content, and v2 for changed content', async () => {
    const text1 = ordersYaml('int64');
    const spec1 = parseFlowSpec(text1, 'flows/orders.yaml');
    const first = await store.publish(spec1, { sourceText: text1, sourceFile: 'flows/orders.yaml' });
    assert.equal(first.created, true);
    assert.equal(first.version.id, 'orders:v1');
    assert.equal(first.version.flow, 'orders');
    assert.equal(first.version.version, 1);
    assert.equal(first.version.contentHash, contentHash(spec1));
    assert.deepEqual(first.version.spec, spec1);
    assert.equal(first.version.sourceText, text1);
    assert.equal(first.version.sourceFile, 'flows/orders.yaml');
    assert.ok(!Number.isNaN(Date.parse(first.version.createdAt)));

    // Same content, different text (a comment) and no file: the existing version, unchanged.
    const again = await store.publish(parseFlowSpec(`# a comment\n${text1}`), { sourceText: `# a comment\n${text1}` });
    assert.equal(again.created, false);
    assert.deepEqual(again.version, first.version);

    const text2 = ordersYaml('float64');
    const second = await store.publish(parseFlowSpec(text2), { sourceText: text2 });
    assert.equal(second.created, true);
    assert.equal(second.version.id, 'orders:v2');
    assert.equal(second.version.version, 2);
    assert.equal(second.version.sourceFile, null);
    assert.notEqual(second.version.contentHash, first.version.contentHash);

    // Publishing v1's content again still returns v1, not a v3.
    const back = await store.publish(spec1, { sourceText: text1 });
    assert.equal(back.created, false);
    assert.equal(back.version.id, 'orders:v1');
  });

  it('gets a version by id, and lists versions newest first', async () => {
    const v1 = await store.get('orders:v1');
    assert.equal(v1.id, 'orders:v1');
    assert.equal(v1.spec.fields[1]!.type, 'int64');
    const v2 = await store.get('orders:v2');
    assert.equal(v2.spec.fields[1]!.type, 'float64');

    const other = parseFlowSpec(ordersYaml('int64').replace('name: orders', 'name: accounts'));
    await store.publish(other, { sourceText: 'accounts' });

    assert.deepEqual((await store.list('orders')).map((v) => v.id), ['orders:v2', 'orders:v1']);
    assert.deepEqual((await store.list()).map((v) => v.id), ['accounts:v1', 'orders:v2', 'orders:v1']);
    assert.deepEqual(await store.list('nothing'), []);
  });

  it('refuses an unknown version with InvalidRequestError UNKNOWN_FLOW_VERSION, listing the known ones', async () => {
    await assert.rejects(store.get('orders:v9'), (error: unknown) => {
      assert.ok(error instanceof InvalidRequestError);
      assert.equal(error.code, 'UNKNOWN_FLOW_VERSION');
      assert.equal(error.message, 'unknown flow version "orders:v9"; known versions of "orders": orders:v1, orders:v2');
      return true;
    });
    await assert.rejects(store.get('ghost:v1'), (error: unknown) => {
      assert.ok(error instanceof InvalidRequestError);
      assert.equal(error.code, 'UNKNOWN_FLOW_VERSION');
      assert.equal(
        error.message,
        'unknown flow version "ghost:v1"; no flow "ghost" has been published; publish it with: sluice flows publish flows/ghost.yaml',
      );
      return true;
    });
    await assert.rejects(store.get('orders'), (error: unknown) => {
      assert.ok(error instanceof InvalidRequestError);
      assert.equal(error.code, 'INVALID_FLOW_VERSION');
      return true;
    });
  });

  it('refuses UPDATE and DELETE of a flow version (trigger)', async () => {
    await assert.rejects(db.pool.query(`UPDATE sluice.flow_versions SET source_text = 'x' WHERE flow = 'orders' AND version = 1`), {
      message: 'flow versions are immutable (orders:v1)',
      code: 'P0001',
    });
    await assert.rejects(db.pool.query(`DELETE FROM sluice.flow_versions WHERE flow = 'orders'`), {
      message: 'flow versions are immutable (orders:v1)',
      code: 'P0001',
    });
    const v1 = await store.get('orders:v1');
    assert.equal(v1.sourceText, ordersYaml('int64'));
  });

  it('serialises concurrent publishes of one flow: identical content makes one version', async () => {
    const text = ordersYaml('int32').replace('name: orders', 'name: races');
    const spec = parseFlowSpec(text);
    const results = await Promise.all([1, 2, 3, 4].map(() => store.publish(spec, { sourceText: text })));
    assert.deepEqual(
      results.map((r) => r.version.id),
      ['races:v1', 'races:v1', 'races:v1', 'races:v1'],
    );
    assert.equal(results.filter((r) => r.created).length, 1);
  });
});
