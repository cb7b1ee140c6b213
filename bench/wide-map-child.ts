/**
 * One measurement of bench/run-wide-bench.ts, in its own process so its peak RSS is its own:
 * maps a staged Parquet file with a flow of N fields, chunk by chunk, with the `mapChunk` of a
 * given build (this checkout's `dist/`, or an older checkout's, to compare before and after).
 *
 * `node dist/bench/wide-map-child.js <dist dir> <parquet file> <fields> <chunk rows> [<concurrency> [gate|nogate]]`;
 * prints one JSON line `{ mapMs, maxRssKiB, maxEventLoopGapMs, mapped, rejected }`. With a concurrency above 1,
 * that many chunks are read and mapped at once, as a worker's concurrent `transformChunk` activities do; `gate`
 * (the default) takes each chunk's cells from the worker's cell budget first (activities/cell-budget.ts).
 */
import path from 'node:path';
import pl from 'nodejs-polars';
import type { FlowSpec } from '../flows/flow-spec';
import type { CellBudget } from '../activities/cell-budget';
import type { MappedChunk } from '../transform/map-chunk';

type MapFn = (spec: FlowSpec, raw: pl.DataFrame, firstRow: number, options?: { targetKind?: string }) => MappedChunk | Promise<MappedChunk>;

/** The field types cycled over the columns (bench/run-wide-bench.ts writes matching text). */
export const WIDE_TYPES = ['string', 'int64', 'float64', 'bool', 'date'] as const;

async function main(): Promise<void> {
  const [distDir, file, fieldArg, chunkArg, concurrencyArg, gateArg] = process.argv.slice(2);
  const width = Number(fieldArg);
  const chunkRows = Number(chunkArg);
  const concurrency = Math.max(1, Number(concurrencyArg ?? 1));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module = require(path.resolve(distDir!, 'transform/map-chunk.js')) as { mapChunk: MapFn; mapChunkAsync?: MapFn };
  const map = module.mapChunkAsync ?? module.mapChunk;
  const spec = {
    fields: Array.from({ length: width }, (_, i) => ({ name: `f${i}`, from: `c${i}`, type: WIDE_TYPES[i % WIDE_TYPES.length] })),
    checks: [],
  } as unknown as FlowSpec;
  const total = pl.scanParquet(file!).select(pl.len()).collectSync().getColumn('len').get(0) as number;

  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 10);
  let mapped = 0;
  let rejected = 0;
  const started = performance.now();
  const budget = gateArg === 'nogate' ? undefined : loadCellBudget(distDir!);
  const offsets: number[] = [];
  for (let offset = 0; offset < total; offset += chunkRows) offsets.push(offset);
  const mapOne = async (offset: number): Promise<void> => {
    const raw = await pl.scanParquet(file!).slice(offset, chunkRows).collect();
    const out = await map(spec, raw, offset + 1, { targetKind: 'postgres' });
    mapped += out.mapped.height;
    rejected += out.rejected.height;
  };
  // `concurrency` lanes, each mapping its next chunk as a worker's activity slot would.
  await Promise.all(
    Array.from({ length: Math.min(concurrency, offsets.length) }, async () => {
      for (let offset = offsets.shift(); offset !== undefined; offset = offsets.shift()) {
        const chunk = offset;
        const rows = Math.min(chunkRows, total - chunk);
        await (budget ? budget.withCells(rows * width, () => mapOne(chunk)) : mapOne(chunk));
      }
    }),
  );
  const mapMs = performance.now() - started;
  clearInterval(timer);
  maxGap = Math.max(maxGap, performance.now() - last);
  process.stdout.write(
    `${JSON.stringify({ mapMs: Math.round(mapMs), maxRssKiB: process.resourceUsage().maxRSS, maxEventLoopGapMs: Math.round(maxGap), mapped, rejected })}\n`,
  );
}

/** The build's worker cell budget, when it has one (builds before activities/cell-budget.ts do not). */
function loadCellBudget(distDir: string): CellBudget | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(path.resolve(distDir, 'activities/cell-budget.js')) as { createCellBudget: () => CellBudget }).createCellBudget();
  } catch {
    return undefined;
  }
}

// Run as a script only: the driver imports WIDE_TYPES from here.
if (require.main === module) {
  void main().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
