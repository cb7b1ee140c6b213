/**
 * Unit tests of `planChunks`: staged files split into slices of at most `chunkRows` rows, with
 * source row numbers continuing across files.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planChunks } from './run-activities';

describe('planChunks', () => {
  it('splits each file into chunks of at most chunkRows, numbering rows from 1 across files', () => {
    assert.deepEqual(
      planChunks(
        [
          { path: 'run/source/source-00000.parquet', rows: 5 },
          { path: 'run/source/source-00001.parquet', rows: 3 },
          { path: 'run/source/source-00002.parquet', rows: 4 },
        ],
        2,
      ),
      [
        { file: 'run/source/source-00000.parquet', offset: 0, rows: 2, firstRow: 1 },
        { file: 'run/source/source-00000.parquet', offset: 2, rows: 2, firstRow: 3 },
        { file: 'run/source/source-00000.parquet', offset: 4, rows: 1, firstRow: 5 },
        { file: 'run/source/source-00001.parquet', offset: 0, rows: 2, firstRow: 6 },
        { file: 'run/source/source-00001.parquet', offset: 2, rows: 1, firstRow: 8 },
        { file: 'run/source/source-00002.parquet', offset: 0, rows: 2, firstRow: 9 },
        { file: 'run/source/source-00002.parquet', offset: 2, rows: 2, firstRow: 11 },
      ],
    );
  });

  it('keeps a file that fits, or exactly fills, one chunk whole', () => {
    assert.deepEqual(planChunks([{ path: 'a', rows: 4 }], 4), [{ file: 'a', offset: 0, rows: 4, firstRow: 1 }]);
    assert.deepEqual(planChunks([{ path: 'a', rows: 3 }, { path: 'b', rows: 2 }], 250_000), [
      { file: 'a', offset: 0, rows: 3, firstRow: 1 },
      { file: 'b', offset: 0, rows: 2, firstRow: 4 },
    ]);
  });

  it('gives an empty source one empty chunk', () => {
    assert.deepEqual(planChunks([{ path: 'a', rows: 0 }], 100), [{ file: 'a', offset: 0, rows: 0, firstRow: 1 }]);
    assert.deepEqual(planChunks([{ path: 'a', rows: 0 }, { path: 'b', rows: 0 }], 100), [{ file: 'a', offset: 0, rows: 0, firstRow: 1 }]);
  });

  it('skips an empty file after rows were planned, without breaking the numbering', () => {
    assert.deepEqual(planChunks([{ path: 'a', rows: 3 }, { path: 'b', rows: 0 }, { path: 'c', rows: 2 }], 10), [
      { file: 'a', offset: 0, rows: 3, firstRow: 1 },
      { file: 'c', offset: 0, rows: 2, firstRow: 4 },
    ]);
  });

  it('covers every row exactly once', () => {
    const files = [{ path: 'a', rows: 1001 }, { path: 'b', rows: 999 }, { path: 'c', rows: 1 }];
    const plan = planChunks(files, 100);
    assert.equal(plan.length, 11 + 10 + 1);
    assert.equal(plan.reduce((sum, c) => sum + c.rows, 0), 2001);
    for (const [i, chunk] of plan.entries()) {
      assert.ok(chunk.rows > 0 && chunk.rows <= 100);
      if (i > 0) assert.equal(chunk.firstRow, plan[i - 1]!.firstRow + plan[i - 1]!.rows);
    }
  });
});
