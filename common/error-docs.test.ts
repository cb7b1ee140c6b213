/**
 * docs/errors.md is generated from the error catalogue: this fails when the committed file is stale.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERROR_CATALOGUE } from './error-codes';
import { ERROR_DOCS_FILE, renderErrorDocs } from './error-docs';

describe('docs/errors.md', () => {
  it('is what the generator produces from common/error-codes.ts', () => {
    const committed = readFileSync(ERROR_DOCS_FILE, 'utf8');
    assert.ok(committed === renderErrorDocs(), 'docs/errors.md is stale: run `npm run docs:errors` and commit docs/errors.md');
  });

  it('has one row per code, with its class and HTTP status', () => {
    const rows = renderErrorDocs().split('\n').filter((line) => line.startsWith('| `'));
    assert.equal(rows.length, Object.keys(ERROR_CATALOGUE).length);
    assert.ok(rows.includes('| `RUN_NOT_FOUND` | user-fixable | 404 | no run with that id |'));
    assert.ok(rows.includes('| `SERVICE_UNAVAILABLE` | transient | 503 | Temporal or the metadata database is unreachable; try again later (Retry-After) |'));
    assert.ok(rows.includes('| `RETRIES_EXHAUSTED` | internal | 500 | a retryable error outlived its retries (run CRASHED) |'));
  });
});
