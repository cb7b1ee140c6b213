/**
 * Benchmark: an S3 source, and scaling the transform out over worker processes.
 *
 * Everything is real: the Temporal dev server (official CLI), PostgreSQL (`DATABASE_URL`, else the
 * embedded PostgreSQL 17), a versitygw S3 server (tests/helpers/s3-server.ts), and Sluice workers
 * in their own processes (bench/bench-worker.ts, configured by a `sluice.config.yaml` with an `s3`
 * connector). The CSV is the one bench/run-bench.ts generates, uploaded to the S3 server.
 *
 * 1. **S3 source** (`BENCH_ROWS`, @default 1000000): `source: { connector: lake, format: csv }`,
 *    source_path `s3://lake/bench/orders-<rows>.csv`, one worker, local staging; beside the plain
 *    COPY of the same file (from local disk) into the same typed table. `BENCH_REPEAT` iterations
 *    (@default 3), medians.
 * 2. **Scaling** (`BENCH_SCALE_ROWS`, @default 5000000; 0 skips it): S3 source and S3 staging
 *    (`staging.s3`), first with 1 worker, then with 2 worker processes on a fresh task queue, each
 *    with its own local `SLUICE_STAGING_DIR`. `BENCH_SCALE_REPEAT` runs each (@default 1). Reports
 *    each worker's peak RSS and the chunks it mapped (`metadata.steps.transform.workers`).
 *
 * ```sh
 * npx tsc -p . && DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node dist/bench/run-s3-bench.js
 * ```
 *
 * Other settings as in run-bench.ts: `BENCH_SEED`, `BENCH_BAD_RATIO`, `BENCH_CHUNK_ROWS`,
 * `BENCH_WORKER_NODE_ARGS`, `BENCH_PG_PORT`, `BENCH_JSON`, `BENCH_KEEP=1`; `BENCH_PARTS`
 * (@default `source,scale`). Nothing is asserted except the row counts.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Sluice } from '../client/sluice';
import { type RunMetadata } from '../common/run-model';
import { createS3Client } from '../connectors/s3/s3-client';
import { qualifiedName } from '../connectors/postgres/postgres-target';
import { parseFlowSpec } from '../flows/flow-spec';
import { FlowVersionStore } from '../flows/flow-versions';
import { startS3Server } from '../tests/helpers/s3-server';
import { startTemporal } from '../tests/helpers/services';
import {
  FLOW_YAML as LOCAL_FLOW_YAML,
  openBenchPostgres,
  fmt,
  generateCsv,
  hostCpu,
  median,
  MiB,
  PlainCopy,
  procStatus,
  ProcessSampler,
  processCpuSeconds,
  secs,
  spawnWorker,
  STEPS,
  type GeneratedCsv,
  type PlainCopyResult,
  type WorkerProcess,
} from './run-bench';

const PROJECT_DIR = path.resolve(__dirname, '..', '..');

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const SCALE_ROWS = Number(process.env.BENCH_SCALE_ROWS ?? 5_000_000);
const SEED = Number(process.env.BENCH_SEED ?? 42);
const BAD_RATIO = Number(process.env.BENCH_BAD_RATIO ?? 0.02);
const KEEP = process.env.BENCH_KEEP === '1';
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));
const SCALE_REPEAT = Math.max(1, Number(process.env.BENCH_SCALE_REPEAT ?? 1));
const PARTS = new Set((process.env.BENCH_PARTS ?? 'source,scale').split(',').map((p) => p.trim()));
const CHUNK_ROWS = Number(process.env.BENCH_CHUNK_ROWS ?? 250_000);

const SOURCE_BUCKET = 'lake';
const STAGING_BUCKET = 'sluice-staging';

/** The same flow as the local-file bench, reading from the `lake` S3 connector. */
const FLOW_YAML = LOCAL_FLOW_YAML.replace('source: { connector: files, format: csv }', 'source: { connector: lake, format: csv }').replace(
  'benchmark flow (bench/run-bench.ts)',
  'benchmark flow (bench/run-s3-bench.ts), S3 source',
);

interface SampledWorker {
  name: string;
  process: WorkerProcess;
  sampler: ProcessSampler;
  stagingDir: string;
  idleRssMiB: number;
}

interface WorkerRunFigures {
  name: string;
  pid: number;
  chunks: number;
  peakRssMiB: number;
  cpuS: number;
}

interface RunFigures {
  runMs: number;
  status: string;
  rowsPerSecond: number;
  steps: Record<string, number>;
  orchestrationMs: number;
  chunks: number;
  workers: WorkerRunFigures[];
  /** Chunks mapped by a process that is not one of this configuration's workers (should be none). */
  strayChunks: number;
  hostBusyPct: number;
  rows: RunMetadata['rows'];
  loaded: number;
  rejectsLoaded: number;
  problems: string[];
}

async function main(): Promise<void> {
  for (const [name, value] of [
    ['BENCH_ROWS', ROWS],
    ['BENCH_SCALE_ROWS', SCALE_ROWS],
  ] as const) {
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, not "${process.env[name]}"`);
  }
  if (!(BAD_RATIO >= 0 && BAD_RATIO < 0.5)) throw new Error(`BENCH_BAD_RATIO must be in [0, 0.5), not "${process.env.BENCH_BAD_RATIO}"`);
  const started = Date.now();
  const root = mkdtempSync(path.join(os.tmpdir(), 'sluice-s3-bench-'));
  const cleanups: (() => Promise<void>)[] = [];
  const figures: Record<string, unknown> = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: os.totalmem() / 1024 ** 3, node: process.version, loadAverageAtStart: os.loadavg() },
    seed: SEED,
    badRatio: BAD_RATIO,
    chunkRows: CHUNK_ROWS,
  };
  let failed = false;
  try {
    console.log(
      `sluice S3 bench: parts ${[...PARTS].join(', ')}; ${fmt(ROWS)} rows × ${REPEAT}, scaling ${fmt(SCALE_ROWS)} rows × ${SCALE_REPEAT}; ` +
        `node ${process.version}, ${os.cpus().length} CPUs, ${fmt(os.totalmem() / 1024 ** 3, 1)} GiB RAM, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    );

    // Services: Postgres, Temporal, versitygw.
    const { db } = await openBenchPostgres(cleanups);
    figures.postgres = db.serverVersion;

    const temporal = await startTemporal();
    cleanups.unshift(() => temporal.teardown());

    const s3 = await startS3Server(PROJECT_DIR);
    cleanups.unshift(() => s3.stop());
    const s3Connector = {
      kind: 's3' as const,
      endpoint: s3.endpoint,
      region: s3.region,
      force_path_style: true,
      access_key_id: s3.accessKeyId,
      secret_access_key: s3.secretAccessKey,
    };
    const client: S3Client = createS3Client(s3Connector, 'lake');
    cleanups.unshift(async () => client.destroy());
    await client.send(new CreateBucketCommand({ Bucket: SOURCE_BUCKET }));
    await client.send(new CreateBucketCommand({ Bucket: STAGING_BUCKET }));
    console.log(`versitygw at ${s3.endpoint} (data in ${s3.dataDir}); buckets ${SOURCE_BUCKET}, ${STAGING_BUCKET}`);

    // Two project dirs, one config each: local staging (part 1) and S3 staging (part 2).
    const connectorsYaml = `connectors:
  files: { kind: local, root: . }
  warehouse: { kind: postgres }
  lake: { kind: s3, endpoint: "${s3.endpoint}", region: ${s3.region}, force_path_style: true, access_key_id: ${s3.accessKeyId}, secret_access_key: ${s3.secretAccessKey} }
`;
    const localProject = path.join(root, 'project-local-staging');
    const s3Project = path.join(root, 'project-s3-staging');
    mkdirSync(localProject);
    mkdirSync(s3Project);
    writeFileSync(path.join(localProject, 'sluice.config.yaml'), connectorsYaml);
    writeFileSync(
      path.join(s3Project, 'sluice.config.yaml'),
      `${connectorsYaml}staging:\n  s3: { connector: lake, bucket: ${STAGING_BUCKET}, prefix: runs/ }\n  chunk_rows: ${CHUNK_ROWS}\n`,
    );

    // The flow and the plain-COPY table.
    const spec = parseFlowSpec(FLOW_YAML, 'bench flow');
    const { version } = await new FlowVersionStore(db.pool).publish(spec, { sourceText: FLOW_YAML });
    const plain = new PlainCopy(db, spec);
    await plain.createTable();
    const targetTable = spec.target.table!;
    const rejectsTable = spec.target.rejects.table!;
    const count = async (table: string) => Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualifiedName(table).sql}`)).rows[0]!.n);
    const ranSources = new Set<string>();

    /** Generates the CSV, uploads it, and times a GetObject of it to a local file. */
    const prepareSource = async (rows: number) => {
      let t = performance.now();
      const csv = generateCsv(path.join(root, `orders-${rows}.csv`), rows, SEED, BAD_RATIO);
      console.log(`generated ${csv.file}: ${fmt(csv.bytes / MiB, 1)} MiB, ${fmt(csv.badRows)} bad rows in ${secs(performance.now() - t)}`);
      const key = `bench/orders-${rows}.csv`;
      t = performance.now();
      await new Upload({ client, params: { Bucket: SOURCE_BUCKET, Key: key, Body: createReadStream(csv.file) }, partSize: 16 * MiB, queueSize: 4 }).done();
      const uploadMs = performance.now() - t;
      t = performance.now();
      const object = await client.send(new GetObjectCommand({ Bucket: SOURCE_BUCKET, Key: key }));
      const copy = path.join(root, `download-${rows}.csv`);
      await pipeline(object.Body as Readable, createWriteStream(copy));
      const downloadMs = performance.now() - t;
      rmSync(copy, { force: true });
      console.log(`uploaded s3://${SOURCE_BUCKET}/${key} in ${secs(uploadMs)}; GetObject to a local file ${secs(downloadMs)} (${fmt(csv.bytes / MiB / (downloadMs / 1000))} MiB/s)`);
      return { csv, sourcePath: `s3://${SOURCE_BUCKET}/${key}`, uploadMs, downloadMs };
    };

    /** Starts `n` bench workers on a fresh task queue, each with its own local staging dir. */
    const startWorkers = async (n: number, projectDir: string, label: string) => {
      const taskQueue = `bench-${label}-${randomUUID()}`;
      const workers: SampledWorker[] = [];
      for (let i = 0; i < n; i++) {
        const name = `${label}-w${i + 1}`;
        const stagingDir = mkdtempSync(path.join(root, `staging-${name}-`));
        const env: Record<string, string> = {
          DATABASE_URL: db.url,
          TEMPORAL_ADDRESS: temporal.address,
          SLUICE_TASK_QUEUE: taskQueue,
          SLUICE_STAGING_DIR: stagingDir,
          SLUICE_CHUNK_ROWS: String(CHUNK_ROWS),
          BENCH_PROJECT_DIR: projectDir,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        };
        const proc = spawnWorker(env);
        const sampler = new ProcessSampler(proc.pid, 100);
        sampler.start();
        workers.push({ name, process: proc, sampler, stagingDir, idleRssMiB: NaN });
      }
      const stop = async () => {
        for (const w of workers) {
          await w.process.stop();
          w.sampler.stop();
        }
      };
      cleanups.unshift(stop);
      const t = performance.now();
      await Promise.all(workers.map((w) => w.process.ready));
      for (const w of workers) w.idleRssMiB = (procStatus(w.process.pid)?.rssKiB ?? NaN) / 1024;
      console.log(`${label}: ${n} worker(s) ready in ${secs(performance.now() - t)} (pids ${workers.map((w) => w.process.pid).join(', ')}), task queue ${taskQueue}`);
      return { taskQueue, workers, stop };
    };

    /** One full run into emptied tables; per-worker peak RSS, CPU and chunks. */
    const fullRun = async (sluice: Sluice, workers: SampledWorker[], csv: GeneratedCsv, sourcePath: string, label: string): Promise<RunFigures> => {
      // The run creates the tables on its first load; empty them before every later one.
      for (const table of [targetTable, rejectsTable]) {
        const exists = await db.pool.query<{ r: string | null }>('SELECT to_regclass($1) AS r', [qualifiedName(table).sql]);
        if (exists.rows[0]!.r) await db.pool.query(`TRUNCATE ${qualifiedName(table).sql}`);
      }
      await db.pool.query('CHECKPOINT');
      const cpuBefore = workers.map((w) => processCpuSeconds(w.process.pid));
      const hostBefore = hostCpu();
      const startedAt = Date.now();
      const t = performance.now();
      const run = await sluice.run({ flowVersion: version.id, sourcePath, runMetadata: { bench: label, rows: csv.rows }, forceRerun: ranSources.has(sourcePath) });
      ranSources.add(sourcePath);
      const metadata = await run.wait({ timeoutMs: 3_600_000, pollIntervalMs: 100 });
      const runMs = performance.now() - t;
      const endedAt = Date.now();
      const hostAfter = hostCpu();
      const steps = Object.fromEntries(STEPS.map((step) => [step, metadata.steps[step]?.duration_ms ?? NaN]));
      const transform = metadata.steps.transform as unknown as { chunks?: number; workers?: Record<string, number> } | undefined;
      const byPid = new Map<number, number>();
      for (const [key, chunks] of Object.entries(transform?.workers ?? {})) {
        const pid = Number(key.split(':').pop());
        byPid.set(pid, (byPid.get(pid) ?? 0) + chunks);
      }
      const workerFigures = workers.map((w, i) => ({
        name: w.name,
        pid: w.process.pid,
        chunks: byPid.get(w.process.pid) ?? 0,
        peakRssMiB: w.sampler.maxBetween(startedAt, endedAt) / 1024,
        cpuS: processCpuSeconds(w.process.pid) - cpuBefore[i]!,
      }));
      const own = new Set(workers.map((w) => w.process.pid));
      const strayChunks = [...byPid.entries()].filter(([pid]) => !own.has(pid)).reduce((a, [, n]) => a + n, 0);
      const loaded = await count(targetTable);
      const rejectsLoaded = await count(rejectsTable);
      const expectedMapped = csv.rows - csv.badRows;
      const problems: string[] = [];
      if (metadata.rows.mapped !== expectedMapped || metadata.rows.rejected !== csv.badRows) {
        problems.push(`${label}: expected ${expectedMapped} mapped and ${csv.badRows} rejected, got ${metadata.rows.mapped} and ${metadata.rows.rejected} (${metadata.status})`);
      }
      if (loaded !== expectedMapped || rejectsLoaded !== csv.badRows) problems.push(`${label}: tables hold ${loaded} / ${rejectsLoaded}, expected ${expectedMapped} / ${csv.badRows}`);
      if (strayChunks) problems.push(`${label}: ${strayChunks} chunks mapped by other processes`);
      const stepsMs = STEPS.reduce((a, step) => a + (Number.isFinite(steps[step]) ? steps[step]! : 0), 0);
      const figuresOfRun: RunFigures = {
        runMs,
        status: metadata.status,
        rowsPerSecond: csv.rows / (runMs / 1000),
        steps,
        orchestrationMs: runMs - stepsMs,
        chunks: transform?.chunks ?? NaN,
        workers: workerFigures,
        strayChunks,
        hostBusyPct: (100 * (hostAfter.busy - hostBefore.busy)) / Math.max(1, hostAfter.total - hostBefore.total),
        rows: metadata.rows,
        loaded,
        rejectsLoaded,
        problems,
      };
      console.log(
        `  ${label}: ${secs(runMs)} (${fmt(figuresOfRun.rowsPerSecond)} rows/s, ${metadata.status}; ${STEPS.map((step) => `${step} ${secs(steps[step]!)}`).join(', ')}); ` +
          `host CPU busy ${fmt(figuresOfRun.hostBusyPct)}%; ` +
          workerFigures.map((w) => `${w.name} pid ${w.pid}: ${w.chunks} chunks, peak RSS ${fmt(w.peakRssMiB)} MiB, CPU ${fmt(w.cpuS, 2)} s`).join('; ') +
          (problems.length ? `\n  CHECK FAILED: ${problems.join('; ')}` : ''),
      );
      if (problems.length) failed = true;
      return figuresOfRun;
    };

    const line = (label: string, value: string) => console.log(`  ${label.padEnd(44)} ${value}`);

    /* ---------------------------------------------------------- part 1: S3 source ----------- */
    if (PARTS.has('source') && ROWS > 0) {
      console.log(`\nPART 1: S3 source, ${fmt(ROWS)} rows, 1 worker, local staging`);
      const { csv, sourcePath, uploadMs, downloadMs } = await prepareSource(ROWS);
      const { taskQueue, workers, stop } = await startWorkers(1, localProject, 'source');
      const sluice = new Sluice({ connection: temporal.connection, taskQueue, databaseUrl: db.url });
      const iterations: { copy: PlainCopyResult; run: RunFigures }[] = [];
      try {
        for (let i = 0; i < REPEAT; i++) {
          await db.pool.query(`TRUNCATE ${qualifiedName(plain.table).sql}`);
          await db.pool.query('CHECKPOINT');
          const copy = await plain.run(csv.file);
          console.log(`  #${i + 1} plain COPY (${plain.mode}, local file): ${secs(copy.ms)}, ${fmt(copy.rowsLoaded)} loaded, ${fmt(copy.rowsSkipped)} skipped`);
          iterations.push({ copy, run: await fullRun(sluice, workers, csv, sourcePath, `#${i + 1} S3 → Postgres`) });
        }
      } finally {
        await sluice.close();
      }
      const hwm = Math.max(...workers.map((w) => procStatus(w.process.pid)?.hwmKiB ?? 0)) / 1024;
      await stop();
      const w = workers[0]!;
      const lifetimeMiB = Math.max(hwm, (w.process.exitMaxRssKiB ?? 0) / 1024);
      const copyMs = median(iterations.map((it) => it.copy.ms));
      const runMs = median(iterations.map((it) => it.run.runMs));
      const stepMedians = Object.fromEntries(STEPS.map((step) => [step, median(iterations.map((it) => it.run.steps[step]!))]));
      const runPeak = Math.max(...iterations.map((it) => it.run.workers[0]!.peakRssMiB));
      const last = iterations[iterations.length - 1]!.run;
      console.log('');
      console.log(`RESULTS part 1 (${fmt(ROWS)} rows, ${fmt(csv.bytes / MiB, 1)} MiB CSV, PostgreSQL ${db.serverVersion}; median of ${REPEAT})`);
      line('upload to versitygw / GetObject to local file', `${secs(uploadMs)} / ${secs(downloadMs)}`);
      line('plain COPY wall time (local file)', `${secs(copyMs)}  (${fmt(ROWS / (copyMs / 1000))} rows/s; ${plain.mode})`);
      line('full run S3 → Postgres wall time', `${secs(runMs)}  (${fmt(ROWS / (runMs / 1000))} rows/s; ${last.status})`);
      line('ratio full run / plain COPY', `${fmt(runMs / copyMs, 2)}×`);
      for (const step of STEPS) line(`  step ${step}`, secs(stepMedians[step]!));
      line('  orchestration (run − steps)', secs(median(iterations.map((it) => it.run.orchestrationMs))));
      line('worker CPU per run', `${fmt(median(iterations.map((it) => it.run.workers[0]!.cpuS)), 2)} s; host CPU busy ${fmt(median(iterations.map((it) => it.run.hostBusyPct)))}%`);
      line('worker peak RSS during the runs (sampled)', `${fmt(runPeak)} MiB; lifetime VmHWM ${fmt(lifetimeMiB)} MiB; idle ${fmt(w.idleRssMiB)} MiB`);
      line('rows read / mapped / rejected / written', `${fmt(last.rows.read)} / ${fmt(last.rows.mapped)} / ${fmt(last.rows.rejected)} / ${fmt(last.rows.written)}`);
      figures.source = {
        rows: ROWS,
        csvMiB: csv.bytes / MiB,
        badRows: csv.badRows,
        uploadMs,
        downloadMs,
        plainCopyMode: plain.mode,
        median: { plainCopyMs: copyMs, fullRunMs: runMs, ratio: runMs / copyMs, steps: stepMedians },
        worker: { idleRssMiB: w.idleRssMiB, peakRssDuringRunsMiB: runPeak, peakRssLifetimeMiB: lifetimeMiB, eventLoopDelayMs: w.process.eventLoopDelayMs },
        iterations,
      };
    }

    /* ---------------------------------------------------------- part 2: scaling ------------- */
    if (PARTS.has('scale') && SCALE_ROWS > 0) {
      console.log(`\nPART 2: scaling, ${fmt(SCALE_ROWS)} rows, S3 source and S3 staging, 1 then 2 workers`);
      const { csv, sourcePath, uploadMs, downloadMs } = await prepareSource(SCALE_ROWS);
      await db.pool.query(`TRUNCATE ${qualifiedName(plain.table).sql}`);
      await db.pool.query('CHECKPOINT');
      const copy = await plain.run(csv.file);
      console.log(`  plain COPY (${plain.mode}, local file): ${secs(copy.ms)} (${fmt(SCALE_ROWS / (copy.ms / 1000))} rows/s)`);
      await db.pool.query(`TRUNCATE ${qualifiedName(plain.table).sql}`);
      const configurations: { workers: number; runs: RunFigures[]; lifetimeRssMiB: number[]; idleRssMiB: number[] }[] = [];
      for (const n of [1, 2]) {
        const { taskQueue, workers, stop } = await startWorkers(n, s3Project, `scale${n}`);
        const sluice = new Sluice({ connection: temporal.connection, taskQueue, databaseUrl: db.url });
        const runs: RunFigures[] = [];
        try {
          for (let i = 0; i < SCALE_REPEAT; i++) runs.push(await fullRun(sluice, workers, csv, sourcePath, `${n} worker(s) #${i + 1}`));
        } finally {
          await sluice.close();
        }
        const hwms = workers.map((w) => (procStatus(w.process.pid)?.hwmKiB ?? 0) / 1024);
        await stop();
        configurations.push({
          workers: n,
          runs,
          lifetimeRssMiB: workers.map((w, i) => Math.max(hwms[i]!, (w.process.exitMaxRssKiB ?? 0) / 1024)),
          idleRssMiB: workers.map((w) => w.idleRssMiB),
        });
      }
      console.log('');
      console.log(`RESULTS part 2 (${fmt(SCALE_ROWS)} rows, ${fmt(csv.bytes / MiB, 1)} MiB CSV, chunk ${fmt(CHUNK_ROWS)} rows, S3 staging; median of ${SCALE_REPEAT})`);
      line('upload / GetObject to local file', `${secs(uploadMs)} / ${secs(downloadMs)}`);
      line('plain COPY (local file)', `${secs(copy.ms)}  (${fmt(SCALE_ROWS / (copy.ms / 1000))} rows/s)`);
      const base = median(configurations[0]!.runs.map((r) => r.runMs));
      for (const c of configurations) {
        const runMs = median(c.runs.map((r) => r.runMs));
        const steps = STEPS.map((step) => `${step} ${secs(median(c.runs.map((r) => r.steps[step]!)))}`).join(', ');
        line(`${c.workers} worker(s): wall time`, `${secs(runMs)}  (${fmt(SCALE_ROWS / (runMs / 1000))} rows/s; speed-up ${fmt(base / runMs, 2)}×; host CPU busy ${fmt(median(c.runs.map((r) => r.hostBusyPct)))}%)`);
        line(`  steps`, steps);
        c.runs[0]!.workers.forEach((w, i) => {
          const chunks = c.runs.map((r) => r.workers[i]!.chunks).join('/');
          const peak = Math.max(...c.runs.map((r) => r.workers[i]!.peakRssMiB));
          line(`  worker ${i + 1}`, `${chunks} chunks; peak RSS ${fmt(peak)} MiB during runs (VmHWM ${fmt(c.lifetimeRssMiB[i]!)} MiB); CPU ${fmt(median(c.runs.map((r) => r.workers[i]!.cpuS)), 2)} s per run`);
        });
      }
      figures.scale = { rows: SCALE_ROWS, csvMiB: csv.bytes / MiB, badRows: csv.badRows, uploadMs, downloadMs, plainCopyMs: copy.ms, configurations };
    }
    console.log(failed ? '\n  CHECK FAILED (see above)' : '\n  counts check: OK (mapped, rejected and loaded rows match the generator in every run)');
    console.log(`  total bench time ${secs(Date.now() - started)}`);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(figures, null, 2)}\n`);
    if (failed) process.exitCode = 1;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
    if (!KEEP) rmSync(root, { recursive: true, force: true });
    else console.log(`kept ${root}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
