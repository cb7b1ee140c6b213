/**
 * Unit tests of `flows init`'s inference: over the whole sample (a float after 1,000 ints makes the
 * field float64), `required` only without nulls, `in` for low-cardinality text, valid names; and the
 * draft passes the flow check and maps its own sample without a reject.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readSample } from '../connectors/local/read-sample';
import { parseFlowSpec } from '../flows/flow-spec';
import { checkFlow } from './flow-check';
import { draftFlowYaml, inferFields, IN_MAX_VALUES } from './flow-draft';
import { previewFlow } from './flow-preview';

const dir = mkdtempSync(path.join(tmpdir(), 'sluice-draft-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** 1,200 rows: `amount` is whole for the first 1,000 rows, 2.5 at row 1,100; `note` has nulls; `state` 3 values. */
function rows(): { id: number; amount: string; note: string | null; state: string; day: string; flag: string; 'Unit Price': string }[] {
  return Array.from({ length: 1200 }, (_, i) => ({
    id: i + 1,
    amount: i === 1099 ? '2.5' : String(i * 3),
    note: i % 7 === 0 ? null : `note ${i}`,
    state: ['open', 'closed', 'held'][i % 3]!,
    day: `2024-01-${String((i % 28) + 1).padStart(2, '0')}`,
    flag: i % 2 === 0 ? 'yes' : 'no',
    'Unit Price': String(i % 50),
  }));
}

describe('flows init inference', () => {
  it('infers over every row of a CSV sample: a float after 1,000 ints is float64, nulls are not required, few values are `in`', async () => {
    const file = path.join(dir, 'orders.csv');
    const data = rows();
    const header = Object.keys(data[0]!);
    writeFileSync(file, [header.join(','), ...data.map((r) => header.map((h) => r[h as keyof typeof r] ?? '').join(','))].join('\n') + '\n');
    const sample = await readSample(file);
    assert.equal(sample.frame.height, 1200);
    assert.deepEqual(inferFields(sample.frame), [
      { name: 'id', from: 'id', type: 'int64', required: true },
      { name: 'amount', from: 'amount', type: 'float64', required: true },
      { name: 'note', from: 'note', type: 'string', required: false },
      { name: 'state', from: 'state', type: 'string', required: true, in: ['closed', 'held', 'open'] },
      { name: 'day', from: 'day', type: 'date', required: true },
      { name: 'flag', from: 'flag', type: 'bool', required: true },
      { name: 'unit_price', from: 'Unit Price', type: 'int64', required: true },
    ]);

    // The draft is a valid flow that passes the check against the same sample and maps it without a reject.
    const yaml = draftFlowYaml(sample.frame, { name: 'orders', sampleName: 'data/orders.csv', format: sample.format });
    const spec = parseFlowSpec(yaml, 'flows/orders.yaml');
    assert.equal(spec.source.format, 'csv');
    assert.equal(spec.target.table, 'public.orders');
    assert.deepEqual(checkFlow(spec, { sourceSchema: sample.frame.schema }), { problems: [], warnings: [] });
    const preview = await previewFlow(spec, sample.frame);
    assert.equal(preview.rows_mapped, 1200);
    assert.equal(preview.rows_rejected, 0);
    assert.match(yaml, /^# Drafted by `sluice flows init` from data\/orders\.csv \(1200 rows, every row inspected\):/);
    assert.match(yaml, new RegExp(`in: a text column with at most ${IN_MAX_VALUES} distinct values`));
  });

  it('infers over every row of an NDJSON sample (typed JSON values) and leaves a small sample without `in`', async () => {
    const file = path.join(dir, 'readings.ndjson');
    const lines = Array.from({ length: 1001 }, (_, i) => JSON.stringify({ n: i === 1000 ? 0.5 : i, kind: i % 2 ? 'a' : 'b', maybe: i === 500 ? null : i }));
    writeFileSync(file, `${lines.join('\n')}\n`);
    const sample = await readSample(file);
    const fields = inferFields(sample.frame);
    assert.deepEqual(fields.map((f) => [f.name, f.type, f.required, f.in ?? null]), [
      ['n', 'float64', true, null],
      ['kind', 'string', true, ['a', 'b']],
      ['maybe', 'int64', false, null],
    ]);
    const small = inferFields(sample.frame.head(6));
    assert.equal(small.find((f) => f.name === 'kind')!.in, undefined, '6 rows of 2 values: below 5 rows per value');
  });
});
