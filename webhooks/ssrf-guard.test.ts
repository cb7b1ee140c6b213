/**
 * Unit: the SSRF guard refuses non-public webhook addresses at registration (checkWebhookUrl) and at
 * connection time (guardedLookup). Real DNS only for `localhost` and the `.invalid` TLD (RFC 6761:
 * never resolves); everything else uses literal IPs; the only network used is loopback.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../common/errors';
import { checkWebhookUrl, guardedLookup, isAddressAllowed, parseWebhookUrl, UnsafeAddressError, UnsafeWebhookUrlError, type WebhookUrlPolicy } from './ssrf-guard';

const strict: WebhookUrlPolicy = { allowHttp: false, allowlist: [] };
const dev: WebhookUrlPolicy = { allowHttp: true, allowlist: [] };

/** Asserts that checkWebhookUrl refuses `url` with UnsafeWebhookUrlError and exactly `message`. */
async function refused(url: string, policy: WebhookUrlPolicy, message: string | RegExp, reason?: string): Promise<void> {
  await assert.rejects(checkWebhookUrl(url, policy), (error: unknown) => {
    assert.ok(error instanceof UnsafeWebhookUrlError, `UnsafeWebhookUrlError, got ${String(error)}`);
    assert.ok(error instanceof UserError);
    assert.equal(error.code, 'UNSAFE_WEBHOOK_URL');
    assert.equal(error.name, 'UnsafeWebhookUrlError');
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    if (reason !== undefined) assert.equal(error.reason, reason);
    return true;
  });
}

const notPublic = (host: string, address: string, phrase: string, range: string, resolves = false) =>
  `webhook URL host ${host} ${resolves ? `resolves to ${address},` : 'is'} ${phrase} (range "${range}"); only public addresses are allowed unless gateway.webhooks.allowlist names the host or range`;

describe('checkWebhookUrl: scheme, credentials, syntax', () => {
  it('requires https', async () => {
    await refused('http://93.184.216.34/hook', strict, 'webhook URL http://93.184.216.34/hook must use https (set gateway.webhooks.allow_http: true for development only)', 'scheme');
  });

  it('accepts http only when allowHttp', async () => {
    const url = await checkWebhookUrl('http://93.184.216.34/hook', dev);
    assert.equal(url.href, 'http://93.184.216.34/hook');
  });

  it('refuses other schemes even with allowHttp', async () => {
    await refused('ftp://93.184.216.34/hook', dev, 'webhook URL ftp://93.184.216.34/hook must use https or http, not ftp', 'scheme');
    await refused('file:///etc/passwd', strict, 'webhook URL file:///etc/passwd must use https, not file', 'scheme');
  });

  it('refuses credentials in the URL without echoing them', async () => {
    await refused(
      'https://alice:s3cret@93.184.216.34/hook',
      strict,
      'webhook URL https://***@93.184.216.34/hook must not contain credentials (user:password@); receivers authenticate Sluice by the webhook-signature header',
      'credentials',
    );
    await refused('https://token@93.184.216.34/', strict, /^webhook URL https:\/\/\*\*\*@93\.184\.216\.34\/ must not contain credentials/, 'credentials');
  });

  it('refuses what is not an absolute URL', async () => {
    await refused('/hooks/relative', strict, 'webhook URL "/hooks/relative" is not a valid absolute URL; give one such as https://hooks.example.com/sluice', 'invalid_url');
    await refused('https://', strict, /is not a valid absolute URL/, 'invalid_url');
  });

  it('parseWebhookUrl checks the same without DNS', () => {
    assert.throws(() => parseWebhookUrl('http://example.com/', strict), UnsafeWebhookUrlError);
    assert.equal(parseWebhookUrl('https://example.com/x', strict).href, 'https://example.com/x');
  });
});

describe('checkWebhookUrl: addresses', () => {
  it('accepts public literals, IPv4 and IPv6', async () => {
    assert.equal((await checkWebhookUrl('https://93.184.216.34/hook', strict)).hostname, '93.184.216.34');
    assert.equal((await checkWebhookUrl('https://[2606:4700::1111]:8443/hook', strict)).port, '8443');
  });

  it('refuses loopback literals and localhost without an allowlist', async () => {
    await refused('https://127.0.0.1/', strict, notPublic('127.0.0.1', '127.0.0.1', 'a loopback address', 'loopback'), 'non_public_address');
    await refused('https://127.9.9.9/', strict, notPublic('127.9.9.9', '127.9.9.9', 'a loopback address', 'loopback'));
    await refused('https://[::1]/', strict, notPublic('::1', '::1', 'a loopback address', 'loopback'));
    // localhost resolves through real DNS (/etc/hosts): to 127.0.0.1 and/or ::1.
    await refused('https://localhost:8443/', strict, /^webhook URL host localhost resolves to (127\.0\.0\.1|::1), a loopback address \(range "loopback"\); only public addresses are allowed unless gateway\.webhooks\.allowlist names the host or range$/);
  });

  it('refuses loopback written in other IPv4 notations (the URL parser normalizes them)', async () => {
    await refused('https://2130706433/', strict, /host 127\.0\.0\.1 is a loopback address/);
    await refused('https://0x7f.1/', strict, /host 127\.0\.0\.1 is a loopback address/);
  });

  it('accepts loopback when the allowlist names the host or range', async () => {
    assert.equal((await checkWebhookUrl('https://localhost:8443/', { allowHttp: false, allowlist: ['localhost'] })).hostname, 'localhost');
    assert.equal((await checkWebhookUrl('https://LocalHost/', { allowHttp: false, allowlist: ['LOCALHOST'] })).hostname, 'localhost');
    await checkWebhookUrl('https://127.0.0.1/', { allowHttp: false, allowlist: ['127.0.0.0/8'] });
    await checkWebhookUrl('https://127.0.0.1/', { allowHttp: false, allowlist: ['127.0.0.1'] });
    await checkWebhookUrl('https://[::1]/', { allowHttp: false, allowlist: ['::1/128'] });
    await checkWebhookUrl('https://[::1]/', { allowHttp: false, allowlist: ['::1'] });
    // localhost resolves to 127.0.0.1 here (and maybe ::1): allow both ranges.
    await checkWebhookUrl('https://localhost/', { allowHttp: false, allowlist: ['127.0.0.0/8', '::1/128'] });
  });

  it('an allowlisted range does not allow a different host name or range', async () => {
    await refused('https://127.0.0.1/', { allowHttp: false, allowlist: ['10.0.0.0/8', 'localhost'] }, /a loopback address/);
    await refused('https://10.1.2.3/', { allowHttp: false, allowlist: ['10.1.2.4', '::1/128'] }, /a private address/);
  });

  it('refuses private, link-local (cloud metadata), CGNAT and unique-local addresses', async () => {
    await refused('https://10.1.2.3/', strict, notPublic('10.1.2.3', '10.1.2.3', 'a private address', 'private'));
    await refused('https://192.168.1.1/', strict, notPublic('192.168.1.1', '192.168.1.1', 'a private address', 'private'));
    await refused('https://172.16.0.1/', strict, notPublic('172.16.0.1', '172.16.0.1', 'a private address', 'private'));
    await refused('https://172.31.255.254/', strict, /a private address/);
    await refused('http://169.254.169.254/latest/meta-data/', dev, notPublic('169.254.169.254', '169.254.169.254', 'a link-local address', 'linkLocal'));
    await refused('https://[fd00:ec2::254]/', strict, notPublic('fd00:ec2::254', 'fd00:ec2::254', 'a unique-local address', 'uniqueLocal'));
    await refused('https://[fc00::1]/', strict, /a unique-local address \(range "uniqueLocal"\)/);
    await refused('https://[fdff:ffff::1]/', strict, /a unique-local address/);
    await refused('https://100.64.0.1/', strict, notPublic('100.64.0.1', '100.64.0.1', 'a carrier-grade NAT address', 'carrierGradeNat'));
    await refused('https://100.127.255.254/', strict, /carrier-grade NAT/);
    await refused('https://0.0.0.0/', strict, /an unspecified address/);
    await refused('https://[fe80::1]/', strict, /a link-local address/);
  });

  it('refuses IPv4-mapped, IPv4-compatible and 6to4 forms of loopback', async () => {
    await refused('https://[::ffff:127.0.0.1]/', strict, notPublic('::ffff:7f00:1', '::ffff:7f00:1', 'a loopback address', 'loopback'));
    await refused('https://[::ffff:10.0.0.1]/', strict, /a private address/);
    await refused('https://[::127.0.0.1]/', strict, /a non-public address \(range "ipv4Compatible"\)/);
    await refused('https://[2002:7f00:1::]/', strict, /a non-public address \(range "6to4"\)/);
  });

  it('refuses a host that does not resolve, saying so', async () => {
    await refused(
      'https://no-such-host.invalid/hook',
      strict,
      /^webhook URL host no-such-host\.invalid does not resolve \((ENOTFOUND|ENODATA|EAI_NONAME|EAI_NODATA)\); check the host name, or register the webhook once its DNS record exists$/,
      'unresolvable',
    );
  });
});

describe('isAddressAllowed', () => {
  it('answers the range and whether the address is allowed', () => {
    assert.deepEqual(isAddressAllowed('example.com', '93.184.216.34', strict), { allowed: true, range: 'unicast' });
    assert.deepEqual(isAddressAllowed('example.com', '2606:4700::1111', strict), { allowed: true, range: 'unicast' });
    assert.deepEqual(isAddressAllowed('internal.example', '10.1.2.3', strict), { allowed: false, range: 'private' });
    assert.deepEqual(isAddressAllowed('internal.example', '10.1.2.3', { allowlist: ['internal.example'] }), { allowed: true, range: 'private' });
    assert.deepEqual(isAddressAllowed('internal.example', '10.1.2.3', { allowlist: ['10.0.0.0/8'] }), { allowed: true, range: 'private' });
    assert.deepEqual(isAddressAllowed('other.example', '10.1.2.3', { allowlist: ['internal.example'] }), { allowed: false, range: 'private' });
    assert.deepEqual(isAddressAllowed('x', '::ffff:127.0.0.1', { allowlist: ['127.0.0.0/8'] }), { allowed: true, range: 'loopback' });
    assert.deepEqual(isAddressAllowed('x', '127.0.0.1', { allowlist: ['::ffff:127.0.0.0/104'] }), { allowed: true, range: 'loopback' });
    assert.deepEqual(isAddressAllowed('x', '::1', { allowlist: ['127.0.0.0/8'] }), { allowed: false, range: 'loopback' });
    assert.deepEqual(isAddressAllowed('[::1]', '::1', { allowlist: ['[::1]'] }), { allowed: true, range: 'loopback' });
  });

  it('never allows what is not an IP address, and ignores malformed CIDRs', () => {
    assert.deepEqual(isAddressAllowed('x', 'not-an-ip', { allowlist: ['x'] }), { allowed: false, range: 'invalid' });
    assert.deepEqual(isAddressAllowed('x', '10', strict), { allowed: false, range: 'invalid' });
    assert.deepEqual(isAddressAllowed('x', '10.0.0.1', { allowlist: ['10.0.0.0/33'] }), { allowed: false, range: 'private' });
  });
});

describe('guardedLookup', () => {
  let server: http.Server;
  let port = 0;
  let requestsSeen = 0;

  before(async () => {
    server = http.createServer((_req, res) => {
      requestsSeen += 1;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** GETs http://localhost:<port>/ with `lookup`; resolves with the status or the error. */
  function get(lookup: ReturnType<typeof guardedLookup>): Promise<{ status?: number; error?: NodeJS.ErrnoException }> {
    return new Promise((resolve) => {
      const req = http.request({ host: 'localhost', port, path: '/', agent: false, lookup }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode }));
      });
      req.on('error', (error) => resolve({ error }));
      req.end();
    });
  }

  it('makes http.request fail with EUNSAFEADDRESS before connecting when 127.0.0.1 is not allowlisted', async () => {
    const before = requestsSeen;
    const { status, error } = await get(guardedLookup(dev));
    assert.equal(status, undefined);
    assert.ok(error instanceof UnsafeAddressError, `UnsafeAddressError, got ${String(error)}`);
    assert.equal(error.code, 'EUNSAFEADDRESS');
    assert.match(
      error.message,
      /^webhook host localhost resolves to (127\.0\.0\.1|::1), a loopback address \(range "loopback"\); only public addresses are allowed unless gateway\.webhooks\.allowlist names the host or range$/,
    );
    assert.equal(requestsSeen, before, 'the server saw no request');
  });

  it('lets the request through when the host or range is allowlisted', async () => {
    const before = requestsSeen;
    assert.deepEqual(await get(guardedLookup({ allowHttp: true, allowlist: ['127.0.0.0/8', '::1/128'] })), { status: 200 });
    assert.deepEqual(await get(guardedLookup({ allowHttp: true, allowlist: ['localhost'] })), { status: 200 });
    assert.equal(requestsSeen, before + 2);
  });

  it('matches the allowlist against the host name it was given, not the one resolved', async () => {
    const { error } = await get(guardedLookup({ allowHttp: true, allowlist: ['localhost'] }, 'hooks.example.com'));
    assert.equal(error?.code, 'EUNSAFEADDRESS');
    assert.match(error?.message ?? '', /^webhook host hooks\.example\.com resolves to/);
  });

  it('answers both call shapes: all true (a list) and all false (address, family)', async () => {
    const allowed = guardedLookup({ allowHttp: true, allowlist: ['localhost'] });
    const all = await new Promise<{ error: Error | null; addresses: unknown }>((resolve) =>
      allowed('localhost', { all: true }, (error, addresses) => resolve({ error, addresses })),
    );
    assert.equal(all.error, null);
    assert.ok(Array.isArray(all.addresses) && all.addresses.length > 0);
    assert.ok((all.addresses as LookupAddress[]).every((a) => (a.family === 4 || a.family === 6) && typeof a.address === 'string'));

    const one = await new Promise<{ error: Error | null; address: unknown; family: unknown }>((resolve) =>
      allowed('localhost', { family: 4 }, (error, address, family) => resolve({ error, address, family })),
    );
    assert.deepEqual(one, { error: null, address: '127.0.0.1', family: 4 });

    const refusedOne = await new Promise<{ error: NodeJS.ErrnoException | null }>((resolve) => guardedLookup(dev)('localhost', {}, (error) => resolve({ error })));
    assert.equal(refusedOne.error?.code, 'EUNSAFEADDRESS');
  });

  it('passes DNS errors through unchanged', async () => {
    const { error } = await new Promise<{ error: NodeJS.ErrnoException | null }>((resolve) =>
      guardedLookup(dev)('no-such-host.invalid', { all: true }, (error) => resolve({ error })),
    );
    assert.ok(error);
    assert.notEqual(error.code, 'EUNSAFEADDRESS');
    assert.match(error.code ?? '', /^(ENOTFOUND|EAI_AGAIN|ENODATA)$/);
  });
});
