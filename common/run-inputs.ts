/**
 * What names a run, validated in one place: the flow-version id (`flow:vN`), the `source_path` and the
 * `run_metadata`. The client SDK (`Sluice.run`), the runs API (`webhook-gateway/api-schemas.ts`) and the
 * pipeline spec (`pipelines/pipeline-spec.ts`, whose `source_path` templates follow the same rule) all
 * validate with these schemas, so the three cannot drift.
 *
 * @example
 * ```ts
 * sourcePathSchema.safeParse('data/import/orders.csv').success;   // true
 * sourcePathSchema.safeParse('a\tb').error?.issues[0]?.message;    // 'must not contain control characters'
 * runMetadataSchema.safeParse({ ticket: 'OPS-12' }).success;       // true; an array, or over 16 KiB of JSON: false
 * FLOW_VERSION_ID.exec('movies:v3')?.slice(1);                     // ['movies', '3']
 * ```
 */
import { z } from 'zod';

/** The longest `source_path`, in characters. */
export const SOURCE_PATH_MAX_CHARS = 2048;

/** The largest `run_metadata`, in characters of its JSON text (16 KiB). */
export const RUN_METADATA_MAX_CHARS = 16_384;

/**
 * A flow-version id `flow:vN`: the flow's name (a lower-case letter, then at most 62 of `a-z 0-9 _ -`), `:v`,
 * and the version number from 1. Groups: 1 the flow, 2 the version.
 */
export const FLOW_VERSION_ID = /^([a-z][a-z0-9_-]{0,62}):v([1-9][0-9]*)$/;

/** A flow-version id, `flow:vN` ({@link FLOW_VERSION_ID}). */
export const flowVersionIdSchema = z.string().regex(FLOW_VERSION_ID, 'expected a flow version "flow:vN", e.g. "movies:v1"');

/**
 * A `source_path` (a file path or URI for file connectors, a batch id bound into a database connector's query):
 * 1 to 2,048 characters, not only white space, no control characters (U+0000–U+001F).
 */
export const sourcePathSchema = z
  .string()
  .min(1)
  .max(SOURCE_PATH_MAX_CHARS)
  .regex(/^[^\u0000-\u001f]*$/, 'must not contain control characters')
  // '' is reported by min(1) alone.
  .refine((value) => value === '' || value.trim() !== '', 'must not be only white space');

/** `run_metadata`: a JSON object (free-form: ticket, requester, …) of at most 16 KiB serialised. */
export const runMetadataSchema = z
  .record(z.string(), z.unknown())
  .refine((value) => JSON.stringify(value).length <= RUN_METADATA_MAX_CHARS, 'must be at most 16 KiB serialised as JSON');
