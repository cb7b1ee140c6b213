/**
 * The local stack behind `sluice dev` and `npm start`: the Temporal dev server (with its UI),
 * PostgreSQL (`DATABASE_URL`, else embedded), migrations, and one in-process worker.
 * Writes `<stateDir>/stack.json` so other `sluice` commands find it; removes it on stop.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { readEnv } from '../common/env';
import type { SluiceConfig } from '../config/sluice-config';
import { startEmbeddedPostgres } from './embedded-postgres';
import { migrate } from '../db/migrations';
import { createPool } from '../db/pg-pool';
import { startDevServer } from './dev-server';
import { findTemporalCli } from './temporal-cli';
import { createSluiceWorker, type SluiceWorker } from '../worker/sluice-worker';

export interface LocalStack {
  config: SluiceConfig;
  uiUrl: string;
  worker: SluiceWorker;
  /** Stops the worker (draining in-flight activities), then the servers. */
  stop(): Promise<void>;
}

/**
 * Starts the whole local stack.
 * @param options.temporalPort @default 7233; `uiPort` @default 8233; `postgresPort` (embedded only) @default 54329
 * @throws ConfigError when the Temporal CLI cannot be found or built; Error when a server cannot start.
 */
export async function startLocalStack(config: SluiceConfig, logger: Logger, options: { temporalPort?: number; uiPort?: number; postgresPort?: number } = {}): Promise<LocalStack> {
  mkdirSync(config.stateDir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((error: unknown) => logger.warn({ err: error }, 'stop failed'));
  };
  try {
    const external = readEnv('TEMPORAL_ADDRESS');
    let address = config.temporal.address;
    let uiUrl = config.temporal.uiUrl;
    if (!external) {
      const cli = await findTemporalCli({ projectDir: config.projectDir, logger });
      const server = await startDevServer({ cli, stateDir: config.stateDir, logger, port: options.temporalPort, uiPort: options.uiPort });
      stops.push(server.stop);
      address = server.address;
      uiUrl = server.uiUrl;
    }
    let databaseUrl = readEnv('DATABASE_URL');
    if (!databaseUrl) {
      logger.info('DATABASE_URL is not set: starting the embedded PostgreSQL');
      const postgres = await startEmbeddedPostgres(config.stateDir, logger, options.postgresPort);
      stops.push(postgres.stop);
      databaseUrl = postgres.databaseUrl;
    }
    const pool = createPool({ connectionString: databaseUrl, max: 1 }, { label: 'the metadata database', logger });
    await migrate(pool);
    await pool.end();
    const stackConfig: SluiceConfig = { ...config, databaseUrl, temporal: { ...config.temporal, address, uiUrl } };
    const stackFile = path.join(config.stateDir, 'stack.json');
    writeFileSync(stackFile, JSON.stringify({ databaseUrl, temporalAddress: address, uiUrl, pid: process.pid }, null, 2));
    stops.push(async () => rmSync(stackFile, { force: true }));
    const worker = await createSluiceWorker({ config: stackConfig, logger });
    const running = worker.run();
    stops.push(async () => {
      await worker.shutdown();
      await running;
    });
    return { config: stackConfig, uiUrl, worker, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
