import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { SluiceConfig } from '../config/sluice-config';
import { configSecrets, scrubSecrets, testConnection, testConnections, testTemporal } from './test-connection';

describe('testConnection', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-test-connection-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('local: a writable directory is OK; a missing root or a file says what to fix', async () => {
    const before = performance.now();
    const ok = await testConnection('files', { kind: 'local', root: '.' }, { projectDir: dir });
    const wallMs = performance.now() - before;
    assert.equal(ok.ok, true, ok.reason);
    assert.equal(ok.reason, `${dir} is a readable and writable directory`);
    assert.equal(ok.kind, 'local');
    // Whole milliseconds, measured inside the call: no more than the call took.
    assert.ok(Number.isInteger(ok.latencyMs) && ok.latencyMs >= 0 && ok.latencyMs <= Math.ceil(wallMs), `latency ${ok.latencyMs} ms, call ${wallMs} ms`);

    const missing = await testConnection('inbox', { kind: 'local', root: 'nowhere' }, { projectDir: dir });
    assert.deepEqual({ ok: missing.ok, reason: missing.reason }, { ok: false, reason: `${path.join(dir, 'nowhere')} does not exist — create it, or fix connectors.inbox.root` });

    writeFileSync(path.join(dir, 'a-file'), 'x');
    const file = await testConnection('inbox', { kind: 'local', root: 'a-file' }, { projectDir: dir });
    assert.equal(file.reason, `${path.join(dir, 'a-file')} is not a directory — fix connectors.inbox.root`);
  });

  it('postgres: a refused port is FAILED with an actionable reason and no password', async () => {
    const check = await testConnection('erp', { kind: 'postgres', url: 'postgres://app:hunter2@127.0.0.1:1/erp' }, { projectDir: dir, timeoutMs: 5_000 });
    assert.equal(check.ok, false);
    assert.equal(check.reason, 'connection refused at 127.0.0.1:1 — is PostgreSQL running there? check connectors.erp.url');
    assert.ok(!JSON.stringify(check).includes('hunter2'));
  });

  it('postgres: without a url and without a metadata database it says so', async () => {
    const check = await testConnection('warehouse', { kind: 'postgres' }, { projectDir: dir });
    assert.equal(check.reason, 'connectors.warehouse has no url and no metadata database is configured — set connectors.warehouse.url, or DATABASE_URL');
  });

  it('smtp and s3: a refused port names the server and the fields to check', async () => {
    const smtp = await testConnection('mail', { kind: 'smtp', host: '127.0.0.1', port: 1, secure: false, from: 'etl@example.com', tls_reject_unauthorized: true, timeout_ms: 5_000 }, { projectDir: dir });
    assert.equal(smtp.reason, 'connection refused at 127.0.0.1:1 — is an SMTP server running there? check connectors.mail.host and port');
    const s3 = await testConnection(
      'lake',
      { kind: 's3', endpoint: 'http://127.0.0.1:1', region: 'us-east-1', force_path_style: true, access_key_id: 'AKIAEXAMPLE', secret_access_key: 'wJalrXUtnFEMI' },
      { projectDir: dir, timeoutMs: 8_000 },
    );
    assert.equal(s3.reason, 'connection refused at http://127.0.0.1:1 — is the S3 server running there? check connectors.lake.endpoint');
  });

  it('temporal: a refused port fails at once', async () => {
    const check = await testTemporal({ address: '127.0.0.1:1', namespace: 'default' }, { timeoutMs: 5_000 });
    assert.equal(check.ok, false);
    assert.equal(check.connector, 'temporal');
    assert.equal(check.system, true);
    assert.match(check.reason, /^connection refused at 127\.0\.0\.1:1 — is the Temporal server \(`sluice dev` starts one\) running there\? check temporal\.address/);
    assert.ok(check.latencyMs < 4_000);
  });

  it('a check that takes longer than its timeout fails with the time and a hint', async () => {
    // A server that accepts connections and never answers.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const check = await testConnection('slow', { kind: 'postgres', url: `postgres://app@127.0.0.1:${port}/db` }, { projectDir: dir, timeoutMs: 300 });
      assert.equal(check.ok, false);
      assert.equal(check.reason, 'no answer within 0.3 s — a firewall, or the wrong host or port? check connectors.slow.url');
      assert.ok(check.latencyMs >= 290 && check.latencyMs < 2_000, String(check.latencyMs));
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});

describe('testConnections', () => {
  const config = {
    projectDir: os.tmpdir(),
    databaseUrl: 'postgres://meta:s3cr%2Ft@127.0.0.1:1/meta',
    connectors: { files: { kind: 'local', root: '.' } },
    staging: { dir: os.tmpdir(), chunkRows: 1, retentionHours: 24 },
    dataStore: { backend: 'local', dir: os.tmpdir() },
    temporal: { address: '127.0.0.1:1', namespace: 'default', taskQueue: 'q', uiUrl: '' },
  } as unknown as SluiceConfig;

  it('refuses an unknown name in only, listing the choices', async () => {
    await assert.rejects(testConnections(config, { only: ['files', 'nope'] }), {
      name: 'ConfigError',
      code: 'UNKNOWN_CONNECTOR',
      message: '--only names "nope", which is not a connector of this environment; choose from files, metadata, temporal',
    });
  });

  it('checks the connectors, then metadata and temporal, in order; only narrows them', async () => {
    const all = await testConnections(config, { timeoutMs: 5_000 });
    assert.deepEqual(
      all.map((c) => [c.connector, c.kind, c.ok]),
      [
        ['files', 'local', true],
        ['metadata', 'postgres', false],
        ['temporal', 'temporal', false],
      ],
    );
    assert.equal(all[1]!.reason, 'connection refused at 127.0.0.1:1 — is PostgreSQL running there? check DATABASE_URL (or database_url in sluice.config.yaml)');
    const only = await testConnections(config, { only: ['files'] });
    assert.deepEqual(only.map((c) => c.connector), ['files']);
  });

  it('reports a connector whose ${env:…} is unset as FAILED with the reason, without trying it', async () => {
    const withLake = { ...config, unavailableConnectors: { lake: { kind: 's3', reason: 'environment variable S3_ENDPOINT is not set (connectors.lake.endpoint)' } } } as SluiceConfig;
    const checks = await testConnections(withLake, { only: ['lake'] });
    assert.deepEqual(checks, [{ connector: 'lake', kind: 's3', ok: false, reason: 'environment variable S3_ENDPOINT is not set (connectors.lake.endpoint); set it and run again', latencyMs: 0 }]);
  });

  it('knows every secret of the config, decoded too, and masks them in reasons', () => {
    assert.deepEqual(configSecrets(config), ['s3cr%2Ft', 's3cr/t']);
    assert.equal(
      scrubSecrets('boom at postgres://meta:s3cr%2Ft@db:5432/meta, password s3cr/t; https://u:p4ss@h/x', configSecrets(config)),
      'boom at postgres://meta:****@db:5432/meta, password ****; https://u:****@h/x',
    );
  });
});
