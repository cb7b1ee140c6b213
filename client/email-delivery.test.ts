/**
 * Unit tests of the words for a pending email: socket errors in plain text, and the wait line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emailWaitText, plainSocketError } from './email-delivery';

describe('a pending email in words', () => {
  it('says socket errors plainly', () => {
    assert.equal(plainSocketError('connect ECONNREFUSED 127.0.0.1:1025'), 'connection refused at 127.0.0.1:1025');
    assert.equal(plainSocketError('getaddrinfo ENOTFOUND smtp.example.invalid'), 'host smtp.example.invalid not found');
    assert.equal(plainSocketError('Greeting never received'), 'Greeting never received');
  });

  it('says the attempt, the last error and when the next attempt starts', () => {
    const now = new Date('2026-12-02T10:00:00Z');
    assert.equal(
      emailWaitText({ attempt: 3, maximumAttempts: 8, lastError: 'connection refused at 127.0.0.1:1025', nextAttemptAt: new Date('2026-12-02T10:00:18Z') }, now),
      'waiting for email delivery (attempt 3 of 8, last error: connection refused at 127.0.0.1:1025; next attempt in 18 s)',
    );
    assert.equal(emailWaitText({ attempt: 1, maximumAttempts: 0 }, now), 'waiting for email delivery (attempt 1)');
  });
});
