/**
 * The gateway's Express app: the runs API under `/v1`, health, readiness and metrics.
 * Handlers parse and validate (zod), call the client SDK, and map domain errors to status codes
 * (`errors.ts`); nothing here orchestrates. Dependencies are injected, so tests pass real ones.
 *
 * @example
 * ```ts
 * const app = createGatewayApp({ sluice, tokens: gatewaySettings(config).tokens, logger, databaseUrl: config.databaseUrl });
 * const server = await startGatewayServer(app, { port: 8700, host: '127.0.0.1' });
 * ```
 *
 * | route | scope | answer |
 * |---|---|---|
 * | `POST /v1/runs` | runs:write | 201 the run; 409 repeated source_path or run in progress; 422 unknown flow version |
 * | `GET /v1/runs` | runs:read | 200 `{ runs, next_cursor }` from Temporal visibility, newest first |
 * | `GET /v1/runs/:id` | runs:read | 200 the run (status from the workflow query, else the search attribute) |
 * | `POST /v1/runs/:id/cancel` | runs:write | 202 cancellation requested; the run ends FAILED, `CANCELLED` |
 * | `GET /v1/openapi.json` | runs:read | the OpenAPI 3.1 document |
 * | `GET /healthz`, `GET /readyz`, `GET /metrics` | none | liveness, readiness (Temporal + metadata Postgres), Prometheus |
 */
import { randomUUID } from 'node:crypto';
import express, { type Express, type Request } from 'express';
import { Client as PgClient } from 'pg';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Sluice, SluiceRun } from '../client/sluice';
import type { GatewayToken } from '../config/sluice-config';
import { createRunBody, listRunsQuery, runIdParams } from './api-schemas';
import { requireScope } from './auth';
import { errorBody, errorHandler, HttpError, notFound, validationError } from './errors';
import { createGatewayMetrics } from './metrics';
import { openApiDocument } from './openapi';

export interface GatewayOptions {
  /** The client SDK the handlers call (its connection and task queue are the gateway's). */
  sluice: Sluice;
  /** Accepted API tokens (hashed), from `gateway.tokens` in config. */
  tokens: readonly GatewayToken[];
  logger: Logger;
  /** The metadata Postgres `/readyz` checks; undefined makes the gateway never ready. */
  databaseUrl: string | undefined;
  /** How long each readiness check may take, in ms. @default 2000 */
  readinessTimeoutMs?: number;
}

/** A run as the API returns it. `flow_version`, `source_path` and `metadata` are null while no worker has answered. */
export interface RunJson {
  id: string;
  status: string;
  flow_version: string | null;
  source_path: string | null;
  metadata: unknown;
}

function runJson(run: SluiceRun, known: { flowVersion?: string; sourcePath?: string } = {}): RunJson {
  return {
    id: run.id,
    status: run.status,
    flow_version: run.metadata?.run.flow_version ?? known.flowVersion ?? null,
    source_path: run.metadata?.run.source_path ?? known.sourcePath ?? null,
    metadata: run.metadata ?? null,
  };
}

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
  const { sluice, tokens, logger } = options;
  const readinessTimeoutMs = options.readinessTimeoutMs ?? 2000;
  const metrics = createGatewayMetrics();
  const read = requireScope(tokens, 'runs:read');
  const write = requireScope(tokens, 'runs:write');

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
    if (!req.is('application/json')) {
      const message = 'expected a JSON object with Content-Type: application/json';
      throw new HttpError(400, 'VALIDATION_FAILED', `invalid request body: (body): ${message}`, { issues: [{ path: '(body)', message }] });
    }
    const body = parse(createRunBody, 'body', req.body);
    const run = await sluice.run({ flowVersion: body.flow_version, sourcePath: body.source_path, runMetadata: body.run_metadata, forceRerun: body.force_rerun });
    logger.info({ runId: run.id, flowVersion: body.flow_version, token: res.locals.tokenName }, 'run started through the gateway');
    res.status(201).location(`/v1/runs/${encodeURIComponent(run.id)}`).json(runJson(run, { flowVersion: body.flow_version, sourcePath: body.source_path }));
  });

  app.get('/v1/runs', read, async (req, res) => {
    const query = parse(listRunsQuery, 'query', req.query);
    const page = await sluice.listRunsPage({ flow: query.flow, flowVersion: query.flow_version, status: query.status, limit: query.limit, cursor: query.cursor });
    res.json({
      runs: page.runs.map((r) => ({
        id: r.id,
        execution_id: r.executionId,
        flow_version: r.flowVersion ?? null,
        status: r.status ?? null,
        started_at: r.startedAt.toISOString(),
        closed_at: r.closedAt?.toISOString() ?? null,
      })),
      next_cursor: page.nextCursor ?? null,
    });
  });

  app.get('/v1/runs/:id', read, async (req, res) => {
    res.json(runJson(await sluice.getRun(idOf(req))));
  });

  app.post('/v1/runs/:id/cancel', write, async (req, res) => {
    const id = idOf(req);
    await sluice.cancel(id);
    logger.info({ runId: id, token: res.locals.tokenName }, 'run cancellation requested through the gateway');
    res.status(202).json({ id, cancel_requested: true });
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
      postgres: async () => {
        if (!options.databaseUrl) throw new Error('no metadata database configured (DATABASE_URL or database_url)');
        const client = new PgClient({ connectionString: options.databaseUrl, connectionTimeoutMillis: readinessTimeoutMs });
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query('SELECT 1');
        } finally {
          await client.end().catch(() => undefined);
        }
      },
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

  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}

