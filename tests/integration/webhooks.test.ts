/**
 * Integration: webhook subscriptions and signed, durable deliveries, end to end — real Temporal dev
 * server, real PostgreSQL, an in-process run worker, the gateway (HTTP API + delivery worker), and a
 * real HTTP receiver in this process that verifies every delivery with the `standardwebhooks`
 * library's `verify`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Webhook } from 'standardwebhooks';
import { DEFAULT_WEBHOOK_SETTINGS, type GatewayToken, type SluiceConfig } from '../../config/sluice-config';
import { hashToken } from '../../webhook-gateway/auth';
import { startGateway, type Gateway } from '../../webhook-gateway/gateway';
import { createTestDatabase, logger, startInProcessRunner, startTemporal, tempProject, testConfig, type InProcessRunner, type TestDatabase } from '../helpers/services';

const ADMIN = 'admin-token-0123456789';
const RUNS_ONLY = 'runs-token-0123456789';
const TOKENS: GatewayToken[] = [
  { name: 'admin', sha256: hashToken(ADMIN), scopes: ['runs:read', 'runs:write', 'webhooks:read', 'webhooks:write'] },
  { name: 'runs', sha256: hashToken(RUNS_ONLY), scopes: ['runs:read', 'runs:write'] },
];

const FLOW = `
name: hooks
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.hooks, write: append }
fields:
  id:     { from: id, type: int64, required: true }
  amount: { from: amount, type: float64, check: "amount >= 0" }
`;

interface Received {
  path: string;
  id: string;
  headers: Record<string, string>;
  body: string;
  payload: { type: string; timestamp: string; data: Record<string, unknown> };
}

/** A webhook receiver: per path, a list of status codes to answer in turn (the last one repeats). */
class Receiver {
  server!: Server;
  url = '';
  readonly received: Received[] = [];
  readonly plans = new Map<string, number[]>();
  readonly retryAfter = new Map<string, string>();

  async start(): Promise<void> {
    this.server = createServer(async (req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      this.received.push({ path: req.url!, id: headers['webhook-id']!, headers, body, payload: JSON.parse(body) });
      const plan = this.plans.get(req.url!) ?? [200];
      const status = plan.length > 1 ? plan.shift()! : plan[0]!;
      const retryAfter = this.retryAfter.get(req.url!);
      if (retryAfter && status >= 300) res.setHeader('Retry-After', retryAfter);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `failing with ${status}`);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  at(pathname: string): Received[] {
    return this.received.filter((r) => r.path === pathname);
  }

  /** Deliveries that verify with the secret, by the official library (throws on a bad signature). */
  verifyAll(pathname: string, secret: string): Array<Received['payload']> {
    const hook = new Webhook(secret);
    return this.at(pathname).map((r) => hook.verify(r.body, r.headers) as Received['payload']);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('webhooks: signed, durable deliveries of run events', { timeout: 300_000 }, () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let runner: InProcessRunner;
  let gateway: Gateway;
  let config: SluiceConfig;
  let version: string;
  let dir: string;
  const receiver = new Receiver();

  const call = async (method: string, route: string, options: { token?: string; body?: unknown } = {}) => {
    const response = await fetch(`${gateway.url}${route}`, {
      method,
      headers: {
        ...(options.token === undefined ? { authorization: `Bearer ${ADMIN}` } : options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = await response.text();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: response.status, body: (text ? JSON.parse(text) : null) as any };
  };

  const subscribe = async (pathname: string, events?: string[]) => {
    const created = await call('POST', '/v1/webhooks', { body: { url: `${receiver.url}${pathname}`, ...(events ? { events } : {}), description: pathname } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body as { id: string; secret: string; url: string };
  };

  const deliveries = async (webhookId: string) => {
    const listed = await call('GET', `/v1/webhooks/${webhookId}/deliveries`);
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    return listed.body.deliveries as Array<{ id: string; event_id: string; event_type: string; status: string; trigger: string; attempts: Array<{ http_status: number | null; error: string | null; next_retry_at: string | null; latency_ms: number }> }>;
  };

  /** Starts a run through the API and waits for it to end. */
  const runOnce = async (file: string, csv: string) => {
    writeFileSync(path.join(dir, file), csv);
    const started = await call('POST', '/v1/runs', { body: { flow_version: version, source_path: file, run_metadata: { ticket: file } } });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    await runner.sluice.getRun(started.body.id).then((run) => run.wait().catch(() => undefined));
    return started.body.id as string;
  };

  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    await receiver.start();
    dir = tempProject();
    const base = testConfig({ dir, databaseUrl: db.url, address: env.address, connectors: { files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } } });
    config = {
      ...base,
      gateway: {
        port: 0,
        host: '127.0.0.1',
        tokens: TOKENS,
        webhooks: { ...DEFAULT_WEBHOOK_SETTINGS, retryScheduleMs: [0, 300, 300, 300], timeoutMs: 2000, allowHttp: true, allowlist: ['127.0.0.1'] },
      },
    };
    runner = await startInProcessRunner(env, db, config);
    version = await runner.publish(FLOW);
    gateway = await startGateway({ config, logger, port: 0, connection: env.connection, workerConnection: env.nativeConnection });
  });

  after(async () => {
    await gateway?.close();
    await runner?.stop();
    await receiver.close();
    await env?.teardown();
    await db?.drop();
  });

  it('needs a token with the webhooks scopes (401 without one, 403 with a runs-only token)', async () => {
    assert.equal((await call('GET', '/v1/webhooks', { token: '' })).status, 401);
    const forbidden = await call('POST', '/v1/webhooks', { token: RUNS_ONLY, body: { url: `${receiver.url}/x` } });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.error.code, 'INSUFFICIENT_SCOPE');
  });

  it('refuses private, loopback, link-local and metadata addresses that the allowlist does not name (422)', async () => {
    for (const url of ['http://10.1.2.3/hook', 'http://169.254.169.254/latest/meta-data', 'http://[::1]:8080/hook', 'http://127.0.0.2:9/hook', 'http://192.168.0.10/x']) {
      const refused = await call('POST', '/v1/webhooks', { body: { url } });
      assert.equal(refused.status, 422, `${url}: ${JSON.stringify(refused.body)}`);
      assert.equal(refused.body.error.code, 'UNSAFE_WEBHOOK_URL');
      assert.match(refused.body.error.message, /allowlist/);
    }
    const invalid = await call('POST', '/v1/webhooks', { body: { url: 'not a url', events: ['run.nope'] } });
    assert.equal(invalid.status, 400);
    assert.deepEqual(invalid.body.error.details.issues.map((i: { path: string }) => i.path).sort(), ['events.0', 'url']);
    assert.equal((await call('GET', '/v1/webhooks')).body.webhooks.length, 0, 'nothing was stored');
  });

  it('delivers every transition of a real run, signed (verified with standardwebhooks), and /events lists them in order', async () => {
    const hook = await subscribe('/all');
    assert.match(hook.secret, /^whsec_[A-Za-z0-9+/=]{32}$/);
    const listed = await call('GET', `/v1/webhooks/${hook.id}`);
    assert.equal(listed.body.secret, undefined, 'the secret is never shown again');

    const runId = await runOnce('e2e.csv', 'id,amount\n1,10\n2,-5\n3,7\n');
    const expected = ['run.created', 'run.syncing_source', 'run.transforming', 'run.syncing_target', 'run.partial_failed'];
    await until('five deliveries', async () => receiver.at('/all').length >= 5);
    const payloads = receiver.verifyAll('/all', hook.secret);
    assert.deepEqual(payloads.map((p) => p.type).sort(), [...expected].sort());
    const byType = new Map(payloads.map((p) => [p.type, p]));
    assert.deepEqual(byType.get('run.partial_failed')!.data, {
      run_id: runId,
      status: 'PARTIAL_FAILED',
      flow_version: version,
      source_path: 'e2e.csv',
      run_metadata: { ticket: 'e2e.csv' },
      rows: { read: 3, mapped: 2, rejected: 1, written: 2 },
      started_by: 'admin', // the token's user: its name, as it names no user
    });
    assert.equal(byType.get('run.created')!.data.status, 'CREATED');
    // webhook-id is the event id, the same id the events endpoint shows.
    const events = await call('GET', `/v1/runs/${runId}/events`);
    assert.equal(events.status, 200);
    assert.deepEqual(events.body.events.map((e: { type: string }) => e.type), expected, 'every transition, in order');
    assert.deepEqual(new Set(receiver.at('/all').map((r) => r.id)), new Set(events.body.events.map((e: { id: string }) => e.id)));
    // The pull fallback's cursor.
    const third = events.body.events[2].id;
    const after = await call('GET', `/v1/runs/${runId}/events?after=${third}`);
    assert.deepEqual(after.body.events.map((e: { type: string }) => e.type), expected.slice(3));
    assert.equal(after.body.next_after, events.body.events[4].id);
    assert.equal((await call('GET', `/v1/runs/${runId}/events?after=evt_nope`)).body.error.code, 'EVENT_NOT_FOUND');
    assert.equal((await call('GET', '/v1/runs/no-such-run/events')).status, 404);
    // Timestamps are in transition order, and each delivery is signed at send time.
    const stamps = expected.map((t) => Date.parse(byType.get(t)!.timestamp));
    assert.deepEqual([...stamps].sort((a, b) => a - b), stamps);
    for (const r of receiver.at('/all')) assert.ok(Math.abs(Number(r.headers['webhook-timestamp']) * 1000 - Date.now()) < 60_000);
    const log = await deliveries(hook.id);
    assert.equal(log.length, 5);
    assert.ok(log.every((d) => d.status === 'succeeded' && d.attempts.length === 1 && d.attempts[0]!.http_status === 200));
    await call('DELETE', `/v1/webhooks/${hook.id}`);
  });

  it('retries a receiver that fails twice: processed exactly once, three attempts in the log', async () => {
    const hook = await subscribe('/flaky', ['run.succeeded']);
    receiver.plans.set('/flaky', [500, 503, 200]);
    await runOnce('flaky.csv', 'id,amount\n1,1\n');
    const delivered = await until('a succeeded delivery', async () => {
      const log = await deliveries(hook.id);
      return log.length === 1 && log[0]!.status === 'succeeded' ? log[0] : undefined;
    });
    assert.deepEqual(delivered.attempts.map((a) => a.http_status), [500, 503, 200]);
    assert.deepEqual(delivered.attempts.map((a) => a.error), ['HTTP 500', 'HTTP 503', null]);
    assert.ok(delivered.attempts[0]!.next_retry_at && delivered.attempts[1]!.next_retry_at && !delivered.attempts[2]!.next_retry_at);
    // The receiver deduplicates by webhook-id: three requests, one event processed.
    const requests = receiver.at('/flaky');
    assert.equal(requests.length, 3);
    assert.equal(new Set(requests.map((r) => r.id)).size, 1);
    assert.equal(receiver.verifyAll('/flaky', hook.secret).length, 3);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    assert.match(metrics, /^sluice_webhook_delivery_attempts_total\{outcome="http_error"\} [1-9]\d*$/m);
    assert.match(metrics, /^sluice_webhook_deliveries_total\{outcome="succeeded"\} [1-9]\d*$/m);
    assert.match(metrics, /^sluice_webhook_deliveries_pending \d+$/m);
    assert.match(metrics, /^sluice_webhook_delivery_latency_seconds_count [1-9]\d*$/m);
    await call('DELETE', `/v1/webhooks/${hook.id}`);
  });

  it('honours Retry-After, then gives up after the schedule; recover re-sends what failed; redeliver sends one again', async () => {
    const hook = await subscribe('/down', ['run.succeeded']);
    receiver.plans.set('/down', [503]);
    receiver.retryAfter.set('/down', '1');
    const since = new Date().toISOString();
    await runOnce('down.csv', 'id,amount\n1,1\n');
    const failed = await until('a failed delivery', async () => {
      const log = await deliveries(hook.id);
      return log[0]?.status === 'failed' ? log[0] : undefined;
    });
    assert.equal(failed.attempts.length, 4, 'every attempt of the schedule');
    const gaps = failed.attempts.slice(1).map((a, i) => Date.parse((a as unknown as { attempted_at: string }).attempted_at) - Date.parse((failed.attempts[i] as unknown as { attempted_at: string }).attempted_at));
    assert.ok(gaps.every((gap) => gap >= 950), `Retry-After: 1 (longer than the 300 ms schedule) was honoured: gaps ${gaps.join(', ')} ms`);
    // The endpoint is back: recover re-sends the failed event (once), with the same webhook-id.
    receiver.plans.set('/down', [200]);
    const recovered = await call('POST', `/v1/webhooks/${hook.id}/recover`, { body: { since } });
    assert.equal(recovered.status, 202, JSON.stringify(recovered.body));
    assert.equal(recovered.body.deliveries.length, 1);
    await until('the recovered delivery', async () => (await deliveries(hook.id)).find((d) => d.trigger === 'recover' && d.status === 'succeeded'));
    assert.equal(receiver.at('/down').at(-1)!.id, failed.event_id);
    // Nothing failed since: a second recover sends nothing.
    assert.deepEqual((await call('POST', `/v1/webhooks/${hook.id}/recover`, { body: { since: new Date().toISOString() } })).body.deliveries, []);
    const redelivered = await call('POST', `/v1/webhooks/${hook.id}/deliveries/${failed.id}/redeliver`);
    assert.equal(redelivered.status, 202);
    assert.equal(redelivered.body.trigger, 'redeliver');
    await until('the redelivery', async () => (await deliveries(hook.id)).find((d) => d.id === redelivered.body.id && d.status === 'succeeded'));
    assert.equal(receiver.at('/down').filter((r) => r.id === failed.event_id).length, 6, '4 failed attempts, the recovery, the redelivery');
    assert.equal((await call('POST', `/v1/webhooks/${hook.id}/deliveries/dlv_nope/redeliver`)).body.error.code, 'DELIVERY_NOT_FOUND');
    await call('DELETE', `/v1/webhooks/${hook.id}`);
  });

  it('disables an endpoint that answers 410 Gone and emits webhook.disabled to other subscribers', async () => {
    const watcher = await subscribe('/watcher', ['webhook.disabled']);
    const gone = await subscribe('/gone', ['run.succeeded']);
    receiver.plans.set('/gone', [410]);
    await runOnce('gone.csv', 'id,amount\n1,1\n');
    const notice = await until('webhook.disabled', async () => receiver.at('/watcher')[0]);
    const [payload] = receiver.verifyAll('/watcher', watcher.secret);
    assert.equal(payload!.type, 'webhook.disabled');
    assert.deepEqual(payload!.data, { webhook_id: gone.id, url: `${receiver.url}/gone`, reason: 'the endpoint answered 410 Gone' });
    assert.deepEqual(receiver.at('/watcher'), [notice], 'exactly one webhook.disabled notice');
    const state = await call('GET', `/v1/webhooks/${gone.id}`);
    assert.equal(state.body.disabled, true);
    assert.equal(state.body.disabled_reason, 'the endpoint answered 410 Gone');
    const log = await deliveries(gone.id);
    assert.equal(log[0]!.status, 'failed');
    assert.equal(log[0]!.attempts.length, 1, '410 is not retried');
    assert.equal(receiver.at('/gone').length, 1);
    // A disabled endpoint gets nothing new; redeliver says why; PATCH re-enables it.
    await runOnce('gone-2.csv', 'id,amount\n2,2\n');
    assert.equal((await deliveries(gone.id)).length, 1);
    const refused = await call('POST', `/v1/webhooks/${gone.id}/deliveries/${log[0]!.id}/redeliver`);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'WEBHOOK_DISABLED');
    const enabled = await call('PATCH', `/v1/webhooks/${gone.id}`, { body: { disabled: false } });
    assert.equal(enabled.body.disabled, false);
    assert.equal(enabled.body.disabled_reason, null);
    await call('DELETE', `/v1/webhooks/${gone.id}`);
    await call('DELETE', `/v1/webhooks/${watcher.id}`);
  });

  it('disables an endpoint that has been failing for disable_after (5 days), logging and emitting it', async () => {
    const hook = await subscribe('/stale', ['run.succeeded']);
    receiver.plans.set('/stale', [500]);
    // Five days and a minute of failures so far (as the log would show), then one more failure.
    await db.pool.query(`UPDATE sluice.webhooks SET failing_since = now() - interval '5 days 1 minute' WHERE id = $1`, [hook.id]);
    await runOnce('stale.csv', 'id,amount\n1,1\n');
    const state = await until('the endpoint disabled', async () => {
      const got = await call('GET', `/v1/webhooks/${hook.id}`);
      return got.body.disabled ? got.body : undefined;
    });
    assert.match(state.disabled_reason, /^every delivery failed for 43\d{4} s \(gateway\.webhooks\.disable_after is 432000 s\); last error: HTTP 500$/);
    const log = await deliveries(hook.id);
    assert.equal(log[0]!.status, 'failed');
    assert.equal(log[0]!.attempts.length, 1);
    // The endpoint is disabled first, then `webhook.disabled` is published: a reader can see the flag a moment before the event.
    const storedEvents = async () =>
      (await db.pool.query(`SELECT payload FROM sluice.events WHERE type = 'webhook.disabled' AND payload->'data'->>'webhook_id' = $1`, [hook.id])).rows;
    await until('webhook.disabled stored', async () => ((await storedEvents()).length > 0 ? true : undefined));
    assert.equal((await storedEvents()).length, 1, 'webhook.disabled is stored (and emitted) once');
  });

  it('rotates the secret: during the overlap both the old and the new secret verify each delivery', async () => {
    const hook = await subscribe('/rotate', ['run.succeeded']);
    const rotated = await call('POST', `/v1/webhooks/${hook.id}/rotate-secret`);
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.body.secret, hook.secret);
    const overlapMs = Date.parse(rotated.body.previous_secret_expires_at) - Date.now();
    assert.ok(overlapMs > 23.9 * 3_600_000 && overlapMs <= 24 * 3_600_000, `24 h overlap (${overlapMs} ms)`);
    await runOnce('rotate.csv', 'id,amount\n1,1\n');
    await until('the delivery', async () => receiver.at('/rotate').length === 1);
    assert.equal(receiver.at('/rotate')[0]!.headers['webhook-signature']!.split(' ').length, 2);
    assert.equal(receiver.verifyAll('/rotate', hook.secret)[0]!.type, 'run.succeeded');
    assert.equal(receiver.verifyAll('/rotate', rotated.body.secret)[0]!.type, 'run.succeeded');
    assert.throws(() => receiver.verifyAll('/rotate', 'whsec_' + Buffer.alloc(24, 7).toString('base64')), /signature/i);
  });

  it('answers GET /v1/runs/:id from the last recorded event when no worker answers the query (never a 500)', async () => {
    let csv = 'id,amount\n';
    for (let id = 1; id <= 300_000; id++) csv += `${id},${id % 97}\n`;
    writeFileSync(path.join(dir, 'no-worker.csv'), csv);
    const started = await call('POST', '/v1/runs', { body: { flow_version: version, source_path: 'no-worker.csv' } });
    assert.equal(started.status, 201);
    const id = started.body.id as string;
    await until('the run under way', async () => (await call('GET', `/v1/runs/${id}/events`)).body.events.length >= 2);
    // The only worker stops: the run stays open, and nobody answers its queries.
    await runner.worker.shutdown();
    const events = (await call('GET', `/v1/runs/${id}/events`)).body.events as Array<{ type: string; data: { status: string } }>;
    const last = events.at(-1)!;
    assert.notEqual(last.type, 'run.succeeded', 'the run is still open');
    const got = await call('GET', `/v1/runs/${id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.status_source, 'event');
    assert.equal(got.body.status, last.data.status);
    assert.equal(got.body.flow_version, version);
    assert.equal(got.body.source_path, 'no-worker.csv');
    assert.equal(got.body.metadata, null);
  });
});
