/**
 * zod schemas of what the runs API accepts (request bodies, query strings, path parameters). Route
 * handlers validate with them and `openapi.ts` derives the document's request schemas from them, so
 * the two cannot drift.
 */
import { z } from 'zod';
import { RUN_STATUSES } from '../common/run-model';
import { EVENT_TYPES } from '../webhooks/events';
import { flowVersionIdSchema, runMetadataSchema, sourcePathSchema } from '../common/run-inputs';
import { userNameSchema } from '../common/users';

const flowVersion = flowVersionIdSchema.describe('A flow version, `flow:vN`, e.g. `movies:v1`.');

/** `POST /v1/runs`. */
export const createRunBody = z.strictObject({
  flow_version: flowVersion,
  source_path: sourcePathSchema
    .optional()
    .describe('A file path or URI for file connectors, a batch id for database connectors; at most 2,048 characters. Required unless `rejects_of` is given.'),
  rejects_of: z
    .string()
    .min(1)
    .max(512)
    .optional()
    .describe(
      'Reprocess: the id of an earlier run of the same flow (any version) whose unresolved rejects are the source (instead of `source_path`; the run\'s source_path is `rejects-of:<run-id>`). ' +
        'Rows that now pass are loaded and their rejects marked resolved in the same transaction. A repeat is refused (`REJECTS_OF_REPROCESSED`) unless `force_rerun`.',
    ),
  run_metadata: runMetadataSchema.optional().describe('Free-form JSON object kept with the run (at most 16 KiB serialised).'),
  force_rerun: z.boolean().optional().describe('Run again even if this (flow version, source_path) already SUCCEEDED or PARTIAL_FAILED.'),
  dry_run: z
    .boolean()
    .optional()
    .describe('A dry run: sync and transform, write nothing to the target; `metadata.dry_run_report` says what a real run would write. Its id ends in `-dry-<8 hex>`; never refused as a repeat.'),
}).superRefine((body, ctx) => {
  if ((body.source_path === undefined) === (body.rejects_of === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['source_path'], message: 'give exactly one of source_path and rejects_of' });
  }
});
export type CreateRunBody = z.infer<typeof createRunBody>;

/** `POST /v1/flows/diff`. */
export const flowDiffBody = z.strictObject({
  version_a: flowVersion.describe('The version compared from, `flow:vN`.'),
  version_b: flowVersion.describe('The version compared to: the same flow, with the same source section.'),
  source_path: sourcePathSchema.describe('The source_path both versions read, staged once.'),
});

/** `GET /v1/runs` query string. */
export const listRunsQuery = z.strictObject({
  flow: z.string().min(1).optional().describe('Only runs of this flow.'),
  flow_version: flowVersion.optional(),
  status: z.enum(RUN_STATUSES).optional().describe('Only runs in this status (the SluiceStatus search attribute).'),
  started_after: z.iso.datetime({ offset: true }).optional().describe('Only runs started at or after this time (ISO 8601, e.g. 2026-01-05T00:00:00Z).'),
  started_before: z.iso.datetime({ offset: true }).optional().describe('Only runs started before this time (ISO 8601).'),
  limit: z.coerce.number().int().min(1).max(100).optional().describe('Page size, 1–100; default 50.'),
  cursor: z.string().min(1).optional().describe('The `next_cursor` of the previous page (opaque; valid with the same filters only).'),
  started_by: userNameSchema.optional().describe('Only runs this user started (the SluiceStartedBy search attribute).'),
});
export type ListRunsQuery = z.infer<typeof listRunsQuery>;

/** Path parameters of `/v1/runs/:id…`. */
export const runIdParams = z.strictObject({
  id: z.string().min(1).max(1000).describe('Run id, `<flow>-v<N>-<sha256(source_path)[:16]>`.'),
});

/** `GET /v1/runs/:id/events` query string. */
export const runEventsQuery = z.strictObject({
  after: z.string().min(1).max(100).optional().describe('An event id: only the events after it (the last id you processed).'),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('At most this many events, 1–1000; default 100.'),
});

/** `GET /v1/runs/:id/rejects` query string. */
export const runRejectsQuery = z.strictObject({
  rule: z.string().min(1).max(200).optional().describe('Only rejects with an error of this rule (`type`, `required`, `check`, `in`, `dedupe`, a flow check\'s name…).'),
  field: z.string().min(1).max(200).optional().describe('Only rejects with an error on this target field; with `rule`, one error with both.'),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('Page size, 1–1000; default 100.'),
  cursor: z.string().min(1).max(100).optional().describe('The `next_cursor` of the previous page (same filters).'),
});

const eventTypes = z
  .array(z.enum(EVENT_TYPES))
  .max(EVENT_TYPES.length)
  .describe('Event types to receive; absent or empty: every type.');

const webhookUrl = z
  .string()
  .max(2048)
  .url()
  .describe('https URL (http only with gateway.webhooks.allow_http) resolving to public addresses, unless gateway.webhooks.allowlist names it.');

/** `POST /v1/webhooks`. */
export const createWebhookBody = z.strictObject({
  url: webhookUrl,
  events: eventTypes.optional(),
  description: z.string().max(500).optional().describe('Free text for people, at most 500 characters.'),
});

/** `PATCH /v1/webhooks/:id`: at least one field. */
export const updateWebhookBody = z
  .strictObject({
    url: webhookUrl.optional(),
    events: eventTypes.optional(),
    description: z.string().max(500).nullable().optional(),
    disabled: z.boolean().optional().describe('false re-enables a disabled endpoint (and forgets its failure streak); true disables it.'),
  })
  .refine((body) => Object.keys(body).length > 0, 'give at least one of url, events, description, disabled');

/** Path parameters of `/v1/webhooks/:id…`. */
export const webhookIdParams = z.strictObject({
  id: z.string().min(1).max(100).describe('Webhook id, `wh_…`.'),
});

/** Path parameters of `/v1/webhooks/:id/deliveries/:delivery_id/…`. */
export const deliveryParams = z.strictObject({
  id: z.string().min(1).max(100).describe('Webhook id, `wh_…`.'),
  delivery_id: z.string().min(1).max(100).describe('Delivery id, `dlv_…`.'),
});

/** `GET /v1/webhooks/:id/deliveries` query string. */
export const listDeliveriesQuery = z.strictObject({
  status: z.enum(['pending', 'succeeded', 'failed']).optional().describe('Only deliveries in this state.'),
  limit: z.coerce.number().int().min(1).max(500).optional().describe('At most this many, newest first, 1–500; default 50.'),
});

/** `POST /v1/webhooks/:id/recover`. */
export const recoverBody = z.strictObject({
  since: z.iso.datetime({ offset: true }).describe('ISO 8601 time: re-send every event whose latest delivery failed at or after it.'),
});

/** Path parameters of `/v1/secrets/:scope/:name`. */
export const secretParams = z.strictObject({
  scope: z.enum(['org', 'user']).describe('`org` (every user\'s runs; admins write) or `user` (the token\'s user\'s own).'),
  name: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'a secret name: a letter or "_" followed by letters, digits or "_", at most 128 characters')
    .describe('The secret\'s name, as `${secret:NAME}` writes it in config.'),
});

/** `PUT /v1/secrets/:scope/:name`: the value, write-only (no route ever returns it). */
export const putSecretBody = z.strictObject({
  value: z.string().min(1).max(65_536).describe('The secret\'s value (at most 65,536 characters); stored encrypted, never returned.'),
});
