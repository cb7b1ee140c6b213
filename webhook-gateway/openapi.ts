/**
 * The gateway's OpenAPI 3.1 document, served at `GET /v1/openapi.json`. Request schemas are
 * generated from the zod schemas the handlers validate with (`api-schemas.ts`); a unit test checks
 * the document against the OpenAPI 3.1 schema and that its paths are exactly the app's routes.
 */
import { z } from 'zod';
import { RUN_STATUSES } from '../common/run-model';
import { EVENT_TYPES } from '../webhooks/events';
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
  const webhookId = parameters(webhookIdParams, 'path');
  const webhookNotFound = errorResponse('`WEBHOOK_NOT_FOUND`.');
  const nullableTime = { type: ['string', 'null'], format: 'date-time' };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sluice gateway',
      version: '1.0.0',
      description:
        'Start, follow, list and cancel Sluice runs; subscribe webhooks to their transitions. Every `/v1` route needs ' +
        '`Authorization: Bearer <token>`: `runs:read` / `runs:write` for runs, `webhooks:read` / `webhooks:write` for webhooks. ' +
        'Errors are `{ "error": { "code", "message", "details" } }`. Deliveries follow the Standard Webhooks specification: ' +
        'headers `webhook-id` (the event id), `webhook-timestamp`, `webhook-signature` (HMAC-SHA256 with the `whsec_` secret).',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token from gateway.tokens (stored as its sha256).' } },
      schemas: {
        CreateRun: jsonSchema(createRunBody),
        FlowDiff: jsonSchema(flowDiffBody),
        FlowDiffReport: {
          type: 'object',
          description:
            'Two versions of one flow on one staged copy of a source_path (nothing written to the target): rows newly rejected (A accepts, B rejects, with B\'s reasons) ' +
            'and newly accepted (with A\'s reasons), changed values of rows both accept (matched by the key, else the source row number) and the spec changes. ' +
            'See docs/rejects.md "Diffing two versions".',
          required: ['flow', 'version_a', 'version_b', 'source_path', 'diff_id', 'rows', 'newly_rejected', 'newly_accepted', 'changed', 'spec'],
          properties: {
            flow: { type: 'string' },
            version_a: { type: 'string' },
            version_b: { type: 'string' },
            source_path: { type: 'string' },
            diff_id: { type: 'string', description: 'The diffFlowVersions workflow id.' },
            rows: { type: 'object', description: '`{ read, a: { mapped, rejected }, b: { mapped, rejected } }`.' },
            newly_rejected: { type: 'object', description: '`{ count, samples: [{ row, record, errors: [{ field, rule, message }] }] }` (first 20 by row).' },
            newly_accepted: { type: 'object', description: 'As newly_rejected; `errors` are A\'s reasons.' },
            changed: {
              type: 'object',
              description: '`{ matched_by: key|row, match, note?, matched, only_in_a, only_in_b, rows_changed, fields: [{ field, changed, samples: [{ match, old, new }] }] }`.',
            },
            spec: { type: 'array', items: { type: 'object', description: '`{ change, field, rule?, before?, after? }`, e.g. `type_changed`, `rule_added`, `expr_changed`, `field_removed`.' } },
          },
        },
        RunStatus: { type: 'string', enum: [...RUN_STATUSES] },
        EventType: { type: 'string', enum: [...EVENT_TYPES] },
        Event: {
          type: 'object',
          description: 'An event as stored and as delivered (the delivered body has no `id`: it is the `webhook-id` header).',
          required: ['id', 'type', 'timestamp', 'data'],
          properties: {
            id: { type: 'string', description: '`evt_…`, deterministic per (run execution, transition).' },
            type: ref('EventType'),
            timestamp: { type: 'string', format: 'date-time' },
            data: {
              type: 'object',
              description:
                'run.*: `{ run_id, status, flow_version, source_path, run_metadata, rows: { read, mapped, rejected, written } }`, plus `error: { code, message, step }` ' +
                'on run.failed and run.crashed, and `warnings: [{ code, message, step }]` on a run.succeeded that read 0 rows (EMPTY_SOURCE). ' +
                'webhook.disabled: `{ webhook_id, url, reason }`.',
            },
          },
        },
        EventPage: {
          type: 'object',
          required: ['events', 'next_after'],
          properties: {
            events: { type: 'array', items: ref('Event') },
            next_after: { type: ['string', 'null'], description: 'Pass as `after` to get only newer events.' },
          },
        },
        CreateWebhook: jsonSchema(createWebhookBody),
        UpdateWebhook: jsonSchema(updateWebhookBody),
        Recover: jsonSchema(recoverBody),
        PutSecret: jsonSchema(putSecretBody),
        Secret: {
          type: 'object',
          description: 'A secret of the secrets store, never its value.',
          required: ['name', 'scope', 'owner', 'created_at', 'created_by', 'updated_at', 'updated_by'],
          properties: {
            name: { type: 'string' },
            scope: { type: 'string', enum: ['org', 'user'] },
            owner: { type: ['string', 'null'], description: 'The owning user of a user-level secret; null for org.' },
            created_at: { type: 'string', format: 'date-time' },
            created_by: { type: 'string' },
            updated_at: { type: 'string', format: 'date-time' },
            updated_by: { type: 'string', description: 'Who last set it.' },
          },
        },
        Webhook: {
          type: 'object',
          required: ['id', 'url', 'description', 'events', 'disabled', 'disabled_reason', 'disabled_at', 'failing_since', 'previous_secret_expires_at', 'created_at', 'updated_at'],
          properties: {
            id: { type: 'string' },
            url: { type: 'string' },
            description: { type: ['string', 'null'] },
            events: { type: 'array', items: ref('EventType'), description: 'Empty: every event type.' },
            disabled: { type: 'boolean' },
            disabled_reason: { type: ['string', 'null'] },
            disabled_at: nullableTime,
            failing_since: { ...nullableTime, description: 'First failed attempt since the last success; after gateway.webhooks.disable_after (5 days) the endpoint is disabled.' },
            previous_secret_expires_at: { ...nullableTime, description: 'After a rotation, until when the previous secret also signs.' },
            created_at: { type: 'string', format: 'date-time' },
            updated_at: { type: 'string', format: 'date-time' },
          },
        },
        WebhookWithSecret: {
          allOf: [ref('Webhook'), { type: 'object', required: ['secret'], properties: { secret: { type: 'string', description: '`whsec_…`; shown only in this response.' } } }],
        },
        Delivery: {
          type: 'object',
          required: ['id', 'webhook_id', 'event_id', 'event_type', 'trigger', 'status', 'attempts', 'next_attempt_at', 'last_error', 'created_at', 'updated_at'],
          properties: {
            id: { type: 'string' },
            webhook_id: { type: 'string' },
            event_id: { type: 'string' },
            event_type: ref('EventType'),
            trigger: { type: 'string', enum: ['event', 'redeliver', 'recover'] },
            status: { type: 'string', enum: ['pending', 'succeeded', 'failed'] },
            attempts: {
              type: 'array',
              items: {
                type: 'object',
                required: ['attempt', 'attempted_at', 'http_status', 'latency_ms', 'error', 'response', 'next_retry_at'],
                properties: {
                  attempt: { type: 'integer', minimum: 1 },
                  attempted_at: { type: 'string', format: 'date-time' },
                  http_status: { type: ['integer', 'null'], description: 'null when no response came back.' },
                  latency_ms: { type: 'integer' },
                  error: { type: ['string', 'null'] },
                  response: { type: ['string', 'null'], description: 'The first 1 KiB of the response body.' },
                  next_retry_at: nullableTime,
                },
              },
            },
            next_attempt_at: nullableTime,
            last_error: { type: ['string', 'null'] },
            created_at: { type: 'string', format: 'date-time' },
            updated_at: { type: 'string', format: 'date-time' },
          },
        },
        Run: {
          type: 'object',
          required: ['id', 'status', 'status_source', 'flow_version', 'source_path', 'rows', 'metadata'],
          properties: {
            id: { type: 'string' },
            status: ref('RunStatus'),
            status_source: {
              type: 'string',
              enum: ['run', 'event', 'search_attribute'],
              description: 'Where the status came from: the workflow (result or query), else its last recorded event, else the SluiceStatus search attribute.',
            },
            rows: { type: ['object', 'null'], description: '`{ read, mapped, rejected, written }`, null when unknown.' },
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
          required: ['id', 'execution_id', 'flow_version', 'status', 'source_path', 'rows', 'started_by', 'started_at', 'closed_at'],
          properties: {
            id: { type: 'string' },
            execution_id: { type: 'string' },
            flow_version: { type: ['string', 'null'] },
            status: { oneOf: [ref('RunStatus'), { type: 'null' }] },
            source_path: { type: ['string', 'null'], description: 'From the run memo; null before its first transition.' },
            rows: { type: ['object', 'null'], description: '`{ read, mapped, rejected, written }` as of the last transition; null before the first.' },
            started_by: { type: ['string', 'null'], description: 'The user who started the run (SluiceStartedBy); null for runs from before users.' },
            started_at: { type: 'string', format: 'date-time' },
            closed_at: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        RunPage: {
          type: 'object',
          required: ['runs', 'next_cursor'],
          properties: { runs: { type: 'array', items: ref('RunSummary') }, next_cursor: { type: ['string', 'null'] } },
        },
        FlowList: {
          type: 'object',
          required: ['flows'],
          properties: {
            flows: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'versions'],
                properties: {
                  name: { type: 'string' },
                  versions: {
                    type: 'array',
                    description: 'Newest first.',
                    items: {
                      type: 'object',
                      required: ['id', 'flow', 'version', 'content_hash', 'created_at', 'source_file', 'source_text', 'spec'],
                      properties: {
                        id: { type: 'string', description: '`flow:vN`.' },
                        flow: { type: 'string' },
                        version: { type: 'integer', minimum: 1 },
                        content_hash: { type: 'string', description: 'sha256 (hex) of the normalised spec.' },
                        created_at: { type: 'string', format: 'date-time' },
                        source_file: { type: ['string', 'null'] },
                        source_text: { type: 'string', description: 'The YAML as published.' },
                        spec: { type: 'object', description: 'The parsed spec, as stored.' },
                      },
                    },
                  },
                },
              },
            },
          },
        },
        RejectError: {
          type: 'object',
          required: ['field', 'rule', 'message'],
          properties: {
            field: { type: ['string', 'null'], description: 'The target field; null for flow-level checks and dedupe.' },
            rule: { type: 'string', description: '`type`, `required`, `check`, `in`, `dedupe`, or a flow check\'s name.' },
            message: { type: 'string' },
          },
        },
        Reject: {
          type: 'object',
          required: ['row_number', 'execution_id', 'record', 'errors'],
          properties: {
            row_number: { type: 'integer', minimum: 1, description: '1-based row number in the source.' },
            execution_id: { type: 'string', description: 'The execution whose load wrote it (the run\'s latest loaded one).' },
            record: { type: 'object', description: 'The original values, by source column.' },
            errors: { type: 'array', items: ref('RejectError'), description: 'One per failed rule.' },
          },
        },
        RejectPage: {
          type: 'object',
          required: ['rejects', 'next_cursor'],
          properties: {
            rejects: { type: 'array', items: ref('Reject') },
            next_cursor: { type: ['string', 'null'], description: 'Pass as `cursor` (with the same filters) for the next page; null on the last.' },
          },
        },
        RejectsSummary: {
          type: 'object',
          required: ['run_id', 'execution_id', 'flow_version', 'status', 'location', 'rows_rejected', 'by_field_rule', 'top_messages'],
          properties: {
            run_id: { type: 'string' },
            execution_id: { type: 'string' },
            flow_version: { type: 'string' },
            status: ref('RunStatus'),
            location: { type: ['string', 'null'], description: 'Where the rejects are: `connector:schema.table` or `s3://bucket/key`; null when the run wrote nothing.' },
            rows_rejected: { type: 'integer', minimum: 0 },
            by_field_rule: {
              type: 'array',
              description: 'Errors counted by (field, rule), most frequent first; a row with several errors counts in each.',
              items: { type: 'object', required: ['field', 'rule', 'count'], properties: { field: { type: ['string', 'null'] }, rule: { type: 'string' }, count: { type: 'integer' } } },
            },
            top_messages: {
              type: 'array',
              description: 'The 10 most frequent error messages, most frequent first.',
              items: { type: 'object', required: ['message', 'count'], properties: { message: { type: 'string' }, count: { type: 'integer' } } },
            },
          },
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
          summary: 'Start a run of a flow version on a source_path, or a reprocess of an earlier run\'s rejects (`rejects_of`)',
          requestBody: { required: true, content: { 'application/json': { schema: ref('CreateRun') } } },
          responses: {
            '201': json(ref('Run'), 'Started; `Location` names the run.'),
            '400': errorResponse('Invalid body (`VALIDATION_FAILED`, every problem with its path) or `INVALID_*`.'),
            ...AUTH_ERRORS,
            '409': errorResponse(
              '`REPEATED_SOURCE_PATH` (already SUCCEEDED or PARTIAL_FAILED; pass force_rerun) or `RUN_IN_PROGRESS`; with `rejects_of`: `REJECTS_OF_REPROCESSED` (this version already reprocessed that run; pass force_rerun) or `REJECTS_OF_CONFLICT` (that reprocess is in progress).',
            ),
            '422': errorResponse(
              '`UNKNOWN_FLOW_VERSION`: no such flow version; with `rejects_of`: `REJECTS_OF_INVALID` (no such run, another flow or connector, not loaded, a dry run, no rejects) or `REJECTS_OF_UNSUPPORTED` (an s3 target, a custom map).',
            ),
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
      '/v1/flows': {
        get: {
          operationId: 'listFlows',
          summary: 'Every flow and its versions (newest first), each with its spec as published',
          responses: { '200': json(ref('FlowList'), 'The flows.'), ...AUTH_ERRORS },
        },
      },
      '/v1/flows/diff': {
        post: {
          operationId: 'diffFlowVersions',
          summary: 'Diff two versions of one flow on one source_path (both run on one staged copy; nothing written); answers when the diff is done',
          requestBody: { required: true, content: { 'application/json': { schema: ref('FlowDiff') } } },
          responses: {
            '200': json(ref('FlowDiffReport'), 'The diff report.'),
            '400': errorResponse('Invalid body (`VALIDATION_FAILED`) or `INVALID_*`.'),
            ...AUTH_ERRORS,
            '422': errorResponse('`UNKNOWN_FLOW_VERSION`, `DIFF_FLOWS_DIFFER` (versions of different flows) or `DIFF_SOURCES_DIFFER` (different source sections).'),
          },
        },
      },
      '/v1/runs/{id}': {
        get: {
          operationId: 'getRun',
          summary: 'A run: status from the workflow query; when no worker answers, from its last recorded event or the search attribute',
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
      '/v1/runs/{id}/rejects': {
        get: {
          operationId: 'listRunRejects',
          summary: "The run's rejected rows (its latest loaded execution's), in source row order, with their original values and errors",
          parameters: [...runId, ...parameters(runRejectsQuery, 'query')],
          responses: {
            '200': json(ref('RejectPage'), 'One page; pass `next_cursor` as `cursor` for the next.'),
            '400': errorResponse('Invalid query string (`VALIDATION_FAILED`) or `INVALID_CURSOR`.'),
            ...AUTH_ERRORS,
            '404': errorResponse('`RUN_NOT_FOUND`.'),
            '409': errorResponse('`REJECTS_NOT_READY`: the run is still running, or ended FAILED/CRASHED before its load.'),
            '410': errorResponse('`REJECTS_GONE`: the rejects table or object was dropped or overwritten.'),
            '422': errorResponse('`REJECTS_NOT_SUPPORTED`: the target kind cannot read rejects back (postgres, s3 and mysql can).'),
          },
        },
      },
      '/v1/runs/{id}/rejects/summary': {
        get: {
          operationId: 'summarizeRunRejects',
          summary: "The run's rejects summarised: rows rejected, errors by field and rule, most frequent messages",
          parameters: runId,
          responses: {
            '200': json(ref('RejectsSummary'), 'The summary.'),
            ...AUTH_ERRORS,
            '404': errorResponse('`RUN_NOT_FOUND`.'),
            '409': errorResponse('`REJECTS_NOT_READY`.'),
            '410': errorResponse('`REJECTS_GONE`.'),
            '422': errorResponse('`REJECTS_NOT_SUPPORTED`.'),
          },
        },
      },
      '/v1/runs/{id}/events': {
        get: {
          operationId: 'listRunEvents',
          summary: 'Every transition of the run, in order: the pull fallback to webhooks',
          parameters: [...runId, ...parameters(runEventsQuery, 'query')],
          responses: {
            '200': json(ref('EventPage'), 'The events after `after` (all of them without it), oldest first.'),
            '400': errorResponse('Invalid query string.'),
            ...AUTH_ERRORS,
            '404': errorResponse('`RUN_NOT_FOUND`, or `EVENT_NOT_FOUND` when `after` is not an event of this run.'),
          },
        },
      },
      '/v1/webhooks': {
        post: {
          operationId: 'createWebhook',
          summary: 'Subscribe a URL to events',
          requestBody: { required: true, content: { 'application/json': { schema: ref('CreateWebhook') } } },
          responses: {
            '201': json(ref('WebhookWithSecret'), 'Subscribed; the secret is shown only here.'),
            '400': errorResponse('`VALIDATION_FAILED`.'),
            ...AUTH_ERRORS,
            '422': errorResponse('`UNSAFE_WEBHOOK_URL`: not https, or resolves to a private, loopback, link-local or metadata address.'),
          },
        },
        get: {
          operationId: 'listWebhooks',
          summary: 'Every webhook (never its secret)',
          responses: {
            '200': json({ type: 'object', required: ['webhooks'], properties: { webhooks: { type: 'array', items: ref('Webhook') } } }, 'The webhooks, oldest first.'),
            ...AUTH_ERRORS,
          },
        },
      },
      '/v1/webhooks/{id}': {
        get: {
          operationId: 'getWebhook',
          summary: 'One webhook',
          parameters: webhookId,
          responses: { '200': json(ref('Webhook'), 'The webhook.'), ...AUTH_ERRORS, '404': webhookNotFound },
        },
        patch: {
          operationId: 'updateWebhook',
          summary: 'Change the URL, events or description; enable or disable',
          parameters: webhookId,
          requestBody: { required: true, content: { 'application/json': { schema: ref('UpdateWebhook') } } },
          responses: {
            '200': json(ref('Webhook'), 'Updated.'),
            '400': errorResponse('`VALIDATION_FAILED`.'),
            ...AUTH_ERRORS,
            '404': webhookNotFound,
            '422': errorResponse('`UNSAFE_WEBHOOK_URL`.'),
          },
        },
        delete: {
          operationId: 'deleteWebhook',
          summary: 'Unsubscribe; pending deliveries stop at their next attempt; the delivery log is kept',
          parameters: webhookId,
          responses: { '204': { description: 'Deleted.' }, ...AUTH_ERRORS, '404': webhookNotFound },
        },
      },
      '/v1/webhooks/{id}/rotate-secret': {
        post: {
          operationId: 'rotateWebhookSecret',
          summary: 'A new secret; the previous one also signs for 24 hours (gateway.webhooks.secret_overlap)',
          parameters: webhookId,
          responses: {
            '200': json(
              {
                type: 'object',
                required: ['id', 'secret', 'previous_secret_expires_at'],
                properties: { id: { type: 'string' }, secret: { type: 'string' }, previous_secret_expires_at: { type: 'string', format: 'date-time' } },
              },
              'The new secret (shown only here).',
            ),
            ...AUTH_ERRORS,
            '404': webhookNotFound,
          },
        },
      },
      '/v1/webhooks/{id}/deliveries': {
        get: {
          operationId: 'listWebhookDeliveries',
          summary: 'The delivery log: each delivery with every attempt (time, HTTP status, latency, error, next retry)',
          parameters: [...webhookId, ...parameters(listDeliveriesQuery, 'query')],
          responses: {
            '200': json({ type: 'object', required: ['deliveries'], properties: { deliveries: { type: 'array', items: ref('Delivery') } } }, 'Newest first.'),
            '400': errorResponse('Invalid query string.'),
            ...AUTH_ERRORS,
            '404': webhookNotFound,
          },
        },
      },
      '/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver': {
        post: {
          operationId: 'redeliverWebhookDelivery',
          summary: "Send a delivery's event again, as a new delivery (same webhook-id)",
          parameters: parameters(deliveryParams, 'path'),
          responses: {
            '202': json(ref('Delivery'), 'The new delivery, pending.'),
            ...AUTH_ERRORS,
            '404': errorResponse('`WEBHOOK_NOT_FOUND` or `DELIVERY_NOT_FOUND`.'),
            '409': errorResponse('`WEBHOOK_DISABLED`: enable it first (PATCH `{"disabled": false}`).'),
          },
        },
      },
      '/v1/webhooks/{id}/recover': {
        post: {
          operationId: 'recoverWebhook',
          summary: 'Re-send every event whose latest delivery to this webhook failed since a time',
          parameters: webhookId,
          requestBody: { required: true, content: { 'application/json': { schema: ref('Recover') } } },
          responses: {
            '202': json(
              {
                type: 'object',
                required: ['id', 'since', 'deliveries'],
                properties: { id: { type: 'string' }, since: { type: 'string', format: 'date-time' }, deliveries: { type: 'array', items: { type: 'string' } } },
              },
              'The new deliveries, pending.',
            ),
            '400': errorResponse('`VALIDATION_FAILED`.'),
            ...AUTH_ERRORS,
            '404': webhookNotFound,
            '409': errorResponse('`WEBHOOK_DISABLED`: enable it first (PATCH `{"disabled": false}`).'),
          },
        },
      },
      '/v1/secrets': {
        get: {
          operationId: 'listSecrets',
          summary: "The org's secrets and the token user's own: names, scopes, owners, times, who last changed each; never values",
          responses: {
            '200': json({ type: 'object', required: ['secrets'], properties: { secrets: { type: 'array', items: ref('Secret') } } }, 'The secrets the token\'s user may see.'),
            ...AUTH_ERRORS,
          },
        },
      },
      '/v1/secrets/{scope}/{name}': {
        put: {
          operationId: 'putSecret',
          summary: 'Set a secret (write-only: no route returns a value); scope user is the token user\'s own; only an admin writes org',
          parameters: parameters(secretParams, 'path'),
          requestBody: { required: true, content: { 'application/json': { schema: ref('PutSecret') } } },
          responses: {
            '200': json(ref('Secret'), 'Replaced.'),
            '201': json(ref('Secret'), 'Created.'),
            '400': errorResponse('`VALIDATION_FAILED`.'),
            ...AUTH_ERRORS,
            '403': errorResponse('`INSUFFICIENT_SCOPE`, or `ADMIN_REQUIRED`: a member writing an org-level secret.'),
            '500': errorResponse('`NO_MASTER_KEY`: the gateway has no master key to encrypt with.'),
          },
        },
        delete: {
          operationId: 'deleteSecret',
          summary: 'Delete a secret (the token user\'s own for scope user; org: admins only)',
          parameters: parameters(secretParams, 'path'),
          responses: {
            '204': { description: 'Deleted.' },
            '400': errorResponse('`VALIDATION_FAILED`.'),
            ...AUTH_ERRORS,
            '403': errorResponse('`INSUFFICIENT_SCOPE`, or `ADMIN_REQUIRED`: a member deleting an org-level secret.'),
            '404': errorResponse('`SECRET_NOT_FOUND`.'),
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
