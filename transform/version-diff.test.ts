/**
 * Unit tests of transform/version-diff.ts on small Parquet parts written here: newly rejected / accepted rows by
 * row number, changed values matched by key (and by row when the key repeats), values compared across a type
 * change, nulls, spec changes, and the refusals of versions that cannot be compared.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { parseFlowSpec, type FlowSpec } from '../flows/flow-spec';
import { ROW_COLUMN } from './map-chunk';
import { assertComparableVersions, compareVersionOutputs, specChanges } from './version-diff';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-version-diff-'));
let files = 0;
const parquet = (frame: pl.DataFrame): string => {
  const file = path.join(dir, `part-${files++}.parquet`);
  frame.writeParquet(file);
  return file;
};
const rejected = (rows: number[], rule = 'type') =>
  parquet(
    pl.DataFrame({
      [ROW_COLUMN]: pl.Series(ROW_COLUMN, rows, pl.Int64),
      record: pl.Series('record', rows.map((r) => JSON.stringify({ id: String(r) })), pl.Utf8),
      errors: pl.Series('errors', rows.map(() => JSON.stringify([{ field: 'v', rule, message: `${rule} failed` }])), pl.Utf8),
    }),
  );

const spec = (fields: string, extra = ''): FlowSpec =>
  parseFlowSpec(`
name: things
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.things${extra} }
fields:
${fields}
`);

describe('compareVersionOutputs', () => {
  const specA = spec('  id: { from: id, type: int64 }\n  v: { from: v, type: int64 }\n  w: { from: w, type: string }', ', write: upsert, key: [id]');
  const specB = spec('  id: { from: id, type: int64 }\n  v: { from: v, type: float64 }\n  w: { from: w, type: string }', ', write: upsert, key: [id]');
  // Rows 1..6: A accepts 1,2,3,4 and rejects 5,6; B accepts 2,3,4,5 and rejects 1,6.
  const mappedA = pl.DataFrame({
    id: pl.Series('id', [10, 20, 30, 40], pl.Int64),
    v: pl.Series('v', [1, 2, 3, null], pl.Int64),
    w: pl.Series('w', ['a', 'b', null, 'd'], pl.Utf8),
    [ROW_COLUMN]: pl.Series(ROW_COLUMN, [1, 2, 3, 4], pl.Int64),
  });
  const mappedB = pl.DataFrame({
    id: pl.Series('id', [20, 30, 40, 50], pl.Int64),
    v: pl.Series('v', [2.0, 3.5, null, 5.0], pl.Float64),
    w: pl.Series('w', ['b', 'c', 'd', 'e'], pl.Utf8),
    [ROW_COLUMN]: pl.Series(ROW_COLUMN, [2, 3, 4, 5], pl.Int64),
  });

  it('counts newly rejected and accepted rows with the rejecting version reasons, and changed values by key', () => {
    const result = compareVersionOutputs({
      specA,
      specB,
      a: { mapped: [parquet(mappedA.slice(0, 2)), parquet(mappedA.slice(2, 2))], rejected: [rejected([5, 6])] },
      b: { mapped: [parquet(mappedB)], rejected: [rejected([1], 'check'), rejected([6])] },
    });
    assert.deepEqual(result.rows, [
      { mapped: 4, rejected: 2 },
      { mapped: 4, rejected: 2 },
    ]);
    assert.equal(result.newly_rejected.count, 1);
    assert.deepEqual(result.newly_rejected.samples, [{ row: 1, record: { id: '1' }, errors: [{ field: 'v', rule: 'check', message: 'check failed' }] }]);
    assert.equal(result.newly_accepted.count, 1);
    assert.equal(result.newly_accepted.samples[0]!.row, 5);
    assert.equal(result.newly_accepted.samples[0]!.errors[0]!.rule, 'type');
    const { changed } = result;
    assert.deepEqual([changed.matched_by, changed.match, changed.matched, changed.only_in_a, changed.only_in_b], ['key', ['id'], 3, 1, 1]);
    // v: int64 2 = float64 2.0; 3 ≠ 3.5; null = null. w: null ≠ 'c'.
    assert.deepEqual(
      changed.fields.map((f) => [f.field, f.changed]),
      [
        ['v', 1],
        ['w', 1],
      ],
    );
    assert.deepEqual(changed.fields[0]!.samples, [{ match: { id: '30' }, old: '3', new: '3.5' }]);
    assert.deepEqual(changed.fields[1]!.samples, [{ match: { id: '30' }, old: null, new: 'c' }]);
    assert.equal(changed.rows_changed, 1);
  });

  it('matches by row number, saying why, when the key repeats among accepted rows', () => {
    const repeated = mappedA.withColumns(pl.lit(7).cast(pl.Int64).alias('id'));
    const result = compareVersionOutputs({ specA, specB, a: { mapped: [parquet(repeated)], rejected: [rejected([5, 6])] }, b: { mapped: [parquet(mappedB)], rejected: [rejected([1, 6])] } });
    assert.equal(result.changed.matched_by, 'row');
    assert.match(result.changed.note ?? '', /the key \(id\) repeats/);
    assert.equal(result.changed.matched, 3);
    // Rows 2,3,4: id 7 vs 20/30/40 all changed.
    assert.equal(result.changed.fields.find((f) => f.field === 'id')!.changed, 3);
  });
});

describe('specChanges', () => {
  it('lists fields added and removed, type, format, expr and rule changes, flow checks, dedupe and target changes', () => {
    const a = parseFlowSpec(`
name: things
source: { connector: files }
target: { connector: warehouse, table: public.things }
fields:
  id:   { from: id, type: int64, required: true }
  d:    { from: d, type: date, format: "%d/%m/%Y" }
  s:    { from: s, type: string, in: [a, b] }
  old:  { from: o, type: string }
  e:    { expr: "1", type: int64 }
checks:
  - { name: positive, sql: "id > 0" }
`);
    const b = parseFlowSpec(`
name: things
source: { connector: files }
target: { connector: warehouse, table: public.things, write: upsert, key: [id] }
fields:
  id:   { from: id, type: int32 }
  d:    { from: d, type: date, format: "%Y-%m-%d" }
  s:    { from: s, type: string, in: [a, b, c], check: "s <> 'x'" }
  e:    { expr: "2", type: int64 }
  new:  { from: n, type: bool }
checks:
  - { name: positive, sql: "id >= 0" }
dedupe: [id]
`);
    assert.deepEqual(
      specChanges(a, b).map((c) => [c.change, c.field, c.rule ?? null]),
      [
        ['field_removed', 'old', null],
        ['type_changed', 'id', null],
        ['rule_removed', 'id', 'required'],
        ['format_changed', 'd', null],
        ['rule_changed', 's', 'in'],
        ['rule_added', 's', 'check'],
        ['expr_changed', 'e', null],
        ['field_added', 'new', null],
        ['check_changed', null, 'positive'],
        ['dedupe_changed', null, null],
        ['target_changed', null, 'write'],
        ['target_changed', null, 'key'],
      ],
    );
    assert.deepEqual(specChanges(a, a), []);
  });
});

describe('assertComparableVersions', () => {
  const one = spec('  id: { from: id, type: int64 }');
  it('refuses versions of different flows and different source sections, in words', () => {
    assert.throws(() => assertComparableVersions({ id: 'things:v1', flow: 'things', spec: one }, { id: 'other:v1', flow: 'other', spec: one }), {
      code: 'DIFF_FLOWS_DIFFER',
      message: /things:v1 and other:v1 are versions of different flows/,
    });
    const tab = { ...one, source: { ...one.source, csv: { delimiter: '\t' } } } as FlowSpec;
    assert.throws(() => assertComparableVersions({ id: 'things:v1', flow: 'things', spec: one }, { id: 'things:v2', flow: 'things', spec: tab }), { code: 'DIFF_SOURCES_DIFFER' });
    assertComparableVersions({ id: 'things:v1', flow: 'things', spec: one }, { id: 'things:v2', flow: 'things', spec: { ...one, source: { ...one.source } } });
  });
});
