/**
 * Unit tests of `flows preview`: a flow over a sample gives the first mapped rows and the rejects with
 * their reasons (rule, field, message, row number), through the transform a run uses; nothing is written.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readSample } from '../connectors/local/read-sample';
import { parseFlowSpec } from '../flows/flow-spec';
import { previewFlow } from './flow-preview';

const dir = mkdtempSync(path.join(tmpdir(), 'sluice-preview-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const FLOW = `
name: orders
source: { connector: files, format: csv }
target: { connector: warehouse, table: orders }
fields:
  id:     { from: id, type: int64, required: true }
  amount: { from: amount, type: float64, check: "amount >= 0" }
  state:  { from: state, type: string, in: [open, closed] }
  total:  { expr: 'TRY_CAST("amount" AS DOUBLE) * 2', type: float64 }
dedupe: [id]
`;

describe('previewFlow', () => {
  it('shows the first mapped rows and every reject with its rule, field, message and row number; writes nothing', async () => {
    const file = path.join(dir, 'orders.csv');
    writeFileSync(file, 'id,amount,state\n1,10.5,open\n2,abc,open\n,3,closed\n4,-1,open\n5,2,lost\n1,7,open\n6,1,closed\n');
    const spec = parseFlowSpec(FLOW, 'flows/orders.yaml');
    const before = { dir: readdirSync(dir).sort(), tmp: readdirSync(tmpdir()).filter((n) => n.startsWith('sluice-sample-')).sort() };

    const sample = await readSample(file, spec.source);
    const preview = await previewFlow(spec, sample.frame, { rows: 2 });

    assert.equal(preview.rows_read, 7);
    assert.equal(preview.rows_mapped, 2);
    assert.equal(preview.rows_rejected, 5);
    assert.deepEqual(preview.by_rule, { 'amount:type': 1, 'id:required': 1, 'amount:check': 1, 'state:in': 1, dedupe: 1 });
    assert.deepEqual(preview.fields, ['id', 'amount', 'state', 'total']);
    assert.deepEqual(preview.mapped, [
      { row: 1, id: 1, amount: 10.5, state: 'open', total: 21 },
      { row: 7, id: 6, amount: 1, state: 'closed', total: 2 },
    ]);
    // The first 2 rejects (rows 2 and 3), in row order, with their original values.
    assert.deepEqual(preview.rejects, [
      { row: 2, errors: [{ field: 'amount', rule: 'type', message: 'cannot convert "abc" to a float64 (number)' }], record: { id: '2', amount: 'abc', state: 'open' } },
      { row: 3, errors: [{ field: 'id', rule: 'required', message: 'id is required but missing' }], record: { id: null, amount: '3', state: 'closed' } },
    ]);
    const all = await previewFlow(spec, sample.frame, { rows: 20 });
    assert.deepEqual(
      all.rejects.map((r) => [r.row, r.errors.map((e) => `${e.field}:${e.rule}: ${e.message}`)]),
      [
        [2, ['amount:type: cannot convert "abc" to a float64 (number)']],
        [3, ['id:required: id is required but missing']],
        [4, ['amount:check: failed check: amount >= 0']],
        [5, ['state:in: "lost" is not one of "open", "closed"']],
        [6, ['null:dedupe: duplicate of row 1 on (id)']],
      ],
    );
    assert.equal(all.custom_map_skipped, false);

    const afterwards = { dir: readdirSync(dir).sort(), tmp: readdirSync(tmpdir()).filter((n) => n.startsWith('sluice-sample-')).sort() };
    assert.deepEqual(afterwards, before, 'no file left beside the sample or in the temp dir');
  });
});
