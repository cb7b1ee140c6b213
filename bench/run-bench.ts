/**
 * Benchmark: a full Sluice run (local CSV → Polars transform → Postgres COPY, on a real Temporal
 * dev server, with the worker in its own process) against a plain `COPY` of the same file into
 * the same typed table.
 *
 * ```sh
 * npx tsc -p . && BENCH_ROWS=1000000 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node dist/bench/run-bench.js
 * ```
 *
 * Environment:
 * - `BENCH_ROWS` rows in the generated CSV (@default 1000000); `BENCH_SEED` (@default 42);
 *   `BENCH_BAD_RATIO` share of bad rows (@default 0.02; below the flow's max_reject_ratio, 0.5).
 * - `DATABASE_URL` admin URL of a Postgres server; a fresh database is created on it and dropped
 *   after. Unset: an embedded PostgreSQL 17 under `.sluice/bench-postgres` (port `BENCH_PG_PORT`, @default 54338).
 * - `BENCH_REPEAT` iterations of (plain COPY, full run), each into emptied tables; medians are
 *   reported (@default 3). `BENCH_WARMUP` untimed iterations before them (@default 1): a worker's first
 *   run of a process pays for its memory and the JIT once (1.5–2× a later run's time); their times are printed, not counted.
 * - `BENCH_CHUNK_ROWS` the worker's `SLUICE_CHUNK_ROWS` (@default the config default, 250000).
 * - `BENCH_WORKER_NODE_ARGS` extra node arguments for the worker process (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 * - `BENCH_COMPARE_DIST` another build's `dist/` (e.g. the previous commit's, in a git worktree): its
 *   worker runs beside this one (own task queue), each iteration runs both builds (alternating which
 *   goes first) after the same plain COPY, and the figures are printed per build with new / old.
 * - `BENCH_JSON` write the figures as JSON to this file too. `BENCH_KEEP=1` keeps the temp dirs and the database.
 *
 * Nothing is asserted: the targets (full run ≤ 1.5 × plain COPY, worker peak RSS < 1 GiB) are reported.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { Client as PgClient, Pool } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Sluice } from '../client/sluice';
import { createLogger } from '../common/logger';
import { type RunMetadata, type StepName } from '../common/run-model';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../local-stack/embedded-postgres';
import { migrate } from '../db/migrations';
import { qualifiedName, targetTableDdl } from '../connectors/postgres/postgres-target';
import { parseFlowSpec, type FlowSpec } from '../flows/flow-spec';
import { FlowVersionStore } from '../flows/flow-versions';
import { quoteIdent } from '../transform/polars-sql';
import { startTemporal } from '../tests/helpers/services';

/** The repository root (this file runs from dist/bench/). */
const PROJECT_DIR = path.resolve(__dirname, '..', '..');
const logger = createLogger('sluice-bench', process.env.SLUICE_LOG_LEVEL ?? 'warn');
export const MiB = 1024 * 1024;

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const SEED = Number(process.env.BENCH_SEED ?? 42);
const BAD_RATIO = Number(process.env.BENCH_BAD_RATIO ?? 0.02);
const KEEP = process.env.BENCH_KEEP === '1';
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));
const WARMUP = Math.max(0, Number(process.env.BENCH_WARMUP ?? 1));

export const FLOW_YAML = `
name: bench_orders
description: benchmark flow (bench/run-bench.ts)
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.bench_orders, write: append }
fields:
  id:       { from: id, type: int64, required: true }
  customer: { from: customer, type: string, required: true }
  amount:   { from: amount, type: int64 }
  day:      { from: day, type: date, required: true }
  active:   { from: active, type: bool }
  note:     { from: note, type: string }
max_reject_ratio: 0.5
`;

/* ------------------------------------------------------------------ data ---------------------- */

/** mulberry32: a small, fast, seedable PRNG; the same seed gives the same file. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BAD_KINDS = ['bad_id', 'blank_id', 'blank_customer', 'bad_amount', 'bad_day', 'blank_day'] as const;
export type BadKind = (typeof BAD_KINDS)[number];

export interface GeneratedCsv {
  file: string;
  bytes: number;
  rows: number;
  bad: Record<BadKind, number>;
  badRows: number;
}

/**
 * Writes `rows` data rows (plus a header) of id,customer,amount,day,active,note. About `badRatio`
 * of them are bad in exactly one way: a non-integer id or amount, an impossible or foreign date,
 * or a blank required field (id, customer, day). Notes are sometimes quoted with commas and quotes.
 */
export function generateCsv(file: string, rows: number, seed: number, badRatio: number): GeneratedCsv {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const days: string[] = [];
  for (let d = Date.UTC(2020, 0, 1); d <= Date.UTC(2024, 11, 31); d += 86_400_000) days.push(new Date(d).toISOString().slice(0, 10));
  const actives = ['true', 'false', 'yes', 'no', '1', '0', ''];
  const badInts = ['12x', '1.5', 'abc', '99999999999999999999'];
  // Not 'yesterday': Postgres accepts it as a date (a special input value), Sluice does not.
  const badDays = ['2024-13-01', '2023-02-30', '31/12/2024', 'n/a'];
  const bad = Object.fromEntries(BAD_KINDS.map((k) => [k, 0])) as Record<BadKind, number>;
  const fd = openSync(file, 'w');
  let bytes = 0;
  const write = (text: string) => {
    bytes += writeSync(fd, text);
  };
  write('id,customer,amount,day,active,note\n');
  let lines: string[] = [];
  for (let i = 1; i <= rows; i++) {
    let id = String(i);
    let customer = `customer_${Math.floor(random() * 50_000)}`;
    let amount = String(Math.floor(random() * 200_000) - 1_000);
    let day = pick(days);
    const active = pick(actives);
    const n = random();
    const note = n < 0.4 ? '' : n < 0.8 ? `note ${i}` : n < 0.95 ? `"note, with a comma ${i}"` : `"she said ""hi"" at ${i}"`;
    if (random() < badRatio) {
      const kind = pick(BAD_KINDS);
      bad[kind]++;
      if (kind === 'bad_id') id = `${i}${pick(['x', '.0', 'e'])}`;
      else if (kind === 'blank_id') id = '';
      else if (kind === 'blank_customer') customer = '';
      else if (kind === 'bad_amount') amount = pick(badInts);
      else if (kind === 'bad_day') day = pick(badDays);
      else day = '';
    }
    lines.push(`${id},${customer},${amount},${day},${active},${note}\n`);
    if (lines.length === 10_000) {
      write(lines.join(''));
      lines = [];
    }
  }
  write(lines.join(''));
  closeSync(fd);
  const badRows = Object.values(bad).reduce((a, b) => a + b, 0);
  return { file, bytes, rows, bad, badRows };
}

/* ------------------------------------------------------------------ memory -------------------- */

/** `/proc/<pid>/status` fields in KiB (VmRSS, VmHWM), or undefined once the process is gone. */
export function procStatus(pid: number): { rssKiB: number; hwmKiB: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) of a process, in seconds, or NaN once it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Host-wide CPU jiffies (busy, total) from /proc/stat, to tell how busy the machine was. */
export function hostCpu(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const n = values.map(Number);
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = n[3]! + n[4]!;
  return { busy: total - idle, total };
}

/** Samples a process's VmRSS and CPU time every `intervalMs`, keeping the whole timeline. */
export class ProcessSampler {
  readonly samples: { at: number; rssKiB: number; cpuS: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly pid: number,
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    const sample = () => {
      const status = procStatus(this.pid);
      if (status) this.samples.push({ at: Date.now(), rssKiB: status.rssKiB, cpuS: processCpuSeconds(this.pid) });
    };
    sample();
    this.timer = setInterval(sample, this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Highest sampled VmRSS (KiB) between two times (ms since epoch). */
  maxBetween(from: number, to: number): number {
    let max = 0;
    for (const s of this.samples) if (s.at >= from && s.at <= to && s.rssKiB > max) max = s.rssKiB;
    return max;
  }

  /** CPU seconds used between two times, from the samples just outside them (± one interval). */
  cpuBetween(from: number, to: number): number {
    const before = [...this.samples].reverse().find((s) => s.at <= from) ?? this.samples[0];
    const after = this.samples.find((s) => s.at >= to) ?? this.samples[this.samples.length - 1];
    return before && after ? after.cpuS - before.cpuS : NaN;
  }
}

/* ------------------------------------------------------------------ services ------------------ */

export interface BenchDatabase {
  url: string;
  pool: Pool;
  serverVersionNum: number;
  serverVersion: string;
  drop(): Promise<void>;
}

/**
 * The bench's Postgres: `DATABASE_URL`, else the embedded PostgreSQL 17 under
 * `.sluice/bench-postgres` (port `BENCH_PG_PORT`, 54338), with a fresh bench database.
 * Registers its teardown in `cleanups` (first in, last out).
 */
export async function openBenchPostgres(cleanups: (() => Promise<void>)[]): Promise<{ db: BenchDatabase; embedded: EmbeddedPostgresHandle | undefined }> {
  let adminUrl = process.env.DATABASE_URL;
  let embedded: EmbeddedPostgresHandle | undefined;
  if (!adminUrl) {
    console.log('DATABASE_URL is not set: starting the embedded PostgreSQL under .sluice/bench-postgres');
    embedded = await startEmbeddedPostgres(path.join(PROJECT_DIR, '.sluice', 'bench-postgres'), logger, Number(process.env.BENCH_PG_PORT ?? 54338));
    adminUrl = embedded.databaseUrl;
    const server = embedded;
    cleanups.unshift(() => server.stop());
  }
  const db = await createBenchDatabase(adminUrl);
  cleanups.unshift(KEEP ? () => db.pool.end() : () => db.drop());
  console.log(`postgres ${db.serverVersion} (${embedded ? 'embedded' : 'DATABASE_URL'}), bench database ${new URL(db.url).pathname.slice(1)}`);
  return { db, embedded };
}

async function createBenchDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `sluice_bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = new PgClient({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new Pool({ connectionString: url.toString(), max: 4 });
  await migrate(pool);
  const version = await pool.query<{ num: string; text: string }>(`SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS text`);
  return {
    url: url.toString(),
    pool,
    serverVersionNum: Number(version.rows[0]!.num),
    serverVersion: version.rows[0]!.text,
    async drop() {
      await pool.end();
      const c = new PgClient({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  ready: Promise<void>;
  /** ru_maxrss (KiB) the worker reported on a clean exit. */
  exitMaxRssKiB: number | undefined;
  /** The worker's event-loop delay from ready to exit (ms), reported on a clean exit. */
  eventLoopDelayMs: { max: number; p99: number; mean: number } | undefined;
  stop(): Promise<void>;
}

/** Spawns bench-worker.js with the config in its environment; `ready` resolves once it polls. */
export function spawnWorker(env: Record<string, string>, script = path.join(__dirname, 'bench-worker.js')): WorkerProcess {
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '--max-semi-space-size=64').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const handle: WorkerProcess = {
    child,
    pid: child.pid!,
    exitMaxRssKiB: undefined,
    eventLoopDelayMs: undefined,
    ready: new Promise<void>((resolve, reject) => {
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        let event: { event?: string; maxRssKiB?: number; eventLoopDelayMs?: WorkerProcess['eventLoopDelayMs'] };
        try {
          event = JSON.parse(line) as typeof event;
        } catch {
          process.stdout.write(`[worker] ${line}\n`);
          return;
        }
        if (event.event === 'ready') resolve();
        if (event.event === 'exit') {
          handle.exitMaxRssKiB = event.maxRssKiB;
          handle.eventLoopDelayMs = event.eventLoopDelayMs;
        }
      });
      child.once('exit', (code) => reject(new Error(`the bench worker exited with code ${code} before it was ready`)));
    }),
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exit;
      clearTimeout(timer);
    },
  };
  return handle;
}

/* ------------------------------------------------------------------ plain COPY ---------------- */

export type CopyMode = 'typed, ON_ERROR ignore' | 'text columns (PostgreSQL < 17)';

export interface PlainCopyResult {
  ms: number;
  rowsLoaded: number;
  rowsSkipped: number;
}

/**
 * The plain-COPY baseline. On PostgreSQL ≥ 17 its table has the flow's DDL (`targetTableDdl`) and
 * bad rows are skipped with `ON_ERROR ignore`; `FORCE_NOT_NULL` on the required columns turns
 * their blanks into '' so that a blank id or day is a (skippable) conversion error instead of a
 * NOT NULL violation, which ON_ERROR does not cover and which would abort the COPY (a blank
 * customer, text, loads as ''). Below 17 the table has the same column names, all `text`.
 */
export class PlainCopy {
  readonly typed: boolean;
  readonly mode: CopyMode;
  readonly table: string;
  private readonly sql: string;

  constructor(
    private readonly db: BenchDatabase,
    private readonly spec: FlowSpec,
  ) {
    this.typed = db.serverVersionNum >= 170_000;
    this.mode = this.typed ? 'typed, ON_ERROR ignore' : 'text columns (PostgreSQL < 17)';
    this.table = this.typed ? 'public.bench_plain_copy' : 'public.bench_plain_copy_text';
    const columns = spec.fields.map((f) => quoteIdent(f.name)).join(', ');
    const required = spec.fields.filter((f) => f.required).map((f) => quoteIdent(f.name));
    const options = this.typed
      ? `FORMAT csv, HEADER true, ON_ERROR ignore${required.length ? `, FORCE_NOT_NULL (${required.join(', ')})` : ''}`
      : 'FORMAT csv, HEADER true';
    this.sql = `COPY ${qualifiedName(this.table).sql} (${columns}) FROM STDIN WITH (${options})`;
  }

  async createTable(): Promise<void> {
    const { spec } = this;
    if (this.typed) await this.db.pool.query(targetTableDdl({ ...spec, target: { ...spec.target, table: this.table } }));
    else await this.db.pool.query(`CREATE TABLE ${qualifiedName(this.table).sql} (${spec.fields.map((f) => `${quoteIdent(f.name)} text`).join(', ')})`);
  }

  /** Streams the file into the (emptied) table with pg-copy-streams; times the COPY statement. */
  async run(csv: string): Promise<PlainCopyResult> {
    const client = new PgClient({ connectionString: this.db.url, application_name: 'sluice:bench-copy' });
    await client.connect();
    let skipped = 0;
    client.on('notice', (notice) => {
      const match = /^(\d+) rows? (was|were) skipped/.exec(notice.message ?? '');
      if (match) skipped = Number(match[1]);
    });
    try {
      const started = performance.now();
      const stream = client.query(copyFrom(this.sql));
      await pipeline(createReadStream(csv, { highWaterMark: 1024 * 1024 }), stream);
      const ms = performance.now() - started;
      // The NOTICE arrives before CommandComplete; give its handler a turn anyway.
      await new Promise((resolve) => setImmediate(resolve));
      return { ms, rowsLoaded: Number(stream.rowCount), rowsSkipped: skipped };
    } finally {
      await client.end();
    }
  }
}

/* ------------------------------------------------------------------ main ---------------------- */

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const secs = (ms: number) => `${fmt(ms / 1000, 2)} s`;
/** Nearest-rank percentile `p` (0–100) of `values`, in any order (NaN when empty). */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Child processes of this process (the Temporal dev server is one), by pid and command name, from /proc. */
export function childProcesses(): { pid: number; comm: string }[] {
  const children: { pid: number; comm: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) children.push({ pid: Number(entry), comm });
    } catch {
      // the process ended meanwhile
    }
  }
  return children;
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
export const STEPS: StepName[] = ['sync_source', 'transform', 'sync_target'];

interface Iteration {
  copy: PlainCopyResult;
  runMs: number;
  metadata: RunMetadata;
  /** Per step: duration, start and end (ms from `run()`), peak RSS and worker CPU within it. */
  steps: Record<StepName, { ms: number; startMs: number; endMs: number; peakRssMiB: number; workerCpuS: number }>;
  orchestrationMs: number;
  /** How long the transform and sync_target steps ran at the same time (ms; 0 on the staged path). */
  overlapMs: number;
  runPeakRssMiB: number;
  /** CPU seconds the worker used during the run. */
  workerCpuS: number;
  /** Share of the host's CPU (all cores) busy during the run, every process included. */
  hostBusyPct: number;
  loaded: number;
  rejectsLoaded: number;
}

/** One build under test: its worker process, sampler, client and results. */
interface Contender {
  label: string;
  worker: WorkerProcess;
  sampler: ProcessSampler;
  sluice: Sluice;
  idle: { rssKiB: number; hwmKiB: number };
  final?: { rssKiB: number; hwmKiB: number } | undefined;
  iterations: Iteration[];
}

/** Total length (ms) of the union of intervals; NaN ends are skipped. */
function unionMs(intervals: [number, number][]): number {
  const sorted = intervals.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b)).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of sorted) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

async function main(): Promise<void> {
  if (!Number.isInteger(ROWS) || ROWS < 1) throw new Error(`BENCH_ROWS must be a positive integer, not "${process.env.BENCH_ROWS}"`);
  if (!(BAD_RATIO >= 0 && BAD_RATIO < 0.5)) throw new Error(`BENCH_BAD_RATIO must be in [0, 0.5), not "${process.env.BENCH_BAD_RATIO}"`);
  const started = Date.now();
  const projectDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
  const stagingDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-staging-'));
  const cleanups: (() => Promise<void>)[] = [];
  try {
    console.log(
      `sluice bench: ${fmt(ROWS)} rows, seed ${SEED}, ${(BAD_RATIO * 100).toFixed(1)}% bad, ${REPEAT} iteration(s); ` +
        `node ${process.version}, ${os.cpus().length} CPUs, ${fmt(os.totalmem() / 1024 ** 3, 1)} GiB RAM, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    );

    // 1. The source file.
    let t = performance.now();
    const csv = generateCsv(path.join(projectDir, 'orders.csv'), ROWS, SEED, BAD_RATIO);
    console.log(`generated ${csv.file}: ${fmt(csv.bytes / MiB, 1)} MiB, ${fmt(csv.badRows)} bad rows ${JSON.stringify(csv.bad)} in ${secs(performance.now() - t)}`);

    // 2. Postgres: DATABASE_URL, else the embedded PostgreSQL 17.
    const { db } = await openBenchPostgres(cleanups);

    // 3. Temporal dev server (the official CLI), with Sluice's search attributes.
    const temporal = await startTemporal();
    cleanups.unshift(() => temporal.teardown());

    // 4. The workers, each in its own process, their RSS sampled every 100 ms: this build, and with
    // BENCH_COMPARE_DIST another build's dist/ (e.g. the previous commit), each on its own task queue.
    const contenders: Contender[] = [];
    const builds: [string, string][] = [['new', path.join(__dirname, 'bench-worker.js')]];
    if (process.env.BENCH_COMPARE_DIST) builds.unshift(['old', path.join(path.resolve(process.env.BENCH_COMPARE_DIST), 'bench', 'bench-worker.js')]);
    for (const [label, script] of builds) {
      t = performance.now();
      const taskQueue = `bench-${label}-${randomUUID()}`;
      const workerEnv: Record<string, string> = {
        DATABASE_URL: db.url,
        TEMPORAL_ADDRESS: temporal.address,
        SLUICE_TASK_QUEUE: taskQueue,
        SLUICE_STAGING_DIR: stagingDir,
        BENCH_PROJECT_DIR: projectDir,
      };
      if (process.env.BENCH_CHUNK_ROWS) workerEnv.SLUICE_CHUNK_ROWS = process.env.BENCH_CHUNK_ROWS;
      const worker = spawnWorker(workerEnv, script);
      cleanups.unshift(() => worker.stop());
      const sampler = new ProcessSampler(worker.pid, 100);
      sampler.start();
      cleanups.unshift(async () => sampler.stop());
      await worker.ready;
      const idle = procStatus(worker.pid)!;
      console.log(`${label} worker (${script}) pid ${worker.pid} ready in ${secs(performance.now() - t)}; RSS ${fmt(idle.rssKiB / 1024)} MiB (peak so far ${fmt(idle.hwmKiB / 1024)} MiB, workflow bundling included)`);
      const sluice = new Sluice({ connection: temporal.connection, taskQueue, databaseUrl: db.url });
      cleanups.unshift(() => sluice.close());
      contenders.push({ label, worker, sampler, sluice, idle, iterations: [] });
    }

    // 5. The flow, and the two tables.
    const spec = parseFlowSpec(FLOW_YAML, 'bench flow');
    const { version } = await new FlowVersionStore(db.pool).publish(spec, { sourceText: FLOW_YAML });
    const plain = new PlainCopy(db, spec);
    await plain.createTable();
    const count = async (table: string) => Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualifiedName(table).sql}`)).rows[0]!.n);

    // 6. Iterations: plain COPY, then the full run of each build (alternating which goes first),
    // each into emptied tables after a CHECKPOINT.
    const copies: PlainCopyResult[] = [];
    let runs = 0;
    for (let i = -WARMUP; i < REPEAT; i++) {
      // Warm-up iterations (i < 0) run the same steps; their figures are printed and not counted.
      const warm = i < 0;
      console.log(warm ? `warm-up ${i + WARMUP + 1}/${WARMUP} (not counted)` : `iteration ${i + 1}/${REPEAT}`);
      await db.pool.query(`TRUNCATE ${qualifiedName(plain.table).sql}`);
      await db.pool.query('CHECKPOINT');
      const copy = await plain.run(csv.file);
      if (!warm) copies.push(copy);
      console.log(`  plain COPY (${plain.mode}): ${secs(copy.ms)}, ${fmt(copy.rowsLoaded)} rows loaded, ${fmt(copy.rowsSkipped)} skipped`);
      const order = i % 2 === 0 ? contenders : [...contenders].reverse();
      for (const contender of order) {
        const { worker, sampler, sluice } = contender;
        if (runs > 0) await db.pool.query(`TRUNCATE ${qualifiedName(spec.target.table!).sql}, ${qualifiedName(spec.target.rejects.table!).sql}`);
        await db.pool.query('CHECKPOINT');
        const cpuBefore = processCpuSeconds(worker.pid);
        const hostBefore = hostCpu();
        const runStartedAt = Date.now();
        const runStarted = performance.now();
        const run = await sluice.run({ flowVersion: version.id, sourcePath: 'orders.csv', runMetadata: { bench: true, rows: ROWS, iteration: warm ? `warm-up ${i + WARMUP + 1}` : i + 1 }, forceRerun: runs > 0 });
        runs++;
        // No progress polling: queries cost the worker time and would inflate the figure. The step
        // times come from the run's metadata instead.
        const metadata: RunMetadata = await run.wait({ timeoutMs: 3_600_000 });
        const runMs = performance.now() - runStarted;
        console.log(`  [${contender.label}] timeline (s from run(); steps may overlap):`);
        for (const step of STEPS) {
          const from = Date.parse(metadata.steps[step]?.started_at ?? '');
          const to = Date.parse(metadata.steps[step]?.ended_at ?? '');
          if (!Number.isNaN(from)) console.log(`    ${step.padEnd(12)} ${fmt((from - runStartedAt) / 1000, 2).padStart(6)} → ${fmt((to - runStartedAt) / 1000, 2).padStart(6)}`);
        }
        console.log(`    ${metadata.status.padEnd(12)} ${fmt(runMs / 1000, 2).padStart(6)}`);
        const runEndedAt = Date.now();
        const workerCpuS = processCpuSeconds(worker.pid) - cpuBefore;
        const hostAfter = hostCpu();
        const hostBusyPct = (100 * (hostAfter.busy - hostBefore.busy)) / Math.max(1, hostAfter.total - hostBefore.total);
        const steps = Object.fromEntries(
          STEPS.map((step) => {
            const st = metadata.steps[step];
            const from = Date.parse(st?.started_at ?? '');
            const to = Date.parse(st?.ended_at ?? '');
            const ok = Number.isFinite(from) && Number.isFinite(to);
            return [step, { ms: st?.duration_ms ?? NaN, startMs: from - runStartedAt, endMs: to - runStartedAt, peakRssMiB: ok ? sampler.maxBetween(from, to) / 1024 : NaN, workerCpuS: ok ? sampler.cpuBetween(from, to) : NaN }];
          }),
        ) as Iteration['steps'];
        // Orchestration: the run's time outside every step (steps may overlap: their union counts once).
        const stepsMs = unionMs(STEPS.map((step) => [steps[step].startMs, steps[step].endMs] as [number, number]));
        const overlapMs = Math.max(0, Math.min(steps.transform.endMs, steps.sync_target.endMs) - Math.max(steps.transform.startMs, steps.sync_target.startMs)) || 0;
        if (!warm) contender.iterations.push({
          copy,
          runMs,
          metadata,
          steps,
          orchestrationMs: runMs - stepsMs,
          overlapMs,
          runPeakRssMiB: sampler.maxBetween(runStartedAt, runEndedAt) / 1024,
          workerCpuS,
          hostBusyPct,
          loaded: await count(spec.target.table!),
          rejectsLoaded: await count(spec.target.rejects.table!),
        });
        console.log(
          `  [${contender.label}] full run: ${secs(runMs)} (${STEPS.map((step) => `${step} ${secs(steps[step].ms)}`).join(', ')}; transform ∥ load ${secs(overlapMs)}), ratio ${fmt(runMs / copy.ms, 2)}×; ` +
            `worker CPU ${fmt(workerCpuS, 2)} s, host CPU busy ${fmt(hostBusyPct)}% of ${os.cpus().length} cores`,
        );
      }
    }
    for (const contender of contenders) {
      contender.final = procStatus(contender.worker.pid);
      await contender.worker.stop();
      contender.sampler.stop();
    }

    // 7. Figures: medians over the iterations, per build.
    const copyMs = median(copies.map((c) => c.ms));
    const bestCopyMs = Math.min(...copies.map((c) => c.ms));
    const expectedMapped = ROWS - csv.badRows;
    const line = (label: string, value: string) => console.log(`  ${label.padEnd(42)} ${value}`);
    const problems: string[] = [];
    const all: Record<string, unknown> = {};
    for (const contender of contenders) {
      const { iterations, worker, idle, final } = contender;
      const runMs = median(iterations.map((it) => it.runMs));
      const ratio = runMs / copyMs;
      const bestRunMs = Math.min(...iterations.map((it) => it.runMs));
      const hwmKiB = Math.max(final?.hwmKiB ?? 0, worker.exitMaxRssKiB ?? 0);
      const runPeakMiB = Math.max(...iterations.map((it) => it.runPeakRssMiB));
      const last = iterations[iterations.length - 1]!;
      const figures = {
        machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: os.totalmem() / 1024 ** 3, node: process.version, loadAverageAtStart: os.loadavg() },
        build: contender.label,
        rows: ROWS,
        seed: SEED,
        csvMiB: csv.bytes / MiB,
        badRows: csv.badRows,
        bad: csv.bad,
        postgres: db.serverVersion,
        plainCopyMode: plain.mode,
        chunkRows: Number(process.env.BENCH_CHUNK_ROWS ?? 250_000),
        median: {
          plainCopyMs: copyMs,
          plainCopyRowsPerSecond: ROWS / (copyMs / 1000),
          fullRunMs: runMs,
          fullRunRowsPerSecond: ROWS / (runMs / 1000),
          ratio,
          steps: Object.fromEntries(STEPS.map((step) => [step, median(iterations.map((it) => it.steps[step].ms))])),
          stepsWorkerCpuS: Object.fromEntries(STEPS.map((step) => [step, median(iterations.map((it) => it.steps[step].workerCpuS))])),
          overlapMs: median(iterations.map((it) => it.overlapMs)),
          orchestrationMs: median(iterations.map((it) => it.orchestrationMs)),
          workerCpuS: median(iterations.map((it) => it.workerCpuS)),
          hostBusyPct: median(iterations.map((it) => it.hostBusyPct)),
        },
        best: { plainCopyMs: bestCopyMs, fullRunMs: bestRunMs, ratio: bestRunMs / bestCopyMs },
        worker: { idleRssMiB: idle.rssKiB / 1024, peakRssDuringRunsMiB: runPeakMiB, peakRssLifetimeMiB: hwmKiB / 1024, eventLoopDelayMs: worker.eventLoopDelayMs },
        runRows: last.metadata.rows,
        byRule: last.metadata.rejects.by_rule,
        iterations: iterations.map((it) => ({
          plainCopyMs: it.copy.ms,
          plainCopyLoaded: it.copy.rowsLoaded,
          plainCopySkipped: it.copy.rowsSkipped,
          fullRunMs: it.runMs,
          ratio: it.runMs / it.copy.ms,
          status: it.metadata.status,
          steps: it.steps,
          overlapMs: it.overlapMs,
          orchestrationMs: it.orchestrationMs,
          runPeakRssMiB: it.runPeakRssMiB,
          workerCpuS: it.workerCpuS,
          hostBusyPct: it.hostBusyPct,
          loaded: it.loaded,
          rejectsLoaded: it.rejectsLoaded,
        })),
      };
      all[contender.label] = figures;

      console.log('');
      console.log(`RESULTS [${contender.label}] (${fmt(ROWS)} rows, ${fmt(csv.bytes / MiB, 1)} MiB CSV, PostgreSQL ${db.serverVersion}; median of ${REPEAT})`);
      line(`plain COPY wall time`, `${secs(copyMs)}  (${fmt(ROWS / (copyMs / 1000))} rows/s; ${plain.mode})`);
      line(`full run wall time`, `${secs(runMs)}  (${fmt(ROWS / (runMs / 1000))} rows/s; ${last.metadata.status})`);
      line(`ratio full run / plain COPY`, `${fmt(ratio, 2)}×  (target ≤ 1.5×: ${ratio <= 1.5 ? 'met' : 'NOT met'})`);
      line(`best of ${REPEAT}: plain COPY / full run / ratio`, `${secs(bestCopyMs)} / ${secs(bestRunMs)} / ${fmt(bestRunMs / bestCopyMs, 2)}×`);
      for (const step of STEPS) {
        const peak = Math.max(...iterations.map((it) => it.steps[step].peakRssMiB));
        const start = median(iterations.map((it) => it.steps[step].startMs));
        const end = median(iterations.map((it) => it.steps[step].endMs));
        line(`  step ${step}`, `${secs(figures.median.steps[step]!)}  (${fmt(start / 1000, 2)} → ${fmt(end / 1000, 2)} s; worker CPU ${fmt(figures.median.stepsWorkerCpuS[step]!, 2)} s, peak RSS ${fmt(peak)} MiB)`);
      }
      line(`  transform and sync_target overlapped`, secs(figures.median.overlapMs));
      line(`  orchestration (run − union of steps)`, secs(figures.median.orchestrationMs));
      line(`worker CPU per run`, `${fmt(figures.median.workerCpuS, 2)} s; host CPU busy during runs ${fmt(figures.median.hostBusyPct)}% (all processes)`);
      line(`worker peak RSS (VmHWM, lifetime)`, `${fmt(hwmKiB / 1024)} MiB  (target < 1024 MiB: ${hwmKiB < 1024 * 1024 ? 'met' : 'NOT met'})`);
      line(`worker peak RSS during the runs (sampled)`, `${fmt(runPeakMiB)} MiB; idle before the runs ${fmt(idle.rssKiB / 1024)} MiB`);
      if (worker.eventLoopDelayMs) {
        const d = worker.eventLoopDelayMs;
        line(`worker event-loop delay (all runs)`, `max ${fmt(d.max)} ms, p99 ${fmt(d.p99)} ms, mean ${fmt(d.mean, 1)} ms`);
      }
      line(`rows read / mapped / rejected / written`, `${fmt(last.metadata.rows.read)} / ${fmt(last.metadata.rows.mapped)} / ${fmt(last.metadata.rows.rejected)} / ${fmt(last.metadata.rows.written)}`);
      line(`rejects by rule`, JSON.stringify(last.metadata.rejects.by_rule));
      line(`in the tables (target / rejects)`, `${fmt(last.loaded)} / ${fmt(last.rejectsLoaded)}`);
      line(`plain COPY rows loaded / skipped`, `${fmt(last.copy.rowsLoaded)} / ${fmt(last.copy.rowsSkipped)}`);
      for (const [i, it] of iterations.entries()) {
        const { mapped, rejected } = it.metadata.rows;
        const tag = `[${contender.label}] #${i + 1}`;
        if (mapped !== expectedMapped || rejected !== csv.badRows) problems.push(`${tag}: expected ${expectedMapped} mapped and ${csv.badRows} rejected, got ${mapped} and ${rejected}`);
        if (it.loaded !== expectedMapped || it.rejectsLoaded !== csv.badRows) problems.push(`${tag}: tables hold ${it.loaded} / ${it.rejectsLoaded}, expected ${expectedMapped} / ${csv.badRows}`);
        const expectedCopy = plain.typed ? expectedMapped + csv.bad.blank_customer : ROWS;
        if (it.copy.rowsLoaded !== expectedCopy) problems.push(`${tag}: plain COPY loaded ${it.copy.rowsLoaded}, expected ${expectedCopy}`);
      }
    }
    if (contenders.length === 2) {
      const [old, fresh] = contenders.map((c) => median(c.iterations.map((it) => it.runMs))) as [number, number];
      const pairs = contenders[0]!.iterations.map((it, i) => contenders[1]!.iterations[i]!.runMs / it.runMs);
      console.log('');
      line(`new / old full run (medians)`, `${fmt(fresh / old, 2)}×  (per iteration: ${pairs.map((r) => `${fmt(r, 2)}×`).join(', ')})`);
    }
    console.log(problems.length ? `  CHECK FAILED: ${problems.join('; ')}` : '  counts check: OK (mapped, rejected and loaded rows match the generator in every iteration)');
    console.log(`  total bench time ${secs(Date.now() - started)}`);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(contenders.length === 1 ? all.new : all, null, 2)}\n`);
    if (problems.length) process.exitCode = 1;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
    if (!KEEP) {
      rmSync(projectDir, { recursive: true, force: true });
      rmSync(stagingDir, { recursive: true, force: true });
    } else {
      console.log(`kept ${projectDir} and ${stagingDir}`);
    }
  }
}

// Run only as a script: bench/run-s3-bench.ts imports the helpers above.
if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
