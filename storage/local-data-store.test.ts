/**
 * The data store conformance suite on local disk (a temporary folder per test), plus what only the
 * local layout shows: where objects live on disk, atomic writes leaving no temporary files, and
 * empty folders removed after deletes.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig, type SluiceConfig } from '../config/sluice-config';
import { dataStoreConformance } from '../tests/helpers/data-store-conformance';
import { createDataStore } from './data-store';

const base = mkdtempSync(path.join(os.tmpdir(), 'sluice-data-local-'));
let n = 0;
function freshConfig(): SluiceConfig {
  const projectDir = path.join(base, `project-${++n}`);
  const config = loadConfig({ projectDir, env: {} });
  return { ...config, dataStore: { backend: 'local', dir: path.join(projectDir, 'data') } };
}

dataStoreConformance('local disk', { freshConfig, teardown: async () => rmSync(base, { recursive: true, force: true }) });

describe('local data store layout', () => {
  const config = freshConfig();
  const data = createDataStore(config, 'movies-v1-0123456789abcdef');
  after(() => data.close());

  it('defaults to <state dir>/data', () => {
    const defaults = loadConfig({ projectDir: path.join(base, 'defaults'), env: {} });
    assert.deepEqual(defaults.dataStore, { backend: 'local', dir: path.join(base, 'defaults', '.sluice', 'data') });
  });

  it('keeps user/… and pipeline/<run id>/… under the data dir, with no temporary files left', async () => {
    await data.user.put('a/b.txt', Buffer.from('user'));
    await data.pipeline.put('a/b.txt', Buffer.from('pipeline'));
    const dir = config.dataStore.dir;
    assert.equal(readFileSync(path.join(dir, 'user', 'a', 'b.txt'), 'utf8'), 'user');
    assert.equal(readFileSync(path.join(dir, 'pipeline', 'movies-v1-0123456789abcdef', 'a', 'b.txt'), 'utf8'), 'pipeline');
    assert.deepEqual(readdirSync(path.join(dir, '.tmp')), []);
    assert.equal(data.location, `file://${dir}`);
  });

  it('removes empty folders after deletes, and the run folder on purge', async () => {
    const dir = config.dataStore.dir;
    await data.user.put('deep/er/x.txt', Buffer.from('x'));
    assert.equal(await data.user.delete('deep/er/x.txt'), 1);
    assert.equal(existsSync(path.join(dir, 'user', 'deep')), false);
    assert.equal(existsSync(path.join(dir, 'user')), true);
    assert.equal(await data.purgePipelineData('movies-v1-0123456789abcdef'), 1);
    assert.equal(existsSync(path.join(dir, 'pipeline', 'movies-v1-0123456789abcdef')), false);
  });
});
