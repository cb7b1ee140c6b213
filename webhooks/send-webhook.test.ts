/**
 * Unit: sendWebhook against a real local HTTP server: signed Standard Webhooks requests (verified
 * with the `standardwebhooks` library), status handling (2xx, 3xx not followed, 410, Retry-After),
 * the timeout, connection and TLS errors, and the SSRF guard. Only loopback is used.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { closeWebhookAgents, RESPONSE_EXCERPT_BYTES, sendWebhook, signatureHeader, type WebhookAttemptRequest } from './send-webhook';

const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

interface SeenRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Which connection (1, 2, …) carried it. */
  connection: number;
}

describe('sendWebhook', () => {
  let server: http.Server;
  let base = '';
  let closedPort = 0;
  const seen: SeenRequest[] = [];
  const connectionIds = new WeakMap<Socket, number>();
  let connections = 0;
  /** Requests seen on each connection, for /reset-on-reuse. */
  const perConnection = new Map<number, number>();

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const connection = connectionIds.get(req.socket) ?? 0;
        perConnection.set(connection, (perConnection.get(connection) ?? 0) + 1);
        seen.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), connection });
        respond(req.url ?? '', connection, req, res);
      });
    });
    server.on('connection', (socket: Socket) => connectionIds.set(socket, ++connections));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
  });

  after(async () => {
    closeWebhookAgents();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function respond(url: string, connection: number, req: http.IncomingMessage, res: http.ServerResponse): void {
    switch (url) {
      case '/ok':
        res.end('thanks');
        return;
      case '/500':
        res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
        return;
      case '/410':
        res.writeHead(410).end('gone for good');
        return;
      case '/503-seconds':
        res.writeHead(503, { 'retry-after': '7' }).end();
        return;
      case '/503-date':
        res.writeHead(503, { 'retry-after': new Date(Date.now() + 60_000).toUTCString() }).end();
        return;
      case '/429-past-date':
        res.writeHead(429, { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }).end();
        return;
      case '/301':
        res.writeHead(301, { location: '/elsewhere' }).end();
        return;
      case '/hang':
        return; // never answers
      case '/slow-body':
        res.writeHead(200);
        res.write('partial'); // and never ends
        return;
      case '/big':
        res.end('x'.repeat(64 * 1024));
        return;
      case '/reset-on-reuse':
        // The first request of a connection is answered; a later one gets its socket destroyed, as
        // when the server's idle timeout closes a kept-alive connection just as it is reused.
        if ((perConnection.get(connection) ?? 0) > 1) req.socket.destroy();
        else res.end('fresh');
        return;
      default:
        res.writeHead(404).end();
    }
  }

  const local = { allowHttp: true, allowlist: ['127.0.0.1'] };

  function request(overrides: Partial<WebhookAttemptRequest> & { url: string }): WebhookAttemptRequest {
    return {
      id: `msg_${randomBytes(8).toString('hex')}`,
      timestamp: new Date(),
      payload: JSON.stringify({ type: 'run.succeeded', timestamp: new Date().toISOString(), data: { run_id: 'r1' } }),
      secrets: [newSecret()],
      timeoutMs: 5_000,
      policy: local,
      ...overrides,
    };
  }

  /** Requests the server has seen to `path` so far. */
  const count = (path: string) => seen.filter((r) => r.path === path).length;

  it('POSTs a signed request that verifies with every secret (rotation: old and new)', async () => {
    const [oldSecret, newSecretValue] = [newSecret(), newSecret()];
    const req = request({ url: `${base}/ok`, secrets: [oldSecret, newSecretValue] });
    const result = await sendWebhook(req);

    assert.equal(result.ok, true);
    assert.equal(result.httpStatus, 200);
    assert.equal(result.error, null);
    assert.equal(result.gone, false);
    assert.equal(result.retryAfterMs, null);
    assert.equal(result.responseExcerpt, 'thanks');
    assert.ok(result.latencyMs >= 0 && result.latencyMs < 5_000, `latency ${result.latencyMs}`);

    const received = seen.at(-1)!;
    assert.equal(received.path, '/ok');
    assert.equal(received.body, req.payload);
    assert.equal(received.headers['content-type'], 'application/json');
    assert.equal(received.headers['webhook-id'], req.id);
    assert.equal(received.headers['webhook-timestamp'], String(Math.floor(req.timestamp.getTime() / 1000)));
    const version = (JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(received.headers['user-agent'], `Sluice-Webhooks/${version}`);
    assert.match(String(received.headers['webhook-signature']), /^v1,[A-Za-z0-9+/]+=* v1,[A-Za-z0-9+/]+=*$/);

    const headers = {
      'webhook-id': received.headers['webhook-id'] as string,
      'webhook-timestamp': received.headers['webhook-timestamp'] as string,
      'webhook-signature': received.headers['webhook-signature'] as string,
    };
    assert.deepEqual(new Webhook(oldSecret).verify(received.body, headers), JSON.parse(req.payload));
    assert.deepEqual(new Webhook(newSecretValue).verify(received.body, headers), JSON.parse(req.payload));
    assert.throws(() => new Webhook(newSecret()).verify(received.body, headers), WebhookVerificationError);
    assert.throws(() => new Webhook(oldSecret).verify(`${received.body} `, headers), WebhookVerificationError);
  });

  it('signatureHeader: one v1 signature per secret, in order; no secret is an error', () => {
    const [a, b] = [newSecret(), newSecret()];
    const at = new Date('2030-01-02T03:04:05.678Z');
    assert.equal(signatureHeader([a, b], 'msg_1', at, '{"x":1}'), `${new Webhook(a).sign('msg_1', at, '{"x":1}')} ${new Webhook(b).sign('msg_1', at, '{"x":1}')}`);
    assert.throws(() => signatureHeader([], 'msg_1', at, '{}'), { message: 'cannot sign webhook msg_1: no signing secret (every endpoint has at least one whsec_ secret)' });
  });

  it('reuses kept-alive connections for consecutive deliveries', async () => {
    const first = await sendWebhook(request({ url: `${base}/ok` }));
    const second = await sendWebhook(request({ url: `${base}/ok` }));
    assert.equal(first.ok && second.ok, true);
    const [a, b] = seen.slice(-2);
    assert.equal(a!.connection, b!.connection);
  });

  it('500 is a failure with the status and the body excerpt', async () => {
    assert.deepEqual(await stable(() => sendWebhook(request({ url: `${base}/500` }))), {
      ok: false,
      kind: 'http_error',
      httpStatus: 500,
      error: 'HTTP 500',
      retryAfterMs: null,
      gone: false,
      responseExcerpt: 'boom',
    });
  });

  it('410 is gone', async () => {
    assert.deepEqual(await stable(() => sendWebhook(request({ url: `${base}/410` }))), {
      ok: false,
      kind: 'gone',
      httpStatus: 410,
      error: 'HTTP 410',
      retryAfterMs: null,
      gone: true,
      responseExcerpt: 'gone for good',
    });
  });

  it('reports Retry-After as delta-seconds or HTTP-date', async () => {
    const seconds = await sendWebhook(request({ url: `${base}/503-seconds` }));
    assert.equal(seconds.httpStatus, 503);
    assert.equal(seconds.retryAfterMs, 7_000);
    const date = await sendWebhook(request({ url: `${base}/503-date` }));
    assert.ok(date.retryAfterMs !== null && date.retryAfterMs > 55_000 && date.retryAfterMs <= 60_000, `retryAfterMs ${date.retryAfterMs}`);
    const past = await sendWebhook(request({ url: `${base}/429-past-date` }));
    assert.equal(past.retryAfterMs, 0);
  });

  it('does not follow redirects', async () => {
    const before = count('/elsewhere');
    const result = await sendWebhook(request({ url: `${base}/301` }));
    assert.equal(result.ok, false);
    assert.equal(result.httpStatus, 301);
    assert.equal(result.error, `redirect not followed: 301 to ${base}/elsewhere`);
    assert.equal(count('/301'), 1);
    assert.equal(count('/elsewhere'), before, 'the Location was not requested');
  });

  it('gives up after timeoutMs when the receiver never answers', async () => {
    const result = await sendWebhook(request({ url: `${base}/hang`, timeoutMs: 300 }));
    assert.equal(result.ok, false);
    assert.equal(result.httpStatus, null);
    assert.equal(result.error, 'timed out after 300 ms');
    assert.equal(result.kind, 'timeout');
    assert.equal(result.responseExcerpt, null);
    assert.ok(result.latencyMs >= 290 && result.latencyMs < 1_000, `latency ${result.latencyMs}`);
  });

  it('bounds the body read by the same timeout, keeping the status and what arrived', async () => {
    const started = Date.now();
    const result = await sendWebhook(request({ url: `${base}/slow-body`, timeoutMs: 300 }));
    assert.equal(result.ok, true);
    assert.equal(result.httpStatus, 200);
    assert.equal(result.responseExcerpt, 'partial');
    assert.ok(Date.now() - started < 1_000);
  });

  it('keeps only the first 1 KiB of the response body', async () => {
    const result = await sendWebhook(request({ url: `${base}/big` }));
    assert.equal(result.ok, true);
    assert.equal(result.responseExcerpt, 'x'.repeat(RESPONSE_EXCERPT_BYTES));
  });

  it('sends once more on a new connection when a kept-alive connection was closed by the receiver', async () => {
    const first = await sendWebhook(request({ url: `${base}/reset-on-reuse` }));
    assert.equal(first.responseExcerpt, 'fresh');
    const connectionsBefore = connections;
    const second = await sendWebhook(request({ url: `${base}/reset-on-reuse` }));
    assert.equal(second.ok, true, `second attempt: ${second.error}`);
    assert.equal(second.responseExcerpt, 'fresh');
    assert.equal(connections, connectionsBefore + 1, 'the retry used a new connection');
    const [reused, retried] = seen.slice(-2);
    assert.equal(reused!.headers['webhook-id'], retried!.headers['webhook-id'], 'same webhook-id, so the receiver deduplicates');
  });

  it('reports a refused connection, over http and https', async () => {
    assert.deepEqual(await stable(() => sendWebhook(request({ url: `http://127.0.0.1:${closedPort}/hook` }))), {
      ok: false,
      kind: 'network_error',
      httpStatus: null,
      error: 'connection refused (ECONNREFUSED)',
      retryAfterMs: null,
      gone: false,
      responseExcerpt: null,
    });
    const tls = await sendWebhook(request({ url: `https://127.0.0.1:${closedPort}/hook`, policy: { allowHttp: false, allowlist: ['127.0.0.1'] } }));
    assert.equal(tls.ok, false);
    assert.equal(tls.error, 'connection refused (ECONNREFUSED)');
  });

  it('reports a TLS failure cleanly (https to a plain-http port)', async () => {
    const result = await sendWebhook(request({ url: base.replace('http:', 'https:') + '/ok' }));
    assert.equal(result.ok, false);
    assert.equal(result.httpStatus, null);
    assert.equal(result.error, 'TLS error: wrong version number (EPROTO); the port may serve plain http, not https');
  });

  it('refuses 127.0.0.1 without an allowlist, before connecting', async () => {
    const before = seen.length;
    const connectionsBefore = connections;
    const literal = await sendWebhook(request({ url: `${base}/ok`, policy: { allowHttp: true, allowlist: [] } }));
    assert.equal(literal.ok, false);
    assert.equal(literal.kind, 'unsafe_address');
    assert.equal(literal.httpStatus, null);
    assert.equal(
      literal.error,
      'unsafe address: webhook host 127.0.0.1 is a loopback address (range "loopback"); only public addresses are allowed unless gateway.webhooks.allowlist names the host or range',
    );

    const named = await sendWebhook(request({ url: base.replace('127.0.0.1', 'localhost') + '/ok', policy: { allowHttp: true, allowlist: [] } }));
    assert.equal(named.ok, false);
    assert.equal(named.kind, 'unsafe_address');
    assert.match(named.error ?? '', /^unsafe address: webhook host localhost resolves to (127\.0\.0\.1|::1), a loopback address \(range "loopback"\)/);

    assert.equal(seen.length, before, 'the server saw no request');
    assert.equal(connections, connectionsBefore, 'nor a connection');
  });

  it('delivers to localhost when the allowlist names it (the check is on the resolved address)', async () => {
    const result = await sendWebhook(request({ url: base.replace('127.0.0.1', 'localhost') + '/ok', policy: { allowHttp: true, allowlist: ['localhost'] } }));
    assert.equal(result.ok, true, result.error ?? '');
  });

  it('never throws for a bad URL, a refused scheme or an unsendable header', async () => {
    const notUrl = await sendWebhook(request({ url: 'not a url' }));
    assert.equal(notUrl.ok, false);
    assert.match(notUrl.error ?? '', /^unsafe URL: webhook URL "not a url" is not a valid absolute URL/);

    const http = await sendWebhook(request({ url: `${base}/ok`, policy: { allowHttp: false, allowlist: ['127.0.0.1'] } }));
    assert.equal(http.error, `unsafe URL: webhook URL ${base}/ok must use https (set gateway.webhooks.allow_http: true for development only)`);

    const badId = await sendWebhook(request({ url: `${base}/ok`, id: 'msg_1\r\nx-injected: 1' }));
    assert.equal(badId.ok, false);
    assert.match(badId.error ?? '', /^request not sent: .*\(ERR_INVALID_CHAR\)$/);
  });
});

/**
 * The result of `send()` without latencyMs (which varies); asserts latencyMs is whole milliseconds
 * measured inside the call: no more than the call took.
 */
async function stable(send: () => ReturnType<typeof sendWebhook>) {
  const before = performance.now();
  const { latencyMs, ...rest } = await send();
  const wallMs = performance.now() - before;
  assert.ok(Number.isInteger(latencyMs) && latencyMs >= 0 && latencyMs <= Math.ceil(wallMs), `latency ${latencyMs} ms, call ${wallMs} ms`);
  return rest;
}
