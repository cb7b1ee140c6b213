/**
 * The worker's memory budget for mapping, in cells (rows × columns): every `transformChunk` on a worker
 * takes its chunk's cells from one shared budget before it reads the chunk, and gives them back when its
 * parts are written. So however many activities a worker runs at once (`SLUICE_MAX_CONCURRENT_ACTIVITIES`),
 * the chunks it maps at the same time hold at most {@link WORKER_CELL_BUDGET} cells; a chunk that does not
 * fit waits (its keep-alive heartbeat keeps beating) until earlier chunks finish.
 *
 * Sizes come from `npm run bench:wide` (docs/operations.md "Limits"): two chunks at the per-chunk budget
 * ({@link CHUNK_CELL_BUDGET}, 5,000,000 cells) mapped at once peak at ~610 MiB for the mapping process, which
 * with the worker's own ~250 MiB stays under the documented 1 GiB.
 */
import { Semaphore } from 'async-mutex';
import { CHUNK_CELL_BUDGET } from '../common/chunk-plan';

/** Cells one worker maps at once across its concurrent chunks: one chunk at the per-chunk budget (several narrower ones). */
export const WORKER_CELL_BUDGET = CHUNK_CELL_BUDGET;

/** A worker-wide cell budget (see the module doc). */
export interface CellBudget {
  /** Cells the budget holds in all. */
  readonly total: number;
  /** Cells not taken right now. */
  available(): number;
  /**
   * Runs `work` once `cells` cells are free, and frees them when it settles (also when it throws).
   * A request above `total` (a chunk planned under a larger budget) waits for the whole budget instead.
   */
  withCells<T>(cells: number, work: () => Promise<T>): Promise<T>;
}

/**
 * At most this many semaphore units per budget. async-mutex's `Semaphore` walks every weight from its
 * free value down to 1 on each release (`_drainUnlockWaiters`): at 5,000,000 units that is ~9 ms of
 * blocked event loop per chunk, measured; the budget therefore counts in units of `total / 5,000` cells.
 */
const MAX_UNITS = 5_000;

/**
 * Creates a cell budget of `total` cells (@default {@link WORKER_CELL_BUDGET}); `total` must be a positive
 * integer. Cells are taken in whole units of `ceil(total / 5,000)` cells (1 cell for budgets up to 5,000),
 * so a chunk may hold up to one unit more than its cells; `available()` is in cells, a multiple of the unit.
 */
export function createCellBudget(total: number = WORKER_CELL_BUDGET): CellBudget {
  if (!Number.isInteger(total) || total < 1) throw new RangeError(`a cell budget must be a positive integer, not ${total}`);
  const unit = Math.ceil(total / MAX_UNITS);
  const units = Math.floor(total / unit);
  const semaphore = new Semaphore(units);
  return {
    total,
    available: () => semaphore.getValue() * unit,
    withCells: (cells, work) => semaphore.runExclusive(work, Math.min(units, Math.max(1, Math.ceil(cells / unit)))),
  };
}
