/**
 * Benchmark: the mapping step's cost against the flow's field count (issue 10). Maps 10,000 rows
 * with 100 / 500 / 1,500 fields (types cycling string, int64, float64, bool, date; one row in a
 * thousand has a bad int64, so rejects are assembled too), each measurement in its own process
 * (bench/wide-map-child.ts), reporting mapping time, whole-process peak RSS and the longest gap of
 * a 10 ms timer (how long the event loop, and with it heartbeats, was blocked).
 *
 * ```sh
 * npm run bench:wide
 * # before beside after: an older checkout, built (`npx tsc -p .`), maps the same files
 * BENCH_OLD_DIR=/tmp/old/dist npm run bench:wide
 * ```
 *
 * Environment:
 * - `BENCH_ROWS` rows (@default 10000); `BENCH_FIELDS` comma-separated field counts (@default 100,500,1500).
 * - `BENCH_OLD_DIR` the `dist/` of an older build to measure beside this one; it maps each file in
 *   one chunk (its `staging.chunk_rows` default, 250,000), as it did. `BENCH_OLD_TIMEOUT_S` stops
 *   an old measurement after this many seconds (@default 900).
 * - `BENCH_CONCURRENCY` chunks mapped at once, as a worker's concurrent `transformChunk` activities
 *   (@default 1). Above 1, this build is measured twice: through the worker's cell budget (`gate`,
 *   activities/cell-budget.ts, as a worker maps) and without it (`nogate`), to show what the budget holds.
 * - `BENCH_JSON` write the figures as JSON to this file too.
 *
 * This build maps in chunks of `chunkRowsFor(250000, fields)` rows (the cell budget), as a run does.
 * Nothing is asserted.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pl from 'nodejs-polars';
import { chunkRowsFor } from '../common/chunk-plan';
import { WIDE_TYPES } from './wide-map-child';

interface Figures {
  build: 'old' | 'new' | 'new nogate';
  fields: number;
  rows: number;
  chunkRows: number;
  mapMs?: number;
  maxRssKiB?: number;
  maxEventLoopGapMs?: number;
  mapped?: number;
  rejected?: number;
  error?: string;
}

/** Writes `rows` rows of `width` text columns, values valid for the cycled types but one bad int64 per thousand rows. */
function writeWideParquet(file: string, width: number, rows: number): void {
  const samples: Record<(typeof WIDE_TYPES)[number], (r: number) => string> = {
    string: (r) => `text ${r}`,
    int64: (r) => (r % 1000 === 7 ? 'n/a' : String(r)),
    float64: (r) => `${r}.25`,
    bool: (r) => (r % 2 === 0 ? 'yes' : 'false'),
    date: (r) => `2024-01-${String((r % 28) + 1).padStart(2, '0')}`,
  };
  const columns = WIDE_TYPES.map((type) => Array.from({ length: rows }, (_, r) => samples[type](r)));
  const frame = pl.DataFrame(Array.from({ length: width }, (_, i) => pl.Series(`c${i}`, columns[i % WIDE_TYPES.length]!, pl.Utf8)));
  frame.writeParquet(file);
}

function measure(
  distDir: string,
  file: string,
  fields: number,
  chunkRows: number,
  timeoutS: number,
  concurrency = 1,
  gate: 'gate' | 'nogate' = 'gate',
): Promise<Partial<Figures>> {
  return new Promise((resolve) => {
    const args = [path.join(__dirname, 'wide-map-child.js'), distDir, file, String(fields), String(chunkRows), String(concurrency), gate];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop()!) as Partial<Figures>);
      else resolve({ error: signal === 'SIGKILL' ? `did not finish in ${timeoutS} s` : `exit ${code}: ${err.trim().slice(0, 300)}` });
    });
  });
}

async function main(): Promise<void> {
  const rows = Number(process.env.BENCH_ROWS ?? 10_000);
  const widths = (process.env.BENCH_FIELDS ?? '100,500,1500').split(',').map(Number);
  const oldDir = process.env.BENCH_OLD_DIR;
  const oldTimeoutS = Number(process.env.BENCH_OLD_TIMEOUT_S ?? 900);
  const concurrency = Math.max(1, Number(process.env.BENCH_CONCURRENCY ?? 1));
  const newDir = path.resolve(__dirname, '..');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-wide-bench-'));
  const results: Figures[] = [];
  try {
    for (const fields of widths) {
      const file = path.join(dir, `wide-${fields}.parquet`);
      writeWideParquet(file, fields, rows);
      const builds: { build: Figures['build']; distDir: string; chunkRows: number; timeoutS: number; gate: 'gate' | 'nogate' }[] = [
        ...(oldDir ? [{ build: 'old' as const, distDir: path.resolve(oldDir), chunkRows: 250_000, timeoutS: oldTimeoutS, gate: 'gate' as const }] : []),
        { build: 'new', distDir: newDir, chunkRows: chunkRowsFor(250_000, fields), timeoutS: 3_600, gate: 'gate' },
        ...(concurrency > 1 ? [{ build: 'new nogate' as const, distDir: newDir, chunkRows: chunkRowsFor(250_000, fields), timeoutS: 3_600, gate: 'nogate' as const }] : []),
      ];
      for (const b of builds) {
        const measured = await measure(b.distDir, file, fields, b.chunkRows, b.timeoutS, concurrency, b.gate);
        const figures: Figures = { build: b.build, fields, rows, chunkRows: Math.min(b.chunkRows, rows), ...measured };
        results.push(figures);
        process.stdout.write(`${JSON.stringify(figures)}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`\nchunks mapped at once: ${concurrency}\n`);
  process.stdout.write('build       fields   rows  chunk rows   map s   peak RSS MiB   max loop gap ms\n');
  for (const r of results) {
    const cells = r.error
      ? [r.build.padEnd(10), String(r.fields).padStart(6), String(r.rows).padStart(6), String(r.chunkRows).padStart(11), `  ${r.error}`]
      : [
          r.build.padEnd(10),
          String(r.fields).padStart(6),
          String(r.rows).padStart(6),
          String(r.chunkRows).padStart(11),
          (r.mapMs! / 1000).toFixed(1).padStart(7),
          String(Math.round(r.maxRssKiB! / 1024)).padStart(14),
          String(r.maxEventLoopGapMs).padStart(17),
        ];
    process.stdout.write(`${cells.join(' ')}\n`);
  }
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2));
}

void main();
