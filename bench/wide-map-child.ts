/**
 * One measurement of bench/run-wide-bench.ts, in its own process so its peak RSS is its own:
 * maps a staged Parquet file with a flow of N fields, chunk by chunk, with the `mapChunk` of a
 * given build (this checkout's `dist/`, or an older checkout's, to compare before and after).
 *
 * `node dist/bench/wide-map-child.js <dist dir> <parquet file> <fields> <chunk rows>`; prints one
 * JSON line `{ mapMs, maxRssKiB, maxEventLoopGapMs, mapped, rejected }`.
 */
import path from 'node:path';
import pl from 'nodejs-polars';
import type { FlowSpec } from '../flows/flow-spec';
import type { MappedChunk } from '../transform/map-chunk';

type MapFn = (spec: FlowSpec, raw: pl.DataFrame, firstRow: number, options?: { targetKind?: string }) => MappedChunk | Promise<MappedChunk>;

/** The field types cycled over the columns (bench/run-wide-bench.ts writes matching text). */
export const WIDE_TYPES = ['string', 'int64', 'float64', 'bool', 'date'] as const;

async function main(): Promise<void> {
  const [distDir, file, fieldArg, chunkArg] = process.argv.slice(2);
  const width = Number(fieldArg);
  const chunkRows = Number(chunkArg);
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
  for (let offset = 0; offset < total; offset += chunkRows) {
    const raw = await pl.scanParquet(file!).slice(offset, chunkRows).collect();
    const out = await map(spec, raw, offset + 1, { targetKind: 'postgres' });
    mapped += out.mapped.height;
    rejected += out.rejected.height;
  }
  const mapMs = performance.now() - started;
  clearInterval(timer);
  maxGap = Math.max(maxGap, performance.now() - last);
  process.stdout.write(
    `${JSON.stringify({ mapMs: Math.round(mapMs), maxRssKiB: process.resourceUsage().maxRSS, maxEventLoopGapMs: Math.round(maxGap), mapped, rejected })}\n`,
  );
}

// Run as a script only: the driver imports WIDE_TYPES from here.
if (require.main === module) {
  void main().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
