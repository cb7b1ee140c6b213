/**
 * The delivery worker: the Temporal worker inside `sluice gateway` that runs `deliverWebhook`
 * workflows and their attempts on the webhooks task queue (`<task queue>-webhooks`).
 *
 * Deliveries are I/O-bound (one HTTP request each), so up to 100 attempts run at once by default
 * (`SLUICE_MAX_CONCURRENT_DELIVERIES`). When the gateway stops, the in-flight attempts get the
 * grace time; everything else waits in Temporal for the next gateway.
 */
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { DEFAULT_MAX_CONCURRENT_DELIVERIES, readEnvCount } from '../common/env';
import type { SluiceConfig, WebhookSettings } from '../config/sluice-config';
import type { DeliveryMetrics } from '../webhooks/delivery-metrics';
import { runnable, workflowBundle, type SluiceWorker } from './sluice-worker';
import { createDeliveryActivities } from '../activities/delivery-activities';
import { EventPublisher, webhooksTaskQueue } from '../webhooks/event-publisher';

export interface DeliveryWorkerOptions {
  config: SluiceConfig;
  settings: WebhookSettings;
  /** The metadata database (migrated). */
  pool: Pool;
  /** Starts `webhook.disabled` deliveries and redeliveries. */
  client: Client;
  metrics: DeliveryMetrics;
  logger: Logger;
  /** An existing connection (tests); otherwise one to `config.temporal.address`. */
  connection?: NativeConnection;
}

export async function createDeliveryWorker(options: DeliveryWorkerOptions): Promise<SluiceWorker> {
  const { config, logger } = options;
  const taskQueue = webhooksTaskQueue(config.temporal.taskQueue);
  const publisher = new EventPublisher(options.pool, options.client, taskQueue, logger);
  const ownConnection = !options.connection;
  const connection = options.connection ?? (await NativeConnection.connect({ address: config.temporal.address }));
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createDeliveryActivities({ settings: options.settings, publisher, metrics: options.metrics, logger }),
    maxConcurrentActivityTaskExecutions: readEnvCount('SLUICE_MAX_CONCURRENT_DELIVERIES') ?? DEFAULT_MAX_CONCURRENT_DELIVERIES,
    shutdownGraceTime: `${options.settings.timeoutMs + 5_000}ms`,
  });
  return runnable(worker, async () => {
    if (ownConnection) await connection.close().catch(() => undefined);
  });
}
