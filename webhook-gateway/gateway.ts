/**
 * The whole gateway process, assembled: the HTTP API (runs, events, webhooks, health, metrics) and
 * the delivery worker that sends webhooks, sharing one client, one metadata pool and one metrics
 * registry. `sluice gateway` calls this; tests call it too, with real services.
 *
 * @example
 * ```ts
 * const gateway = await startGateway({ config: loadConfig(), logger, port: 8700 });
 * console.log(gateway.url);
 * await gateway.close(); // stops HTTP, drains in-flight deliveries (up to the attempt timeout), closes connections
 * ```
 */
import type { Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { Sluice } from '../client/sluice';
import { gatewaySettings, requireDatabaseUrl, type SluiceConfig } from '../config/sluice-config';
import { metadataDatabaseAccess, withAccessErrors } from '../connectors/access-errors';
import { migrate } from '../db/migrations';
import { createPool } from '../db/pg-pool';
import { loadMasterKeys } from '../config/secrets';
import { SecretStore } from '../connectors/secret-store';
import { createDeliveryWorker } from '../worker/delivery-worker';
import { EventPublisher, webhooksTaskQueue } from '../webhooks/event-publisher';
import { WebhookService } from '../webhooks/webhook-service';
import type { SluiceWorker } from '../worker/sluice-worker';
import { createGatewayApp } from './create-gateway-app';
import { createGatewayMetrics } from './metrics';
import { startGatewayServer } from './server';

export interface StartGatewayOptions {
  config: SluiceConfig;
  logger: Logger;
  /** @default gateway.port, else 8700; 0 picks a free port. */
  port?: number;
  /** @default gateway.host, else 127.0.0.1 */
  host?: string;
  /** Run the delivery worker in this process. @default true */
  deliveries?: boolean;
  /** Existing Temporal connections (tests); otherwise connections to `config.temporal.address`. */
  connection?: Connection;
  workerConnection?: NativeConnection;
}

export interface Gateway {
  url: string;
  port: number;
  sluice: Sluice;
  webhooks: WebhookService;
  publisher: EventPublisher;
  pool: Pool;
  /** Stops accepting requests, lets in-flight requests and delivery attempts finish, closes connections. */
  close(): Promise<void>;
}

/**
 * Starts the gateway.
 * @throws ConfigError `NO_DATABASE` without a metadata database; AccessError `AUTH_FAILED` when it refuses DATABASE_URL's credentials; the listen error (EADDRINUSE); Temporal connection errors.
 */
export async function startGateway(options: StartGatewayOptions): Promise<Gateway> {
  const { config, logger } = options;
  const settings = gatewaySettings(config);
  const databaseUrl = requireDatabaseUrl(config);
  const pool = createPool({ connectionString: databaseUrl, max: 10, application_name: 'sluice:gateway' }, { label: 'the metadata database', logger });
  await withAccessErrors(metadataDatabaseAccess(databaseUrl), () => migrate(pool)).catch(async (error: unknown) => {
    await pool.end().catch(() => undefined);
    throw error;
  });
  const sluice = new Sluice({
    address: config.temporal.address,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    environment: config.environment,
    databaseUrl,
    logger,
    config,
    ...(options.connection ? { connection: options.connection } : {}),
  });
  const publisher = new EventPublisher(pool, sluice.client, webhooksTaskQueue(config.temporal.taskQueue), logger);
  const webhooks = new WebhookService(publisher, settings.webhooks);
  const metrics = createGatewayMetrics(() => publisher.webhooks.countPending());
  let deliveryWorker: SluiceWorker | undefined;
  let running: Promise<void> | undefined;
  try {
    if (options.deliveries ?? true) {
      deliveryWorker = await createDeliveryWorker({
        config,
        settings: settings.webhooks,
        pool,
        client: sluice.client,
        metrics: metrics.deliveries,
        logger,
        ...(options.workerConnection ? { connection: options.workerConnection } : {}),
      });
      running = deliveryWorker.run();
      running.catch((error: unknown) => logger.error({ err: error }, 'the delivery worker stopped'));
    }
    const secrets = new SecretStore(pool, () => loadMasterKeys({ env: process.env, stateDir: config.stateDir, projectDir: config.projectDir }));
    const app = createGatewayApp({
      sluice, tokens: settings.tokens, logger, pool, webhooks, metrics, secrets,
      temporalUi: { url: config.temporal.uiUrl, namespace: config.temporal.namespace },
    });
    const server = await startGatewayServer(app, { port: options.port ?? settings.port, host: options.host ?? settings.host });
    return {
      url: server.url,
      port: server.port,
      sluice,
      webhooks,
      publisher,
      pool,
      async close() {
        await server.close();
        await deliveryWorker?.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'delivery worker shutdown failed'));
        await sluice.close();
        await pool.end();
      },
    };
  } catch (error) {
    await deliveryWorker?.shutdown().catch(() => undefined);
    await sluice.close();
    await pool.end();
    throw error;
  }
}
