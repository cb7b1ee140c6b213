/**
 * A Sluice worker in its own process, for the benchmark (bench/run-bench.ts), so that its memory
 * can be measured apart from the Temporal server, Postgres and the benchmark driver.
 *
 * Configured from the environment, like `testConfig` in tests/helpers/services.ts, plus, when
 * `BENCH_PROJECT_DIR` holds a `sluice.config.yaml`, its connectors and `staging.s3`:
 * - `DATABASE_URL`: metadata database; also the `warehouse` target connector.
 * - `TEMPORAL_ADDRESS`, `SLUICE_TASK_QUEUE`: where to poll.
 * - `SLUICE_STAGING_DIR`: staging root; `SLUICE_CHUNK_ROWS`: rows per transform chunk (@default 250000).
 * - `BENCH_PROJECT_DIR`: project dir; the `files` connector is rooted there.
 *
 * Protocol with the driver, one JSON object per line on stdout:
 * `{"event":"ready"}` once the worker polls; `{"event":"exit","maxRssKiB":…,"eventLoopDelayMs":{…}}` after
 * SIGTERM drained it (the event-loop delay is measured from `ready` on: synchronous Polars calls block
 * the loop, and with it heartbeats and the answers to workflow queries).
 *
 * Run by the driver as `node dist/bench/bench-worker.js`.
 */
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createLogger } from '../common/logger';
import { loadConfig, type SluiceConfig } from '../config/sluice-config';
import { createSluiceWorker } from '../worker/sluice-worker';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`bench-worker: ${name} is not set\n`);
    process.exit(2);
  }
  return value;
}

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function main(): Promise<void> {
  const projectDir = path.resolve(required('BENCH_PROJECT_DIR'));
  const logger = createLogger('sluice-bench-worker', process.env.SLUICE_LOG_LEVEL ?? 'warn');
  const base = loadConfig({ projectDir, env: {} });
  const config: SluiceConfig = {
    ...base,
    databaseUrl: required('DATABASE_URL'),
    temporal: { ...base.temporal, address: required('TEMPORAL_ADDRESS'), taskQueue: required('SLUICE_TASK_QUEUE') },
    staging: { ...base.staging, dir: path.resolve(required('SLUICE_STAGING_DIR')), chunkRows: Number(process.env.SLUICE_CHUNK_ROWS ?? 250_000) },
    // With a sluice.config.yaml in the project dir (bench/run-s3-bench.ts: an s3 source connector,
    // S3 staging), its connectors and staging.s3 apply; otherwise local files and the metadata Postgres.
    connectors: base.configFile ? base.connectors : { files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } },
  };
  const worker = await createSluiceWorker({ config, logger });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void worker.shutdown();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const running = worker.run();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  emit({ event: 'ready', pid: process.pid });
  await running;
  delay.disable();
  const ms = (ns: number) => Math.round(ns / 1e5) / 10;
  emit({
    event: 'exit',
    // ru_maxrss (KiB): the same peak as /proc/<pid>/status VmHWM, as a cross-check for the driver.
    maxRssKiB: process.resourceUsage().maxRSS,
    eventLoopDelayMs: { max: ms(delay.max), p99: ms(delay.percentile(99)), mean: ms(delay.mean) },
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench-worker: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
