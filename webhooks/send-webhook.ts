/**
 * One webhook delivery attempt, as the Standard Webhooks spec describes it
 * (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
 *
 * - `POST` of the exact JSON body with `content-type: application/json`;
 * - `webhook-id` (the event's id, the same on every retry so receivers deduplicate),
 *   `webhook-timestamp` (unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
 *   "<id>.<timestamp>.<body>">`, one per secret, space-separated, made by the `standardwebhooks`
 *   library): during a secret rotation both the old and the new secret sign, and receivers accept
 *   any one that verifies;
 * - 2xx is success; redirects are NOT followed (a 3xx is a failure naming the `Location`);
 *   410 Gone means the receiver wants no more deliveries (`gone`, the caller disables the endpoint);
 *   `Retry-After` on any other response is reported so the caller can honour it.
 *
 * Every connection goes through the SSRF guard (`./ssrf-guard`): the URL's scheme is checked, a
 * literal IP host is checked before connecting, and a host name is resolved by
 * {@link guardedLookup}, so the address checked is the address connected to, at every attempt.
 *
 * {@link sendWebhook} never throws for a delivery problem: refused URL, DNS, connection, TLS,
 * timeout and HTTP errors all become a result with `ok: false` and a one-line `error`.
 *
 * @example
 * ```ts
 * const result = await sendWebhook({
 *   url: 'https://hooks.example.com/sluice', id: 'evt_2b9…', timestamp: new Date(),
 *   payload: JSON.stringify({ type: 'run.succeeded', timestamp: '…', data: { … } }),
 *   secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], timeoutMs: 15_000, policy: settings.webhooks,
 * });
 * if (!result.ok) logger.warn({ error: result.error, status: result.httpStatus }, 'webhook attempt failed');
 * ```
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Webhook } from 'standardwebhooks';
import type { WebhookSettings } from '../config/sluice-config';
import { bareHostname, guardedLookup, isAddressAllowed, parseWebhookUrl, refusalMessage, UnsafeWebhookUrlError } from './ssrf-guard';

/** One delivery attempt of one event to one endpoint. */
export interface WebhookAttemptRequest {
  /** The endpoint; must pass the SSRF guard (`https:` unless `policy.allowHttp`). */
  url: string;
  /** webhook-id: the event's id (stable across retries, so receivers deduplicate). */
  id: string;
  /** webhook-timestamp: sent as unix seconds; receivers reject timestamps too far from their clock (the library's tolerance is 5 minutes), so pass the attempt's time, not the event's. */
  timestamp: Date;
  /** The exact JSON body; signed as-is. */
  payload: string;
  /** whsec_… secrets; every one signs (rotation: old and new both sign during the overlap). At least one. */
  secrets: readonly string[];
  /** Bound on the whole attempt: DNS, connect, TLS, request, response headers and the body excerpt, in milliseconds. */
  timeoutMs: number;
  /** `gateway.webhooks.allow_http` and `allowlist`. */
  policy: Pick<WebhookSettings, 'allowHttp' | 'allowlist'>;
}

/**
 * How an attempt ended, for metrics: `success` (2xx), `gone` (410), `http_error` (any other status),
 * `unsafe_address` (the SSRF guard refused the address), `timeout` (the attempt's deadline, or
 * ETIMEDOUT), `network_error` (anything else: refused URL, DNS, connection, TLS).
 */
export type WebhookAttemptKind = 'success' | 'http_error' | 'gone' | 'timeout' | 'network_error' | 'unsafe_address';

/** What one attempt did. */
export interface WebhookAttemptResult {
  /** True when the response status is 2xx. */
  ok: boolean;
  /** How the attempt ended (see {@link WebhookAttemptKind}). */
  kind: WebhookAttemptKind;
  /** The response status, or null when no response arrived. */
  httpStatus: number | null;
  /** Milliseconds from the start of the attempt to the response headers (or to the failure). */
  latencyMs: number;
  /**
   * Null when ok; else one line: `HTTP 500`, `timed out after 15000 ms`, `connection refused (ECONNREFUSED)`,
   * `redirect not followed: 301 to https://…`, `unsafe address: …` (the SSRF guard refused the address),
   * `unsafe URL: …` (wrong scheme, credentials, not a URL), `TLS error: … (CODE)`.
   */
  error: string | null;
  /** From a `Retry-After` header (delta-seconds or HTTP-date; never negative), on any non-2xx response; else null. */
  retryAfterMs: number | null;
  /** True for HTTP 410 Gone: the receiver asks for no more deliveries. */
  gone: boolean;
  /** The first 1 KiB of the response body, decoded as UTF-8 (a character cut at the end becomes U+FFFD); null when no response. */
  responseExcerpt: string | null;
}

/** Bytes of the response body kept in {@link WebhookAttemptResult.responseExcerpt}. */
export const RESPONSE_EXCERPT_BYTES = 1024;

/**
 * The `webhook-signature` header value: one `v1,<base64>` per secret (each from `standardwebhooks`'s
 * `new Webhook(secret).sign(id, timestamp, payload)`), space-separated, in the order given.
 *
 * @param secrets `whsec_`-prefixed base64 secrets (the prefix is optional).
 * @param timestamp signed as whole unix seconds, like the `webhook-timestamp` header.
 * @throws Error when `secrets` is empty or a secret is not valid base64 (a bug or a corrupt secret, not a delivery failure).
 */
export function signatureHeader(secrets: readonly string[], id: string, timestamp: Date, payload: string): string {
  if (secrets.length === 0) throw new Error(`cannot sign webhook ${id}: no signing secret (every endpoint has at least one whsec_ secret)`);
  return secrets.map((secret) => new Webhook(secret).sign(id, timestamp, payload)).join(' ');
}

/**
 * Makes one delivery attempt (see the module doc for the protocol). Connections are kept alive and
 * reused per protocol (module-level agents; their idle sockets never keep the process alive; see
 * {@link closeWebhookAgents}). When a reused idle connection turns out to have been closed by the
 * receiver (`ECONNRESET` before any response), the attempt is sent once more on a new connection
 * within the same time budget: the `webhook-id` is unchanged, so receivers deduplicate.
 *
 * @returns the result; never rejects for a delivery problem (bad or unsafe URL, DNS, connection,
 *   TLS, timeout, any HTTP status).
 * @throws Error only for a programming or data error: no secret, or a secret that is not base64.
 */
export async function sendWebhook(req: WebhookAttemptRequest): Promise<WebhookAttemptResult> {
  const started = performance.now();
  let url: URL;
  try {
    url = parseWebhookUrl(req.url, req.policy);
  } catch (caught) {
    if (caught instanceof UnsafeWebhookUrlError) return failure(started, 'network_error', `unsafe URL: ${caught.message}`);
    throw caught;
  }
  const host = bareHostname(url);
  if (net.isIP(host) !== 0) {
    // Node does not call `lookup` for a literal IP, so guardedLookup would never see it.
    const { allowed, range } = isAddressAllowed(host, host, req.policy);
    if (!allowed) {
      return failure(started, 'unsafe_address', `unsafe address: ${refusalMessage(`webhook host ${host}`, host, host, range)}`);
    }
  }
  const body = Buffer.from(req.payload, 'utf8');
  const headers: http.OutgoingHttpHeaders = {
    'content-type': 'application/json',
    'content-length': body.length,
    'user-agent': USER_AGENT,
    'webhook-id': req.id,
    'webhook-timestamp': String(Math.floor(req.timestamp.getTime() / 1000)),
    'webhook-signature': signatureHeader(req.secrets, req.id, req.timestamp, req.payload),
  };
  const deadline = started + req.timeoutMs;
  const options: http.RequestOptions = { method: 'POST', headers, lookup: guardedLookup(req.policy, host) };
  const first = await attempt(url, options, body, started, deadline, req.timeoutMs, false);
  if (!first.staleSocket || performance.now() >= deadline) return first.result;
  return (await attempt(url, options, body, started, deadline, req.timeoutMs, true)).result;
}

/**
 * Destroys the sockets of the keep-alive agents used by {@link sendWebhook} (for a graceful
 * shutdown, or the end of a test); attempts still in flight then fail with a connection reset,
 * so call it once deliveries have stopped. Idle sockets do not keep the process alive anyway (Node unrefs
 * them, and they close after {@link IDLE_SOCKET_MS}). Later deliveries open new connections.
 */
export function closeWebhookAgents(): void {
  httpAgent?.destroy();
  httpsAgent?.destroy();
  httpAgent = undefined;
  httpsAgent = undefined;
}

/**
 * Idle keep-alive sockets are closed after this many milliseconds: below the 5 s idle timeout of
 * Node servers (`server.keepAliveTimeout`), so Sluice usually closes first rather than reusing a
 * socket the receiver is closing.
 */
const IDLE_SOCKET_MS = 4_000;

let httpAgent: http.Agent | undefined;
let httpsAgent: https.Agent | undefined;

function agentFor(protocol: string): http.Agent {
  if (protocol === 'https:') return (httpsAgent ??= new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }));
  return (httpAgent ??= new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }));
}

/** `Sluice-Webhooks/<version>`, the version from the package.json two levels above dist/webhook-gateway. */
const USER_AGENT = `Sluice-Webhooks/${packageVersion()}`;

function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
    return pkg.name === 'sluice' && typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

interface AttemptOutcome {
  result: WebhookAttemptResult;
  /** True when a reused keep-alive socket was reset before any response: worth one more try on a new socket. */
  staleSocket: boolean;
}

/**
 * One HTTP exchange, bounded by `deadline` (a performance.now() time); resolves, never rejects.
 * `fresh` sends on a new connection (no agent), for the retry after a stale keep-alive socket.
 */
function attempt(url: URL, options: http.RequestOptions, body: Buffer, started: number, deadline: number, timeoutMs: number, fresh: boolean): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let timedOut = false;
    let response: http.IncomingMessage | undefined;
    let timer: NodeJS.Timeout | undefined;
    const settle = (result: WebhookAttemptResult, staleSocket = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ result, staleSocket });
    };

    const onResponse = (res: http.IncomingMessage) => {
      response = res;
      const latencyMs = elapsed(started);
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let bytes = 0;
      const finish = () => {
        const excerpt = Buffer.concat(chunks).subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8');
        settle(resultOf(url, res, status, latencyMs, excerpt));
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        bytes += chunk.length;
        if (bytes >= RESPONSE_EXCERPT_BYTES) {
          // Enough: close this connection rather than download the rest.
          finish();
          res.destroy();
        }
      });
      res.on('end', finish);
      // Reset, aborted, or destroyed by the timer while reading the body: keep what arrived.
      res.on('error', finish);
      res.on('close', finish);
    };

    let request: http.ClientRequest;
    try {
      request = (url.protocol === 'https:' ? https : http).request(url, { ...options, agent: fresh ? false : agentFor(url.protocol) }, onResponse);
    } catch (caught) {
      // e.g. ERR_INVALID_CHAR: a header value (the webhook-id) with a control character.
      const error = caught as NodeJS.ErrnoException;
      settle(failure(started, 'network_error', `request not sent: ${error.message}${error.code ? ` (${error.code})` : ''}`));
      return;
    }
    timer = setTimeout(() => {
      timedOut = true;
      request.destroy(new Error(`timed out after ${timeoutMs} ms`));
    }, Math.max(0, deadline - performance.now()));

    request.on('error', (error: NodeJS.ErrnoException) => {
      if (response) return; // the response handlers settle
      if (timedOut) {
        settle(failure(started, 'timeout', `timed out after ${timeoutMs} ms`));
        return;
      }
      const stale = request.reusedSocket && error.code === 'ECONNRESET';
      const { kind, description } = describeError(error, bareHostname(url));
      settle(failure(started, kind, description), stale);
    });
    request.end(body);
  });
}

function resultOf(url: URL, res: http.IncomingMessage, status: number, latencyMs: number, excerpt: string): WebhookAttemptResult {
  const ok = status >= 200 && status < 300;
  let error: string | null = null;
  if (!ok) {
    const location = res.headers.location;
    error = status >= 300 && status < 400 && location !== undefined ? `redirect not followed: ${status} to ${absolute(location, url)}` : `HTTP ${status}`;
  }
  return {
    ok,
    kind: ok ? 'success' : status === 410 ? 'gone' : 'http_error',
    httpStatus: status,
    latencyMs,
    error,
    retryAfterMs: ok ? null : retryAfterMs(res.headers['retry-after']),
    gone: status === 410,
    responseExcerpt: excerpt,
  };
}

/**
 * `Retry-After` in milliseconds (RFC 9110 §10.2.3): delta-seconds (`7` → 7000) or an HTTP-date
 * (the time until then, 0 when past); null when absent or unparseable.
 */
function retryAfterMs(header: string | undefined): number | null {
  if (header === undefined) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - Date.now());
}

/** A one-line description of a request error (`connection refused (ECONNREFUSED)`, `unsafe address: …`, `TLS error: … (CODE)`) and its kind. */
function describeError(error: NodeJS.ErrnoException, host: string): { kind: WebhookAttemptKind; description: string } {
  const code = error.code ?? (error instanceof AggregateError ? (error.errors[0] as NodeJS.ErrnoException | undefined)?.code : undefined);
  const kind: WebhookAttemptKind = code === 'EUNSAFEADDRESS' ? 'unsafe_address' : code === 'ETIMEDOUT' ? 'timeout' : 'network_error';
  return { kind, description: describeErrorCode(error, code, host) };
}

function describeErrorCode(error: NodeJS.ErrnoException, code: string | undefined, host: string): string {
  switch (code) {
    case 'EUNSAFEADDRESS':
      return `unsafe address: ${error.message}`;
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)';
    case 'ECONNRESET':
      return 'connection reset by the receiver (ECONNRESET)';
    case 'ENOTFOUND':
      return `host ${host} not found (ENOTFOUND)`;
    case 'EAI_AGAIN':
      return `DNS lookup of ${host} failed temporarily (EAI_AGAIN)`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `host ${host} unreachable (${code})`;
    case 'ETIMEDOUT':
      return 'connection timed out (ETIMEDOUT)';
    case undefined:
      return oneLine(error.message);
  }
  if (/SSL|TLS|CERT|EPROTO/.test(code)) {
    const reason = oneLine(error.message);
    const hint = reason === 'wrong version number' ? '; the port may serve plain http, not https' : '';
    return `TLS error: ${reason} (${code})${hint}`;
  }
  return `${oneLine(error.message)} (${code})`;
}

/**
 * An error message on one line; an OpenSSL error string (`write EPROTO 80CC…:error:0A00010B:SSL
 * routines:ssl3_get_record:wrong version number:../deps/…:350:`) is shortened to its reason.
 */
function oneLine(message: string): string {
  const openssl = /:error:[0-9A-Fa-f]+:[^:]*:[^:]*:([^:]+):/.exec(message);
  return (openssl?.[1] ?? message).replace(/\s+/g, ' ').trim();
}

function failure(started: number, kind: WebhookAttemptKind, error: string): WebhookAttemptResult {
  return { ok: false, kind, httpStatus: null, latencyMs: elapsed(started), error, retryAfterMs: null, gone: false, responseExcerpt: null };
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

function absolute(location: string, base: URL): string {
  try {
    return new URL(location, base).href;
  } catch {
    return location;
  }
}
