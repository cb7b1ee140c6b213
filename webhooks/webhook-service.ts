/**
 * Webhook operations shared by the gateway's `/v1/webhooks` routes and `sluice webhooks …`:
 * subscribe (with the SSRF guard), change, remove, rotate the secret, list deliveries, redeliver
 * one, recover everything that failed since a time.
 *
 * Errors are `UserError`s with stable codes: `WEBHOOK_NOT_FOUND`, `DELIVERY_NOT_FOUND` (404),
 * `WEBHOOK_DISABLED` (409), `UNSAFE_WEBHOOK_URL` (422; from `checkWebhookUrl`).
 */
import type { WebhookSettings } from '../config/sluice-config';
import { UserError } from '../common/errors';
import { checkWebhookUrl } from './ssrf-guard';
import type { EventType } from './events';
import type { EventPublisher } from './event-publisher';
import type { Delivery, DeliveryStatus, Webhook } from './webhook-store';

const notFound = (id: string) =>
  new UserError('WEBHOOK_NOT_FOUND', `no webhook ${id}; list them with GET /v1/webhooks or \`sluice webhooks list\``);

export class WebhookService {
  constructor(
    private readonly publisher: EventPublisher,
    private readonly settings: WebhookSettings,
  ) {}

  private get store() {
    return this.publisher.webhooks;
  }

  /**
   * Subscribes a URL. The URL must be https (http only with `allow_http`) and resolve to public
   * addresses, unless `gateway.webhooks.allowlist` names it.
   * @returns the webhook and its `whsec_…` secret (shown this once).
   * @throws UserError `UNSAFE_WEBHOOK_URL`.
   */
  async create(input: { url: string; events?: EventType[]; description?: string | null }): Promise<{ webhook: Webhook; secret: string }> {
    const url = await checkWebhookUrl(input.url, this.settings);
    return this.store.create({ url: url.href, events: input.events ?? [], description: input.description ?? null });
  }

  list(): Promise<Webhook[]> {
    return this.store.list();
  }

  /** @throws UserError `WEBHOOK_NOT_FOUND`. */
  async get(id: string): Promise<Webhook> {
    const webhook = await this.store.get(id);
    if (!webhook) throw notFound(id);
    return webhook;
  }

  /**
   * Changes a webhook; a new URL passes the SSRF guard again. `disabled: false` re-enables a disabled endpoint.
   * @throws UserError `WEBHOOK_NOT_FOUND`, `UNSAFE_WEBHOOK_URL`.
   */
  async update(id: string, patch: { url?: string; events?: EventType[]; description?: string | null; disabled?: boolean }): Promise<Webhook> {
    const url = patch.url === undefined ? undefined : (await checkWebhookUrl(patch.url, this.settings)).href;
    const updated = await this.store.update(id, { ...patch, ...(url === undefined ? {} : { url }) });
    if (!updated) throw notFound(id);
    return updated;
  }

  /** @throws UserError `WEBHOOK_NOT_FOUND`. */
  async remove(id: string): Promise<void> {
    if (!(await this.store.delete(id))) throw notFound(id);
  }

  /**
   * A new secret; the previous one also signs for `gateway.webhooks.secret_overlap` (default 24 h).
   * @throws UserError `WEBHOOK_NOT_FOUND`.
   */
  async rotateSecret(id: string): Promise<{ secret: string; previousSecretExpiresAt: Date }> {
    const rotated = await this.store.rotateSecret(id, this.settings.secretOverlapMs);
    if (!rotated) throw notFound(id);
    return rotated;
  }

  /** @throws UserError `WEBHOOK_NOT_FOUND`. */
  async deliveries(id: string, options: { status?: DeliveryStatus; limit?: number } = {}): Promise<Delivery[]> {
    await this.get(id);
    return this.store.listDeliveries(id, { status: options.status, limit: options.limit ?? 50 });
  }

  /**
   * Sends a delivery's event again, as a new delivery with its own attempts (same `webhook-id`, so a
   * receiver that already processed it can tell).
   * @throws UserError `WEBHOOK_NOT_FOUND`, `DELIVERY_NOT_FOUND`, `WEBHOOK_DISABLED`.
   */
  async redeliver(webhookId: string, deliveryId: string): Promise<Delivery> {
    const webhook = await this.enabled(webhookId);
    const delivery = await this.store.getDelivery(deliveryId);
    if (!delivery || delivery.webhookId !== webhook.id) {
      throw new UserError('DELIVERY_NOT_FOUND', `webhook ${webhookId} has no delivery ${deliveryId}; see GET /v1/webhooks/${webhookId}/deliveries`);
    }
    const id = await this.publisher.deliverAgain(delivery.eventId, webhook.id, 'redeliver');
    return (await this.store.getDelivery(id))!;
  }

  /**
   * Re-sends every event whose latest delivery to this webhook failed at or after `since`.
   * @returns the new deliveries' ids (empty when nothing failed).
   * @throws UserError `WEBHOOK_NOT_FOUND`, `WEBHOOK_DISABLED`.
   */
  async recover(webhookId: string, since: Date): Promise<string[]> {
    const webhook = await this.enabled(webhookId);
    const ids: string[] = [];
    for (const eventId of await this.store.failedEventsSince(webhook.id, since)) {
      ids.push(await this.publisher.deliverAgain(eventId, webhook.id, 'recover'));
    }
    return ids;
  }

  private async enabled(id: string): Promise<Webhook> {
    const webhook = await this.get(id);
    if (webhook.disabled) {
      throw new UserError(
        'WEBHOOK_DISABLED',
        `webhook ${id} is disabled (${webhook.disabledReason ?? 'no reason recorded'}); enable it first with PATCH /v1/webhooks/${id} {"disabled": false}`,
      );
    }
    return webhook;
  }
}
