/**
 * Unit: the OpenAPI document is valid OpenAPI 3.1 and names exactly the routes the app registers.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Pool } from 'pg';
import pino from 'pino';
import { Sluice } from '../client/sluice';
import { DEFAULT_WEBHOOK_SETTINGS } from '../config/sluice-config';
import { EventPublisher } from '../webhooks/event-publisher';
import { WebhookService } from '../webhooks/webhook-service';
import { createGatewayApp } from './create-gateway-app';
import { openApiDocument } from './openapi';

/** `METHOD /path/{param}` for every route registered on the app's router. */
function appRoutes(app: ReturnType<typeof createGatewayApp>): string[] {
  const routes: string[] = [];
  for (const layer of app.router.stack as Array<{ route?: { path: unknown; methods: Record<string, boolean> } }>) {
    if (!layer.route) continue;
    assert.equal(typeof layer.route.path, 'string', 'routes are registered with string paths');
    const path = (layer.route.path as string).replace(/:([A-Za-z_]\w*)/g, '{$1}');
    for (const [method, on] of Object.entries(layer.route.methods)) if (on) routes.push(`${method.toUpperCase()} ${path}`);
  }
  return routes.sort();
}

function documentRoutes(document: Record<string, unknown>): string[] {
  const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
  const routes: string[] = [];
  for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, unknown>>)) {
    for (const method of Object.keys(item)) if (methods.includes(method)) routes.push(`${method.toUpperCase()} ${path}`);
  }
  return routes.sort();
}

describe('gateway OpenAPI document', () => {
  const sluice = new Sluice({ address: '127.0.0.1:1' });
  // Never connected: the routes are only listed.
  const pool = new Pool({ connectionString: 'postgres://127.0.0.1:1/none' });
  const logger = pino({ level: 'silent' });
  const webhooks = new WebhookService(new EventPublisher(pool, sluice.client, 'sluice-webhooks', logger), DEFAULT_WEBHOOK_SETTINGS);
  const app = createGatewayApp({ sluice, tokens: [], logger, pool, webhooks });
  after(async () => {
    await sluice.close();
    await pool.end();
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const { Validator } = await import('@seriousme/openapi-schema-validator');
    const validator = new Validator();
    const document = openApiDocument();
    const result = await validator.validate(document);
    assert.deepEqual(result.errors, undefined);
    assert.equal(result.valid, true);
    assert.equal(validator.version, '3.1');
  });

  it('names every route the app registers, and no other', () => {
    const registered = appRoutes(app);
    const documented = documentRoutes(openApiDocument());
    assert.ok(registered.length >= 8, `the app registers its routes (${registered.join(', ')})`);
    assert.deepEqual(
      documented.filter((r) => !registered.includes(r)),
      [],
      'documented but not registered',
    );
    assert.deepEqual(
      registered.filter((r) => !documented.includes(r)),
      [],
      'registered but not documented',
    );
  });

  it('derives the request schema from the zod schema the handler validates with', () => {
    const schemas = (openApiDocument().components as { schemas: Record<string, { required?: string[]; additionalProperties?: boolean; properties?: object }> }).schemas;
    // source_path or rejects_of (a reprocess): exactly one, checked by the schema's refinement.
    assert.deepEqual(schemas.CreateRun!.required, ['flow_version']);
    assert.equal(schemas.CreateRun!.additionalProperties, false);
    assert.deepEqual(Object.keys(schemas.CreateRun!.properties ?? {}), ['flow_version', 'source_path', 'rejects_of', 'run_metadata', 'force_rerun', 'dry_run']);
    assert.deepEqual(schemas.FlowDiff!.required, ['version_a', 'version_b', 'source_path']);
    assert.equal(schemas.FlowDiff!.additionalProperties, false);
  });
});
