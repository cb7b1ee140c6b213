/** Unit tests of the chunk plan and of the chunk's cell budget. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHUNK_CELL_BUDGET, chunkRowsFor, planChunks } from './chunk-plan';

describe('chunkRowsFor', () => {
  it('keeps the configured rows for narrow rows, and caps rows × columns at the cell budget for wide ones', () => {
    assert.equal(CHUNK_CELL_BUDGET, 5_000_000);
    assert.equal(chunkRowsFor(250_000, 20), 250_000);
    assert.equal(chunkRowsFor(250_000, 100), 50_000);
    assert.equal(chunkRowsFor(250_000, 1_500), 3_333);
    assert.equal(chunkRowsFor(250_000, 1_600), 3_125);
    assert.equal(chunkRowsFor(1_000, 1_600), 1_000);
    assert.equal(chunkRowsFor(250_000, 10_000_000), 1);
    assert.equal(chunkRowsFor(250_000, 0), 250_000);
  });

  it('plans a wide source in budgeted chunks', () => {
    const plan = planChunks([{ path: 'a.parquet', rows: 10_000 }], chunkRowsFor(250_000, 1_500));
    assert.deepEqual(plan.map((c) => [c.offset, c.rows, c.firstRow]), [[0, 3_333, 1], [3_333, 3_333, 3_334], [6_666, 3_333, 6_667], [9_999, 1, 10_000]]);
  });
});
