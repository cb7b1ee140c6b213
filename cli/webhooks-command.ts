/**
 * `sluice webhooks …`: webhook subscriptions from the command line, on the same metadata database
 * and Temporal as the gateway (no gateway needs to run to subscribe; one must run to deliver).
 *
 * ```sh
 * sluice webhooks add https://hooks.example.com/sluice --events run.succeeded,run.failed --description "ops channel"
 *   # → wh_… and its whsec_… secret (shown once)
 * sluice webhooks list
 * sluice webhooks deliveries wh_… --status failed
 * sluice webhooks redeliver wh_… dlv_…
 * sluice webhooks recover wh_… --since 2026-11-20T00:00:00Z
 * sluice webhooks rotate-secret wh_…
 * sluice webhooks rm wh_…
 * ```
 *
 * URLs pass the same SSRF guard as the API (`gateway.webhooks.allow_http`, `allowlist`). Refused
 * requests (unsafe URL, unknown id, bad event type) exit 2 with `error: <message>`. `--json` prints
 * exactly the API's JSON.
 */
import type { Command } from 'commander';
import { Sluice } from '../client/sluice';
import { UserError } from '../common/errors';
import { createLogger } from '../common/logger';
import { gatewaySettings, requireDatabaseUrl } from '../config/sluice-config';
import { migrate } from '../db/migrations';
import { createPool } from '../db/pg-pool';
import { deliveryJson, webhookJson } from '../webhook-gateway/create-gateway-app';
import { EVENT_TYPES, type EventType } from '../webhooks/events';
import { EventPublisher, webhooksTaskQueue } from '../webhooks/event-publisher';
import { WebhookService } from '../webhooks/webhook-service';
import type { DeliveryStatus } from '../webhooks/webhook-store';
import { configFrom } from './cli-config';
import { wholeNumber } from './number-options';

/** Opens the metadata database and Temporal, runs `body`, and closes both. */
async function withWebhooks<T>(command: Command, body: (service: WebhookService) => Promise<T>): Promise<T> {
  const config = configFrom(command);
  const pool = createPool({ connectionString: requireDatabaseUrl(config), max: 2, application_name: 'sluice:cli' }, { label: 'the metadata database', logger: createLogger('sluice-cli', 'warn') });
  const sluice = new Sluice({ address: config.temporal.address, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue, databaseUrl: config.databaseUrl });
  try {
    await migrate(pool);
    const publisher = new EventPublisher(pool, sluice.client, webhooksTaskQueue(config.temporal.taskQueue), createLogger('sluice-cli'));
    return await body(new WebhookService(publisher, gatewaySettings(config).webhooks));
  } finally {
    await sluice.close();
    await pool.end();
  }
}

/** `--events a,b` → validated event types. */
function eventList(text: string): EventType[] {
  const events = text.split(',').map((e) => e.trim()).filter(Boolean);
  const unknown = events.filter((e) => !(EVENT_TYPES as readonly string[]).includes(e));
  if (unknown.length > 0) throw new UserError('INVALID_EVENT_TYPE', `unknown event type ${unknown.map((e) => `"${e}"`).join(', ')}; known: ${EVENT_TYPES.join(', ')}`);
  return events as EventType[];
}

function since(text: string): Date {
  const date = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(date.getTime())) {
    throw new UserError('INVALID_SINCE', `--since must be an ISO 8601 time, e.g. 2026-11-20T00:00:00Z, not "${text}"`);
  }
  return date;
}

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const printJson = (value: unknown): void => print(JSON.stringify(value));

/** Adds `sluice webhooks add|list|rm|deliveries|redeliver|recover|rotate-secret` to a program. */
export function addWebhooksCommands(program: Command): void {
  const webhooks = program.command('webhooks').description('subscribe URLs to run events; inspect and replay deliveries');

  webhooks
    .command('add')
    .description('subscribe a URL (https; public addresses unless gateway.webhooks.allowlist names it); prints its whsec_ secret once')
    .argument('<url>', 'the endpoint')
    .option('--events <types>', `comma-separated event types (default: all): ${EVENT_TYPES.join(', ')}`, eventList)
    .option('--description <text>', 'free text for people')
    .option('--json', 'print a JSON object (with the secret)')
    .action(async (url: string, options: { events?: EventType[]; description?: string; json?: boolean }, command: Command) => {
      const { webhook, secret } = await withWebhooks(command, (service) => service.create({ url, events: options.events, description: options.description ?? null }));
      if (options.json) return printJson({ ...webhookJson(webhook), secret });
      print(`${webhook.id}  ${webhook.url}  events: ${webhook.events.length > 0 ? webhook.events.join(',') : 'all'}`);
      print(`secret: ${secret}`);
      print('keep the secret now: it is not shown again (sluice webhooks rotate-secret makes a new one)');
    });

  webhooks
    .command('list')
    .description('list webhooks (never their secrets)')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }, command: Command) => {
      const list = await withWebhooks(command, (service) => service.list());
      if (options.json) return printJson(list.map(webhookJson));
      if (list.length === 0) return print('no webhooks; add one with: sluice webhooks add https://…');
      for (const w of list) {
        const state = w.disabled ? `DISABLED (${w.disabledReason ?? ''})` : w.failingSince ? `failing since ${w.failingSince.toISOString()}` : 'enabled';
        print(`${w.id}  ${w.url}  events: ${w.events.length > 0 ? w.events.join(',') : 'all'}  ${state}`);
      }
    });

  webhooks
    .command('rm')
    .description('remove a webhook; its pending deliveries stop, its delivery log is kept')
    .argument('<webhook-id>', 'wh_…')
    .action(async (id: string, _options: unknown, command: Command) => {
      await withWebhooks(command, (service) => service.remove(id));
      print(`removed ${id}`);
    });

  webhooks
    .command('deliveries')
    .description("a webhook's deliveries, newest first, with every attempt")
    .argument('<webhook-id>', 'wh_…')
    .option('--status <status>', 'only pending, succeeded or failed')
    .option('--limit <n>', 'at most n (1–500)', wholeNumber({ min: 1, max: 500 }), 20)
    .option('--json', 'print a JSON array')
    .action(async (id: string, options: { status?: string; limit: number; json?: boolean }, command: Command) => {
      if (options.status !== undefined && !['pending', 'succeeded', 'failed'].includes(options.status)) {
        throw new UserError('INVALID_STATUS', `--status must be pending, succeeded or failed, not "${options.status}"`);
      }
      const list = await withWebhooks(command, (service) => service.deliveries(id, { status: options.status as DeliveryStatus | undefined, limit: options.limit }));
      if (options.json) return printJson(list.map(deliveryJson));
      if (list.length === 0) return print('no deliveries');
      for (const d of list) {
        print(`${d.id}  ${d.eventType.padEnd(18)} ${d.status.padEnd(9)} ${d.trigger.padEnd(9)} event ${d.eventId}`);
        for (const a of d.attempts) {
          const next = a.nextRetryAt ? `  next retry ${a.nextRetryAt.toISOString()}` : '';
          print(`    #${a.attempt} ${a.attemptedAt.toISOString()}  ${String(a.httpStatus ?? '-').padEnd(3)} ${String(a.latencyMs).padStart(6)} ms  ${a.error ?? 'ok'}${next}`);
        }
      }
    });

  webhooks
    .command('redeliver')
    .description("send a delivery's event again, as a new delivery")
    .argument('<webhook-id>', 'wh_…')
    .argument('<delivery-id>', 'dlv_…')
    .option('--json', 'print the new delivery as JSON')
    .action(async (id: string, deliveryId: string, options: { json?: boolean }, command: Command) => {
      const delivery = await withWebhooks(command, (service) => service.redeliver(id, deliveryId));
      if (options.json) return printJson(deliveryJson(delivery));
      print(`redelivering event ${delivery.eventId} as ${delivery.id}`);
    });

  webhooks
    .command('recover')
    .description('re-send every event whose latest delivery to this webhook failed since a time')
    .argument('<webhook-id>', 'wh_…')
    .requiredOption('--since <time>', 'ISO 8601 time', since)
    .option('--json', 'print a JSON object')
    .action(async (id: string, options: { since: Date; json?: boolean }, command: Command) => {
      const ids = await withWebhooks(command, (service) => service.recover(id, options.since));
      if (options.json) return printJson({ id, since: options.since.toISOString(), deliveries: ids });
      print(ids.length === 0 ? `nothing failed since ${options.since.toISOString()}` : `re-sending ${ids.length} event(s): ${ids.join(' ')}`);
    });

  webhooks
    .command('rotate-secret')
    .description('make a new secret; the previous one keeps signing for gateway.webhooks.secret_overlap (24 h)')
    .argument('<webhook-id>', 'wh_…')
    .option('--json', 'print a JSON object')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const rotated = await withWebhooks(command, (service) => service.rotateSecret(id));
      if (options.json) return printJson({ id, secret: rotated.secret, previous_secret_expires_at: rotated.previousSecretExpiresAt.toISOString() });
      print(`secret: ${rotated.secret}`);
      print(`the previous secret also signs until ${rotated.previousSecretExpiresAt.toISOString()}`);
    });
}
