/**
 * Publishing an event: persist it, then hand one durable delivery per subscribed webhook to Temporal.
 *
 * 1. In one transaction: insert the event (no-op when its deterministic id exists) and one delivery
 *    row per enabled subscriber (`dlv_` id derived from event and webhook: also a no-op on retry).
 * 2. After the commit: start a `deliverWebhook` workflow per pending delivery of the event, on the
 *    webhooks task queue (`<task queue>-webhooks`, served by `sluice gateway`). A workflow already
 *    started for that delivery is left alone, so a retried publish never sends twice.
 *
 * The event is acknowledged (the publishing activity completes) only after both steps, so a crash
 * anywhere in between is repaired by the retry. Deliveries wait in Temporal while no gateway runs.
 */
import { randomBytes } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { DELIVERY_WORKFLOW_TYPE } from '../common/workflow-types';
import { withPgClient } from '../db/pg-pool';
import { deterministicId, insertEvent, type EventPayload } from './events';
import { WebhookStore, type DeliveryTrigger } from './webhook-store';

/** Input of the `deliverWebhook` workflow (workflows/deliver-webhook.ts): the delivery to attempt. */
export interface DeliverWebhookInput {
  deliveryId: string;
}

/**
 * The signature of the `deliverWebhook` workflow, declared here so this layer starts it type-checked without
 * importing workflow code; `workflows/workflow-types.test.ts` fails to compile if the workflow drifts from it.
 */
export type DeliverWebhookWorkflow = (input: DeliverWebhookInput) => Promise<unknown>;

/** The task queue of webhook deliveries: the runs' task queue + `-webhooks`. */
export function webhooksTaskQueue(runTaskQueue: string): string {
  return `${runTaskQueue}-webhooks`;
}

/** The Temporal workflow id of a delivery. */
export function deliveryWorkflowId(deliveryId: string): string {
  return `sluice-delivery-${deliveryId}`;
}

export interface PublishableEvent {
  /** Deterministic id (see `runEventId`). */
  id: string;
  runId: string | null;
  executionId: string | null;
  payload: EventPayload;
}

export class EventPublisher {
  readonly webhooks: WebhookStore;

  constructor(
    private readonly pool: Pool,
    private readonly client: Client,
    /** The webhooks task queue (see {@link webhooksTaskQueue}). */
    readonly taskQueue: string,
    private readonly logger: Logger,
  ) {
    this.webhooks = new WebhookStore(pool);
  }

  /**
   * Persists an event and starts its deliveries. Safe to call again with the same event.
   * @returns whether this call stored the event, and the ids of its pending deliveries.
   * @throws TransientError `CONNECTION_LOST` when the metadata database dropped the connection mid-transaction;
   *   pg or Temporal connection errors (the caller's retry repeats the whole call).
   */
  async publish(event: PublishableEvent): Promise<{ inserted: boolean; deliveries: string[] }> {
    const { inserted, pending } = await withPgClient(this.pool, 'the metadata database', async (db) => {
      try {
        await db.query('BEGIN');
        const inserted = await insertEvent(db, event);
        if (inserted) {
          for (const webhookId of await this.webhooks.subscribersOf(event.payload.type, db)) {
            await this.webhooks.addDelivery({ id: deterministicId('dlv', event.id, webhookId), webhookId, eventId: event.id, trigger: 'event' }, db);
          }
        }
        const pending = await this.webhooks.pendingDeliveriesOf(event.id, db);
        await db.query('COMMIT');
        return { inserted, pending };
      } catch (error) {
        await db.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
    for (const deliveryId of pending) await this.startDelivery(deliveryId);
    this.logger.debug({ eventId: event.id, type: event.payload.type, inserted, deliveries: pending.length }, 'event published');
    return { inserted, deliveries: pending };
  }

  /**
   * Adds a new delivery of a stored event to one webhook (redeliver, recover) and starts it.
   * @returns the new delivery id.
   */
  async deliverAgain(eventId: string, webhookId: string, trigger: Exclude<DeliveryTrigger, 'event'>): Promise<string> {
    // A fresh id every call (not derived): each redeliver or recover is a new delivery. Same shape as deterministicId's.
    const id = `dlv_${randomBytes(13).toString('hex')}`;
    await this.webhooks.addDelivery({ id, webhookId, eventId, trigger });
    await this.startDelivery(id);
    return id;
  }

  /** Starts the delivery's workflow unless it already ran or runs. */
  async startDelivery(deliveryId: string): Promise<void> {
    try {
      await this.client.workflow.start<DeliverWebhookWorkflow>(DELIVERY_WORKFLOW_TYPE, {
        taskQueue: this.taskQueue,
        workflowId: deliveryWorkflowId(deliveryId),
        args: [{ deliveryId }],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }
}
