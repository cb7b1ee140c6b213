/**
 * Unit tests of the pure parts of reading rejects back: the cursor, the page size, pages and the summary's order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { afterRowNumber, errorsOf, pageOf, recordOf, rejectsCursor, rejectsLimit, sortSummary, type RejectRow } from './rejects';

const row = (rowNumber: number): RejectRow => ({ rowNumber, executionId: 'e1', record: { id: String(rowNumber) }, errors: [{ field: 'id', rule: 'type', message: 'm' }] });

describe('rejects paging', () => {
  it('turns a cursor into the row number after which the page starts, and refuses anything else', () => {
    assert.equal(afterRowNumber(undefined), 0);
    assert.equal(afterRowNumber(rejectsCursor(1234)), 1234);
    for (const bad of ['', 'abc', '-1', '1.5', '12345678901234567']) {
      assert.throws(() => afterRowNumber(bad), { name: 'InvalidRequestError', code: 'INVALID_CURSOR' }, bad);
    }
    assert.throws(() => afterRowNumber('abc'), { message: 'cursor "abc" is not the next_cursor of a rejects page; start again without cursor' });
  });

  it('defaults the page size to 100 and refuses sizes outside 1–1000', () => {
    assert.equal(rejectsLimit(undefined), 100);
    assert.equal(rejectsLimit(1), 1);
    assert.equal(rejectsLimit(1000), 1000);
    for (const bad of [0, 1001, 2.5, Number.NaN]) assert.throws(() => rejectsLimit(bad), { code: 'INVALID_LIMIT' }, String(bad));
    assert.throws(() => rejectsLimit(0), { message: 'limit must be a whole number from 1 to 1000, not 0' });
  });

  it('cuts limit + 1 rows to a page with the cursor after its last row, and gives no cursor on the last page', () => {
    assert.deepEqual(pageOf([row(2), row(5), row(9)], 2), { rows: [row(2), row(5)], nextCursor: '5' });
    assert.deepEqual(pageOf([row(2), row(5)], 2), { rows: [row(2), row(5)] });
    assert.deepEqual(pageOf([], 2), { rows: [] });
  });
});

describe('rejects summary', () => {
  it('orders groups by count, then field (row-level last) and rule; messages by count then text; keeps 10 messages', () => {
    const sorted = sortSummary({
      rowsRejected: 7,
      byFieldRule: [
        { field: null, rule: 'dedupe', count: 2 },
        { field: 'b', rule: 'type', count: 2 },
        { field: 'a', rule: 'in', count: 2 },
        { field: 'a', rule: 'check', count: 2 },
        { field: 'z', rule: 'required', count: 5 },
      ],
      topMessages: Array.from({ length: 12 }, (_, i) => ({ message: `m${String.fromCharCode(97 + (i % 6))}${i}`, count: i % 3 })),
    });
    assert.deepEqual(sorted.byFieldRule.map((g) => `${g.field}:${g.rule}`), ['z:required', 'a:check', 'a:in', 'b:type', 'null:dedupe']);
    assert.equal(sorted.topMessages.length, 10);
    assert.deepEqual(sorted.topMessages.slice(0, 5).map((m) => [m.message, m.count]), [['mc2', 2], ['mc8', 2], ['mf11', 2], ['mf5', 2], ['mb1', 1]]);
    assert.equal(sorted.rowsRejected, 7);
  });

  it('reads stored records and errors from JSON text or values', () => {
    assert.deepEqual(recordOf('{"a":"1"}'), { a: '1' });
    assert.deepEqual(recordOf({ a: 1 }), { a: 1 });
    assert.deepEqual(recordOf('[1,2]'), { value: [1, 2] });
    assert.deepEqual(errorsOf('[{"field":null,"rule":"dedupe","message":"x"}]'), [{ field: null, rule: 'dedupe', message: 'x' }]);
    assert.deepEqual(errorsOf('null'), []);
  });
});
