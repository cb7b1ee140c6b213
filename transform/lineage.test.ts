import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { validateFlowSpec } from '../flows/flow-spec';
import { contentHash } from '../flows/flow-versions';
import { lineageState, lineageWanted, numberedSlice, SOURCE_ROW_COLUMN, splitSourceRows, withLineage } from './lineage';
import { mapChunk, ROW_COLUMN } from './map-chunk';

const spec = (target: Record<string, unknown> = {}, fields: Record<string, unknown> = { id: { from: 'id', type: 'int64' } }) =>
  validateFlowSpec({ name: 'things', source: { connector: 'files' }, target: { connector: 'warehouse', table: 'things', ...target }, fields });

describe('lineage in the flow spec', () => {
  it('is on by default and normalised away, so existing versions keep their content hash', () => {
    const on = spec();
    assert.equal(lineageWanted(on), true);
    assert.equal('lineage' in on.target, false);
    assert.equal(contentHash(spec({ lineage: true })), contentHash(on));
  });

  it('target.lineage: false is kept and changes the hash', () => {
    const off = spec({ lineage: false });
    assert.equal(off.target.lineage, false);
    assert.equal(lineageWanted(off), false);
    assert.notEqual(contentHash(off), contentHash(spec()));
  });

  it('refuses a field named like a lineage column', () => {
    assert.throws(() => spec({}, { _sluice_run_id: { from: 'id', type: 'string' } }), (error: Error & { issues?: string[] }) => {
      assert.deepEqual(error.issues, [
        "fields._sluice_run_id: names starting with _sluice_ are Sluice's own (the lineage columns _sluice_run_id, _sluice_source_row); rename the field",
      ]);
      return true;
    });
  });
});

describe('lineageState', () => {
  it('tells both, none and one of the columns apart', () => {
    assert.equal(lineageState(['id', '_sluice_run_id', '_sluice_source_row']), 'present');
    assert.equal(lineageState(['id']), 'absent');
    assert.equal(lineageState(['id', '_sluice_source_row']), 'partial');
  });
});

describe('withLineage', () => {
  it('puts the run id and the row number after the fields', () => {
    const frame = pl.DataFrame({ id: [5, 6], [ROW_COLUMN]: pl.Series(ROW_COLUMN, [3, 9], pl.Int64) });
    const out = withLineage(frame, 'run-1');
    assert.deepEqual(out.columns, ['id', '_sluice_run_id', '_sluice_source_row']);
    assert.deepEqual(out.toRecords(), [
      { id: 5, _sluice_run_id: 'run-1', _sluice_source_row: 3 },
      { id: 6, _sluice_run_id: 'run-1', _sluice_source_row: 9 },
    ]);
  });

  it('gives a null source row when a custom map dropped the row numbers', () => {
    const out = withLineage(pl.DataFrame({ id: [1] }), 'run-1');
    assert.deepEqual(out.toRecords(), [{ id: 1, _sluice_run_id: 'run-1', _sluice_source_row: null }]);
  });
});

describe('splitSourceRows (a reprocess keeps the original row numbers)', () => {
  it('maps without the column, then gives mapped and rejected rows their original numbers back', () => {
    // Staged rows 11..13 of a reprocess: original source rows 7, 22, 40.
    const slice = pl.DataFrame({ id: ['7', 'x', '40'], [SOURCE_ROW_COLUMN]: pl.Series(SOURCE_ROW_COLUMN, [7, 22, 40], pl.Int64) });
    const { raw, restore } = splitSourceRows(slice, 11);
    assert.deepEqual(raw.columns, ['id']);
    const { mapped, rejected } = mapChunk(spec(), raw, 11);
    assert.deepEqual(restore(mapped).getColumn(ROW_COLUMN).toArray().map(Number), [7, 40]);
    const back = restore(rejected);
    assert.deepEqual(back.getColumn(ROW_COLUMN).toArray().map(Number), [22]);
    assert.deepEqual(JSON.parse(back.getColumn('record').get(0) as string), { id: 'x' }, 'the record holds no Sluice column');
  });

  it('is the identity for any other run', () => {
    const slice = pl.DataFrame({ id: ['1'] });
    const { raw, restore } = splitSourceRows(slice, 1);
    assert.equal(raw, slice);
    const frame = pl.DataFrame({ [ROW_COLUMN]: pl.Series(ROW_COLUMN, [1], pl.Int64) });
    assert.equal(restore(frame), frame);
  });

  it('numberedSlice numbers by position, or by the original numbers of a reprocess', () => {
    assert.deepEqual(numberedSlice(pl.DataFrame({ id: ['a', 'b'] }), 5).getColumn(ROW_COLUMN).toArray().map(Number), [5, 6]);
    const reprocess = numberedSlice(pl.DataFrame({ id: ['a', 'b'], [SOURCE_ROW_COLUMN]: pl.Series(SOURCE_ROW_COLUMN, [8, 30], pl.Int64) }), 5);
    assert.deepEqual(reprocess.columns, ['id', ROW_COLUMN]);
    assert.deepEqual(reprocess.getColumn(ROW_COLUMN).toArray().map(Number), [8, 30]);
  });
});
