/**
 * Unit tests of the config watcher: what a reload reports as changed, that it applies connectors in place, that an
 * invalid file keeps the previous config (logged as an error), and that a real edit of the file is picked up.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig, type SluiceConfig } from '../config/sluice-config';
import { ConnectorRegistry } from '../connectors/registry';
import { connectorChanges, describeChanges, watchConfigFile } from './config-watcher';

const base = (connectors: SluiceConfig['connectors'], unavailable?: SluiceConfig['unavailableConnectors']) =>
  ({ connectors, ...(unavailable ? { unavailableConnectors: unavailable } : {}) }) as SluiceConfig;

describe('connectorChanges', () => {
  it('names the connectors added, removed and changed (an unavailable one counts, with its reason)', () => {
    const before = base({ files: { kind: 'local', root: '.' }, wh: { kind: 'postgres', url: 'postgres://a/db' }, old: { kind: 'local', root: 'x' } });
    const after = base({ files: { kind: 'local', root: '.' }, wh: { kind: 'postgres', url: 'postgres://b/db' }, erp: { kind: 'postgres' } }, { lake: { kind: 's3', reason: 'environment variable S3_ENDPOINT is not set' } });
    const changes = connectorChanges(before, after);
    assert.deepEqual(changes, { added: ['erp', 'lake'], removed: ['old'], changed: ['wh'] });
    assert.equal(describeChanges(changes), 'connectors added erp, lake; removed old; changed wh');
    assert.equal(describeChanges(connectorChanges(before, before)), 'no connector changed');
  });
});

describe('watchConfigFile', () => {
  const project = (text: string) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-watch-'));
    writeFileSync(path.join(dir, 'sluice.config.yaml'), text);
    return dir;
  };
  const collecting = () => {
    const lines: Array<{ level: number; msg: string }> = [];
    return { lines, logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) }) };
  };

  it('picks up an edit of the file: connectors replaced in place, one info line', async () => {
    const dir = project('connectors:\n  files: { kind: local }\n');
    const load = () => loadConfig({ projectDir: dir, env: {} });
    const config = load();
    const { lines, logger } = collecting();
    const registry = new ConnectorRegistry(config, logger);
    const watcher = watchConfigFile({ config, connectors: registry, logger, load, debounceMs: 20 });
    try {
      appendFileSync(path.join(dir, 'sluice.config.yaml'), '  erp: { kind: postgres, url: "postgres://erp/db" }\n');
      const deadline = Date.now() + 5_000;
      while (!('erp' in config.connectors) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(Object.keys(config.connectors), ['files', 'erp']);
      assert.deepEqual(
        lines.map((l) => [l.level, l.msg]),
        [[30, `config reloaded from ${path.join(dir, 'sluice.config.yaml')}: connectors added erp`]],
      );
    } finally {
      watcher.stop();
      await registry.close();
    }
  });

  it('an invalid file is logged as an error and the previous config kept; a change that needs a restart says so', async () => {
    const dir = project('connectors:\n  files: { kind: local }\n');
    const config = loadConfig({ projectDir: dir, env: {} });
    const { lines, logger } = collecting();
    const registry = new ConnectorRegistry(config, logger);
    const file = path.join(dir, 'sluice.config.yaml');
    const load = () => loadConfig({ projectDir: dir, env: {} });
    const watcher = watchConfigFile({ config, connectors: registry, logger, load, debounceMs: 60_000 });
    try {
      writeFileSync(file, 'connectors:\n  files: { kind: ftp }\n');
      await watcher.reload();
      assert.deepEqual(Object.keys(config.connectors), ['files']);
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.level, 50);
      assert.equal(lines[0]!.msg, `config not reloaded, the previous one is kept: ${file} is invalid:\n  - connectors.files.kind: Invalid discriminator value. Expected 'local' | 'postgres' | 's3' | 'smtp' | 'sftp' | 'mysql'`);

      writeFileSync(file, 'temporal: { task_queue: other }\nconnectors:\n  files: { kind: local }\n');
      await watcher.reload();
      assert.equal(lines.length, 2);
      assert.equal(lines[1]!.level, 40);
      assert.equal(lines[1]!.msg, `config reloaded from ${file}: no connector changed; temporal, database_url, staging or data_store changed: restart the worker to apply those`);
      assert.equal(config.temporal.taskQueue, 'sluice', 'read once at start: unchanged until a restart');
    } finally {
      watcher.stop();
      await registry.close();
    }
  });
});
