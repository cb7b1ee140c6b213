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
