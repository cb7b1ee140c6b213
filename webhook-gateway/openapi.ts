/**
 * The gateway's OpenAPI 3.1 document, served at `GET /v1/openapi.json`. Request schemas are
 * generated from the zod schemas the handlers validate with (`api-schemas.ts`); a unit test checks
 * the document against the OpenAPI 3.1 schema and that its paths are exactly the app's routes.
 */
import { z } from 'zod';
import { RUN_STATUSES } from '../common/run-model';
import { createRunBody, listRunsQuery, runIdParams } from './api-schemas';

type JsonSchema = Record<string, unknown>;

/** A zod schema as a JSON Schema 2020-12 object (OpenAPI 3.1's dialect), without `$schema`. */
function jsonSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

/** OpenAPI parameters (`in: query|path`) from the properties of a zod object. */
function parameters(schema: z.ZodObject, where: 'query' | 'path'): JsonSchema[] {
  const object = jsonSchema(schema) as { properties: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(object.properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: where, required: where === 'path' || (object.required ?? []).includes(name), ...(description ? { description } : {}), schema: rest };
  });
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema, description: string) => ({ description, content: { 'application/json': { schema } } });
const errorResponse = (description: string) => json(ref('Error'), description);

const AUTH_ERRORS = {
  '401': errorResponse('No bearer token, or not a valid one (`UNAUTHENTICATED`).'),
  '403': errorResponse('The token lacks the scope of this route (`INSUFFICIENT_SCOPE`).'),
};

/** Builds the document (a fresh object each call). */
export function openApiDocument(): JsonSchema {
  const runId = parameters(runIdParams, 'path');
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sluice gateway',
      version: '1.0.0',
      description:
        'Start, follow, list and cancel Sluice runs. Every `/v1` route needs `Authorization: Bearer <token>`: ' +
        '`runs:read` for GET, `runs:write` for POST. Errors are `{ "error": { "code", "message", "details" } }`.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token from gateway.tokens (stored as its sha256).' } },
      schemas: {
        CreateRun: jsonSchema(createRunBody),
        RunStatus: { type: 'string', enum: [...RUN_STATUSES] },
        Run: {
          type: 'object',
          required: ['id', 'status', 'flow_version', 'source_path', 'metadata'],
          properties: {
            id: { type: 'string' },
            status: ref('RunStatus'),
            flow_version: { type: ['string', 'null'], description: 'null while no worker has answered the metadata query' },
            source_path: { type: ['string', 'null'] },
            metadata: {
              type: ['object', 'null'],
              description: 'The `metadata` workflow query: run, status, rows, rejects, steps, error. null before a worker answers.',
            },
          },
        },
        RunSummary: {
          type: 'object',
          required: ['id', 'execution_id', 'flow_version', 'status', 'started_at', 'closed_at'],
          properties: {
            id: { type: 'string' },
            execution_id: { type: 'string' },
            flow_version: { type: ['string', 'null'] },
            status: { oneOf: [ref('RunStatus'), { type: 'null' }] },
            started_at: { type: 'string', format: 'date-time' },
            closed_at: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        RunPage: {
          type: 'object',
          required: ['runs', 'next_cursor'],
          properties: { runs: { type: 'array', items: ref('RunSummary') }, next_cursor: { type: ['string', 'null'] } },
        },
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message', 'details'],
              properties: {
                code: { type: 'string', description: 'Stable, e.g. REPEATED_SOURCE_PATH, VALIDATION_FAILED.' },
                message: { type: 'string' },
                details: { type: 'object', description: 'VALIDATION_FAILED: `issues: [{ path, message }]`, every problem at once.' },
              },
            },
          },
        },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/runs': {
        post: {
          operationId: 'createRun',
          summary: 'Start a run of a flow version on a source_path',
          requestBody: { required: true, content: { 'application/json': { schema: ref('CreateRun') } } },
          responses: {
            '201': json(ref('Run'), 'Started; `Location` names the run.'),
            '400': errorResponse('Invalid body (`VALIDATION_FAILED`, every problem with its path) or `INVALID_*`.'),
            ...AUTH_ERRORS,
            '409': errorResponse('`REPEATED_SOURCE_PATH` (already SUCCEEDED or PARTIAL_FAILED; pass force_rerun) or `RUN_IN_PROGRESS`.'),
            '422': errorResponse('`UNKNOWN_FLOW_VERSION`: no such flow version.'),
          },
        },
        get: {
          operationId: 'listRuns',
          summary: 'List runs from Temporal visibility, newest first',
          parameters: parameters(listRunsQuery, 'query'),
          responses: {
            '200': json(ref('RunPage'), 'One page; pass `next_cursor` as `cursor` for the next.'),
            '400': errorResponse('Invalid query string or cursor.'),
            ...AUTH_ERRORS,
          },
        },
      },
      '/v1/runs/{id}': {
        get: {
          operationId: 'getRun',
          summary: 'A run: status from the workflow query, or from the search attribute when no worker answers',
          parameters: runId,
          responses: { '200': json(ref('Run'), 'The run.'), ...AUTH_ERRORS, '404': errorResponse('`RUN_NOT_FOUND`.') },
        },
      },
      '/v1/runs/{id}/cancel': {
        post: {
          operationId: 'cancelRun',
          summary: 'Request cancellation; the run then ends FAILED with error code CANCELLED',
          parameters: runId,
          responses: {
            '202': json({ type: 'object', required: ['id', 'cancel_requested'], properties: { id: { type: 'string' }, cancel_requested: { const: true } } }, 'Cancellation requested.'),
            ...AUTH_ERRORS,
            '404': errorResponse('`RUN_NOT_FOUND`.'),
            '409': errorResponse('`RUN_NOT_RUNNING`: the run has already ended.'),
          },
        },
      },
      '/v1/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument',
          summary: 'This document',
          responses: { '200': json({ type: 'object' }, 'The OpenAPI 3.1 document.'), ...AUTH_ERRORS },
        },
      },
      '/healthz': {
        get: {
          operationId: 'getHealth',
          summary: 'Liveness: the process is up',
          security: [],
          responses: { '200': json({ type: 'object', properties: { status: { const: 'ok' } } }, 'Up.') },
        },
      },
      '/readyz': {
        get: {
          operationId: 'getReadiness',
          summary: 'Readiness: Temporal and the metadata Postgres are reachable',
          security: [],
          responses: {
            '200': json({ type: 'object', properties: { status: { const: 'ready' }, checks: { type: 'object' } } }, 'Ready.'),
            '503': errorResponse('`NOT_READY`; `details.checks` says which dependency is unreachable and why.'),
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'getMetrics',
          summary: 'Prometheus metrics',
          security: [],
          responses: { '200': { description: 'Prometheus text format.', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
    },
  };
}
