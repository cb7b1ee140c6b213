/**
 * Unit tests of `findDuplicates`: first row (lowest row number) wins, nulls never match, multi-column keys.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { findDuplicates } from './dedupe';
import { ROW_COLUMN } from './map-chunk';

const rows = (values: number[]) => pl.Series(ROW_COLUMN, values, pl.Int64);

describe('findDuplicates', () => {
  it('maps each duplicate to the lowest row number with its key, whatever the frame order', () => {
    const frame = pl.DataFrame([rows([5, 2, 9, 8, 12]), pl.Series('k', ['a', 'a', 'b', 'a', 'b'])]);
    assert.deepEqual([...findDuplicates(frame, ['k']).entries()].sort((x, y) => x[0] - y[0]), [
      [5, 2],
      [8, 2],
      [12, 9],
    ]);
  });

  it('never treats rows with a null key as duplicates', () => {
    const frame = pl.DataFrame([rows([1, 2, 3, 4]), pl.Series('k', [null, null, 'a', null], pl.Utf8)]);
    assert.deepEqual(findDuplicates(frame, ['k']), new Map());
  });

  it('compares every column of a multi-column key; a null in any key column never matches', () => {
    const frame = pl.DataFrame([
      rows([1, 2, 3, 4, 5, 6, 7]),
      pl.Series('title', ['A', 'A', 'A', 'B', 'A', 'A', 'A']),
      pl.Series('year', [1999, 2000, 1999, 1999, null, 2000, null], pl.Int64),
    ]);
    assert.deepEqual([...findDuplicates(frame, ['title', 'year']).entries()].sort((x, y) => x[0] - y[0]), [
      [3, 1],
      [6, 2],
    ]);
  });

  it('finds nothing in an empty frame or a frame of distinct keys', () => {
    assert.deepEqual(findDuplicates(pl.DataFrame([rows([]), pl.Series('k', [], pl.Utf8)]), ['k']), new Map());
    assert.deepEqual(findDuplicates(pl.DataFrame([rows([1, 2]), pl.Series('k', ['a', 'b'])]), ['k']), new Map());
  });
});
