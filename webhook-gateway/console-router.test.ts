/**
 * Unit (real HTTP, no Temporal needed): the console router serves the built console at /ui — the app's
 * index for its page paths (SPA fallback), hashed assets cached for good, 404 for a missing asset, 503
 * `CONSOLE_NOT_BUILT` without a build — and serving it opens no way around the API's tokens.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'pg';
import pino from 'pino';
import { Sluice } from '../client/sluice';
import { DEFAULT_WEBHOOK_SETTINGS } from '../config/sluice-config';
import { EventPublisher } from '../webhooks/event-publisher';
import { WebhookService } from '../webhooks/webhook-service';
import { hashToken } from './auth';
import { createGatewayApp } from './create-gateway-app';
import { startGatewayServer, type GatewayServer } from './server';

const INDEX = '<!doctype html><title>Sluice console</title><div id="app"></div>';
const ASSET = 'console.log("asset")';
const TOKEN = 'console-router-test-token';

describe('console router', () => {
  const sluice = new Sluice({ address: '127.0.0.1:1' });
  // Never connected: no request below reaches Temporal or Postgres (the auth check answers first).
  const pool = new Pool({ connectionString: 'postgres://127.0.0.1:1/none' });
  const logger = pino({ level: 'silent' });
  const webhooks = new WebhookService(new EventPublisher(pool, sluice.client, 'sluice-webhooks', logger), DEFAULT_WEBHOOK_SETTINGS);
  const tokens = [{ name: 'hooks-only', sha256: hashToken(TOKEN), scopes: ['webhooks:read' as const] }];
  const built = mkdtempSync(path.join(os.tmpdir(), 'sluice-console-'));
  let server: GatewayServer;
  let unbuilt: GatewayServer;

  before(async () => {
    mkdirSync(path.join(built, 'assets'));
    writeFileSync(path.join(built, 'index.html'), INDEX);
    writeFileSync(path.join(built, 'assets', 'index-abc123.js'), ASSET);
    writeFileSync(path.join(built, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    const app = createGatewayApp({ sluice, tokens, logger, pool, webhooks, consoleDir: built, temporalUi: { url: 'http://127.0.0.1:8233', namespace: 'default' } });
    server = await startGatewayServer(app, { port: 0, host: '127.0.0.1' });
    const bare = createGatewayApp({ sluice, tokens, logger, pool, webhooks, consoleDir: path.join(built, 'missing') });
    unbuilt = await startGatewayServer(bare, { port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    await server?.close();
    await unbuilt?.close();
    await sluice.close();
    await pool.end();
  });

  const get = (base: GatewayServer, route: string, headers: Record<string, string> = {}) => fetch(`${base.url}${route}`, { headers, redirect: 'manual' });

  it('serves index.html for /ui, /ui/ and every page path (the single-page app routes them), never cached', async () => {
    for (const route of ['/ui', '/ui/', '/ui/runs/movies-v1-2d8005a1aaecf9bb', '/ui/flows', '/ui/webhooks']) {
      const response = await get(server, route);
      assert.equal(response.status, 200, route);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/, route);
      assert.equal(response.headers.get('cache-control'), 'no-cache', route);
      assert.match(response.headers.get('content-security-policy') ?? '', /script-src 'self'/, route);
      assert.equal(await response.text(), INDEX, route);
    }
  });

  it('serves hashed assets for a year, and 404 NOT_FOUND for a missing asset or file (not the index)', async () => {
    const asset = await get(server, '/ui/assets/index-abc123.js');
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type') ?? '', /javascript/);
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(await asset.text(), ASSET);
    for (const route of ['/ui/assets/index-gone.js', '/ui/assets/nested/page', '/ui/missing.css']) {
      const response = await get(server, route);
      assert.equal(response.status, 404, route);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'NOT_FOUND', route);
      assert.equal(body.error.message, `no console file ${route}`);
    }
    assert.equal((await get(server, '/ui/favicon.svg')).status, 200);
  });

  it('serves the Temporal UI link settings, and nothing but GET', async () => {
    assert.deepEqual(await (await get(server, '/ui/settings.json')).json(), { temporal_ui_url: 'http://127.0.0.1:8233', namespace: 'default' });
    const post = await fetch(`${server.url}/ui/runs`, { method: 'POST' });
    assert.equal(post.status, 404);
    assert.equal(((await post.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
  });

  it('does not bypass the API tokens: /v1 routes still answer 401 without a token and 403 without the scope, /ui/v1 is only the app page', async () => {
    const anonymous = await get(server, '/v1/runs');
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
    for (const route of ['/v1/runs', '/v1/flows']) {
      const refused = await get(server, route, { authorization: `Bearer ${TOKEN}` });
      assert.equal(refused.status, 403, route);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'INSUFFICIENT_SCOPE');
    }
    // A console path that looks like an API path is the (data-free) app shell, not the API.
    const shell = await get(server, '/ui/v1/runs');
    assert.equal(await shell.text(), INDEX);
  });

  it('answers 503 CONSOLE_NOT_BUILT, naming the command, when the console is not built', async () => {
    const response = await get(unbuilt, '/ui/runs');
    assert.equal(response.status, 503);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'CONSOLE_NOT_BUILT');
    assert.match(body.error.message, /run: npm run build:console$/);
  });
});
