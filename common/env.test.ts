/**
 * Unit tests of the environment variables module: counts are validated with the variable named, and the README's
 * "Environment:" line lists exactly the variables the module declares.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from './errors';
import { ENV_VARIABLES, readEnv, readEnvCount } from './env';

/** The repository root, from `dist/common/`. */
const ROOT = path.resolve(__dirname, '..', '..');

describe('readEnv', () => {
  it('reads the given source, empty values included', () => {
    assert.equal(readEnv('SLUICE_TASK_QUEUE', { SLUICE_TASK_QUEUE: 'q' }), 'q');
    assert.equal(readEnv('SLUICE_TASK_QUEUE', { SLUICE_TASK_QUEUE: '' }), '');
    assert.equal(readEnv('SLUICE_TASK_QUEUE', {}), undefined);
  });
});

describe('readEnvCount', () => {
  it('reads whole numbers above 0 as Number does, undefined when unset', () => {
    assert.equal(readEnvCount('SLUICE_CHUNK_ROWS', { SLUICE_CHUNK_ROWS: '50000' }), 50_000);
    assert.equal(readEnvCount('SLUICE_MAX_CONCURRENT_ACTIVITIES', { SLUICE_MAX_CONCURRENT_ACTIVITIES: ' 4 ' }), 4);
    assert.equal(readEnvCount('SLUICE_MAX_CONCURRENT_DELIVERIES', { SLUICE_MAX_CONCURRENT_DELIVERIES: '1e3' }), 1000);
    assert.equal(readEnvCount('SLUICE_CHUNK_ROWS', {}), undefined);
  });

  it('throws ConfigError INVALID_CONFIG naming the variable and its unit for anything else', () => {
    const cases: Array<[Parameters<typeof readEnvCount>[0], string, string]> = [
      ['SLUICE_CHUNK_ROWS', 'many', 'SLUICE_CHUNK_ROWS must be a whole number of rows above 0, not "many"'],
      ['SLUICE_CHUNK_ROWS', '0', 'SLUICE_CHUNK_ROWS must be a whole number of rows above 0, not "0"'],
      ['SLUICE_CHUNK_ROWS', '', 'SLUICE_CHUNK_ROWS must be a whole number of rows above 0, not ""'],
      ['SLUICE_MAX_CONCURRENT_ACTIVITIES', '2.5', 'SLUICE_MAX_CONCURRENT_ACTIVITIES must be a whole number of activities above 0, not "2.5"'],
      ['SLUICE_MAX_CONCURRENT_DELIVERIES', '-1', 'SLUICE_MAX_CONCURRENT_DELIVERIES must be a whole number of deliveries above 0, not "-1"'],
    ];
    for (const [name, text, message] of cases) {
      assert.throws(
        () => readEnvCount(name, { [name]: text }),
        (error: unknown) => error instanceof ConfigError && error.name === 'ConfigError' && error.code === 'INVALID_CONFIG' && error.message === message,
        `${name}=${JSON.stringify(text)}`,
      );
    }
  });
});

describe('ENV_VARIABLES', () => {
  it('are exactly the variables the README lists under "Environment"', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const paragraph = /^Environment\b[\s\S]*?(?=\n\n)/m.exec(readme)?.[0];
    assert.ok(paragraph, 'the README has an "Environment" paragraph');
    const listed = [...paragraph.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!);
    assert.deepEqual([...new Set(listed)].sort(), Object.keys(ENV_VARIABLES).sort());
  });
});
