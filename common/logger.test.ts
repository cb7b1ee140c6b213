/**
 * Unit: the process logger never writes credentials — the secret fields of the config (and their
 * camelCase forms) are redacted at the top level of a log object and one level down.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { it } from 'node:test';

it('redacts credential-named properties, top level and one level down, and keeps the rest', () => {
  const logger = path.join(__dirname, 'logger.js');
  const script = `require(${JSON.stringify(logger)}).createLogger('t', 'info').info({
    password: 'hunter2', databaseUrl: 'postgres://etl:pw@db/dw', connector: { secret_access_key: 'AKIA-secret', region: 'eu-west-3' },
    token: 'ci', rows: 3 }, 'loaded')`;
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const line = JSON.parse(result.stderr.trim()) as Record<string, unknown>;
  assert.equal(line.msg, 'loaded');
  assert.equal(line.password, '[Redacted]');
  assert.equal(line.databaseUrl, '[Redacted]');
  assert.deepEqual(line.connector, { secret_access_key: '[Redacted]', region: 'eu-west-3' });
  assert.equal(line.token, 'ci', 'API token names are logged');
  assert.equal(line.rows, 3);
  for (const secret of ['hunter2', 'etl:pw', 'AKIA-secret']) assert.ok(!result.stderr.includes(secret), secret);
});

/** Runs `script` (with `logger` bound to the built module) in a child process with `env`; returns its stderr. */
function logged(script: string, env: Record<string, string>): string {
  const logger = path.join(__dirname, 'logger.js');
  const errors = path.join(__dirname, 'errors.js');
  const result = spawnSync(process.execPath, ['-e', `const { createLogger } = require(${JSON.stringify(logger)}); const errors = require(${JSON.stringify(errors)}); ${script}`], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stderr;
}

const USER_ERROR = `createLogger('sluice', 'info').warn({ err: new errors.SourceError('EMPTY_SOURCE', 'source_path "a.csv" read 0 rows') }, 'run failed')`;

it('SLUICE_LOG_FORMAT=json (and no terminal): one JSON object a line; a user error is its code and message, no stack', () => {
  for (const env of [{ SLUICE_LOG_FORMAT: 'json' }, {} as Record<string, string>]) {
    const lines = logged(USER_ERROR, env).trim().split('\n');
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(line.msg, 'run failed');
    assert.equal(line.level, 40);
    assert.equal(line.err, undefined);
    assert.equal(line.code, 'EMPTY_SOURCE');
    assert.equal(line.reason, 'source_path "a.csv" read 0 rows');
  }
});

it('SLUICE_LOG_FORMAT=pretty: one human-readable line; a user error without a stack trace', () => {
  const out = logged(USER_ERROR, { SLUICE_LOG_FORMAT: 'pretty' });
  const lines = out.trimEnd().split('\n');
  assert.equal(lines.length, 1, out);
  assert.match(
    lines[0]!,
    /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN \(sluice\): run failed \{"code":"EMPTY_SOURCE","reason":"source_path \\"a\.csv\\" read 0 rows"\}$/,
  );
  assert.doesNotMatch(out, /\n\s+at /, 'no stack frames');
});

it('an unexpected error keeps its stack trace (pretty and JSON)', () => {
  const script = `createLogger('sluice', 'info').error({ err: new Error('boom') }, 'activity failed')`;
  const json = JSON.parse(logged(script, { SLUICE_LOG_FORMAT: 'json' }).trim()) as { err: { type: string; message: string; stack: string } };
  assert.equal(json.err.type, 'Error');
  assert.equal(json.err.message, 'boom');
  assert.match(json.err.stack, /^Error: boom\n\s+at /);
  assert.match(logged(script, { SLUICE_LOG_FORMAT: 'pretty' }), /ERROR \(sluice\): activity failed[\s\S]*Error: boom\n\s+at /);
});
