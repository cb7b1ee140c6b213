/**
 * A Sluice worker: polls the run task queue, executes `runFlow` workflows and their activities.
 * Several workers on one task queue share the work. Connector credentials are resolved here,
 * from this process's config, and never leave it.
 *
 * @example
 * ```ts
 * const worker = await createSluiceWorker({ config: loadConfig(), logger });
 * await worker.run(); // until worker.shutdown()
 * ```
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import type { Logger } from 'pino';
import { withEnvironmentGuard } from '../activities/activity-boundary';
import { createDiffActivities } from '../activities/diff-activities';
import { createDryRunActivities } from '../activities/dry-run';
import { createEventActivities } from '../activities/event-activities';
import { DEFAULT_MAX_CONCURRENT_ACTIVITIES, readEnv, readEnvCount } from '../common/env';
import { createPipelineActivities } from '../activities/pipeline-activities';
import { createHousekeepingActivities } from '../activities/housekeeping-activities';
import { createRunActivities } from '../activities/run-activities';
import { createReprocessActivities } from '../activities/reprocess';
import { loadConfig, requireDatabaseUrl, type SluiceConfig } from '../config/sluice-config';
import { metadataDatabaseAccess, withAccessErrors } from '../connectors/access-errors';
import { ConnectorRegistry } from '../connectors/registry';
import { SecretStore } from '../connectors/secret-store';
import { loadMasterKeys } from '../config/secrets';
import { migrate } from '../db/migrations';
import { createPool } from '../db/pg-pool';
import { FlowVersionStore } from '../flows/flow-versions';
import { listInFlightFromVisibility } from '../ops/housekeeping';
import { createStaging } from '../storage/create-staging';
import { startStagingSweeper } from './staging-sweeper';
import { watchConfigFile, type ConfigWatcher } from './config-watcher';

let bundle: Promise<WorkflowBundleOption> | undefined;
let runtimeInstalled = false;

/** True in a source checkout (the TypeScript sources beside dist/), false in an installed package (`npm pack`). */
const IN_SOURCE_CHECKOUT = existsSync(path.join(__dirname, '..', '..', 'workflows', 'index.ts'));

/** Where `npm run build:bundle` (and the Docker image, and `npm pack`) writes the prebuilt workflow bundle. */
export const PREBUILT_BUNDLE = path.join(__dirname, '..', 'workflow-bundle.js');

/**
 * The workflow code: a prebuilt bundle (`SLUICE_WORKFLOW_BUNDLE`, or `dist/workflow-bundle.js`
 * when `NODE_ENV=production`, as in the image, or in an installed package, which has no sources), else
 * bundled once per process with webpack (a few seconds) — so a development checkout never runs a stale bundle.
 */
export function workflowBundle(): Promise<WorkflowBundleOption> {
  const prebuilt = readEnv('SLUICE_WORKFLOW_BUNDLE') ?? (readEnv('NODE_ENV') === 'production' || !IN_SOURCE_CHECKOUT ? PREBUILT_BUNDLE : '');
  bundle ??= prebuilt && existsSync(prebuilt)
    ? Promise.resolve({ codePath: prebuilt })
    : bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } });
  return bundle;
}

/** Writes the workflow bundle to `file` (@default {@link PREBUILT_BUNDLE}); used at image build time. */
export async function writeWorkflowBundle(file = PREBUILT_BUNDLE): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows') });
  await writeFile(file, code);
  return file;
}

export interface SluiceWorker {
  worker: Worker;
  /** The config file watcher, when the worker watches one (`reload()` applies the file now). */
  configWatcher?: ConfigWatcher;
  /** Runs until shutdown; resolves when the worker has drained. */
  run(): Promise<void>;
  /** Stops polling, lets in-flight activities finish (up to the grace time), releases resources. */
  shutdown(): Promise<void>;
}

export interface CreateWorkerOptions {
  config: SluiceConfig;
  logger: Logger;
  /** An existing connection (tests); otherwise one to `config.temporal.address`. */
  connection?: NativeConnection;
  /** Time in-flight activities get to finish on shutdown. @default '30s' */
  shutdownGraceTime?: string;
  /**
   * Watch `config.configFile` and reload connectors when it changes (worker/config-watcher.ts). `config` is then
   * updated in place. @default true (nothing to watch without a config file)
   */
  watchConfig?: boolean;
  /** How a reload reads the file. @default `loadConfig` of the same file and environment, with this process's environment variables */
  reloadConfig?: () => SluiceConfig;
}

export async function createSluiceWorker(options: CreateWorkerOptions): Promise<SluiceWorker> {
  const { config, logger } = options;
  if (!runtimeInstalled) {
    // Route Temporal core's own logs through the level we run at, without double logging.
    runtimeInstalled = true;
    try {
      Runtime.install({ logger: { log() {}, trace() {}, debug() {}, info() {}, warn: (m) => logger.warn(m), error: (m) => logger.error(m) } });
    } catch {
      // Already installed by the embedding process (e.g. the test environment): keep its runtime.
    }
  }
  const databaseUrl = requireDatabaseUrl(config);
  const pool = createPool({ connectionString: databaseUrl, max: 4, application_name: 'sluice:worker' }, { label: 'the metadata database', logger });
  // Refused credentials end the start at once, naming DATABASE_URL (AUTH_FAILED), instead of a bare pg error.
  await withAccessErrors(metadataDatabaseAccess(databaseUrl), () => migrate(pool)).catch(async (error: unknown) => {
    await pool.end().catch(() => undefined);
    throw error;
  });
  // `${secret:NAME}` resolves from the secrets store, with the master key as it is when a run needs it (rotation).
  const secrets = new SecretStore(pool, () => loadMasterKeys({ env: process.env, stateDir: config.stateDir, projectDir: config.projectDir }));
  const connectors = new ConnectorRegistry(config, logger, secrets);
  const staging = createStaging(config);
  // One store, so its cache of (immutable) versions serves run and pipeline activities alike.
  const flowVersions = new FlowVersionStore(pool);
  const ownConnection = !options.connection;
  const connection = options.connection ?? (await NativeConnection.connect({ address: config.temporal.address }));
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowBundle: await workflowBundle(),
    // A worker serves exactly its config's environment: work stamped for another is refused (WRONG_ENVIRONMENT).
    activities: withEnvironmentGuard(logger, config.environment, {
      ...createRunActivities({ config, connectors, flowVersions, staging, logger }),
      ...createDryRunActivities({ config, connectors, flowVersions, staging, logger }),
      ...createReprocessActivities({ config, connectors, flowVersions, staging, logger }),
      ...createDiffActivities({ flowVersions, staging, logger }),
      ...createEventActivities({ pool, runTaskQueue: config.temporal.taskQueue, logger }),
      ...createPipelineActivities({ config, pool, flowVersions, staging, logger }),
      ...createHousekeepingActivities({ config, staging, logger }),
    }),
    // Temporal's default is 0: in-flight activities would be cancelled at once on SIGTERM.
    shutdownGraceTime: options.shutdownGraceTime ?? '30s',
    // Each transform chunk holds a few hundred MiB while mapped; two at a time keep a worker under
    // 1 GiB at the default chunk size and already use both cores (Polars is multi-threaded).
    maxConcurrentActivityTaskExecutions: readEnvCount('SLUICE_MAX_CONCURRENT_ACTIVITIES') ?? DEFAULT_MAX_CONCURRENT_ACTIVITIES,
    // Heartbeat details reach the server at most every 2 s (default: 80% of the 30 s heartbeat timeout), so a
    // one-pass run's chunk progress, read from its pending activity, is live for `run --wait`.
    maxHeartbeatThrottleInterval: '2s',
  });
  // Retention: every hour, housekeeping's staging sweep (runs in flight listed on this worker's connection).
  const inFlightClient = new Client({ connection, namespace: config.temporal.namespace });
  const sweeper = startStagingSweeper({ config, staging, logger, listInFlight: () => listInFlightFromVisibility(inFlightClient) });
  const configFile = config.configFile;
  const configWatcher =
    options.watchConfig === false || !configFile
      ? undefined
      : watchConfigFile({
          config,
          connectors,
          logger,
          load: options.reloadConfig ?? (() => loadConfig({ projectDir: config.projectDir, configFile, environment: config.environment, onWarning: (message) => logger.warn(message) })),
        });
  const wrapped = runnable(worker, async () => {
    configWatcher?.stop();
    sweeper.stop();
    await connectors.close();
    await pool.end().catch(() => undefined);
    if (ownConnection) await connection.close().catch(() => undefined);
  });
  return configWatcher ? { ...wrapped, configWatcher } : wrapped;
}

/**
 * Wraps a Temporal worker as a {@link SluiceWorker}: `run()` once (later calls return the same
 * promise), `shutdown()` drains it; `release` frees what the worker used, once, after it stopped
 * (or at shutdown when it never ran).
 */
export function runnable(worker: Worker, release: () => Promise<void>): SluiceWorker {
  let running: Promise<void> | undefined;
  return {
    worker,
    run() {
      running ??= worker.run().finally(release);
      return running;
    },
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      if (running) await running;
      else await release();
    },
  };
}
