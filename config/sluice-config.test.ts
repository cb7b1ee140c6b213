/**
 * Unit tests of `loadConfig` with temporary project folders and explicit env objects.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { configError, project } from '../tests/helpers/config-fixtures';
import { DEFAULT_HOLD_MAX_BYTES, loadConfig, requireDatabaseUrl } from './sluice-config';

describe('loadConfig', () => {
  it('with no config file: the files and warehouse connectors and local defaults', () => {
    const dir = project();
    assert.deepEqual(loadConfig({ projectDir: dir, env: {} }), {
      projectDir: dir,
      environment: 'dev',
      stateDir: path.join(dir, '.sluice'),
      databaseUrl: undefined,
      temporal: { address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'sluice', uiUrl: 'http://127.0.0.1:8233' },
      staging: { dir: path.join(dir, '.sluice', 'staging'), chunkRows: 250_000, holdMaxBytes: DEFAULT_HOLD_MAX_BYTES, retentionHours: 24 },
      dataStore: { backend: 'local', dir: path.join(dir, '.sluice', 'data') },
      connectors: { files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } },
      configFile: null,
    });
  });

  it('reads the stack file written by `sluice dev` when nothing else says', () => {
    const dir = project();
    const stateDir = path.join(dir, 'state');
    mkdirSync(stateDir);
    writeFileSync(path.join(stateDir, 'stack.json'), JSON.stringify({ databaseUrl: 'postgres://dev/db', temporalAddress: '127.0.0.1:7999', uiUrl: 'http://127.0.0.1:8999' }));
    const config = loadConfig({ projectDir: dir, env: { SLUICE_STATE_DIR: 'state' } });
    assert.equal(config.stateDir, stateDir);
    assert.equal(config.databaseUrl, 'postgres://dev/db');
    assert.equal(config.temporal.address, '127.0.0.1:7999');
    assert.equal(config.temporal.uiUrl, 'http://127.0.0.1:8999');
  });

  it('reads sluice.config.yaml, substituting ${env:NAME} in every string', () => {
    const dir = project(`
database_url: "postgres://\${env:PGUSER}@db:5432/\${env:PGDB}"
temporal: { address: "temporal:7233", namespace: prod, task_queue: etl }
staging: { dir: ./stage, chunk_rows: 1000, hold_max_bytes: 0 }
connectors:
  files: { kind: local, root: ./data }
  erp:   { kind: postgres, url: "\${env:ERP_URL}", query: "SELECT * FROM invoices WHERE batch_id = :source_path", fetch_rows: 50 }
`);
    assert.deepEqual(loadConfig({ projectDir: dir, env: { PGUSER: 'sluice', PGDB: 'meta', ERP_URL: 'postgres://erp/db' } }), {
      projectDir: dir,
      environment: 'dev',
      stateDir: path.join(dir, '.sluice'),
      databaseUrl: 'postgres://sluice@db:5432/meta',
      temporal: { address: 'temporal:7233', namespace: 'prod', taskQueue: 'etl', uiUrl: 'http://127.0.0.1:8233' },
      staging: { dir: path.join(dir, 'stage'), chunkRows: 1000, holdMaxBytes: 0, retentionHours: 24 },
      dataStore: { backend: 'local', dir: path.join(dir, '.sluice', 'data') },
      connectors: {
        files: { kind: 'local', root: './data' },
        erp: { kind: 'postgres', url: 'postgres://erp/db', query: 'SELECT * FROM invoices WHERE batch_id = :source_path', fetch_rows: 50 },
      },
      configFile: path.join(dir, 'sluice.config.yaml'),
    });
  });

  it('lets environment variables override the file', () => {
    const dir = project('database_url: postgres://file/db\ntemporal: { address: "file:7233" }\nstaging: { chunk_rows: 10 }\n');
    const config = loadConfig({
      projectDir: dir,
      env: { DATABASE_URL: 'postgres://env/db', TEMPORAL_ADDRESS: 'env:7233', SLUICE_TASK_QUEUE: 'q', SLUICE_CHUNK_ROWS: '20', SLUICE_STAGING_DIR: '/tmp/elsewhere' },
    });
    assert.equal(config.databaseUrl, 'postgres://env/db');
    assert.equal(config.temporal.address, 'env:7233');
    assert.equal(config.temporal.taskQueue, 'q');
    assert.deepEqual(config.staging, { dir: '/tmp/elsewhere', chunkRows: 20, holdMaxBytes: DEFAULT_HOLD_MAX_BYTES, retentionHours: 24 });
  });

  it('defaults a local connector\'s root to "." and keeps only the configured connectors', () => {
    const dir = project('connectors:\n  inbox: { kind: local }\n');
    assert.deepEqual(loadConfig({ projectDir: dir, env: {} }).connectors, { inbox: { kind: 'local', root: '.' } });
  });

  it('reads an explicit config file, relative to the project dir, also via SLUICE_CONFIG', () => {
    const dir = project('connectors:\n  alt: { kind: local, root: alt }\n', 'other.yaml');
    assert.equal(loadConfig({ projectDir: dir, configFile: 'other.yaml', env: {} }).configFile, path.join(dir, 'other.yaml'));
    const viaEnv = loadConfig({ projectDir: dir, env: { SLUICE_CONFIG: 'other.yaml' } });
    assert.deepEqual(viaEnv.connectors, { alt: { kind: 'local', root: 'alt' } });
  });

  it('refuses a missing explicit config file with CONFIG_NOT_FOUND', () => {
    const dir = project();
    const error = configError(() => loadConfig({ projectDir: dir, configFile: 'missing.yaml', env: {} }), 'CONFIG_NOT_FOUND');
    assert.equal(error.message, `config file ${path.join(dir, 'missing.yaml')} does not exist`);
  });

  it('lists every problem with its path, unset environment variables first', () => {
    const dir = project(`
database_url: "\${env:NOPE_DB}"
temporal: { address: "", ui_url: not-a-url, colour: red }
staging: { chunk_rows: 0 }
connectors:
  Files: { kind: local }
  erp:   { kind: oracle }
  wh:    { kind: postgres, url: "\${env:WH_URL}", fetch_rows: 1.5 }
`);
    const error = configError(() => loadConfig({ projectDir: dir, env: {} }), 'INVALID_CONFIG');
    // wh's WH_URL only makes wh unavailable (a warning), but its shape is still checked.
    const issues = [
      'database_url: environment variable NOPE_DB is not set',
      'connectors.wh.fetch_rows: Invalid input: expected int, received number',
      'database_url: Too small: expected string to have >=1 characters',
      'temporal.address: Too small: expected string to have >=1 characters',
      'temporal.ui_url: Invalid URL',
      'temporal: Unrecognized key: "colour"',
      'staging.chunk_rows: Too small: expected number to be >0',
      'connectors.Files: Invalid key in record',
      "connectors.erp.kind: Invalid discriminator value. Expected 'local' | 'postgres' | 's3' | 'smtp' | 'sftp' | 'mysql'",
    ];
    assert.deepEqual(error.details, { issues });
    assert.equal(error.message, [`${path.join(dir, 'sluice.config.yaml')} is invalid:`, ...issues.map((i) => `  - ${i}`)].join('\n'));
  });

  it("takes a postgres connector's copy_format (auto or csv) and refuses another", () => {
    const ok = project('connectors:\n  wh: { kind: postgres, url: "postgres://h/db", copy_format: csv }\n');
    assert.deepEqual(loadConfig({ projectDir: ok, env: {} }).connectors.wh, { kind: 'postgres', url: 'postgres://h/db', copy_format: 'csv' });
    const bad = project('connectors:\n  wh: { kind: postgres, url: "postgres://h/db", copy_format: binary }\n');
    const error = configError(() => loadConfig({ projectDir: bad, env: {} }), 'INVALID_CONFIG');
    assert.deepEqual(error.details, { issues: ['connectors.wh.copy_format: Invalid option: expected one of "auto"|"csv"'] });
  });

  it('an unset environment variable of a connector makes that connector unavailable, with one warning line', () => {
    const dir = project('connectors:\n  files: { kind: local }\n  wh: { kind: postgres, url: "postgres://${env:DB_USER}@h/db" }\n  s3in: { kind: s3, endpoint: "${env:S3_ENDPOINT}", access_key_id: "${env:S3_KEY}" }\n');
    const warnings: string[] = [];
    const config = loadConfig({ projectDir: dir, env: {}, onWarning: (w) => warnings.push(w) });
    assert.deepEqual(Object.keys(config.connectors), ['files']);
    assert.deepEqual(config.unavailableConnectors, {
      wh: { kind: 'postgres', reason: 'environment variable DB_USER is not set (connectors.wh.url)' },
      s3in: { kind: 's3', reason: 'environment variable S3_ENDPOINT is not set (connectors.s3in.endpoint); environment variable S3_KEY is not set (connectors.s3in.access_key_id)' },
    });
    assert.deepEqual(warnings, [
      'connector "wh" is unavailable: environment variable DB_USER is not set (connectors.wh.url); connector "s3in" is unavailable: environment variable S3_ENDPOINT is not set (connectors.s3in.endpoint); environment variable S3_KEY is not set (connectors.s3in.access_key_id); a run that uses it will fail until the variable is set',
    ]);
  });

  it('refuses an unset environment variable of a connector that staging uses', () => {
    const dir = project('connectors:\n  lake: { kind: s3, endpoint: "${env:S3_ENDPOINT}" }\nstaging: { s3: { connector: lake, bucket: stage } }\n');
    const error = configError(() => loadConfig({ projectDir: dir, env: {} }), 'INVALID_CONFIG');
    assert.deepEqual(error.details, { issues: ['connectors.lake.endpoint: environment variable S3_ENDPOINT is not set', 'connectors.lake.endpoint: Invalid URL'] });
  });

  it('refuses invalid YAML with INVALID_CONFIG naming the file and position', () => {
    const dir = project('connectors: [\n');
    const error = configError(() => loadConfig({ projectDir: dir, env: {} }), 'INVALID_CONFIG');
    assert.equal(
      error.message,
      `${path.join(dir, 'sluice.config.yaml')} is not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1:`,
    );
  });
});

describe('requireDatabaseUrl', () => {
  it('returns the URL, or throws ConfigError NO_DATABASE saying how to set one', () => {
    const dir = project();
    assert.equal(requireDatabaseUrl(loadConfig({ projectDir: dir, env: { DATABASE_URL: 'postgres://x/y' } })), 'postgres://x/y');
    const error = configError(() => requireDatabaseUrl(loadConfig({ projectDir: dir, env: {} })), 'NO_DATABASE');
    assert.equal(
      error.message,
      'no metadata database: set DATABASE_URL (e.g. postgres://user@127.0.0.1:5432/db), set database_url in sluice.config.yaml, or start the local stack with `sluice dev`',
    );
  });
});
