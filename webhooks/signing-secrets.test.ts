/**
 * Unit: which secrets sign a delivery — the current one, plus the previous one only during its
 * rotation overlap (after `rotate-secret`, 24 h by default).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { generateWebhookSecret, signingSecrets, type WebhookWithSecrets } from './webhook-store';

const webhook = (previous: { secret: string; expiresAt: Date } | null): WebhookWithSecrets => ({
  id: 'wh_1',
  url: 'https://example.com/hook',
  description: null,
  events: [],
  disabled: false,
  disabledReason: null,
  disabledAt: null,
  failingSince: null,
  previousSecretExpiresAt: previous?.expiresAt ?? null,
  createdAt: new Date(0),
  updatedAt: new Date(0),
  secret: 'whsec_new',
  previousSecret: previous?.secret ?? null,
  deleted: false,
});

it('signs with both secrets during the overlap and with the new one only once it has passed', () => {
  const now = new Date('2026-11-21T12:00:00Z');
  assert.deepEqual(signingSecrets(webhook(null), now), ['whsec_new']);
  assert.deepEqual(signingSecrets(webhook({ secret: 'whsec_old', expiresAt: new Date('2026-11-22T11:59:59Z') }), now), ['whsec_new', 'whsec_old']);
  assert.deepEqual(signingSecrets(webhook({ secret: 'whsec_old', expiresAt: new Date('2026-11-21T12:00:00Z') }), now), ['whsec_new'], 'expired at exactly now');
  assert.deepEqual(signingSecrets(webhook({ secret: 'whsec_old', expiresAt: new Date('2026-11-20T12:00:00Z') }), now), ['whsec_new']);
});

it('makes Standard Webhooks secrets: whsec_ and 24 random bytes in base64', () => {
  const a = generateWebhookSecret();
  assert.match(a, /^whsec_[A-Za-z0-9+/]{32}$/);
  assert.equal(Buffer.from(a.slice('whsec_'.length), 'base64').length, 24);
  assert.notEqual(a, generateWebhookSecret());
});
