/**
 * Unit tests of link-step parameter binding: `:run_id`, `:flow_version`, `:source_path` become `$n`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bindLinkParameters } from './link-steps';

const values = { run_id: 'accounts-v1-abc', flow_version: 'accounts:v1', source_path: 'data/a.csv' };

describe('bindLinkParameters', () => {
  it('numbers the parameters in order of first use and repeats a number for a repeated name', () => {
    assert.deepEqual(bindLinkParameters('UPDATE t SET batch = :source_path WHERE run = :run_id OR batch = :source_path', values), {
      text: 'UPDATE t SET batch = $1 WHERE run = $2 OR batch = $1',
      values: ['data/a.csv', 'accounts-v1-abc'],
    });
  });

  it('leaves casts, longer names and statements without parameters alone', () => {
    assert.deepEqual(bindLinkParameters('SELECT :run_id::text, x::source_path, :run_ids FROM t', values), {
      text: 'SELECT $1::text, x::source_path, :run_ids FROM t',
      values: ['accounts-v1-abc'],
    });
    assert.deepEqual(bindLinkParameters('UPDATE t SET a = 1', values), { text: 'UPDATE t SET a = 1', values: [] });
  });
});
