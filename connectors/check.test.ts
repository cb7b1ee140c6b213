import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessError } from '../common/errors';
import { CheckFailure, networkReason, probe, scrubSecrets } from './check';

const spec = { explain: (error: unknown) => `explained: ${(error as Error).message}`, onTimeout: 'check the host' };

describe('probe', () => {
  it('returns what the body verified, secrets masked in the reason and detail', async () => {
    const result = await probe({}, { ...spec, secrets: ['hunter2'], body: async () => ({ reason: 'ok with hunter2', detail: { url: 'postgres://u:pw@h/db', key: 'hunter2' } }) });
    assert.deepEqual(result, { ok: true, reason: 'ok with ****', detail: { url: 'postgres://u:****@h/db', key: '****' } });
  });

  it('never rejects: a CheckFailure or a UserError is its own reason and keeps its code; other errors are explained', async () => {
    const failure = await probe({}, { ...spec, body: () => Promise.reject(new CheckFailure('root missing — create it', 'SOURCE_NOT_FOUND')) });
    assert.deepEqual(failure, { ok: false, reason: 'root missing — create it', code: 'SOURCE_NOT_FOUND' });
    const refused = await probe({}, { ...spec, body: () => Promise.reject(new AccessError('AUTH_FAILED', 'refused user "app"')) });
    assert.deepEqual(refused, { ok: false, reason: 'refused user "app"', code: 'AUTH_FAILED' });
    const other = await probe({}, { ...spec, secrets: ['s3cret'], body: () => Promise.reject(new Error('boom s3cret')) });
    assert.deepEqual(other, { ok: false, reason: 'explained: boom ****' });
  });

  it('gives up at the timeout, aborting the body\'s signal, and at the caller\'s abort', async () => {
    let aborted = false;
    const started = Date.now();
    const slow = await probe({ timeoutMs: 100 }, {
      ...spec,
      body: (signal) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('closed'));
          });
        }),
    });
    assert.deepEqual(slow, { ok: false, reason: 'no answer within 0.1 s — check the host' });
    assert.equal(aborted, true);
    assert.ok(Date.now() - started < 1_000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const cancelled = await probe({ signal: controller.signal, timeoutMs: 5_000 }, { ...spec, body: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('closed')))) });
    assert.equal(cancelled.ok, false);
  });
});

describe('networkReason and scrubSecrets', () => {
  it('reads network codes the same way for every kind; other codes are null', () => {
    assert.equal(networkReason('ECONNREFUSED', 'db:5432', 'PostgreSQL', 'connectors.x.url'), 'connection refused at db:5432 — is PostgreSQL running there? check connectors.x.url');
    assert.equal(networkReason('28P01', 'db:5432', 'PostgreSQL', 'connectors.x.url'), null);
  });

  it('masks URL passwords and known secrets of 3 characters or more', () => {
    assert.equal(scrubSecrets('at mysql://root:pw@db:3306/shop, key abc, k ab', ['abc', 'ab']), 'at mysql://root:****@db:3306/shop, key ****, k ab');
  });
});
