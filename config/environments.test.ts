/**
 * Unit tests of environments: the deep merge, choosing an environment (`environment` option, `SLUICE_ENV`,
 * default `dev`), unknown names, and problems reported at the path where the environment block wrote them.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { configError, project } from '../tests/helpers/config-fixtures';
import { mergeEnvironment, requiresEncryptedSecrets, taskQueueFor } from './environments';
import { loadConfig } from './sluice-config';

describe('mergeEnvironment', () => {
  it('merges maps key by key, recursively, keeping what the environment does not mention', () => {
    const base = { temporal: { address: 'localhost:7233', namespace: 'default' }, connectors: { wh: { kind: 'postgres', url: 'a', fetch_rows: 10 }, files: { kind: 'local' } } };
    const { value, overridden } = mergeEnvironment(base, { temporal: { namespace: 'prod' }, connectors: { wh: { url: 'b' } } });
    assert.deepEqual(value, { temporal: { address: 'localhost:7233', namespace: 'prod' }, connectors: { wh: { kind: 'postgres', url: 'b', fetch_rows: 10 }, files: { kind: 'local' } } });
    assert.deepEqual([...overridden], ['temporal.namespace', 'connectors.wh.url']);
    assert.deepEqual(base.connectors.wh.url, 'a', 'the base is not modified');
  });

  it('replaces lists and scalars, and adds keys the base does not have', () => {
    const base = { gateway: { tokens: [{ name: 'a' }, { name: 'b' }], port: 8700 } };
    const { value } = mergeEnvironment(base, { gateway: { tokens: [{ name: 'c' }], port: 9000, host: '0.0.0.0' } });
    assert.deepEqual(value, { gateway: { tokens: [{ name: 'c' }], port: 9000, host: '0.0.0.0' } });
  });

  it('null removes a key; a map of another kind replaces the map whole; a map replaces a scalar and back', () => {
    const base = { connectors: { files: { kind: 'local', root: './data' }, scratch: { kind: 'local' } }, staging: { dir: '/tmp' }, x: 'y' };
    const { value, overridden } = mergeEnvironment(base, {
      connectors: { scratch: null, files: { kind: 's3', region: 'eu-west-1' } },
      staging: null,
      x: { z: 1 },
    });
    assert.deepEqual(value, { connectors: { files: { kind: 's3', region: 'eu-west-1' } }, x: { z: 1 } });
    assert.deepEqual([...overridden], ['connectors.files', 'x']);
  });

  it('an empty or null block changes nothing', () => {
    const base = { temporal: { namespace: 'default' } };
    assert.deepEqual(mergeEnvironment(base, null).value, base);
    assert.deepEqual(mergeEnvironment(base, {}).value, base);
  });
});

describe('taskQueueFor', () => {
  it('is the base in dev and <base>-<environment> elsewhere', () => {
    assert.equal(taskQueueFor('dev'), 'sluice');
    assert.equal(taskQueueFor('test'), 'sluice-test');
    assert.equal(taskQueueFor('prod'), 'sluice-prod');
    assert.equal(taskQueueFor('prod', 'etl'), 'etl-prod');
    assert.equal(taskQueueFor('dev', 'etl'), 'etl');
  });
});

describe('requiresEncryptedSecrets', () => {
  it('is false for dev and true for any other name, unless configured', () => {
    assert.equal(requiresEncryptedSecrets('dev', undefined), false);
    assert.equal(requiresEncryptedSecrets('test', undefined), true);
    assert.equal(requiresEncryptedSecrets('prod', undefined), true);
    assert.equal(requiresEncryptedSecrets('staging', undefined), true);
    assert.equal(requiresEncryptedSecrets('prod', false), false);
    assert.equal(requiresEncryptedSecrets('dev', true), true);
  });
});

describe('loadConfig with environments', () => {
  const text = `
temporal: { address: "localhost:7233", namespace: default }
staging: { chunk_rows: 1000 }
connectors:
  files: { kind: local, root: ./data }
  warehouse: { kind: postgres, url: "postgres://localhost/wh", fetch_rows: 500 }
environments:
  dev: {}
  test:
    connectors: { warehouse: { url: "postgres://localhost/wh_test" } }
  prod:
    temporal: { address: "temporal.internal:7233", namespace: prod }
    staging: { chunk_rows: 250000 }
    connectors:
      files: null
      warehouse: { url: "\${env:WAREHOUSE_URL}" }
`;

  it('dev is the default; the environment option, else SLUICE_ENV, chooses another', () => {
    const dir = project(text);
    const dev = loadConfig({ projectDir: dir, env: {} });
    assert.deepEqual(dev.temporal, { address: 'localhost:7233', namespace: 'default', taskQueue: 'sluice', uiUrl: 'http://127.0.0.1:8233' });
    assert.deepEqual(Object.keys(dev.connectors), ['files', 'warehouse']);
    assert.equal(loadConfig({ projectDir: dir, env: { SLUICE_ENV: 'test' } }).connectors.warehouse?.kind, 'postgres');
    assert.deepEqual(loadConfig({ projectDir: dir, env: { SLUICE_ENV: 'test' } }).connectors.warehouse, { kind: 'postgres', url: 'postgres://localhost/wh_test', fetch_rows: 500 });
    const prod = loadConfig({ projectDir: dir, environment: 'prod', env: { SLUICE_ENV: 'test', WAREHOUSE_URL: 'postgres://wh.internal/wh' } });
    assert.deepEqual(prod.temporal, { address: 'temporal.internal:7233', namespace: 'prod', taskQueue: 'sluice-prod', uiUrl: 'http://127.0.0.1:8233' });
    assert.equal(prod.environment, 'prod');
    assert.equal(prod.staging.chunkRows, 250_000);
    assert.deepEqual(prod.connectors, { warehouse: { kind: 'postgres', url: 'postgres://wh.internal/wh', fetch_rows: 500 } });
  });

  it('environment variables of other environments are not needed; the chosen one\'s make the connector unavailable, at their path in the file', () => {
    const dir = project(text);
    const warnings: string[] = [];
    assert.equal(loadConfig({ projectDir: dir, environment: 'test', env: {}, onWarning: (w) => warnings.push(w) }).unavailableConnectors, undefined);
    assert.equal(warnings.length, 0);
    const prod = loadConfig({ projectDir: dir, environment: 'prod', env: {}, onWarning: (w) => warnings.push(w) });
    assert.deepEqual(prod.unavailableConnectors, { warehouse: { kind: 'postgres', reason: 'environment variable WAREHOUSE_URL is not set (environments.prod.connectors.warehouse.url)' } });
    assert.deepEqual(prod.connectors, {});
    assert.equal(warnings.length, 1);
  });

  it('task queues: derived per environment from the top-level base; an environment block or SLUICE_TASK_QUEUE sets one as is', () => {
    const dir = project('temporal: { task_queue: etl }\nenvironments:\n  test: {}\n  prod: { temporal: { task_queue: etl-production } }\n');
    assert.equal(loadConfig({ projectDir: dir, env: {} }).temporal.taskQueue, 'etl');
    assert.equal(loadConfig({ projectDir: dir, environment: 'test', env: {} }).temporal.taskQueue, 'etl-test');
    assert.equal(loadConfig({ projectDir: dir, environment: 'prod', env: {} }).temporal.taskQueue, 'etl-production');
    assert.equal(loadConfig({ projectDir: dir, environment: 'test', env: { SLUICE_TASK_QUEUE: 'q' } }).temporal.taskQueue, 'q');
    const plain = project('environments:\n  staging: {}\n');
    assert.equal(loadConfig({ projectDir: plain, env: {} }).temporal.taskQueue, 'sluice');
    assert.equal(loadConfig({ projectDir: plain, environment: 'staging', env: {} }).temporal.taskQueue, 'sluice-staging');
    assert.equal(loadConfig({ projectDir: project(), env: {} }).temporal.taskQueue, 'sluice', 'no config file: dev, as before');
  });

  it('an unknown environment is a ConfigError listing the defined ones; dev is always available', () => {
    const dir = project('connectors: { files: { kind: local } }\nenvironments: { staging: {}, prod: {} }\n');
    const error = configError(() => loadConfig({ projectDir: dir, environment: 'prd', env: {} }), 'UNKNOWN_ENVIRONMENT');
    assert.equal(
      error.message,
      `unknown environment "prd": ${path.join(dir, 'sluice.config.yaml')} defines staging, prod; choose one of dev, staging, prod with --env/-e or SLUICE_ENV (dev is always available)`,
    );
    assert.deepEqual(Object.keys(loadConfig({ projectDir: dir, environment: 'dev', env: {} }).connectors), ['files']);
    assert.deepEqual(Object.keys(loadConfig({ projectDir: dir, environment: 'staging', env: {} }).connectors), ['files']);
    const none = configError(() => loadConfig({ projectDir: project(), env: { SLUICE_ENV: 'prod' } }), 'UNKNOWN_ENVIRONMENT');
    assert.equal(none.message, 'unknown environment "prod": there is no config file; choose one of dev with --env/-e or SLUICE_ENV (dev is always available)');
  });

  it('reports every problem at once, at the path that wrote it: the environment block or the top level', () => {
    const dir = project(`
temporal: { address: "", colour: red }
connectors:
  wh: { kind: postgres, fetch_rows: 0 }
environments:
  prod:
    temporal: { ui_url: not-a-url, shade: blue }
    staging: { chunk_rows: -1 }
    connectors:
      wh: { kind: s3, url: "postgres://x" }
      Bad: { kind: local }
`);
    const error = configError(() => loadConfig({ projectDir: dir, environment: 'prod', env: {} }), 'INVALID_CONFIG');
    assert.deepEqual(error.details, {
      issues: [
        'temporal.address: Too small: expected string to have >=1 characters',
        'environments.prod.temporal.ui_url: Invalid URL',
        'temporal: Unrecognized key: "colour"',
        'environments.prod.temporal: Unrecognized key: "shade"',
        'environments.prod.staging.chunk_rows: Too small: expected number to be >0',
        'environments.prod.connectors.wh: Unrecognized key: "url"',
        'environments.prod.connectors.Bad: Invalid key in record',
      ],
    });
  });

  it('refuses a malformed environments block, with paths', () => {
    const dir = project('environments:\n  Prod: {}\n  test: [1]\n  dev: { environments: {} }\n');
    const error = configError(() => loadConfig({ projectDir: dir, env: {} }), 'INVALID_CONFIG');
    assert.deepEqual(error.details, {
      issues: [
        'environments.Prod: environment names are lower-case letters, digits, "-" or "_"',
        'environments.test: Invalid input: expected record, received array',
        'environments.dev.environments: environments cannot be nested',
      ],
    });
  });
});
