/**
 * Unit tests of `findDuplicates`: first row (lowest row number) wins, nulls never match, multi-column keys;
 * and of `RunDedupe`, the chunk-by-chunk form of the one-pass path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { findDuplicates, RunDedupe } from './dedupe';
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

describe('RunDedupe (chunks in source order)', () => {
  const chunk = (first: number, keys: (string | null)[]) => {
    const rowNumbers = keys.map((_, i) => first + i);
    return {
      mapped: pl.DataFrame([rows(rowNumbers), pl.Series('k', keys, pl.Utf8)]),
      raw: pl.DataFrame([pl.Series('k', keys, pl.Utf8)]),
    };
  };

  it('rejects the rows of a later chunk whose key an earlier chunk kept, and duplicates within a chunk', () => {
    const dedupe = new RunDedupe(['k']);
    const one = chunk(1, ['a', 'b', null]);
    assert.equal(dedupe.apply(one.mapped, one.raw, 1), null);
    const two = chunk(4, ['b', 'c', 'c', null, 'a']);
    const found = dedupe.apply(two.mapped, two.raw, 4)!;
    assert.deepEqual(found.kept.getColumn(ROW_COLUMN).toArray().map(Number), [5, 7]);
    assert.deepEqual(found.rejected.getColumn(ROW_COLUMN).toArray().map(Number), [4, 6, 8]);
    assert.deepEqual(found.rejected.getColumn('record').toArray(), ['{"k":"b"}', '{"k":"c"}', '{"k":"a"}']);
    assert.deepEqual(
      (found.rejected.getColumn('errors').toArray() as string[]).map((e) => JSON.parse(e)[0].message),
      ['duplicate of row 2 on (k)', 'duplicate of row 5 on (k)', 'duplicate of row 1 on (k)'],
    );
    // Keys kept in chunk two count for chunk three.
    const three = chunk(9, ['c', 'd']);
    const again = dedupe.apply(three.mapped, three.raw, 9)!;
    assert.deepEqual(again.rejected.getColumn(ROW_COLUMN).toArray().map(Number), [9]);
    assert.match((again.rejected.getColumn('errors').toArray() as string[])[0]!, /duplicate of row 5 on \(k\)/);
  });
});
