/**
 * Integration: users, org- and user-level secrets and per-user data, through the gateway over real HTTP, on the real
 * Temporal dev server, real PostgreSQL (metadata) and a real password-checking PostgreSQL warehouse (embedded, scram-sha-256:
 * the machine's server trusts every local login, so it could not tell a right password from a wrong one).
 *
 * An admin sets the org's WAREHOUSE_PW; ben overrides it with his own (wrong) one; ana keeps a private PRIVATE_PW.
 * ana's run loads with the org password; ben's fails AUTH_FAILED with his; ben's run of a connector that needs
 * PRIVATE_PW fails SECRET_NOT_FOUND. Every value is then searched for, byte for byte, in each run's Temporal history,
 * the worker's and gateway's logs, every API answer, `sluice secrets list`, `sluice config show`, the events that
 * webhooks deliver and the secrets table: 0 times. Then the master key rotates and the secrets still resolve.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Client as PgClient } from 'pg';
import { Sluice } from '../../client/sluice';
import { createLogger } from '../../common/logger';
import { DEFAULT_WEBHOOK_SETTINGS, type GatewayToken, type SluiceConfig } from '../../config/sluice-config';
import { loadMasterKeys } from '../../config/secrets';
import { SecretStore } from '../../connectors/secret-store';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../local-stack/embedded-postgres';
import { createDataStore } from '../../storage/data-store';
import { DataStoreError } from '../../storage/data-store-error';
import { hashToken } from '../../webhook-gateway/auth';
import { createGatewayApp } from '../../webhook-gateway/create-gateway-app';
import { startGatewayServer, type GatewayServer } from '../../webhook-gateway/server';
import { EventPublisher } from '../../webhooks/event-publisher';
import { WebhookService } from '../../webhooks/webhook-service';
import { createSluiceWorker, type SluiceWorker } from '../../worker/sluice-worker';
import { createTestDatabase, freePort, logger, runCli, startTemporal, tempProject, testConfig, type TestDatabase } from '../helpers/services';

const KEY_1 = randomBytes(32).toString('hex');
const KEY_2 = randomBytes(32).toString('hex');
// Distinctive values, so a search for them cannot match by chance.
const ORG_PW = `org-pw-${randomUUID()}`;
const BEN_PW = `ben-pw-${randomUUID()}`;
const MAP_VALUE = `map-token-${randomUUID()}`;
const CLI_VALUE = `cli-value-${randomUUID()}`;
const VALUES = { ORG_PW, BEN_PW, MAP_VALUE, CLI_VALUE };

const token = (name: string) => `${name}-token-${randomUUID()}`;
const ADMIN = token('admin');
const ANA = token('ana');
const BEN = token('ben');
const READER = token('reader');
const TOKENS: GatewayToken[] = [
  { name: 'ops', user: 'olga', role: 'admin', sha256: hashToken(ADMIN), scopes: ['runs:read', 'runs:write', 'secrets:read', 'secrets:write'] },
  { name: 'ana-laptop', user: 'ana', role: 'member', sha256: hashToken(ANA), scopes: ['runs:read', 'runs:write', 'secrets:read', 'secrets:write'] },
  { name: 'ben', role: 'member', sha256: hashToken(BEN), scopes: ['runs:read', 'runs:write', 'secrets:read', 'secrets:write'] },
  { name: 'reader', user: 'rita', sha256: hashToken(READER), scopes: ['runs:read', 'secrets:read'] },
];

const PEOPLE_CSV = 'id,name\n1,Ada\n2,Grace\n3,Edsger\n';

const flowYaml = (name: string, connector: string, extra = '') => `
name: ${name}
source: { connector: files, format: csv }
target: { connector: ${connector}, table: public.${name}, write: append }
fields:
  id:   { from: id, type: int64, required: true }
  name: { from: name, type: string }
${extra}`;

// Logs the secret it was given (the worker's logger must redact it by value) and its length (to prove it got it).
const SECRET_MAP = `
import type { CustomMap } from 'sluice/client';
const map: CustomMap = (df, ctx) => {
  const value = ctx.secrets.MAP_TOKEN ?? '';
  ctx.log.info({ token_length: value.length, note: 'the token is ' + value }, 'map saw its secret');
  return df;
};
export default map;
`;

interface Answer {
  status: number;
  text: string;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON answers, asserted field by field
}

/** A writable that keeps every log line written to it. */
function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

const TERMINAL = ['SUCCEEDED', 'PARTIAL_FAILED', 'FAILED', 'CRASHED'];

describe('users, org- and user-level secrets, per-user data', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let warehouse: EmbeddedPostgresHandle;
  let warehousePort: number;
  let warehouseDir: string | undefined;
  let dir: string;
  let config: SluiceConfig;
  let worker: SluiceWorker;
  let running: Promise<void>;
  let sluice: Sluice;
  let gateway: GatewayServer;
  let store: FlowVersionStore;
  const workerLog = capture();
  const gatewayLog = capture();
  /** Every API answer's text, for the 0-occurrence check. */
  const answers: string[] = [];
  const runIds: string[] = [];
  const savedKey = process.env.SLUICE_MASTER_KEY;

  async function call(method: 'GET' | 'PUT' | 'POST' | 'DELETE', route: string, bearer: string, body?: unknown): Promise<Answer> {
    const response = await fetch(`${gateway.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    answers.push(text);
    return { status: response.status, text, body: text === '' ? null : JSON.parse(text) };
  }

  async function runAs(bearer: string, flowVersion: string, sourcePath: string): Promise<Answer> {
    const started = await call('POST', '/v1/runs', bearer, { flow_version: flowVersion, source_path: sourcePath });
    assert.equal(started.status, 201, started.text);
    runIds.push(started.body.id);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const answer = await call('GET', `/v1/runs/${encodeURIComponent(started.body.id)}`, bearer);
      assert.equal(answer.status, 200, answer.text);
      if (TERMINAL.includes(answer.body.status) && answer.body.status_source === 'run') return answer;
      if (Date.now() > deadline) assert.fail(`run ${started.body.id} still ${answer.body.status}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  const cliEnv = (extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH,
    DATABASE_URL: db.url,
    SLUICE_MASTER_KEY: process.env.SLUICE_MASTER_KEY,
    SLUICE_LOG_LEVEL: 'warn',
    ...extra,
  });

  const warehouseRows = async (table: string): Promise<string[]> => {
    const client = new PgClient({ connectionString: `postgres://sluice:sluice@127.0.0.1:${warehousePort}/warehouse` });
    await client.connect();
    try {
      return (await client.query<{ name: string }>(`SELECT name FROM public.${table} ORDER BY id`)).rows.map((r) => r.name);
    } finally {
      await client.end();
    }
  };

  before(async () => {
    process.env.SLUICE_MASTER_KEY = KEY_1;
    warehousePort = await freePort();
    const stateDir = (warehouseDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-warehouse-')));
    chmodSync(stateDir, 0o755); // as root, the server runs as the postgres user, who must reach its data dir
    [env, db, warehouse] = await Promise.all([startTemporal(), createTestDatabase(), startEmbeddedPostgres(stateDir, logger, warehousePort)]);
    const admin = new PgClient({ connectionString: warehouse.databaseUrl });
    await admin.connect();
    await admin.query(`CREATE ROLE wh_loader LOGIN PASSWORD '${ORG_PW}'`);
    await admin.query('CREATE DATABASE warehouse OWNER wh_loader');
    await admin.end();

    dir = tempProject();
    writeFileSync(path.join(dir, 'people.csv'), PEOPLE_CSV);
    mkdirSync(path.join(dir, 'maps'));
    writeFileSync(path.join(dir, 'maps', 'secret-map.ts'), SECRET_MAP);
    const connectors: SluiceConfig['connectors'] = {
      files: { kind: 'local', root: '.' },
      warehouse: { kind: 'postgres', url: `postgres://wh_loader:\${secret:WAREHOUSE_PW}@127.0.0.1:${warehousePort}/warehouse` },
      private_wh: { kind: 'postgres', url: `postgres://wh_loader:\${secret:PRIVATE_PW}@127.0.0.1:${warehousePort}/warehouse` },
    };
    // The same connectors in a config file, for `sluice config show` and the CLI.
    writeFileSync(
      path.join(dir, 'sluice.config.yaml'),
      ['connectors:', '  files: { kind: local, root: . }', ...Object.entries(connectors).filter(([n]) => n !== 'files').map(([n, c]) => `  ${n}: { kind: postgres, url: "${(c as { url: string }).url}" }`)].join('\n') + '\n',
    );
    config = testConfig({ dir, databaseUrl: db.url, address: env.address, connectors });
    worker = await createSluiceWorker({ config, logger: createLogger('secrets-worker', 'info', workerLog.stream), connection: env.nativeConnection, watchConfig: false });
    running = worker.run();
    sluice = new Sluice({ connection: env.connection, taskQueue: config.temporal.taskQueue, databaseUrl: db.url });
    store = new FlowVersionStore(db.pool, { projectDir: dir });
    const gatewayLogger = createLogger('secrets-gateway', 'info', gatewayLog.stream);
    const webhooks = new WebhookService(new EventPublisher(db.pool, sluice.client, `${config.temporal.taskQueue}-webhooks`, gatewayLogger), DEFAULT_WEBHOOK_SETTINGS);
    const secrets = new SecretStore(db.pool, () => loadMasterKeys({ env: process.env, stateDir: config.stateDir }));
    const app = createGatewayApp({ sluice, tokens: TOKENS, logger: gatewayLogger, pool: db.pool, webhooks, secrets });
    gateway = await startGatewayServer(app, { port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    await gateway?.close();
    await worker?.shutdown();
    await running;
    await sluice?.close();
    await env?.teardown();
    await db?.drop();
    await warehouse?.stop();
    if (warehouseDir) rmSync(warehouseDir, { recursive: true, force: true });
    if (savedKey === undefined) delete process.env.SLUICE_MASTER_KEY;
    else process.env.SLUICE_MASTER_KEY = savedKey;
  });

  it('only an admin writes org secrets; a user writes their own; values are write-only', async () => {
    const byMember = await call('PUT', '/v1/secrets/org/WAREHOUSE_PW', ANA, { value: ORG_PW });
    assert.equal(byMember.status, 403);
    assert.equal(byMember.body.error.code, 'ADMIN_REQUIRED');
    assert.match(byMember.body.error.message, /org-level secrets needs role admin; user "ana" is a member/);
    const noScope = await call('PUT', '/v1/secrets/user/WAREHOUSE_PW', READER, { value: ORG_PW });
    assert.equal(noScope.status, 403);
    assert.equal(noScope.body.error.code, 'INSUFFICIENT_SCOPE');
    const badName = await call('PUT', '/v1/secrets/org/not-a-name', ADMIN, { value: ORG_PW });
    assert.equal(badName.status, 400);
    assert.equal(badName.body.error.code, 'VALIDATION_FAILED');

    const created = await call('PUT', '/v1/secrets/org/WAREHOUSE_PW', ADMIN, { value: `first-${ORG_PW}` });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(Object.keys(created.body).sort(), ['created_at', 'created_by', 'name', 'owner', 'scope', 'updated_at', 'updated_by']);
    assert.deepEqual({ ...created.body, created_at: 'x', updated_at: 'x' }, { name: 'WAREHOUSE_PW', scope: 'org', owner: null, created_at: 'x', created_by: 'olga', updated_at: 'x', updated_by: 'olga' });
    const replaced = await call('PUT', '/v1/secrets/org/WAREHOUSE_PW', ADMIN, { value: ORG_PW });
    assert.equal(replaced.status, 200, replaced.text);
    assert.equal((await call('PUT', '/v1/secrets/org/MAP_TOKEN', ADMIN, { value: MAP_VALUE })).status, 201);
    const bens = await call('PUT', '/v1/secrets/user/WAREHOUSE_PW', BEN, { value: BEN_PW });
    assert.equal(bens.status, 201, bens.text);
    assert.equal(bens.body.owner, 'ben'); // a token without `user:` belongs to the user named like it
    assert.equal((await call('PUT', '/v1/secrets/user/PRIVATE_PW', ANA, { value: ORG_PW })).status, 201);

    // From stdin through the CLI, as ana: never an argument.
    const set = await runCli(['secrets', 'set', 'CLI_ONLY', '--user', 'ana'], { cwd: dir, env: cliEnv(), input: CLI_VALUE });
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, 'set user-level (user ana) secret CLI_ONLY\n');
    const noScopeCli = await runCli(['secrets', 'set', 'CLI_ONLY'], { cwd: dir, env: cliEnv(), input: CLI_VALUE });
    assert.equal(noScopeCli.code, 2);
    assert.match(noScopeCli.stderr, /give exactly one scope: --org/);
  });

  it("lists the org's names and the user's own, never another user's, never values", async () => {
    const names = (answer: Answer) => answer.body.secrets.map((s: { name: string; scope: string; owner: string | null }) => `${s.scope}:${s.owner ?? ''}:${s.name}`);
    assert.deepEqual(names(await call('GET', '/v1/secrets', BEN)), ['org::MAP_TOKEN', 'org::WAREHOUSE_PW', 'user:ben:WAREHOUSE_PW']);
    assert.deepEqual(names(await call('GET', '/v1/secrets', ANA)), ['user:ana:CLI_ONLY', 'org::MAP_TOKEN', 'user:ana:PRIVATE_PW', 'org::WAREHOUSE_PW']);
    // An admin sees the org's secrets and their own: no back door into users' secrets.
    assert.deepEqual(names(await call('GET', '/v1/secrets', ADMIN)), ['org::MAP_TOKEN', 'org::WAREHOUSE_PW']);
    const cliSet = (await call('GET', '/v1/secrets', ANA)).body.secrets.find((s: { name: string }) => s.name === 'CLI_ONLY');
    assert.equal(cliSet.updated_by, 'ana');
    // ben cannot delete ana's: his "user" scope is his own, where there is none.
    const rm = await call('DELETE', '/v1/secrets/user/PRIVATE_PW', BEN);
    assert.equal(rm.status, 404);
    assert.equal(rm.body.error.code, 'SECRET_NOT_FOUND');
    const memberRm = await call('DELETE', '/v1/secrets/org/MAP_TOKEN', BEN);
    assert.equal(memberRm.status, 403);
    assert.equal(memberRm.body.error.code, 'ADMIN_REQUIRED');

    const list = await runCli(['secrets', 'list', '--user', 'ben', '--json'], { cwd: dir, env: cliEnv() });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      JSON.parse(list.stdout).map((s: { scope: string; owner: string | null; name: string }) => `${s.scope}:${s.owner ?? ''}:${s.name}`),
      ['org::MAP_TOKEN', 'org::WAREHOUSE_PW', 'user:ben:WAREHOUSE_PW'],
    );
    answers.push(list.stdout, (await runCli(['secrets', 'list', '--user', 'ana'], { cwd: dir, env: cliEnv() })).stdout);
  });

  it("resolves ${secret:NAME} for the user who started the run: ana's the org's, ben's his own, a missing one is SECRET_NOT_FOUND", { timeout: 300_000 }, async () => {
    const people = (await store.publish(parseFlowSpec(flowYaml('people', 'warehouse')), { sourceText: 'people' })).version.id;
    const privatePeople = (await store.publish(parseFlowSpec(flowYaml('private_people', 'private_wh')), { sourceText: 'private' })).version.id;

    const ana = await runAs(ANA, people, 'people.csv');
    assert.equal(ana.body.status, 'SUCCEEDED', JSON.stringify(ana.body.metadata?.error));
    assert.equal(ana.body.metadata.run.started_by, 'ana');
    assert.deepEqual(await warehouseRows('people'), ['Ada', 'Grace', 'Edsger']);

    // ben's own WAREHOUSE_PW is used (and is wrong): the warehouse refuses it.
    writeFileSync(path.join(dir, 'people-ben.csv'), PEOPLE_CSV);
    const ben = await runAs(BEN, people, 'people-ben.csv');
    assert.equal(ben.body.status, 'FAILED');
    assert.equal(ben.body.metadata.run.started_by, 'ben');
    assert.equal(ben.body.metadata.error.code, 'AUTH_FAILED');
    assert.equal(ben.body.metadata.error.step, 'sync_target');

    // PRIVATE_PW is ana's alone: ben's run cannot resolve it, ana's can.
    const missing = await runAs(BEN, privatePeople, 'people.csv');
    assert.equal(missing.body.status, 'FAILED');
    assert.equal(missing.body.metadata.error.code, 'SECRET_NOT_FOUND');
    assert.match(missing.body.metadata.error.message, /^secret PRIVATE_PW is not set for user "ben": looked in the user-level secrets of "ben", then the org-level secrets\./);
    const anaPrivate = await runAs(ANA, privatePeople, 'people-ben.csv');
    assert.equal(anaPrivate.body.status, 'SUCCEEDED', JSON.stringify(anaPrivate.body.metadata?.error));

    // Visibility is eventually consistent: wait for both of ben's runs to be listed.
    let mine = await call('GET', '/v1/runs?started_by=ben', ADMIN);
    for (let i = 0; i < 50 && mine.body.runs?.length !== 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      mine = await call('GET', '/v1/runs?started_by=ben', ADMIN);
    }
    assert.equal(mine.status, 200);
    assert.deepEqual(mine.body.runs.map((r: { started_by: string }) => r.started_by), ['ben', 'ben']);
    assert.deepEqual(new Set(mine.body.runs.map((r: { id: string }) => r.id)), new Set([ben.body.id, missing.body.id]));
  });

  it("gives a custom map the secrets its flow version declares as ctx.secrets; the worker's log redacts the value", { timeout: 300_000 }, async () => {
    const yaml = flowYaml('mapped_people', 'warehouse', 'transform: maps/secret-map.ts\nsecrets: [MAP_TOKEN]\n');
    const { version } = await store.publish(parseFlowSpec(yaml, 'flows/mapped_people.yaml'), { sourceText: yaml, sourceFile: 'flows/mapped_people.yaml' });
    assert.deepEqual(version.spec.secrets, ['MAP_TOKEN']);
    const run = await runAs(ANA, version.id, 'people.csv');
    assert.equal(run.body.status, 'SUCCEEDED', JSON.stringify(run.body.metadata?.error));
    const line = workerLog.text().split('\n').find((l) => l.includes('map saw its secret'));
    assert.ok(line, 'the map logged');
    const logged = JSON.parse(line) as { token_length: number; note: string };
    assert.equal(logged.token_length, MAP_VALUE.length);
    assert.equal(logged.note, 'the token is [Redacted]');
  });

  it('per-user data: ana\'s data.user is invisible to ben (SDK and CLI); local keeps the shared scope', async () => {
    const anaData = createDataStore(config, undefined, { user: 'ana' });
    const benData = createDataStore(config, undefined, { user: 'ben' });
    const localData = createDataStore(config, undefined, { user: 'local' });
    try {
      await anaData.user.put('notes/plan.txt', Buffer.from('ana only'));
      await localData.user.put('legacy.txt', Buffer.from('shared before users'));
      assert.deepEqual(await anaData.user.list(), ['notes/plan.txt']);
      assert.deepEqual(await benData.user.list(), []);
      assert.equal(await benData.user.exists('notes/plan.txt'), false);
      await assert.rejects(benData.user.gets('notes/plan.txt'), (error: unknown) => error instanceof DataStoreError && error.code === 'DATA_NOT_FOUND' && /user data store of user "ben"/.test(error.message));
      // The local user's objects are where the single shared scope kept them: user/<name>.
      assert.deepEqual(await localData.user.list(), ['legacy.txt']);
    } finally {
      await Promise.all([anaData.close(), benData.close(), localData.close()]);
    }
    const asBen = await runCli(['data', 'ls', '--json', '--user=ben'], { cwd: dir, env: cliEnv() });
    assert.equal(asBen.code, 0, asBen.stderr);
    assert.equal(asBen.stdout, '[]\n');
    const asAna = await runCli(['data', 'cat', 'notes/plan.txt', '--user=ana'], { cwd: dir, env: cliEnv() });
    assert.equal(asAna.stdout, 'ana only');
  });

  it('shows no secret value anywhere: Temporal history, logs, API answers, secrets list, config show, webhook payloads, the secrets table', { timeout: 120_000 }, async () => {
    const shown = await runCli(['config', 'show', '--json'], { cwd: dir, env: cliEnv() });
    assert.equal(shown.code, 0, shown.stderr);
    const places: Record<string, Buffer> = {
      'worker log': Buffer.from(workerLog.text()),
      'gateway log': Buffer.from(gatewayLog.text()),
      'API answers and CLI listings': Buffer.from(answers.join('\n')),
      'config show': Buffer.from(shown.stdout + shown.stderr),
    };
    assert.ok(runIds.length >= 5);
    for (const id of runIds) {
      const history = await sluice.client.workflow.getHandle(id).fetchHistory();
      places[`history of ${id}`] = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
      assert.ok(places[`history of ${id}`]!.includes('startedBy'), 'the history holds the run input');
    }
    const events = await db.pool.query<{ payload: string }>('SELECT payload::text AS payload FROM sluice.events');
    assert.ok(events.rows.length > 0);
    places['webhook payloads (sluice.events)'] = Buffer.from(events.rows.map((r) => r.payload).join('\n'));
    const table = await db.pool.query<{ row: string }>('SELECT t::text AS row FROM sluice.secrets t');
    assert.equal(table.rows.length, 5);
    places['sluice.secrets rows'] = Buffer.from(table.rows.map((r) => r.row).join('\n'));
    const found: string[] = [];
    for (const [where, bytes] of Object.entries(places)) {
      for (const [name, value] of Object.entries(VALUES)) {
        for (const form of [value, Buffer.from(value).toString('base64')]) if (bytes.includes(form)) found.push(`${name} in ${where}`);
      }
    }
    assert.deepEqual(found, []);
    // The secrets are there, encrypted.
    assert.ok(table.rows.every((r) => /enc:v1:[0-9a-f]{8}:/.test(r.row)));
  });

  it('master key rotation re-encrypts every stored secret; they resolve with the new key alone', { timeout: 300_000 }, async () => {
    const rotated = await runCli(['secret', 'rotate'], { cwd: dir, env: cliEnv({ SLUICE_MASTER_KEY: `${KEY_2},${KEY_1}` }) });
    assert.equal(rotated.code, 0, rotated.stderr);
    const newId = loadMasterKeys({ env: { SLUICE_MASTER_KEY: KEY_2 }, stateDir: dir })!.keys[0]!.id;
    assert.match(rotated.stdout, new RegExp(`^re-encrypted 5 of 5 secrets of the secrets store with key ${newId}\\n`));
    const values = (await db.pool.query<{ value: string }>('SELECT value FROM sluice.secrets')).rows.map((r) => r.value);
    assert.ok(values.every((v) => v.startsWith(`enc:v1:${newId}:`)), values.join(', '));
    // The old key is gone: the worker and gateway read only the new one.
    process.env.SLUICE_MASTER_KEY = KEY_2;
    writeFileSync(path.join(dir, 'people-3.csv'), 'id,name\n4,Barbara\n');
    const people = (await store.publish(parseFlowSpec(flowYaml('people', 'warehouse')), { sourceText: 'people' })).version.id;
    const run = await runAs(ANA, people, 'people-3.csv');
    assert.equal(run.body.status, 'SUCCEEDED', JSON.stringify(run.body.metadata?.error));
    assert.deepEqual(await warehouseRows('people'), ['Ada', 'Grace', 'Edsger', 'Barbara']);
    assert.equal((await call('PUT', '/v1/secrets/user/AFTER_ROTATION', BEN, { value: 'x'.repeat(8) })).status, 201);
  });
});
