/**
 * Fixtures of the config unit tests: temporary project folders (removed after the test file) and the
 * ConfigError a call must throw.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { ConfigError } from '../../common/errors';

const temps: string[] = [];
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** A fresh project folder, with `configText` written to `fileName` when given. */
export function project(configText?: string, fileName = 'sluice.config.yaml'): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'sluice-config-')));
  temps.push(dir);
  if (configText !== undefined) writeFileSync(path.join(dir, fileName), configText);
  return dir;
}

/** The ConfigError `fn` throws, asserting its class, name and code. */
export function configError(fn: () => unknown, code: string): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.name, 'ConfigError');
    assert.equal(error.code, code);
    return error;
  }
  assert.fail('expected a ConfigError, nothing was thrown');
}
