/**
 * The gateway's Express app: the runs API under `/v1`, health, readiness and metrics.
 * Handlers parse and validate (zod), call the client SDK, and map domain errors to status codes
 * (`errors.ts`); nothing here orchestrates. Dependencies are injected, so tests pass real ones.
 *
 * @example
 * ```ts
 * const app = createGatewayApp({ sluice, tokens: gatewaySettings(config).tokens, logger, pool, webhooks });
 * const server = await startGatewayServer(app, { port: 8700, host: '127.0.0.1' });
 * ```
 *
 * | route | scope | answer |
 * |---|---|---|
 * | `POST /v1/runs` | runs:write | 201 the run (`dry_run: true`: a dry run; `rejects_of`: a reprocess); 409 repeated source_path, run in progress, `REJECTS_OF_REPROCESSED` / `REJECTS_OF_CONFLICT`; 422 unknown flow version, `REJECTS_OF_INVALID` / `REJECTS_OF_UNSUPPORTED` |
 * | `POST /v1/flows/diff` | runs:write | 200 the diff report of two versions of one flow on one source_path (waits for it); 422 different flows or sources |
 * | `GET /v1/runs` | runs:read | 200 `{ runs, next_cursor }` from Temporal visibility, newest first (filters: flow, flow_version, status, started_after, started_before) |
 * | `GET /v1/flows` | runs:read | 200 `{ flows: [{ name, versions }] }`: every flow and its versions, newest first, each with its spec as published |
 * | `GET /v1/runs/:id` | runs:read | 200 the run (status from the workflow query, else the search attribute) |
 * | `POST /v1/runs/:id/cancel` | runs:write | 202 cancellation requested; the run ends FAILED, `CANCELLED` |
 * | `GET /v1/runs/:id/events?after=` | runs:read | 200 `{ events, next_after }`: every transition of the run, in order (the pull fallback) |
 * | `GET /v1/runs/:id/rejects?rule=&field=&limit=&cursor=` | runs:read | 200 `{ rejects, next_cursor }`: the run's rejects in row order (client/rejects.ts) |
 * | `GET /v1/runs/:id/rejects/summary` | runs:read | 200 rows rejected, errors by field and rule, most frequent messages |
 * | `POST /v1/webhooks` | webhooks:write | 201 the webhook and its `whsec_…` secret (shown once); 422 unsafe URL |
 * | `GET /v1/webhooks`, `GET /v1/webhooks/:id` | webhooks:read | the webhooks (never their secrets) |
 * | `PATCH /v1/webhooks/:id`, `DELETE /v1/webhooks/:id` | webhooks:write | 200 updated; 204 deleted |
 * | `POST /v1/webhooks/:id/rotate-secret` | webhooks:write | 200 the new secret; the old one signs for 24 h more |
 * | `GET /v1/webhooks/:id/deliveries` | webhooks:read | deliveries, newest first, each with its attempts |
 * | `POST /v1/webhooks/:id/deliveries/:delivery_id/redeliver` | webhooks:write | 202 the new delivery |
 * | `POST /v1/webhooks/:id/recover` | webhooks:write | 202 `{ deliveries }`: every event that failed since `since`, sent again |
 * | `GET /v1/secrets` | secrets:read | 200 `{ secrets }`: names, scopes, owners and times of the org's secrets and the token user's own; never values |
 * | `PUT /v1/secrets/:scope/:name` | secrets:write | 201 created / 200 replaced (`{ value }` in, never out); 403 `ADMIN_REQUIRED` for a member writing org |
 * | `DELETE /v1/secrets/:scope/:name` | secrets:write | 204 deleted; 403 `ADMIN_REQUIRED`; 404 `SECRET_NOT_FOUND` |
 * | `GET /v1/openapi.json` | runs:read | the OpenAPI 3.1 document |
 * | `GET /healthz`, `GET /readyz`, `GET /metrics` | none | liveness, readiness (Temporal + metadata Postgres), Prometheus |
 * | `GET /ui/…` | none (static files; the console calls the API above with the user's token) | the console (console-router.ts) |
 */
import { randomUUID } from 'node:crypto';
import express, { type Express, type Request } from 'express';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Sluice, SluiceRun } from '../client/sluice';
import type { GatewayToken } from '../config/sluice-config';
import type { FlowVersion } from '../flows/flow-versions';
import { lastRunEvent, listRunEvents, type StoredEvent } from '../webhooks/events';
import type { Delivery, Webhook } from '../webhooks/webhook-store';
import type { WebhookService } from '../webhooks/webhook-service';
import {
  createRunBody,
  flowDiffBody,
  createWebhookBody,
  deliveryParams,
  listDeliveriesQuery,
  listRunsQuery,
  recoverBody,
  runEventsQuery,
  runIdParams,
  runRejectsQuery,
  putSecretBody,
  secretParams,
  updateWebhookBody,
  webhookIdParams,
} from './api-schemas';
import { actorOf, requireScope } from './auth';
import { SecretStore, secretJson } from '../connectors/secret-store';
import { errorBody, errorHandler, HttpError, notFound, validationError } from './errors';
import { consoleRouter } from './console-router';
import { createGatewayMetrics, type GatewayMetrics } from './metrics';
import { openApiDocument } from './openapi';
import { runSummaryJson } from '../client/run-json';
import { describeRun } from '../common/run-reader';
import { rejectsPageJson, rejectsSummaryJson } from '../client/rejects';

export interface GatewayOptions {
  /** The client SDK the handlers call (its connection and task queue are the gateway's). */
  sluice: Sluice;
  /** Accepted API tokens (hashed), from `gateway.tokens` in config. */
  tokens: readonly GatewayToken[];
  logger: Logger;
  /** How long each readiness check may take, in ms. @default 2000 */
  readinessTimeoutMs?: number;
  /** The metadata database (migrated): run events; `/readyz` checks it with `SELECT 1`. */
  pool: Pool;
  /** Webhook subscriptions and deliveries. */
  webhooks: WebhookService;
  /** Shared with the delivery worker, so `/metrics` shows deliveries; a fresh registry when absent. */
  metrics?: GatewayMetrics;
  /** The secrets store (`/v1/secrets`). @default one on `pool` with no master key (listing and deleting work; setting fails `NO_MASTER_KEY`) */
  secrets?: SecretStore;
  /** The built console served at `/ui` (console-router.ts); `false`: no console. @default dist/console */
  consoleDir?: string | false;
  /** The Temporal UI's base URL and namespace, for the console's run links. */
  temporalUi?: { url: string; namespace: string };
}

/**
 * A run as the API returns it. `status_source` says where the status came from: the workflow (`run`:
 * its result or the `metadata` query), else the run's last recorded event (`event`), else the
 * `SluiceStatus` search attribute. `metadata` is null when no worker answered.
 */
export interface RunJson {
  id: string;
  status: string;
  status_source: 'run' | 'event' | 'search_attribute';
  flow_version: string | null;
  source_path: string | null;
  rows: unknown;
  metadata: unknown;
}

function runJson(run: SluiceRun, known: { flowVersion?: string; sourcePath?: string } = {}, last?: StoredEvent | null): RunJson {
  const fromEvent = !run.metadata && last && 'run_id' in last.payload.data ? last.payload.data : null;
  return {
    id: run.id,
    status: fromEvent?.status ?? run.status,
    status_source: run.metadata ? 'run' : fromEvent ? 'event' : 'search_attribute',
    flow_version: run.metadata?.run.flow_version ?? fromEvent?.flow_version ?? known.flowVersion ?? null,
    source_path: run.metadata?.run.source_path ?? fromEvent?.source_path ?? known.sourcePath ?? null,
    rows: run.metadata?.rows ?? fromEvent?.rows ?? null,
    metadata: run.metadata ?? null,
  };
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

/** A webhook as the API returns it; never its secret. */
export function webhookJson(webhook: Webhook) {
  return {
    id: webhook.id,
    url: webhook.url,
    description: webhook.description,
    events: webhook.events,
    disabled: webhook.disabled,
    disabled_reason: webhook.disabledReason,
    disabled_at: iso(webhook.disabledAt),
    failing_since: iso(webhook.failingSince),
    previous_secret_expires_at: iso(webhook.previousSecretExpiresAt),
    created_at: webhook.createdAt.toISOString(),
    updated_at: webhook.updatedAt.toISOString(),
  };
}

/** A delivery with its attempts, as the API returns it. */
export function deliveryJson(delivery: Delivery) {
  return {
    id: delivery.id,
    webhook_id: delivery.webhookId,
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    trigger: delivery.trigger,
    status: delivery.status,
    attempts: delivery.attempts.map((a) => ({
      attempt: a.attempt,
      attempted_at: a.attemptedAt.toISOString(),
      http_status: a.httpStatus,
      latency_ms: a.latencyMs,
      error: a.error,
      response: a.response,
      next_retry_at: iso(a.nextRetryAt),
    })),
    next_attempt_at: iso(delivery.nextAttemptAt),
    last_error: delivery.lastError,
    created_at: delivery.createdAt.toISOString(),
    updated_at: delivery.updatedAt.toISOString(),
  };
}

/** A flow version as `GET /v1/flows` lists it: its spec as published (`source_text`) and as stored (`spec`). */
export function flowVersionJson(version: FlowVersion) {
  return {
    id: version.id,
    flow: version.flow,
    version: version.version,
    content_hash: version.contentHash,
    created_at: new Date(version.createdAt).toISOString(),
    source_file: version.sourceFile,
    source_text: version.sourceText,
    spec: version.spec,
  };
}

const eventJson = (event: StoredEvent) => ({ id: event.id, ...event.payload });

function parse<T extends z.ZodType>(schema: T, where: 'body' | 'query' | 'path', value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (!parsed.success) throw validationError(where, parsed.error);
  return parsed.data;
}

const idOf = (req: Request) => parse(runIdParams, 'path', req.params).id;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Builds the app. It holds no connections of its own: close the `sluice` client after the server. */
export function createGatewayApp(options: GatewayOptions): Express {
  const { sluice, tokens, logger, pool, webhooks } = options;
  const readinessTimeoutMs = options.readinessTimeoutMs ?? 2000;
  const metrics = options.metrics ?? createGatewayMetrics();
  const read = requireScope(tokens, 'runs:read');
  const write = requireScope(tokens, 'runs:write');
  const readWebhooks = requireScope(tokens, 'webhooks:read');
  const writeWebhooks = requireScope(tokens, 'webhooks:write');
  const readSecrets = requireScope(tokens, 'secrets:read');
  const writeSecrets = requireScope(tokens, 'secrets:write');
  const secrets = options.secrets ?? new SecretStore(pool, () => null);
  const requireJson = (req: Request) => {
    if (!req.is('application/json')) {
      const message = 'expected a JSON object with Content-Type: application/json';
      throw new HttpError(400, 'VALIDATION_FAILED', `invalid request body: (body): ${message}`, { issues: [{ path: '(body)', message }] });
    }
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use((req, res, next) => {
    res.locals.requestId = req.get('x-request-id')?.slice(0, 128) || randomUUID();
    res.set('X-Request-Id', String(res.locals.requestId));
    next();
  });
  app.use(metrics.middleware);
  app.use(express.json({ limit: '64kb', strict: true }));

  app.post('/v1/runs', write, async (req, res) => {
    requireJson(req);
    const body = parse(createRunBody, 'body', req.body);
    const startedBy = actorOf(res.locals).user;
    const run = await sluice.run({
      flowVersion: body.flow_version,
      ...(body.rejects_of !== undefined ? { rejectsOf: body.rejects_of } : { sourcePath: body.source_path }),
      runMetadata: body.run_metadata,
      forceRerun: body.force_rerun,
      dryRun: body.dry_run,
      startedBy,
    });
    logger.info({ runId: run.id, flowVersion: body.flow_version, token: res.locals.tokenName, startedBy }, 'run started through the gateway');
    res.status(201).location(`/v1/runs/${encodeURIComponent(run.id)}`).json(runJson(run, { flowVersion: body.flow_version, sourcePath: body.source_path ?? `rejects-of:${body.rejects_of}` }));
  });

  app.post('/v1/flows/diff', write, async (req, res) => {
    requireJson(req);
    const body = parse(flowDiffBody, 'body', req.body);
    // Waits for the diff (it stages and maps the source twice): set the client's timeout accordingly.
    const report = await sluice.diffFlowVersions({ versionA: body.version_a, versionB: body.version_b, sourcePath: body.source_path });
    logger.info({ diffId: report.diff_id, token: res.locals.tokenName }, 'flow versions diffed through the gateway');
    res.status(200).json(report);
  });

  app.get('/v1/runs', read, async (req, res) => {
    const query = parse(listRunsQuery, 'query', req.query);
    const page = await sluice.listRunsPage({
      flow: query.flow,
      flowVersion: query.flow_version,
      status: query.status,
      startedBy: query.started_by,
      startedAfter: query.started_after ? new Date(query.started_after) : undefined,
      startedBefore: query.started_before ? new Date(query.started_before) : undefined,
      limit: query.limit,
      cursor: query.cursor,
    });
    res.json({
      runs: page.runs.map(runSummaryJson),
      next_cursor: page.nextCursor ?? null,
    });
  });

  app.get('/v1/flows', read, async (_req, res) => {
    const versions = await (await sluice.flowVersions()).list();
    const flows = new Map<string, ReturnType<typeof flowVersionJson>[]>();
    for (const version of versions) flows.set(version.flow, [...(flows.get(version.flow) ?? []), flowVersionJson(version)]);
    res.json({ flows: [...flows].map(([name, list]) => ({ name, versions: list })) });
  });

  app.get('/v1/runs/:id', read, async (req, res) => {
    const run = await sluice.getRun(idOf(req));
    // No worker answered: the last recorded event is fresher than the search attribute.
    const last = run.metadata ? null : await lastRunEvent(pool, run.id);
    res.json(runJson(run, {}, last));
  });

  app.get('/v1/runs/:id/events', read, async (req, res) => {
    const id = idOf(req);
    const query = parse(runEventsQuery, 'query', req.query);
    const events = await listRunEvents(pool, id, { after: query.after, limit: query.limit ?? 100 });
    if (events === null) throw new HttpError(404, 'EVENT_NOT_FOUND', `run ${id} has no event ${query.after}; pass the id of an event of this run as after, or omit it`);
    // 404 RUN_NOT_FOUND for an unknown run. A describe, not a workflow query: a run no worker has picked up yet
    // (the console polls such runs every second) answers at once.
    if (events.length === 0 && !query.after) await describeRun(sluice.client.workflow.getHandle(id), id);
    res.json({ events: events.map(eventJson), next_after: events.at(-1)?.id ?? query.after ?? null });
  });

  app.get('/v1/runs/:id/rejects', read, async (req, res) => {
    const query = parse(runRejectsQuery, 'query', req.query);
    res.json(rejectsPageJson(await sluice.rejects(idOf(req), query)));
  });

  app.get('/v1/runs/:id/rejects/summary', read, async (req, res) => {
    res.json(rejectsSummaryJson(await sluice.rejectsSummary(idOf(req))));
  });

  app.post('/v1/runs/:id/cancel', write, async (req, res) => {
    const id = idOf(req);
    await sluice.cancel(id);
    logger.info({ runId: id, token: res.locals.tokenName }, 'run cancellation requested through the gateway');
    res.status(202).json({ id, cancel_requested: true });
  });

  const webhookIdOf = (req: Request) => parse(webhookIdParams, 'path', req.params).id;

  app.post('/v1/webhooks', writeWebhooks, async (req, res) => {
    requireJson(req);
    const body = parse(createWebhookBody, 'body', req.body);
    const { webhook, secret } = await webhooks.create(body);
    logger.info({ webhookId: webhook.id, url: webhook.url, token: res.locals.tokenName }, 'webhook created');
    res.status(201).location(`/v1/webhooks/${webhook.id}`).json({ ...webhookJson(webhook), secret });
  });

  app.get('/v1/webhooks', readWebhooks, async (_req, res) => {
    res.json({ webhooks: (await webhooks.list()).map(webhookJson) });
  });

  app.get('/v1/webhooks/:id', readWebhooks, async (req, res) => {
    res.json(webhookJson(await webhooks.get(webhookIdOf(req))));
  });

  app.patch('/v1/webhooks/:id', writeWebhooks, async (req, res) => {
    requireJson(req);
    const id = webhookIdOf(req);
    const body = parse(updateWebhookBody, 'body', req.body);
    const webhook = await webhooks.update(id, body);
    logger.info({ webhookId: id, changed: Object.keys(body), token: res.locals.tokenName }, 'webhook updated');
    res.json(webhookJson(webhook));
  });

  app.delete('/v1/webhooks/:id', writeWebhooks, async (req, res) => {
    const id = webhookIdOf(req);
    await webhooks.remove(id);
    logger.info({ webhookId: id, token: res.locals.tokenName }, 'webhook deleted');
    res.status(204).end();
  });

  app.post('/v1/webhooks/:id/rotate-secret', writeWebhooks, async (req, res) => {
    const id = webhookIdOf(req);
    const rotated = await webhooks.rotateSecret(id);
    logger.info({ webhookId: id, token: res.locals.tokenName }, 'webhook secret rotated');
    res.json({ id, secret: rotated.secret, previous_secret_expires_at: rotated.previousSecretExpiresAt.toISOString() });
  });

  app.get('/v1/webhooks/:id/deliveries', readWebhooks, async (req, res) => {
    const query = parse(listDeliveriesQuery, 'query', req.query);
    res.json({ deliveries: (await webhooks.deliveries(webhookIdOf(req), query)).map(deliveryJson) });
  });

  app.post('/v1/webhooks/:id/deliveries/:delivery_id/redeliver', writeWebhooks, async (req, res) => {
    const params = parse(deliveryParams, 'path', req.params);
    const delivery = await webhooks.redeliver(params.id, params.delivery_id);
    logger.info({ webhookId: params.id, of: params.delivery_id, deliveryId: delivery.id, token: res.locals.tokenName }, 'webhook redelivery requested');
    res.status(202).json(deliveryJson(delivery));
  });

  app.post('/v1/webhooks/:id/recover', writeWebhooks, async (req, res) => {
    requireJson(req);
    const id = webhookIdOf(req);
    const body = parse(recoverBody, 'body', req.body);
    const deliveries = await webhooks.recover(id, new Date(body.since));
    logger.info({ webhookId: id, since: body.since, deliveries: deliveries.length, token: res.locals.tokenName }, 'webhook recovery requested');
    res.status(202).json({ id, since: body.since, deliveries });
  });

  app.get('/v1/secrets', readSecrets, async (_req, res) => {
    res.json({ secrets: (await secrets.list(actorOf(res.locals))).map(secretJson) });
  });

  app.put('/v1/secrets/:scope/:name', writeSecrets, async (req, res) => {
    requireJson(req);
    const params = parse(secretParams, 'path', req.params);
    const body = parse(putSecretBody, 'body', req.body);
    const actor = actorOf(res.locals);
    const { created, entry } = await secrets.set(actor, params.scope, params.name, body.value);
    logger.info({ secret: params.name, scope: params.scope, user: actor.user, created, token: res.locals.tokenName }, created ? 'secret created' : 'secret replaced');
    res.status(created ? 201 : 200).json(secretJson(entry));
  });

  app.delete('/v1/secrets/:scope/:name', writeSecrets, async (req, res) => {
    const params = parse(secretParams, 'path', req.params);
    const actor = actorOf(res.locals);
    await secrets.remove(actor, params.scope, params.name);
    logger.info({ secret: params.name, scope: params.scope, user: actor.user, token: res.locals.tokenName }, 'secret deleted');
    res.status(204).end();
  });

  app.get('/v1/openapi.json', read, (_req, res) => {
    res.json(openApiDocument());
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const checks: Record<string, () => Promise<unknown>> = {
      temporal: () => sluice.client.workflowService.getSystemInfo({}),
      postgres: () => pool.query('SELECT 1'),
    };
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          await withTimeout(check(), readinessTimeoutMs, name);
          return [name, { ok: true }] as const;
        } catch (error) {
          return [name, { ok: false, error: (error as Error).message.split('\n')[0] }] as const;
        }
      }),
    );
    const failing = results.filter(([, r]) => !r.ok).map(([name]) => name);
    const details = Object.fromEntries(results);
    if (failing.length === 0) {
      res.json({ status: 'ready', checks: details });
      return;
    }
    logger.warn({ checks: details }, 'gateway not ready');
    res.status(503).json(errorBody('NOT_READY', `not ready: ${failing.join(' and ')} unreachable`, { checks: details }));
  });

  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  if (options.consoleDir !== false) app.use('/ui', consoleRouter({ dir: options.consoleDir, temporalUiUrl: options.temporalUi?.url, namespace: options.temporalUi?.namespace }));

  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}

