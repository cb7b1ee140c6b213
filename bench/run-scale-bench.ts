/**
 * Benchmark: scaling out, on the production-shaped Temporal and on the dev server.
 *
 * Everything is real: PostgreSQL (`DATABASE_URL`, else the embedded PostgreSQL 17), a versitygw S3 server for
 * S3 staging (tests/helpers/s3-server.ts), Sluice workers in their own processes (bench/bench-worker.ts), and
 * two Temporals, one after the other:
 * - **cluster**: the official server built from `go.temporal.io/server/cmd/server@v1.29.1`, PostgreSQL
 *   persistence and visibility, frontend, history, matching and worker as four processes configured by
 *   docker/temporal/sluice.yaml (tests/helpers/temporal-cluster.ts, the scale tests' cluster);
 * - **dev**: the Temporal CLI's dev server (`temporal server start-dev`, SQLite file), what `sluice dev` runs.
 *
 * On each: the same CSV (bench/run-bench.ts's generator, `BENCH_SCALE_ROWS` rows, @default 1000000; chunks of
 * `BENCH_CHUNK_ROWS`, @default 100000) through 1, 2 and 3 workers (`BENCH_WORKERS`, @default `1,2,3`) on a
 * fresh task queue each: wall time, rows/s, each worker's CPU seconds, peak RSS and chunks, and the CPU the
 * Temporal processes used during the run. Then `BENCH_TINY_RUNS` (@default 100) runs of a 20-row file started
 * at once on the 3 workers: wall time until the last ends, runs/s. Row counts are checked; nothing else is
 * asserted.
 *
 * ```sh
 * npm run bench:scale      # = npx tsc -p . && node dist/bench/run-scale-bench.js
 * ```
 *
 * Other settings: `BENCH_SEED` (42), `BENCH_BAD_RATIO` (0.02), `BENCH_SERVERS` (`cluster,dev`),
 * `BENCH_HISTORY_SHARDS` (the cluster's, 4), `BENCH_JSON` (write the figures to this file).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import { Sluice } from '../client/sluice';
import { qualifiedName } from '../connectors/postgres/postgres-target';
import { parseFlowSpec } from '../flows/flow-spec';
import { FlowVersionStore } from '../flows/flow-versions';
import { startDevServer } from '../local-stack/dev-server';
import { findTemporalCli } from '../local-stack/temporal-cli';
import { freePort } from '../tests/helpers/free-port';
import { s3ClientFor, startS3Server } from '../tests/helpers/s3-server';
import { logger } from '../tests/helpers/services';
import { startTemporalCluster } from '../tests/helpers/temporal-cluster';
import { FLOW_YAML, fmt, generateCsv, hostCpu, MiB, openBenchPostgres, processCpuSeconds, ProcessSampler, secs, spawnWorker, STEPS, type WorkerProcess } from './run-bench';

const PROJECT_DIR = path.resolve(__dirname, '..', '..');
const ROWS = Number(process.env.BENCH_SCALE_ROWS ?? 1_000_000);
const CHUNK_ROWS = Number(process.env.BENCH_CHUNK_ROWS ?? 100_000);
const TINY_RUNS = Number(process.env.BENCH_TINY_RUNS ?? 100);
const TINY_ROWS = 20;
const SEED = Number(process.env.BENCH_SEED ?? 42);
const BAD_RATIO = Number(process.env.BENCH_BAD_RATIO ?? 0.02);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2,3').split(',').map(Number);
const SERVERS = (process.env.BENCH_SERVERS ?? 'cluster,dev').split(',').map((s) => s.trim()) as ('cluster' | 'dev')[];
const HISTORY_SHARDS = Number(process.env.BENCH_HISTORY_SHARDS ?? 4);

const TINY_FLOW = (name: string) => `
name: ${name}
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.${name} }
fields:
  id:     { from: id, type: int64, required: true }
  amount: { from: amount, type: int64 }
  note:   { from: note, type: string }
`;

/** A Temporal under test: its address and the process ids whose CPU counts as the server's. */
interface TemporalUnderTest {
  name: 'cluster' | 'dev';
  address: string;
  pids(): number[];
  stop(): Promise<void>;
}

interface WorkerFigures {
  pid: number;
  chunks: number;
  cpuS: number;
  peakRssMiB: number;
}

interface FileRunFigures {
  workers: number;
  wallMs: number;
  rowsPerSecond: number;
  status: string;
  steps: Record<string, number>;
  temporalCpuS: number;
  hostBusyPct: number;
  perWorker: WorkerFigures[];
}

interface TinyFigures {
  runs: number;
  wallMs: number;
  runsPerSecond: number;
  temporalCpuS: number;
  workerCpuS: number;
}

const cpuOf = (pids: number[]) => pids.reduce((a, pid) => a + (Number.isFinite(processCpuSeconds(pid)) ? processCpuSeconds(pid) : 0), 0);

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sluice-scale-bench-'));
  const cleanups: (() => Promise<void>)[] = [];
  const figures: Record<string, unknown> = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: os.totalmem() / 1024 ** 3, node: process.version, loadAverageAtStart: os.loadavg() },
    rows: ROWS,
    chunkRows: CHUNK_ROWS,
    tinyRuns: TINY_RUNS,
    historyShards: HISTORY_SHARDS,
  };
  let failed = false;
  try {
    console.log(
      `sluice scale bench: ${fmt(ROWS)} rows in chunks of ${fmt(CHUNK_ROWS)}, workers ${WORKER_COUNTS.join('/')}, ${TINY_RUNS} tiny runs; servers ${SERVERS.join(', ')}; ` +
        `${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    );
    const { db } = await openBenchPostgres(cleanups);
    // An idle client cut off while the bench database is dropped at the end must not crash the bench.
    db.pool.on('error', () => undefined);
    const s3 = await startS3Server(PROJECT_DIR);
    cleanups.unshift(() => s3.stop());
    const bucket = s3ClientFor(s3);
    cleanups.unshift(async () => bucket.destroy());
    await bucket.send(new CreateBucketCommand({ Bucket: 'sluice-staging' }));

    const project = path.join(root, 'project');
    mkdirSync(path.join(project, 'tiny'), { recursive: true });
    writeFileSync(
      path.join(project, 'sluice.config.yaml'),
      `connectors:
  files: { kind: local, root: . }
  warehouse: { kind: postgres }
  stage: { kind: s3, endpoint: "${s3.endpoint}", region: ${s3.region}, force_path_style: true, access_key_id: ${s3.accessKeyId}, secret_access_key: ${s3.secretAccessKey} }
staging:
  s3: { connector: stage, bucket: sluice-staging, prefix: runs/ }
  chunk_rows: ${CHUNK_ROWS}
`,
    );
    const csv = generateCsv(path.join(project, 'orders.csv'), ROWS, SEED, BAD_RATIO);
    console.log(`generated ${csv.file}: ${fmt(csv.bytes / MiB, 1)} MiB, ${fmt(csv.badRows)} bad rows`);
    for (let i = 0; i < TINY_RUNS; i++) {
      const lines = ['id,amount,note'];
      for (let r = 1; r <= TINY_ROWS; r++) lines.push(`${i * TINY_ROWS + r},${r},"t ${i}"`);
      writeFileSync(path.join(project, 'tiny', `t-${i}.csv`), `${lines.join('\n')}\n`);
    }

    const store = new FlowVersionStore(db.pool);
    const spec = parseFlowSpec(FLOW_YAML, 'bench flow');
    const { version } = await store.publish(spec, { sourceText: FLOW_YAML });
    const table = qualifiedName(spec.target.table!).sql;
    const rejects = qualifiedName(spec.target.rejects.table!).sql;
    const count = async (sql: string) => Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${sql}`)).rows[0]!.n);
    let ranBefore = false;

    const startTemporal = async (name: 'cluster' | 'dev'): Promise<TemporalUnderTest> => {
      const t = performance.now();
      if (name === 'cluster') {
        const cluster = await startTemporalCluster({ databaseUrl: db.url, historyShards: HISTORY_SHARDS });
        console.log(`\n== cluster: 4 Temporal processes on PostgreSQL (${HISTORY_SHARDS} history shards) ready in ${secs(performance.now() - t)} at ${cluster.address}`);
        return { name, address: cluster.address, pids: () => Object.values(cluster.pids()).filter((p): p is number => p !== undefined), stop: () => cluster.stop() };
      }
      const stateDir = mkdtempSync(path.join(root, 'dev-server-'));
      const cli = await findTemporalCli({ projectDir: PROJECT_DIR, logger });
      const dev = await startDevServer({ cli, stateDir, logger, port: await freePort(), uiPort: await freePort() });
      console.log(`\n== dev server: one process, SQLite file, ready in ${secs(performance.now() - t)} at ${dev.address}`);
      return { name, address: dev.address, pids: () => [dev.pid], stop: () => dev.stop() };
    };

    const startWorkers = async (temporal: TemporalUnderTest, n: number) => {
      const taskQueue = `bench-scale-${randomUUID()}`;
      const workers: { process: WorkerProcess; sampler: ProcessSampler }[] = [];
      for (let i = 0; i < n; i++) {
        const process_ = spawnWorker({
          DATABASE_URL: db.url,
          TEMPORAL_ADDRESS: temporal.address,
          SLUICE_TASK_QUEUE: taskQueue,
          SLUICE_STAGING_DIR: mkdtempSync(path.join(root, `staging-${temporal.name}-${n}-${i}-`)),
          SLUICE_CHUNK_ROWS: String(CHUNK_ROWS),
          BENCH_PROJECT_DIR: project,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        });
        const sampler = new ProcessSampler(process_.pid, 100);
        sampler.start();
        workers.push({ process: process_, sampler });
      }
      await Promise.all(workers.map((w) => w.process.ready));
      const stop = async () => {
        for (const w of workers) {
          await w.process.stop();
          w.sampler.stop();
        }
      };
      return { taskQueue, workers, stop };
    };

    const results: Record<string, { fileRuns: FileRunFigures[]; tiny?: TinyFigures }> = {};
    for (const serverName of SERVERS) {
      const temporal = await startTemporal(serverName);
      const connection = await Connection.connect({ address: temporal.address });
      const result: { fileRuns: FileRunFigures[]; tiny?: TinyFigures } = { fileRuns: [] };
      results[serverName] = result;
      try {
        let lastWorkers: Awaited<ReturnType<typeof startWorkers>> | undefined;
        for (const n of WORKER_COUNTS) {
          await lastWorkers?.stop();
          const set = await startWorkers(temporal, n);
          lastWorkers = set;
          const sluice = new Sluice({ connection, taskQueue: set.taskQueue, databaseUrl: db.url });
          for (const sql of [table, rejects]) {
            if ((await db.pool.query<{ r: string | null }>('SELECT to_regclass($1) AS r', [sql])).rows[0]!.r) await db.pool.query(`TRUNCATE ${sql}`);
          }
          await db.pool.query('CHECKPOINT');
          const workerCpu = set.workers.map((w) => processCpuSeconds(w.process.pid));
          const temporalCpu = cpuOf(temporal.pids());
          const host = hostCpu();
          const startedAt = Date.now();
          const t = performance.now();
          const run = await sluice.run({ flowVersion: version.id, sourcePath: 'orders.csv', forceRerun: ranBefore });
          ranBefore = true;
          const metadata = await run.wait({ timeoutMs: 3_600_000 });
          const wallMs = performance.now() - t;
          const endedAt = Date.now();
          const hostAfter = hostCpu();
          await sluice.close();
          const transform = metadata.steps.transform as unknown as { workers?: Record<string, number> } | undefined;
          const chunksOf = (pid: number) => Object.entries(transform?.workers ?? {}).filter(([k]) => Number(k.split(':').pop()) === pid).reduce((a, [, c]) => a + c, 0);
          const figuresOfRun: FileRunFigures = {
            workers: n,
            wallMs,
            rowsPerSecond: ROWS / (wallMs / 1000),
            status: metadata.status,
            steps: Object.fromEntries(STEPS.map((step) => [step, metadata.steps[step]?.duration_ms ?? NaN])),
            temporalCpuS: cpuOf(temporal.pids()) - temporalCpu,
            hostBusyPct: (100 * (hostAfter.busy - host.busy)) / Math.max(1, hostAfter.total - host.total),
            perWorker: set.workers.map((w, i) => ({
              pid: w.process.pid,
              chunks: chunksOf(w.process.pid),
              cpuS: processCpuSeconds(w.process.pid) - workerCpu[i]!,
              peakRssMiB: w.sampler.maxBetween(startedAt, endedAt) / 1024,
            })),
          };
          result.fileRuns.push(figuresOfRun);
          const loaded = await count(table);
          const problems: string[] = [];
          if (metadata.rows.mapped !== csv.rows - csv.badRows || loaded !== csv.rows - csv.badRows) problems.push(`expected ${csv.rows - csv.badRows} rows mapped and loaded, got ${metadata.rows.mapped} / ${loaded}`);
          if (figuresOfRun.perWorker.some((w) => w.chunks === 0)) problems.push('a worker mapped no chunk');
          if (problems.length) failed = true;
          console.log(
            `  ${n} worker(s): ${secs(wallMs)}, ${fmt(figuresOfRun.rowsPerSecond)} rows/s, ${metadata.status} (${STEPS.map((s) => `${s} ${secs(figuresOfRun.steps[s]!)}`).join(', ')}); ` +
              `Temporal CPU ${fmt(figuresOfRun.temporalCpuS, 2)} s; host busy ${fmt(figuresOfRun.hostBusyPct)}%; ` +
              figuresOfRun.perWorker.map((w) => `pid ${w.pid}: ${w.chunks} chunks, CPU ${fmt(w.cpuS, 2)} s, peak RSS ${fmt(w.peakRssMiB)} MiB`).join('; ') +
              (problems.length ? `\n  CHECK FAILED: ${problems.join('; ')}` : ''),
          );
        }

        if (TINY_RUNS > 0 && lastWorkers) {
          const flowName = `bench_tiny_${serverName}`;
          const tiny = (await store.publish(parseFlowSpec(TINY_FLOW(flowName)), { sourceText: TINY_FLOW(flowName) })).version.id;
          const sluice = new Sluice({ connection, taskQueue: lastWorkers.taskQueue, databaseUrl: db.url });
          const workerPids = lastWorkers.workers.map((w) => w.process.pid);
          const workerCpu = cpuOf(workerPids);
          const temporalCpu = cpuOf(temporal.pids());
          const t = performance.now();
          const runs = await Promise.all(Array.from({ length: TINY_RUNS }, (_, i) => sluice.run({ flowVersion: tiny, sourcePath: `tiny/t-${i}.csv` })));
          const ended = await Promise.all(runs.map((r) => r.wait({ timeoutMs: 1_800_000 })));
          const wallMs = performance.now() - t;
          await sluice.close();
          result.tiny = {
            runs: TINY_RUNS,
            wallMs,
            runsPerSecond: TINY_RUNS / (wallMs / 1000),
            temporalCpuS: cpuOf(temporal.pids()) - temporalCpu,
            workerCpuS: cpuOf(workerPids) - workerCpu,
          };
          const loaded = await count(`public.${flowName}`);
          const ok = ended.every((m) => m.status === 'SUCCEEDED') && loaded === TINY_RUNS * TINY_ROWS;
          if (!ok) failed = true;
          console.log(
            `  ${TINY_RUNS} tiny runs at once on ${workerPids.length} workers: ${secs(wallMs)}, ${fmt(result.tiny.runsPerSecond, 2)} runs/s; ` +
              `Temporal CPU ${fmt(result.tiny.temporalCpuS, 2)} s, workers CPU ${fmt(result.tiny.workerCpuS, 2)} s` +
              (ok ? '' : `\n  CHECK FAILED: ${loaded} rows loaded, statuses ${[...new Set(ended.map((m) => m.status))].join(', ')}`),
          );
        }
        await lastWorkers?.stop();
      } finally {
        await connection.close();
        await temporal.stop();
      }
    }

    console.log(`\nRESULTS (${fmt(ROWS)} rows, ${fmt(csv.bytes / MiB, 1)} MiB CSV, chunks of ${fmt(CHUNK_ROWS)}, S3 staging; PostgreSQL ${db.serverVersion}; load average now ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
    console.log('  server   workers   wall      rows/s     Temporal CPU   per worker: chunks / CPU s / peak RSS MiB');
    for (const [name, r] of Object.entries(results)) {
      for (const f of r.fileRuns) {
        console.log(
          `  ${name.padEnd(8)} ${String(f.workers).padEnd(9)} ${secs(f.wallMs).padEnd(9)} ${fmt(f.rowsPerSecond).padEnd(10)} ${`${fmt(f.temporalCpuS, 2)} s`.padEnd(14)} ` +
            f.perWorker.map((w) => `${w.chunks} / ${fmt(w.cpuS, 1)} / ${fmt(w.peakRssMiB)}`).join(', '),
        );
      }
    }
    for (const [name, r] of Object.entries(results)) {
      if (r.tiny) console.log(`  ${name.padEnd(8)} tiny runs: ${r.tiny.runs} in ${secs(r.tiny.wallMs)} = ${fmt(r.tiny.runsPerSecond, 2)} runs/s (Temporal CPU ${fmt(r.tiny.temporalCpuS, 1)} s, workers ${fmt(r.tiny.workerCpuS, 1)} s)`);
    }
    figures.results = results;
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(figures, null, 2)}\n`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
    rmSync(root, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
