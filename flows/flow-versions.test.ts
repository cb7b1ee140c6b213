/**
 * Unit tests of flow version ids and content hashes (no database).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidRequestError } from '../common/errors';
import type { FlowSpec } from './flow-spec';
import { contentHash, parseFlowVersionId, runIdFor } from './flow-versions';

function spec(): FlowSpec {
  return {
    name: 'orders',
    source: { connector: 'files', format: 'csv' },
    target: { connector: 'warehouse', table: 'orders', write: 'append', rejects: { table: 'orders_rejects' } },
    fields: [
      { name: 'id', type: 'int64', from: 'id', required: true },
      { name: 'name', type: 'string', from: 'name', required: false },
    ],
    checks: [],
    max_reject_ratio: 1,
  };
}

/** The same content as {@link spec}, every object's keys written in another order. */
function reordered(): FlowSpec {
  return {
    max_reject_ratio: 1,
    checks: [],
    fields: [
      { required: true, from: 'id', type: 'int64', name: 'id' },
      { from: 'name', required: false, name: 'name', type: 'string' },
    ],
    target: { rejects: { table: 'orders_rejects' }, write: 'append', table: 'orders', connector: 'warehouse' },
    source: { format: 'csv', connector: 'files' },
    name: 'orders',
  };
}

describe('runIdFor', () => {
  it('is <flow>-v<N>-<16 hex of sha256(source_path)> in dev, with the environment before the hash elsewhere', () => {
    const hash = '6079cfbce3af04bb'; // sha256('data/a.csv'), the same in every environment
    assert.equal(runIdFor('movies:v3', 'data/a.csv'), `movies-v3-${hash}`);
    assert.equal(runIdFor('movies:v3', 'data/a.csv', 'dev'), `movies-v3-${hash}`);
    assert.equal(runIdFor('movies:v3', 'data/a.csv', 'test'), `movies-v3-test-${hash}`);
    assert.equal(runIdFor('movies:v3', 'data/a.csv', 'prod'), `movies-v3-prod-${hash}`);
    assert.notEqual(runIdFor('movies:v3', 'data/b.csv', 'test'), `movies-v3-test-${hash}`);
  });
});

describe('parseFlowVersionId', () => {
  it('splits flow:vN', () => {
    assert.deepEqual(parseFlowVersionId('movies:v1'), { flow: 'movies', version: 1 });
    assert.deepEqual(parseFlowVersionId('orders_eu-2:v42'), { flow: 'orders_eu-2', version: 42 });
  });

  for (const bad of ['movies', 'movies:1', 'movies:v0', 'movies:v01', 'Movies:v1', 'movies:v1 ', ':v1', 'movies:v-1', '1movies:v1', 'movies:v1.5', '']) {
    it(`refuses ${JSON.stringify(bad)} with InvalidRequestError INVALID_FLOW_VERSION`, () => {
      assert.throws(
        () => parseFlowVersionId(bad),
        (error: unknown) => {
          assert.ok(error instanceof InvalidRequestError);
          assert.equal(error.name, 'InvalidRequestError');
          assert.equal(error.code, 'INVALID_FLOW_VERSION');
          assert.equal(error.message, `"${bad}" is not a flow version; expected "flow:vN", e.g. "movies:v1"`);
          return true;
        },
      );
    });
  }
});

describe('contentHash', () => {
  it('is a sha256 hex digest, stable across calls', () => {
    const hash = contentHash(spec());
    assert.match(hash, /^[0-9a-f]{64}$/);
    assert.equal(contentHash(spec()), hash);
  });

  it('ignores the order of object keys', () => {
    assert.equal(contentHash(reordered()), contentHash(spec()));
  });

  it('changes when the field order changes', () => {
    const swapped = spec();
    swapped.fields.reverse();
    assert.notEqual(contentHash(swapped), contentHash(spec()));
  });

  it('changes when any value changes', () => {
    const changed = spec();
    changed.fields[1]!.required = true;
    assert.notEqual(contentHash(changed), contentHash(spec()));
    const ratio = spec();
    ratio.max_reject_ratio = 0.5;
    assert.notEqual(contentHash(ratio), contentHash(spec()));
  });
});
