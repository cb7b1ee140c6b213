/**
 * Benchmark: a full Sluice run into MariaDB/MySQL (the `mysql` target: `LOAD DATA LOCAL INFILE` from a stream,
 * rejects and ledger in one transaction) beside a **bare `LOAD DATA LOCAL INFILE`** of the same CSV into a table
 * of the same types — the MySQL counterpart of run-bench.ts's plain COPY.
 *
 * Everything is real: the Temporal dev server, PostgreSQL for the metadata (`DATABASE_URL`, else the embedded
 * PostgreSQL 17), the machine's MariaDB (`BENCH_MYSQL_URL`, @default `mysql://root@127.0.0.1:3306/`: a fresh
 * database is created and dropped), a Sluice worker in its own process (bench/bench-worker.ts, configured by a
 * `sluice.config.yaml` with a `files` and a `shop` connector). The CSV is run-bench.ts's (`BENCH_ROWS`, @default
 * 1,000,000; 2% bad rows).
 *
 * The bare load converts what it can and warns about the rest (a bad integer becomes 0 or is truncated, a bad date
 * `0000-00-00` or NULL): it loads every line, with warnings, where Sluice loads the good rows and keeps the bad ones
 * as rejects. `active` is read as `@active IN ('true', 'yes', '1')`, the rest as is.
 *
 * ```sh
 * npx tsc -p . && BENCH_ROWS=1000000 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node dist/bench/run-mysql-bench.js
 * ```
 *
 * Other settings: `BENCH_REPEAT` (@default 1), `BENCH_SEED`, `BENCH_BAD_RATIO`, `BENCH_CHUNK_ROWS`, `BENCH_JSON=<file>`.
 * Nothing is asserted except the row counts.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createConnection, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import { Sluice } from '../client/sluice';
import { parseFlowSpec } from '../flows/flow-spec';
import { FlowVersionStore } from '../flows/flow-versions';
import { startTemporal } from '../tests/helpers/services';
import { FLOW_YAML as LOCAL_FLOW_YAML, fmt, generateCsv, hostCpu, median, MiB, openBenchPostgres, processCpuSeconds, ProcessSampler, secs, spawnWorker, STEPS } from './run-bench';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const SEED = Number(process.env.BENCH_SEED ?? 42);
const BAD_RATIO = Number(process.env.BENCH_BAD_RATIO ?? 0.02);
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 1));
const CHUNK_ROWS = Number(process.env.BENCH_CHUNK_ROWS ?? 250_000);
const ADMIN_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';

/** run-bench.ts's flow, loading into the `shop` mysql connector. */
const FLOW_YAML = LOCAL_FLOW_YAML.replace('target: { connector: warehouse, table: public.bench_orders, write: append }', 'target: { connector: shop, table: bench_orders, write: append }').replace(
  'benchmark flow (bench/run-bench.ts)',
  'benchmark flow (bench/run-mysql-bench.ts), MariaDB target',
);

/** The table Sluice creates for the flow (connectors/mysql/mysql-target.ts's mapping), for the bare load. */
const PLAIN_DDL = 'CREATE TABLE bench_plain (id bigint, customer longtext, amount bigint, day date, active boolean, note longtext) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4';

async function main(): Promise<void> {
  if (!Number.isInteger(ROWS) || ROWS < 1) throw new Error(`BENCH_ROWS must be a positive integer, not "${process.env.BENCH_ROWS}"`);
  const root = mkdtempSync(path.join(os.tmpdir(), 'sluice-mysql-bench-'));
  const cleanups: (() => Promise<void>)[] = [];
  const figures: Record<string, unknown> = { rows: ROWS, seed: SEED, badRatio: BAD_RATIO, chunkRows: CHUNK_ROWS, loadAverageAtStart: os.loadavg() };
  try {
    console.log(`sluice MySQL bench: ${fmt(ROWS)} rows × ${REPEAT}; node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const { db } = await openBenchPostgres(cleanups);
    const temporal = await startTemporal();
    cleanups.unshift(() => temporal.teardown());

    const name = `sluice_bench_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
    const admin = await createConnection({ uri: ADMIN_URL });
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
    cleanups.unshift(async () => {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    });
    const [[server]] = await admin.query<RowDataPacket[]>('SELECT VERSION() AS version');
    figures.mysql = server!.version;
    const url = `${ADMIN_URL.replace(/\/$/, '')}/${name}`;
    const mysql = await createConnection({ uri: url });
    cleanups.unshift(() => mysql.end());
    console.log(`MariaDB/MySQL ${String(server!.version)}, database ${name}; metadata PostgreSQL ${db.serverVersion}`);

    // The worker's `files` connector is rooted at the project: the CSV lives there.
    const project = path.join(root, 'project');
    mkdirSync(project);
    const sourceName = `orders-${ROWS}.csv`;
    const file = path.join(project, sourceName);
    const csv = generateCsv(file, ROWS, SEED, BAD_RATIO);
    console.log(`generated ${csv.file}: ${fmt(csv.bytes / MiB, 1)} MiB, ${fmt(csv.badRows)} bad rows`);
    writeFileSync(path.join(project, 'sluice.config.yaml'), `connectors:\n  files: { kind: local, root: . }\n  shop: { kind: mysql, url: "${url}" }\n`);

    const spec = parseFlowSpec(FLOW_YAML, 'bench flow');
    const { version } = await new FlowVersionStore(db.pool).publish(spec, { sourceText: FLOW_YAML });
    const taskQueue = `bench-mysql-${randomUUID()}`;
    const stagingDir = mkdtempSync(path.join(root, 'staging-'));
    const worker = spawnWorker({
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: temporal.address,
      SLUICE_TASK_QUEUE: taskQueue,
      SLUICE_STAGING_DIR: stagingDir,
      SLUICE_CHUNK_ROWS: String(CHUNK_ROWS),
      BENCH_PROJECT_DIR: project,
    });
    cleanups.unshift(() => worker.stop());
    await worker.ready;
    const sluice = new Sluice({ connection: temporal.connection, taskQueue, databaseUrl: db.url });
    cleanups.unshift(() => sluice.close());

    const count = async (table: string) => Number((await mysql.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${table}\``))[0][0]!.n);
    await mysql.query(PLAIN_DDL);
    const plainMs: number[] = [];
    const runMs: number[] = [];
    const cpuS: number[] = [];
    const peakRssMiB: number[] = [];
    const stepMs: Record<string, number[]> = Object.fromEntries(STEPS.map((s) => [s, []]));
    let plainWarnings = 0;
    for (let i = 0; i < REPEAT; i++) {
      // The bare load: the same file, streamed by the client, into the same types.
      await mysql.query('TRUNCATE bench_plain');
      let t = performance.now();
      const [result] = await mysql.query<ResultSetHeader>({
        sql:
          "LOAD DATA LOCAL INFILE 'orders.csv' INTO TABLE bench_plain CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' " +
          "LINES TERMINATED BY '\\n' IGNORE 1 LINES (id, customer, amount, day, @active, note) SET active = @active IN ('true', 'yes', '1')",
        infileStreamFactory: () => createReadStream(file),
      });
      plainMs.push(performance.now() - t);
      plainWarnings = result.warningStatus;
      const plainRows = await count('bench_plain');
      console.log(`#${i + 1} bare LOAD DATA LOCAL INFILE: ${secs(plainMs.at(-1)!)}, ${fmt(plainRows)} rows, ${fmt(plainWarnings)} warnings`);

      // The full Sluice run.
      for (const table of ['bench_orders', 'bench_orders_rejects']) await mysql.query(`DROP TABLE IF EXISTS \`${table}\``);
      const sampler = new ProcessSampler(worker.pid, 100);
      sampler.start();
      const cpuBefore = processCpuSeconds(worker.pid);
      const hostBefore = hostCpu();
      t = performance.now();
      const run = await sluice.run({ flowVersion: version.id, sourcePath: sourceName, forceRerun: i > 0 });
      const metadata = await run.wait({ timeoutMs: 3_600_000, pollIntervalMs: 100 });
      runMs.push(performance.now() - t);
      sampler.stop();
      const hostAfter = hostCpu();
      cpuS.push(processCpuSeconds(worker.pid) - cpuBefore);
      peakRssMiB.push(sampler.maxBetween(0, Date.now()) / 1024);
      for (const step of STEPS) {
        const s = metadata.steps[step];
        if (s?.started_at && s.ended_at) stepMs[step]!.push(Date.parse(s.ended_at) - Date.parse(s.started_at));
      }
      const loaded = await count('bench_orders');
      const rejects = await count('bench_orders_rejects');
      const busy = (100 * (hostAfter.busy - hostBefore.busy)) / Math.max(1, hostAfter.total - hostBefore.total);
      console.log(
        `#${i + 1} Sluice run: ${secs(runMs.at(-1)!)} (${metadata.status}; ${fmt(loaded)} rows loaded, ${fmt(rejects)} rejects; expected ${fmt(ROWS - csv.badRows)} + ${fmt(csv.badRows)}), ` +
          `worker CPU ${fmt(cpuS.at(-1)!, 1)} s, peak RSS ${fmt(peakRssMiB.at(-1)!)} MiB, host CPU busy ${fmt(busy)}%; ` +
          STEPS.map((s) => `${s} ${secs(stepMs[s]!.at(-1) ?? NaN)}`).join(', '),
      );
      if (loaded !== ROWS - csv.badRows || rejects !== csv.badRows) throw new Error(`counts differ: loaded ${loaded}, rejects ${rejects}, expected ${ROWS - csv.badRows} and ${csv.badRows}`);
    }
    const summary = {
      plainLoadDataS: median(plainMs) / 1000,
      plainWarnings,
      sluiceRunS: median(runMs) / 1000,
      ratio: median(runMs) / median(plainMs),
      sluiceRowsPerS: ROWS / (median(runMs) / 1000),
      workerCpuS: median(cpuS),
      workerPeakRssMiB: median(peakRssMiB),
      stepsS: Object.fromEntries(STEPS.map((s) => [s, median(stepMs[s]!) / 1000])),
    };
    Object.assign(figures, summary);
    console.log(
      `\nmedians of ${REPEAT}: bare LOAD DATA ${fmt(summary.plainLoadDataS, 2)} s, Sluice run ${fmt(summary.sluiceRunS, 2)} s (${fmt(summary.ratio, 2)}×, ${fmt(summary.sluiceRowsPerS)} rows/s), ` +
        `worker CPU ${fmt(summary.workerCpuS, 1)} s, peak RSS ${fmt(summary.workerPeakRssMiB)} MiB`,
    );
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(figures, null, 2)}\n`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
    rmSync(root, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
