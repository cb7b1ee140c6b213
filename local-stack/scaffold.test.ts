/**
 * Unit test of the scaffold's config: a new project's environments each get their own task queue, and a missing
 * variable of a connector only makes that connector unavailable (commands that do not use it still work).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../config/sluice-config';
import { scaffoldProject } from './scaffold';

describe('scaffoldProject config', () => {
  it('gives dev, test and prod their own task queues: sluice, sluice-test, sluice-prod', () => {
    const dir = scaffoldProject(mkdtempSync(path.join(os.tmpdir(), 'sluice-scaffold-'))).dir;
    const queues = ['dev', 'test', 'prod'].map((environment) => {
      const warnings: string[] = [];
      const config = loadConfig({ projectDir: dir, environment, env: {}, onWarning: (w) => warnings.push(w) });
      assert.equal(config.environment, environment);
      assert.ok(warnings.length <= 1, 'at most one warning line for the unset variables');
      return config.temporal.taskQueue;
    });
    assert.deepEqual(queues, ['sluice', 'sluice-test', 'sluice-prod']);
  });
});
