import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHUNK_CELL_BUDGET } from '../common/chunk-plan';
import { createCellBudget, WORKER_CELL_BUDGET } from './cell-budget';

/** A promise and the function that settles it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('createCellBudget', () => {
  it('holds one chunk at the per-chunk budget by default', () => {
    assert.equal(WORKER_CELL_BUDGET, CHUNK_CELL_BUDGET);
    assert.equal(createCellBudget().total, 5_000_000);
  });

  it('runs chunks that fit together at once, and makes the next one wait until cells are freed', async () => {
    const budget = createCellBudget(10);
    const order: string[] = [];
    const first = gate();
    const second = gate();
    const a = budget.withCells(6, async () => {
      order.push('a start');
      await first.promise;
      order.push('a end');
    });
    const b = budget.withCells(4, async () => {
      order.push('b start');
      await second.promise;
      order.push('b end');
    });
    const c = budget.withCells(5, async () => {
      order.push('c start');
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, ['a start', 'b start']);
    assert.equal(budget.available(), 0);
    second.open();
    await b;
    // 4 cells free: not enough for c's 5.
    assert.deepEqual(order, ['a start', 'b start', 'b end']);
    assert.equal(budget.available(), 4);
    first.open();
    await Promise.all([a, c]);
    assert.deepEqual(order, ['a start', 'b start', 'b end', 'a end', 'c start']);
    assert.equal(budget.available(), 10);
  });

  it('frees the cells of a chunk that throws', async () => {
    const budget = createCellBudget(10);
    await assert.rejects(
      budget.withCells(8, async () => {
        throw new Error('mapping failed');
      }),
      /mapping failed/,
    );
    assert.equal(budget.available(), 10);
  });

  it('lets a chunk larger than the budget run alone instead of waiting for ever', async () => {
    const budget = createCellBudget(10);
    assert.equal(await budget.withCells(25, async () => budget.available()), 0);
    assert.equal(budget.available(), 10);
  });

  it('counts a large budget in units of total / 5,000 cells: two half chunks fit at once, a third waits, a 1-cell chunk takes one unit', async () => {
    const budget = createCellBudget(5_000_000);
    assert.equal(await budget.withCells(1, async () => budget.available()), 4_999_000);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const order: string[] = [];
    const a = budget.withCells(2_500_000, async () => {
      order.push('a');
      await held;
    });
    const b = budget.withCells(2_500_000, async () => {
      order.push('b');
      await held;
    });
    const c = budget.withCells(1_000, async () => order.push('c'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, ['a', 'b'], 'the third chunk waits while the budget is full');
    assert.equal(budget.available(), 0);
    release();
    await Promise.all([a, b, c]);
    assert.deepEqual(order, ['a', 'b', 'c']);
    assert.equal(budget.available(), 5_000_000);
  });

  it('refuses a budget that is not a positive integer', () => {
    assert.throws(() => createCellBudget(0), /a cell budget must be a positive integer, not 0/);
    assert.throws(() => createCellBudget(1.5), /not 1.5/);
  });
});
