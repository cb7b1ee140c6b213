/**
 * Unit tests of `bindSourcePath`: `:source_path` becomes the query parameter `$1`, never interpolated.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SourceError } from '../../common/errors';
import { bindSourcePath } from './postgres-source';

const NO_PLACEHOLDER = 'the source query must use :source_path (e.g. "SELECT * FROM invoices WHERE batch_id = :source_path")';

function invalidQuery(query: string): void {
  assert.throws(
    () => bindSourcePath(query),
    (error: unknown) => {
      assert.ok(error instanceof SourceError, `expected SourceError, got ${String(error)}`);
      assert.equal(error.name, 'SourceError');
      assert.equal(error.code, 'INVALID_QUERY');
      assert.equal(error.message, NO_PLACEHOLDER);
      return true;
    },
  );
}

describe('bindSourcePath', () => {
  it('replaces :source_path with $1', () => {
    assert.equal(bindSourcePath('SELECT * FROM invoices WHERE batch_id = :source_path'), 'SELECT * FROM invoices WHERE batch_id = $1');
  });

  it('replaces every occurrence, including one followed by a cast', () => {
    assert.equal(
      bindSourcePath('SELECT * FROM t WHERE a = :source_path::int OR b = :source_path'),
      'SELECT * FROM t WHERE a = $1::int OR b = $1',
    );
    assert.equal(bindSourcePath('SELECT * FROM t WHERE a=(:source_path)'), 'SELECT * FROM t WHERE a=($1)');
  });

  it('leaves a ::source_path cast untouched', () => {
    assert.equal(
      bindSourcePath('SELECT x::source_path FROM t WHERE b = :source_path'),
      'SELECT x::source_path FROM t WHERE b = $1',
    );
  });

  it('refuses a query without the placeholder with SourceError INVALID_QUERY', () => {
    invalidQuery('SELECT * FROM invoices');
    invalidQuery('SELECT x::source_path FROM t');
    invalidQuery('SELECT * FROM t WHERE b = :source_paths');
    invalidQuery('SELECT * FROM t WHERE b = :SOURCE_PATH');
  });
});
