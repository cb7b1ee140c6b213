/**
 * Integration: the gateway's runs API over real HTTP (Node's fetch) against a gateway on
 * 127.0.0.1:0, backed by the real Temporal dev server, real PostgreSQL and an in-process worker.
 */
import assert from 'node:assert/strict';
import { createWriteStream, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'pg';
import { Sluice } from '../../client/sluice';
import { DEFAULT_WEBHOOK_SETTINGS, type GatewayToken, type SluiceConfig } from '../../config/sluice-config';
import { EventPublisher } from '../../webhooks/event-publisher';
import { WebhookService } from '../../webhooks/webhook-service';
import { hashToken } from '../../webhook-gateway/auth';
import { createGatewayApp } from '../../webhook-gateway/create-gateway-app';
import { startGatewayServer, type GatewayServer } from '../../webhook-gateway/server';
import { nonSnakeKeys } from '../helpers/snake-case';
import { logger, startRunStack, type InProcessRunner, type RunStack, type TestDatabase } from '../helpers/services';

const WRITER = 'writer-token-0123456789';
const READER = 'reader-token-0123456789';
const TOKENS: GatewayToken[] = [
  { name: 'writer', sha256: hashToken(WRITER), scopes: ['runs:read', 'runs:write'] },
  { name: 'reader', sha256: hashToken(READER), scopes: ['runs:read'] },
];

const flowYaml = (name: string) => `
name: ${name}
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.${name}, write: append }
fields:
  id:     { from: id, type: int64, required: true }
  name:   { from: name, type: string }
  amount: { from: amount, type: int64 }
`;

const TERMINAL = ['SUCCEEDED', 'PARTIAL_FAILED', 'FAILED', 'CRASHED'];

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON answers, asserted field by field
  headers: Headers;
}

describe('gateway runs API on real Temporal and Postgres', () => {
  let stack: RunStack;
  let db: TestDatabase;
  let dir: string;
  let config: SluiceConfig;
  let runner: InProcessRunner;
  let sluice: Sluice;
  let gateway: GatewayServer;
  let webhooks: WebhookService;

  const publish = (yaml: string) => runner.publish(yaml);

  async function call(method: 'GET' | 'POST', route: string, options: { token?: string; body?: unknown; rawBody?: string } = {}): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined || options.rawBody !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${gateway.url}${route}`, {
      method,
      headers,
      body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    });
    const text = await response.text();
    const type = response.headers.get('content-type') ?? '';
    return { status: response.status, body: type.includes('json') ? JSON.parse(text) : text, headers: response.headers };
  }

  async function untilTerminal(id: string, timeoutMs = 120_000): Promise<Answer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await call('GET', `/v1/runs/${encodeURIComponent(id)}`, { token: READER });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      if (TERMINAL.includes(answer.body.status)) return answer;
      if (Date.now() > deadline) assert.fail(`run ${id} still ${answer.body.status} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Visibility is eventually consistent: retries until `check` passes. */
  async function eventually<T>(body: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await body();
      if (check(value) || Date.now() > deadline) return value;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  before(async () => {
    stack = await startRunStack({ connectors: () => ({ files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } }) });
    ({ db, dir, config, runner, sluice } = stack);
    writeFileSync(path.join(dir, 'clean.csv'), 'id,name,amount\n1,a,10\n2,b,20\n3,c,30\n');
    writeFileSync(path.join(dir, 'other.csv'), 'id,name,amount\n4,d,40\n');
    const big = createWriteStream(path.join(dir, 'big.csv'));
    big.write('id,name,amount\n');
    for (let start = 1; start <= 2_000_000; start += 10_000) {
      let block = '';
      for (let id = start; id < start + 10_000; id++) block += `${id},name-${id},${id % 1000}\n`;
      if (!big.write(block)) await once(big, 'drain');
    }
    big.end();
    await once(big, 'close');
    webhooks = new WebhookService(new EventPublisher(db.pool, sluice.client, `${config.temporal.taskQueue}-webhooks`, logger), DEFAULT_WEBHOOK_SETTINGS);
    const app = createGatewayApp({ sluice, tokens: TOKENS, logger, pool: db.pool, webhooks });
    gateway = await startGatewayServer(app, { port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    await gateway?.close();
    await stack?.stop();
  });

  it('answers 401 without a token or with an unknown one, and 403 for a read-only token on POST', async () => {
    const none = await call('GET', '/v1/runs');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="sluice"');
    assert.deepEqual(none.body, { error: { code: 'UNAUTHENTICATED', message: 'this route needs an API token: Authorization: Bearer <token>', details: {} } });
    const wrong = await call('GET', '/v1/runs/x', { token: 'not-a-token' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'UNAUTHENTICATED');
    assert.equal((await call('GET', '/v1/openapi.json')).status, 401);
    const readOnly = await call('POST', '/v1/runs', { token: READER, body: { flow_version: 'x:v1', source_path: 'clean.csv' } });
    assert.equal(readOnly.status, 403);
    assert.deepEqual(readOnly.body.error, {
      code: 'INSUFFICIENT_SCOPE',
      message: 'token "reader" lacks the scope runs:write this route needs',
      details: { required_scope: 'runs:write', token_scopes: ['runs:read'] },
    });
    assert.equal((await call('POST', '/v1/runs/x/cancel', { token: READER })).status, 403);
  });

  it('starts a run (201), follows it to its terminal status, refuses a repeat (409) and accepts force_rerun (201)', async () => {
    const version = await publish(flowYaml('gw_orders'));
    const created = await call('POST', '/v1/runs', { token: WRITER, body: { flow_version: version, source_path: 'clean.csv', run_metadata: { ticket: 'OPS-1' } } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    assert.match(id, /^gw_orders-v1-[0-9a-f]{16}$/);
    assert.deepEqual(created.body, { id, status: 'CREATED', status_source: 'search_attribute', flow_version: version, source_path: 'clean.csv', rows: null, metadata: null });
    assert.equal(created.headers.get('location'), `/v1/runs/${id}`);

    const done = await untilTerminal(id);
    assert.equal(done.body.status, 'SUCCEEDED');
    assert.equal(done.body.flow_version, version);
    assert.equal(done.body.source_path, 'clean.csv');
    assert.deepEqual(done.body.metadata.rows, { read: 3, mapped: 3, rejected: 0, written: 3 });
    assert.deepEqual(done.body.metadata.run.run_metadata, { ticket: 'OPS-1' });
    // One JSON shape: every key of the run and of its events (webhook payloads) is snake_case.
    assert.deepEqual(nonSnakeKeys(done.body), []);
    const events = await call('GET', `/v1/runs/${encodeURIComponent(id)}/events`, { token: READER });
    assert.equal(events.status, 200);
    assert.ok(events.body.events.length >= 5, `events: ${events.body.events.length}`);
    assert.deepEqual(nonSnakeKeys(events.body), []);

    const repeated = await call('POST', '/v1/runs', { token: WRITER, body: { flow_version: version, source_path: 'clean.csv' } });
    assert.equal(repeated.status, 409);
    assert.equal(repeated.body.error.code, 'REPEATED_SOURCE_PATH');
    assert.ok(repeated.body.error.message.startsWith(`${version} already ran on "clean.csv" (run ${id}, SUCCEEDED); loading it again could duplicate rows.`), repeated.body.error.message);
    assert.deepEqual(repeated.body.error.details, { run_id: id, status: 'SUCCEEDED' });

    const forced = await call('POST', '/v1/runs', { token: WRITER, body: { flow_version: version, source_path: 'clean.csv', force_rerun: true } });
    assert.equal(forced.status, 201, JSON.stringify(forced.body));
    assert.equal(forced.body.id, id);
    const again = await untilTerminal(id);
    assert.equal(again.body.status, 'SUCCEEDED');
    assert.notEqual(again.body.metadata.run.execution_id, done.body.metadata.run.execution_id, 'a forced rerun is a new execution');
  });

  it(`answers 422 UNKNOWN_FLOW_VERSION for a version that does not exist, 404 RUN_NOT_FOUND for an unknown run`, async () => {
    await publish(flowYaml('gw_known'));
    const unknown = await call('POST', '/v1/runs', { token: WRITER, body: { flow_version: 'gw_known:v9', source_path: 'clean.csv' } });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.error.code, 'UNKNOWN_FLOW_VERSION');
    assert.match(unknown.body.error.message, /^unknown flow version "gw_known:v9"; known versions of "gw_known": gw_known:v1/);
    const missing = await call('GET', '/v1/runs/no-such-run', { token: READER });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { error: { code: 'RUN_NOT_FOUND', message: 'no run with id "no-such-run"', details: {} } });
  });

  it('answers 400 listing every problem of a bad body with its path', async () => {
    const bad = await call('POST', '/v1/runs', { token: WRITER, body: { flow_version: 'Not A Version', source_path: '', run_metadata: [1], force_rerun: 'yes', extra: 1 } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'VALIDATION_FAILED');
    const issues = bad.body.error.details.issues as Array<{ path: string; message: string }>;
    assert.deepEqual(issues.map((i) => i.path).sort(), ['(body)', 'flow_version', 'force_rerun', 'run_metadata', 'source_path']);
    assert.deepEqual(issues.find((i) => i.path === 'flow_version'), { path: 'flow_version', message: 'expected a flow version "flow:vN", e.g. "movies:v1"' });
    assert.match(issues.find((i) => i.path === '(body)')!.message, /Unrecognized key: "extra"/);
    for (const issue of issues) assert.ok(bad.body.error.message.includes(`${issue.path}: ${issue.message}`), `the message names ${issue.path}`);

    const notJson = await call('POST', '/v1/runs', { token: WRITER, rawBody: '{"flow_version":' });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.code, 'INVALID_JSON');
    const noBody = await call('POST', '/v1/runs', { token: WRITER });
    assert.equal(noBody.status, 400);
    assert.deepEqual(noBody.body.error.details, { issues: [{ path: '(body)', message: 'expected a JSON object with Content-Type: application/json' }] });
    const badQuery = await call('GET', '/v1/runs?status=DONE&limit=0', { token: READER });
    assert.equal(badQuery.status, 400);
    assert.deepEqual(badQuery.body.error.details.issues.map((i: { path: string }) => i.path), ['status', 'limit']);
  });

  it('lists runs by flow from Temporal visibility, a page at a time with an opaque cursor', async () => {
    const version = await publish(flowYaml('gw_listed'));
    const first = await call('POST', '/v1/runs', { token: WRITER, body: { flow_version: version, source_path: 'clean.csv' } });
    const second = await call('POST', '/v1/runs', { token: WRITER, body: { flow_version: version, source_path: 'other.csv' } });
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    await untilTerminal(first.body.id);
    await untilTerminal(second.body.id);
    const listed = await eventually(
      () => call('GET', '/v1/runs?flow=gw_listed', { token: READER }),
      (a) => a.body.runs?.length === 2 && a.body.runs.every((r: { status: string; closed_at: string | null }) => r.status === 'SUCCEEDED' && r.closed_at !== null),
    );
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.runs.map((r: { id: string }) => r.id).sort(), [first.body.id, second.body.id].sort());
    for (const run of listed.body.runs) {
      assert.equal(run.flow_version, version);
      assert.equal(run.status, 'SUCCEEDED');
      assert.ok(!Number.isNaN(Date.parse(run.started_at)) && !Number.isNaN(Date.parse(run.closed_at)));
    }
    // source_path and the counts come from the run's memo, without a query per run.
    const byId = Object.fromEntries(listed.body.runs.map((r: { id: string; source_path: string; rows: unknown }) => [r.id, [r.source_path, r.rows]]));
    assert.deepEqual(byId, {
      [first.body.id]: ['clean.csv', { read: 3, mapped: 3, rejected: 0, written: 3 }],
      [second.body.id]: ['other.csv', { read: 1, mapped: 1, rejected: 0, written: 1 }],
    });
    assert.deepEqual(nonSnakeKeys(listed.body), []);
    assert.equal(listed.body.next_cursor, null);

    const page1 = await call('GET', '/v1/runs?flow=gw_listed&limit=1', { token: READER });
    assert.equal(page1.body.runs.length, 1);
    assert.equal(typeof page1.body.next_cursor, 'string');
    const page2 = await call('GET', `/v1/runs?flow=gw_listed&limit=1&cursor=${encodeURIComponent(page1.body.next_cursor)}`, { token: READER });
    assert.equal(page2.status, 200, JSON.stringify(page2.body));
    assert.equal(page2.body.runs.length, 1);
    assert.notEqual(page2.body.runs[0].id, page1.body.runs[0].id);
    const otherFilter = await call('GET', `/v1/runs?flow=gw_other&limit=1&cursor=${encodeURIComponent(page1.body.next_cursor)}`, { token: READER });
    assert.equal(otherFilter.status, 400);
    assert.equal(otherFilter.body.error.code, 'INVALID_CURSOR');
    const failedOnly = await call('GET', '/v1/runs?flow=gw_listed&status=FAILED', { token: READER });
    assert.deepEqual(failedOnly.body.runs, []);
  });

  it('cancels a long run (202); it ends FAILED with CANCELLED, and a second cancel is 409', async () => {
    const version = await publish(flowYaml('gw_big'));
    const created = await call('POST', '/v1/runs', { token: WRITER, body: { flow_version: version, source_path: 'big.csv' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    const cancelled = await call('POST', `/v1/runs/${encodeURIComponent(id)}/cancel`, { token: WRITER });
    assert.equal(cancelled.status, 202, JSON.stringify(cancelled.body));
    assert.deepEqual(cancelled.body, { id, cancel_requested: true });
    const ended = await untilTerminal(id);
    assert.equal(ended.body.status, 'FAILED');
    assert.equal(ended.body.metadata.error.code, 'CANCELLED');
    assert.equal(ended.body.metadata.error.message, 'the run was cancelled');
    const twice = await call('POST', `/v1/runs/${encodeURIComponent(id)}/cancel`, { token: WRITER });
    assert.equal(twice.status, 409);
    assert.equal(twice.body.error.code, 'RUN_NOT_RUNNING');
    assert.equal((await call('POST', '/v1/runs/no-such-run/cancel', { token: WRITER })).status, 404);
  });

  it('serves /healthz, /readyz and /metrics without a token, and the OpenAPI document with one', async () => {
    const health = await call('GET', '/healthz');
    assert.deepEqual([health.status, health.body], [200, { status: 'ok' }]);
    const ready = await call('GET', '/readyz');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.deepEqual(ready.body, { status: 'ready', checks: { temporal: { ok: true }, postgres: { ok: true } } });
    const openapi = await call('GET', '/v1/openapi.json', { token: READER });
    assert.equal(openapi.status, 200);
    assert.equal(openapi.body.openapi, '3.1.0');
    const metrics = await call('GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^sluice_gateway_http_requests_total\{route="\/v1\/runs",method="POST",status="201"\} \d+$/m);
    assert.match(metrics.body, /^sluice_gateway_http_requests_total\{route="\/v1\/runs",method="GET",status="401"\} 1$/m);
    assert.match(metrics.body, /^sluice_gateway_http_request_duration_seconds_bucket\{le="0\.1",route="\/healthz",method="GET",status="200"\} 1$/m);
    assert.match(metrics.body, /^process_cpu_user_seconds_total /m);
    const nowhere = await call('GET', '/v1/nowhere', { token: READER });
    assert.equal(nowhere.status, 404);
    assert.equal(nowhere.body.error.code, 'NOT_FOUND');
  });

  it('says which dependency is down in /readyz (503)', async () => {
    const deadPool = new Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none' });
    const down = createGatewayApp({ sluice, tokens: TOKENS, logger, readinessTimeoutMs: 1000, pool: deadPool, webhooks });
    const server = await startGatewayServer(down, { port: 0, host: '127.0.0.1' });
    try {
      const response = await fetch(`${server.url}/readyz`);
      assert.equal(response.status, 503);
      const body = (await response.json()) as { error: { code: string; message: string; details: { checks: Record<string, { ok: boolean }> } } };
      assert.equal(body.error.code, 'NOT_READY');
      assert.equal(body.error.message, 'not ready: postgres unreachable');
      assert.equal(body.error.details.checks.temporal!.ok, true);
      assert.equal(body.error.details.checks.postgres!.ok, false);
    } finally {
      await server.close();
      await deadPool.end();
    }
  });
});
