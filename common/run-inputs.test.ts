/**
 * Unit tests of the shared run-input rules: flow-version ids, source_path and run_metadata, each with
 * its exact messages.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import { FLOW_VERSION_ID, flowVersionIdSchema, runMetadataSchema, SOURCE_PATH_MAX_CHARS, sourcePathSchema } from './run-inputs';

/** The messages of every issue `schema` finds in `value` ([] when it passes). */
function messages(schema: z.ZodType, value: unknown): string[] {
  const parsed = schema.safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((issue) => issue.message);
}

describe('FLOW_VERSION_ID and flowVersionIdSchema', () => {
  it('accept flow:vN and capture the flow and the version', () => {
    assert.deepEqual(FLOW_VERSION_ID.exec('orders_eu-2:v42')?.slice(1), ['orders_eu-2', '42']);
    assert.deepEqual(messages(flowVersionIdSchema, 'movies:v1'), []);
  });

  for (const bad of ['movies', 'movies:v0', 'movies:1', 'Movies:v1', 'movies:v01', ' movies:v1', `${'a'.repeat(64)}:v1`]) {
    it(`refuse ${JSON.stringify(bad)}`, () => {
      assert.equal(FLOW_VERSION_ID.test(bad), false);
      assert.deepEqual(messages(flowVersionIdSchema, bad), ['expected a flow version "flow:vN", e.g. "movies:v1"']);
    });
  }
});

describe('sourcePathSchema', () => {
  it('accepts paths, URIs and batch ids up to 2,048 characters', () => {
    for (const good of ['data/import/orders.csv', 's3://bucket/new.csv', 'file:///srv/in/a b.csv', 'batch-2026-11-21', 'x'.repeat(SOURCE_PATH_MAX_CHARS)]) {
      assert.deepEqual(messages(sourcePathSchema, good), [], good.slice(0, 40));
    }
  });

  it('refuses control characters, white space alone, the empty string and 2,049 characters, one message each', () => {
    assert.deepEqual(messages(sourcePathSchema, 'a\tb.csv'), ['must not contain control characters']);
    assert.deepEqual(messages(sourcePathSchema, 'a\u0000b'), ['must not contain control characters']);
    assert.deepEqual(messages(sourcePathSchema, '   '), ['must not be only white space']);
    assert.deepEqual(messages(sourcePathSchema, ''), ['Too small: expected string to have >=1 characters']);
    assert.deepEqual(messages(sourcePathSchema, 'x'.repeat(SOURCE_PATH_MAX_CHARS + 1)), ['Too big: expected string to have <=2048 characters']);
    assert.deepEqual(messages(sourcePathSchema, 42), ['Invalid input: expected string, received number']);
  });
});

describe('runMetadataSchema', () => {
  it('accepts a JSON object up to 16 KiB serialised', () => {
    assert.deepEqual(messages(runMetadataSchema, { ticket: 'OPS-12', nested: { a: [1, 2] } }), []);
    assert.deepEqual(messages(runMetadataSchema, { note: 'x'.repeat(16_384 - '{"note":""}'.length) }), []);
  });

  it('refuses arrays, scalars and objects over 16 KiB', () => {
    assert.deepEqual(messages(runMetadataSchema, [1]), ['Invalid input: expected record, received array']);
    assert.deepEqual(messages(runMetadataSchema, 'ticket'), ['Invalid input: expected record, received string']);
    assert.deepEqual(messages(runMetadataSchema, { note: 'x'.repeat(16_384 - '{"note":""}'.length + 1) }), ['must be at most 16 KiB serialised as JSON']);
  });
});
