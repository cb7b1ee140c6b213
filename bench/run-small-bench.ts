/**
 * Benchmark: small runs, where orchestration is the whole cost (issue 12's small-run goals: p50 ≤ 250 ms
 * and p95 ≤ 400 ms over 20 sequential 10-row runs on a warm stack; ≥ 10 runs/s for 100 concurrent
 * 10-row runs, none lost).
 *
 * Everything is real, as in bench/run-bench.ts: the Temporal dev server (official CLI, `startTemporal()`),
 * PostgreSQL (`DATABASE_URL`, else the embedded PostgreSQL 17), and the Sluice worker in its own process
 * (bench/bench-worker.ts). The flow is run-bench's bench flow (`FLOW_YAML`: CSV → typed Postgres table,
 * one-pass path), published once per build under its own name so each build loads its own table. The
 * source files are tiny clean CSVs with the flow's columns, each with its own source_path and ids,
 * so every run is a first run of its pair and ends SUCCEEDED.
 *
 * ```sh
 * npm run bench:small      # = tsc -p . && node dist/bench/run-small-bench.js
 * BENCH_COMPARE_DIST=../sluice-old/dist BENCH_REPEAT=3 npm run bench:small
 * ```
 *
 * Per build, after `BENCH_WARMUP` sequential runs that are not counted, each round has two phases:
 * - **sequential**: `BENCH_SEQUENTIAL` runs one after another, each timed from `sluice.run()` to the
 *   end of `run.wait()` (ms); p50, p95 (nearest rank), min and max, pooled over the rounds.
 * - **concurrent**: `BENCH_CONCURRENT` runs started at once (`sluice.run` for all, then `wait` for all);
 *   wall time from the first start to the last end (s), runs/s, per-run latency p50 / p95 (ms).
 * Before each phase the build's target table is emptied. After it, the table must hold exactly
 * runs × rows rows, no id twice, and (when it has the lineage column) rows of every run; every run
 * must end SUCCEEDED or PARTIAL_FAILED. Otherwise the bench exits with code 1. The goals are
 * reported, not asserted. Also reported per phase: CPU seconds of the worker and of the Temporal dev
 * server, host CPU busy (%), worker peak RSS (sampled every 100 ms, MiB); and the step timeline of
 * each build's first sequential run of a round (ms from `run()`).
 *
 * Environment:
 * - `BENCH_SMALL_ROWS` rows per file (@default 10); `BENCH_SEQUENTIAL` (@default 20);
 *   `BENCH_CONCURRENT` (@default 100); `BENCH_WARMUP` sequential runs per build, not counted (@default 3);
 *   `BENCH_REPEAT` rounds of (sequential, concurrent) (@default 1).
 * - `BENCH_COMPARE_DIST` another build's `dist/` (e.g. the previous commit's, in a git worktree): its
 *   worker runs beside this build's on its own task queue; each phase runs both builds, rounds
 *   alternating which goes first, and new / old ratios of p50, p95 and runs/s are printed.
 * - `DATABASE_URL`, `BENCH_PG_PORT`, `BENCH_CHUNK_ROWS`, `BENCH_WORKER_NODE_ARGS`, `BENCH_KEEP`: as in
 *   bench/run-bench.ts. `BENCH_JSON` write the figures as JSON to this file too.
 *
 * The figures are the dev server's (one process, SQLite, one history shard), what `sluice dev` runs;
 * a production Temporal adds network and persistence latency of its own.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RunFailedError, Sluice, type SluiceRun } from '../client/sluice';
import { type RunMetadata, type RunStatus } from '../common/run-model';
import { qualifiedName } from '../connectors/postgres/postgres-target';
import { parseFlowSpec } from '../flows/flow-spec';
import { FlowVersionStore } from '../flows/flow-versions';
import { LINEAGE_RUN_COLUMN } from '../transform/lineage';
import { startTemporal } from '../tests/helpers/services';
import { childProcesses, FLOW_YAML, fmt, hostCpu, median, openBenchPostgres, percentile, processCpuSeconds, ProcessSampler, procStatus, secs, spawnWorker, STEPS, type WorkerProcess } from './run-bench';

/** Reads a non-negative integer setting; `min` is the smallest value allowed. */
function intEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${min}, not "${raw}"`);
  return value;
}

const ROWS = intEnv('BENCH_SMALL_ROWS', 10, 1);
const SEQUENTIAL = intEnv('BENCH_SEQUENTIAL', 20, 1);
const CONCURRENT = intEnv('BENCH_CONCURRENT', 100, 1);
const WARMUP = intEnv('BENCH_WARMUP', 3, 0);
const REPEAT = intEnv('BENCH_REPEAT', 1, 1);
const KEEP = process.env.BENCH_KEEP === '1';
/** Issue 12's goals for small runs. */
const GOAL = { p50Ms: 250, p95Ms: 400, runsPerSecond: 10 };
/** Statuses a run that was not lost ends in. */
const LANDED: readonly string[] = ['SUCCEEDED', 'PARTIAL_FAILED'];

/* ------------------------------------------------------------------ helpers ------------------- */


const ms = (n: number) => `${fmt(n)} ms`;

/** `SUCCEEDED ×19, FAILED ×1`. */
function statusCounts(statuses: string[]): string {
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${s} ×${n}`).join(', ');
}

/** The Temporal dev server: the child process of this one whose command names temporal. */
function devServerProcess(): { pid: number; args: string[] } | undefined {
  const server = childProcesses().find((child) => /temporal/i.test(child.comm));
  if (!server) return undefined;
  try {
    return { pid: server.pid, args: readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0').filter(Boolean) };
  } catch {
    return undefined; // it ended meanwhile
  }
}

/** Writes a clean CSV with the bench flow's columns; ids `firstId`…`firstId + rows - 1`. */
function writeSmallCsv(file: string, firstId: number, rows: number): void {
  const lines = ['id,customer,amount,day,active,note'];
  for (let r = 0; r < rows; r++) {
    const id = firstId + r;
    lines.push(`${id},customer_${id % 997},${(id * 37) % 10_000},2024-0${1 + (id % 9)}-1${id % 10},${id % 2 ? 'true' : 'false'},"note ${id}"`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/* ------------------------------------------------------------------ runs ---------------------- */

/** One run as the driver saw it. */
interface RunOutcome {
  sourcePath: string;
  status: RunStatus | 'START_ERROR' | 'WAIT_ERROR';
  /** From `sluice.run()` to the end of `run.wait()` (ms). */
  ms: number;
  /** `Date.now()` when `sluice.run()` was called, for the step timeline. */
  startedAt: number;
  /** `performance.now()` at the end of the wait. */
  endedAt: number;
  metadata?: RunMetadata;
  error?: string;
}

/** Starts one run and waits for its end; never throws (a failure is the outcome's status). */
async function timedRun(sluice: Sluice, flowVersion: string, sourcePath: string): Promise<RunOutcome> {
  const startedAt = Date.now();
  const t = performance.now();
  let run: SluiceRun;
  try {
    run = await sluice.run({ flowVersion, sourcePath, runMetadata: { bench: 'small' } });
  } catch (error) {
    const endedAt = performance.now();
    return { sourcePath, status: 'START_ERROR', ms: endedAt - t, startedAt, endedAt, error: (error as Error).message };
  }
  try {
    // No progress polling: queries cost the worker time. The step times come from the metadata.
    const metadata = await run.wait({ timeoutMs: 600_000 });
    const endedAt = performance.now();
    return { sourcePath, status: metadata.status, ms: endedAt - t, startedAt, endedAt, metadata };
  } catch (error) {
    const endedAt = performance.now();
    if (error instanceof RunFailedError) return { sourcePath, status: error.status, ms: endedAt - t, startedAt, endedAt, ...(error.metadata ? { metadata: error.metadata } : {}), error: error.message };
    return { sourcePath, status: 'WAIT_ERROR', ms: endedAt - t, startedAt, endedAt, error: (error as Error).message };
  }
}

/** What a phase used besides wall time. */
interface PhaseResources {
  workerCpuS: number;
  temporalCpuS: number;
  hostBusyPct: number;
  workerPeakRssMiB: number;
}

/** What the target table held after a phase. */
interface TableCheck {
  rows: number;
  distinctIds: number;
  /** Runs with rows in the table (lineage column); undefined when the table has no lineage column. */
  distinctRuns: number | undefined;
}

interface PhaseResult {
  round: number;
  kind: 'sequential' | 'concurrent';
  runs: RunOutcome[];
  /** First start to last end (ms). */
  wallMs: number;
  resources: PhaseResources;
  table: TableCheck;
  problems: string[];
}

/** One build under test: its worker process, client, flow and results. */
interface Contender {
  label: string;
  script: string;
  worker: WorkerProcess;
  sampler: ProcessSampler;
  sluice: Sluice;
  flowVersion: string;
  table: string;
  hasLineage?: boolean;
  warmup: RunOutcome[];
  phases: PhaseResult[];
}

/* ------------------------------------------------------------------ main ---------------------- */

async function main(): Promise<void> {
  const started = Date.now();
  const projectDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-small-bench-'));
  const stagingDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-small-bench-staging-'));
  const cleanups: (() => Promise<void>)[] = [];
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: os.totalmem() / 1024 ** 3, node: process.version, loadAverageAtStart: os.loadavg() };
  try {
    console.log(
      `sluice small-run bench: ${ROWS}-row runs; ${WARMUP} warmup, then ${REPEAT} round(s) of ${SEQUENTIAL} sequential + ${CONCURRENT} concurrent; ` +
        `node ${process.version}, ${machine.cpus} CPUs, ${fmt(machine.memGiB, 1)} GiB RAM, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    );

    // 1. The source files: one per run, distinct source_paths and ids (a build's flow sees each once).
    mkdirSync(path.join(projectDir, 'small'));
    const sourcePaths = {
      warmup: Array.from({ length: WARMUP }, (_, i) => `small/warmup-${i}.csv`),
      rounds: Array.from({ length: REPEAT }, (_, r) => ({
        sequential: Array.from({ length: SEQUENTIAL }, (_, i) => `small/r${r + 1}-seq-${i}.csv`),
        concurrent: Array.from({ length: CONCURRENT }, (_, i) => `small/r${r + 1}-conc-${i}.csv`),
      })),
    };
    const allPaths = [...sourcePaths.warmup, ...sourcePaths.rounds.flatMap((r) => [...r.sequential, ...r.concurrent])];
    allPaths.forEach((p, i) => writeSmallCsv(path.join(projectDir, p), i * ROWS + 1, ROWS));
    console.log(`generated ${allPaths.length} CSV files of ${ROWS} clean rows under ${path.join(projectDir, 'small')}`);

    // 2. Postgres: DATABASE_URL, else the embedded PostgreSQL 17.
    const { db } = await openBenchPostgres(cleanups);
    // An idle client cut off while the bench database is dropped at the end must not crash the bench.
    db.pool.on('error', () => undefined);

    // 3. Temporal dev server (the official CLI), with Sluice's search attributes.
    let t = performance.now();
    const temporal = await startTemporal();
    cleanups.unshift(() => temporal.teardown());
    const devServer = devServerProcess();
    const dynamicConfig = (devServer?.args ?? []).flatMap((arg, i, args) => (args[i - 1] === '--dynamic-config-value' ? [arg] : []));
    console.log(
      `Temporal dev server at ${temporal.address} (pid ${devServer?.pid ?? '?'}) ready in ${secs(performance.now() - t)}: one process, SQLite, one history shard; ` +
        `dynamic config: ${dynamicConfig.length ? dynamicConfig.join(', ') : 'none'}. A production Temporal adds latency of its own.`,
    );
    const temporalCpu = () => (devServer ? processCpuSeconds(devServer.pid) : NaN);

    // 4. The workers, each in its own process: this build, and with BENCH_COMPARE_DIST another build's,
    // each on its own task queue with its own flow (and so its own target table).
    const builds: [string, string][] = [['new', path.join(__dirname, 'bench-worker.js')]];
    if (process.env.BENCH_COMPARE_DIST) builds.unshift(['old', path.join(path.resolve(process.env.BENCH_COMPARE_DIST), 'bench', 'bench-worker.js')]);
    const store = new FlowVersionStore(db.pool);
    const contenders: Contender[] = [];
    for (const [label, script] of builds) {
      t = performance.now();
      const taskQueue = `bench-small-${label}-${randomUUID()}`;
      mkdirSync(path.join(stagingDir, label));
      const workerEnv: Record<string, string> = {
        DATABASE_URL: db.url,
        TEMPORAL_ADDRESS: temporal.address,
        SLUICE_TASK_QUEUE: taskQueue,
        SLUICE_STAGING_DIR: path.join(stagingDir, label),
        BENCH_PROJECT_DIR: projectDir,
      };
      if (process.env.BENCH_CHUNK_ROWS) workerEnv.SLUICE_CHUNK_ROWS = process.env.BENCH_CHUNK_ROWS;
      const worker = spawnWorker(workerEnv, script);
      cleanups.unshift(() => worker.stop());
      const sampler = new ProcessSampler(worker.pid, 100);
      sampler.start();
      cleanups.unshift(async () => sampler.stop());
      await worker.ready;
      const idle = procStatus(worker.pid);
      console.log(`${label} worker (${script}) pid ${worker.pid} ready in ${secs(performance.now() - t)}; RSS ${fmt((idle?.rssKiB ?? NaN) / 1024)} MiB`);
      const sluice = new Sluice({ connection: temporal.connection, taskQueue, databaseUrl: db.url });
      cleanups.unshift(() => sluice.close());
      const flowYaml = FLOW_YAML.replace(/bench_orders/g, `bench_small_${label}`);
      const spec = parseFlowSpec(flowYaml, `bench flow (${label})`);
      const { version } = await store.publish(spec, { sourceText: flowYaml });
      contenders.push({ label, script, worker, sampler, sluice, flowVersion: version.id, table: spec.target.table!, warmup: [], phases: [] });
    }

    const tableExists = async (table: string) => (await db.pool.query<{ r: string | null }>('SELECT to_regclass($1) AS r', [qualifiedName(table).sql])).rows[0]!.r !== null;
    const emptyTable = async (contender: Contender) => {
      if (await tableExists(contender.table)) await db.pool.query(`TRUNCATE ${qualifiedName(contender.table).sql}`);
      await db.pool.query('CHECKPOINT');
    };
    const checkTable = async (contender: Contender): Promise<TableCheck> => {
      if (!(await tableExists(contender.table))) return { rows: 0, distinctIds: 0, distinctRuns: 0 };
      contender.hasLineage ??=
        (await db.pool.query('SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3', [
          ...contender.table.split('.'),
          LINEAGE_RUN_COLUMN,
        ])).rowCount === 1;
      const runs = contender.hasLineage ? `, count(DISTINCT ${LINEAGE_RUN_COLUMN}) AS runs` : '';
      const row = (await db.pool.query<{ n: string; ids: string; runs?: string }>(`SELECT count(*) AS n, count(DISTINCT id) AS ids${runs} FROM ${qualifiedName(contender.table).sql}`)).rows[0]!;
      return { rows: Number(row.n), distinctIds: Number(row.ids), distinctRuns: row.runs === undefined ? undefined : Number(row.runs) };
    };
    const stepTimeline = (outcome: RunOutcome) => {
      const steps = outcome.metadata?.steps ?? {};
      const parts = STEPS.flatMap((step) => {
        const from = Date.parse(steps[step]?.started_at ?? '');
        const to = Date.parse(steps[step]?.ended_at ?? '');
        return Number.isNaN(from) ? [] : [`${step} ${fmt(from - outcome.startedAt)} → ${fmt(to - outcome.startedAt)}`];
      });
      return `${parts.join(', ')}; ${outcome.status} at ${fmt(outcome.ms)} (ms from run())`;
    };

    /** Runs one phase of one build, measures it and checks the table. */
    const runPhase = async (contender: Contender, round: number, kind: 'sequential' | 'concurrent', paths: string[]): Promise<PhaseResult> => {
      const { worker, sampler, sluice, flowVersion, label } = contender;
      await emptyTable(contender);
      const cpuBefore = { worker: processCpuSeconds(worker.pid), temporal: temporalCpu(), host: hostCpu() };
      const phaseStartedAt = Date.now();
      const t0 = performance.now();
      const runs: RunOutcome[] = [];
      if (kind === 'sequential') for (const p of paths) runs.push(await timedRun(sluice, flowVersion, p));
      else runs.push(...(await Promise.all(paths.map((p) => timedRun(sluice, flowVersion, p)))));
      const wallMs = Math.max(...runs.map((r) => r.endedAt)) - t0;
      const host = hostCpu();
      const resources: PhaseResources = {
        workerCpuS: processCpuSeconds(worker.pid) - cpuBefore.worker,
        temporalCpuS: temporalCpu() - cpuBefore.temporal,
        hostBusyPct: (100 * (host.busy - cpuBefore.host.busy)) / Math.max(1, host.total - cpuBefore.host.total),
        workerPeakRssMiB: sampler.maxBetween(phaseStartedAt, Date.now()) / 1024,
      };
      const table = await checkTable(contender);
      const problems: string[] = [];
      const tag = `[${label}] round ${round} ${kind}`;
      const lost = runs.filter((r) => !LANDED.includes(r.status));
      if (lost.length) problems.push(`${tag}: ${lost.length} run(s) did not land: ${lost.slice(0, 5).map((r) => `${r.sourcePath} ${r.status}${r.error ? ` (${r.error})` : ''}`).join('; ')}`);
      const wrongCounts = runs.filter((r) => r.metadata && LANDED.includes(r.status) && (r.metadata.rows.read !== ROWS || r.metadata.rows.written !== ROWS));
      if (wrongCounts.length) problems.push(`${tag}: ${wrongCounts.length} run(s) did not read and write ${ROWS} rows (first: ${JSON.stringify(wrongCounts[0]!.metadata!.rows)})`);
      const expected = paths.length * ROWS;
      if (table.rows !== expected) problems.push(`${tag}: the table holds ${table.rows} rows, expected ${expected}`);
      if (table.distinctIds !== table.rows) problems.push(`${tag}: ${table.rows - table.distinctIds} duplicated row(s) in the table`);
      if (table.distinctRuns !== undefined && table.distinctRuns !== paths.length) problems.push(`${tag}: rows of ${table.distinctRuns} runs in the table, expected ${paths.length}`);
      return { round, kind, runs, wallMs, resources, table, problems };
    };

    const resourcesLine = (r: PhaseResources) =>
      `worker CPU ${fmt(r.workerCpuS, 2)} s, Temporal CPU ${fmt(r.temporalCpuS, 2)} s, host busy ${fmt(r.hostBusyPct)}% of ${machine.cpus} cores, worker peak RSS ${fmt(r.workerPeakRssMiB)} MiB`;

    // 5. Warmup: BENCH_WARMUP sequential runs per build, not counted (they create the tables, too).
    for (const contender of contenders) {
      for (const p of sourcePaths.warmup) contender.warmup.push(await timedRun(contender.sluice, contender.flowVersion, p));
      if (WARMUP) console.log(`[${contender.label}] warmup: ${contender.warmup.map((r) => fmt(r.ms)).join(', ')} ms (${statusCounts(contender.warmup.map((r) => r.status))})`);
    }

    // 6. Rounds: the sequential phase of each build, then the concurrent phase of each build; rounds
    // alternate which build goes first.
    for (let round = 1; round <= REPEAT; round++) {
      console.log(`round ${round}/${REPEAT}`);
      const order = round % 2 === 1 ? contenders : [...contenders].reverse();
      const { sequential, concurrent } = sourcePaths.rounds[round - 1]!;
      for (const contender of order) {
        const phase = await runPhase(contender, round, 'sequential', sequential);
        contender.phases.push(phase);
        const times = phase.runs.map((r) => r.ms);
        console.log(`  [${contender.label}] sequential ${SEQUENTIAL}: p50 ${ms(percentile(times, 50))}, p95 ${ms(percentile(times, 95))}, min ${ms(Math.min(...times))}, max ${ms(Math.max(...times))}`);
        console.log(`    runs (ms): ${phase.runs.map((r) => `${fmt(r.ms)}${r.status === 'SUCCEEDED' ? '' : ` ${r.status}`}`).join(', ')}`);
        console.log(`    statuses: ${statusCounts(phase.runs.map((r) => r.status))}; table ${fmt(phase.table.rows)} rows`);
        console.log(`    first run's timeline: ${stepTimeline(phase.runs[0]!)}`);
        console.log(`    ${resourcesLine(phase.resources)}`);
        for (const problem of phase.problems) console.log(`    CHECK FAILED: ${problem}`);
      }
      for (const contender of order) {
        const phase = await runPhase(contender, round, 'concurrent', concurrent);
        contender.phases.push(phase);
        const times = phase.runs.map((r) => r.ms);
        console.log(
          `  [${contender.label}] concurrent ${CONCURRENT}: ${secs(phase.wallMs)} first start → last end, ${fmt(CONCURRENT / (phase.wallMs / 1000), 2)} runs/s; ` +
            `per run p50 ${ms(percentile(times, 50))}, p95 ${ms(percentile(times, 95))}, max ${ms(Math.max(...times))}`,
        );
        console.log(`    statuses: ${statusCounts(phase.runs.map((r) => r.status))}; table ${fmt(phase.table.rows)} rows (${fmt(phase.table.distinctIds)} distinct ids${phase.table.distinctRuns === undefined ? '' : `, rows of ${phase.table.distinctRuns} runs`})`);
        console.log(`    ${resourcesLine(phase.resources)}`);
        for (const problem of phase.problems) console.log(`    CHECK FAILED: ${problem}`);
      }
    }

    // 7. Figures per build: sequential latencies pooled over the rounds, concurrent runs/s median of the rounds.
    const line = (label: string, value: string) => console.log(`  ${label.padEnd(46)} ${value}`);
    const problems: string[] = [];
    const all: Record<string, unknown> = {};
    const summary = new Map<string, { p50: number; p95: number; runsPerSecond: number }>();
    for (const contender of contenders) {
      const seq = contender.phases.filter((p) => p.kind === 'sequential');
      const conc = contender.phases.filter((p) => p.kind === 'concurrent');
      const seqTimes = seq.flatMap((p) => p.runs.map((r) => r.ms));
      const concTimes = conc.flatMap((p) => p.runs.map((r) => r.ms));
      const rates = conc.map((p) => CONCURRENT / (p.wallMs / 1000));
      const p50 = percentile(seqTimes, 50);
      const p95 = percentile(seqTimes, 95);
      const runsPerSecond = median(rates);
      const landed = conc.reduce((a, p) => a + p.runs.filter((r) => LANDED.includes(r.status)).length, 0);
      summary.set(contender.label, { p50, p95, runsPerSecond });
      problems.push(...contender.phases.flatMap((p) => p.problems));
      const phaseJson = (p: PhaseResult) => ({
        round: p.round,
        kind: p.kind,
        wallMs: p.wallMs,
        runsPerSecond: p.runs.length / (p.wallMs / 1000),
        p50Ms: percentile(p.runs.map((r) => r.ms), 50),
        p95Ms: percentile(p.runs.map((r) => r.ms), 95),
        minMs: Math.min(...p.runs.map((r) => r.ms)),
        maxMs: Math.max(...p.runs.map((r) => r.ms)),
        statuses: statusCounts(p.runs.map((r) => r.status)),
        resources: p.resources,
        table: p.table,
        problems: p.problems,
        runs: p.runs.map((r) => ({
          sourcePath: r.sourcePath,
          status: r.status,
          ms: r.ms,
          ...(r.error ? { error: r.error } : {}),
          steps: Object.fromEntries(
            STEPS.flatMap((step) => {
              const st = r.metadata?.steps[step];
              return st ? [[step, { startMs: Date.parse(st.started_at) - r.startedAt, endMs: Date.parse(st.ended_at ?? '') - r.startedAt }]] : [];
            }),
          ),
        })),
      });
      all[contender.label] = {
        machine,
        build: contender.label,
        worker: contender.script,
        postgres: db.serverVersion,
        temporalDynamicConfig: dynamicConfig,
        rowsPerRun: ROWS,
        warmupMs: contender.warmup.map((r) => r.ms),
        sequential: { runs: seqTimes.length, p50Ms: p50, p95Ms: p95, minMs: Math.min(...seqTimes), maxMs: Math.max(...seqTimes) },
        concurrent: { runsPerPhase: CONCURRENT, runsPerSecond, runsPerSecondPerRound: rates, latencyP50Ms: percentile(concTimes, 50), latencyP95Ms: percentile(concTimes, 95), landed, of: conc.length * CONCURRENT },
        goals: { p50: p50 <= GOAL.p50Ms, p95: p95 <= GOAL.p95Ms, runsPerSecond: runsPerSecond >= GOAL.runsPerSecond, noneLost: conc.every((p) => p.problems.length === 0) },
        phases: contender.phases.map(phaseJson),
      };

      const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
      const statuses = statusCounts(contender.phases.flatMap((p) => p.runs.map((r) => r.status)));
      console.log('');
      console.log(`RESULTS [${contender.label}] (${ROWS}-row runs, ${REPEAT} round(s), PostgreSQL ${db.serverVersion}, Temporal dev server; load average now ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
      line(`sequential ${seqTimes.length} runs: p50`, `${ms(p50)}  (goal ≤ ${GOAL.p50Ms} ms: ${met(p50 <= GOAL.p50Ms)})`);
      line(`sequential: p95`, `${ms(p95)}  (goal ≤ ${GOAL.p95Ms} ms: ${met(p95 <= GOAL.p95Ms)})`);
      line(`sequential: min / max`, `${ms(Math.min(...seqTimes))} / ${ms(Math.max(...seqTimes))}`);
      line(`concurrent ${CONCURRENT} runs: runs/s`, `${fmt(runsPerSecond, 2)}${REPEAT > 1 ? ' (median)' : ''}  (goal ≥ ${GOAL.runsPerSecond}: ${met(runsPerSecond >= GOAL.runsPerSecond)}; per round ${rates.map((r) => fmt(r, 2)).join(', ')})`);
      line(`concurrent: wall time`, conc.map((p) => secs(p.wallMs)).join(', '));
      line(`concurrent: per-run latency p50 / p95`, `${ms(percentile(concTimes, 50))} / ${ms(percentile(concTimes, 95))}`);
      line(`concurrent: runs landed`, `${landed} of ${conc.length * CONCURRENT}; tables ${conc.map((p) => `${fmt(p.table.rows)} rows / ${fmt(p.table.distinctIds)} ids`).join(', ')} (expected ${fmt(CONCURRENT * ROWS)})`);
      line(`statuses (all counted runs)`, statuses);
      line(`worker CPU per sequential / concurrent run`, `${fmt((1000 * seq.reduce((a, p) => a + p.resources.workerCpuS, 0)) / Math.max(1, seqTimes.length))} / ${fmt((1000 * conc.reduce((a, p) => a + p.resources.workerCpuS, 0)) / Math.max(1, concTimes.length))} ms`);
      line(`Temporal CPU per sequential / concurrent run`, `${fmt((1000 * seq.reduce((a, p) => a + p.resources.temporalCpuS, 0)) / Math.max(1, seqTimes.length))} / ${fmt((1000 * conc.reduce((a, p) => a + p.resources.temporalCpuS, 0)) / Math.max(1, concTimes.length))} ms`);
    }
    if (contenders.length === 2) {
      const old = summary.get('old')!;
      const fresh = summary.get('new')!;
      console.log('');
      line(`new / old sequential p50`, `${fmt(fresh.p50 / old.p50, 2)}×  (${ms(fresh.p50)} / ${ms(old.p50)})`);
      line(`new / old sequential p95`, `${fmt(fresh.p95 / old.p95, 2)}×  (${ms(fresh.p95)} / ${ms(old.p95)})`);
      line(`new / old concurrent runs/s`, `${fmt(fresh.runsPerSecond / old.runsPerSecond, 2)}×  (${fmt(fresh.runsPerSecond, 2)} / ${fmt(old.runsPerSecond, 2)})`);
    }
    console.log(problems.length ? `  CHECK FAILED: ${problems.join('; ')}` : '  counts check: OK (every run landed; every table held runs × rows rows, no id twice, rows of every run)');
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

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
