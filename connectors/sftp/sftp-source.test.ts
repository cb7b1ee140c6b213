/**
 * Unit tests of the sftp connector's pure parts: its config (host key pinning required, a credential
 * required, defaults, secrets), the host key fingerprint, and how refusals are classified
 * (connectors/access-errors.ts). The connector against a real OpenSSH server is tested in
 * tests/integration/sftp-connector.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { AccessError } from '../../common/errors';
import { loadConfig } from '../../config/sluice-config';
import { configError, project } from '../../tests/helpers/config-fixtures';
import { accessError } from '../access-errors';
import { hostKeyFingerprint } from './sftp-source';

const PIN = `SHA256:${'x'.repeat(43)}`;

describe('sftp connector config', () => {
  it('reads an sftp connector with its defaults; the key comes from ${env:…}', () => {
    const dir = project(`connectors:\n  partner: { kind: sftp, host: sftp.example.com, username: etl, private_key: "\${env:KEY}", host_key: "${PIN}" }\n`);
    const config = loadConfig({ projectDir: dir, env: { KEY: 'the-key-text' } });
    assert.deepEqual(config.connectors.partner, {
      kind: 'sftp',
      host: 'sftp.example.com',
      port: 22,
      username: 'etl',
      private_key: 'the-key-text',
      root: '.',
      host_key: PIN,
      timeout_ms: 10_000,
    });
  });

  it('refuses a connector without host_key, saying how to get the fingerprint, and one without a credential', () => {
    const dir = project('connectors:\n  partner: { kind: sftp, host: h, username: u }\n');
    const error = configError(() => loadConfig({ projectDir: dir, env: {} }), 'INVALID_CONFIG');
    assert.deepEqual(error.details, {
      issues: [
        "connectors.partner.host_key: host_key is required: the server's SHA256 host key fingerprint, e.g. from `ssh-keyscan -p PORT HOST | ssh-keygen -lf -` (or insecure-accept-any, not for production)",
      ],
    });
    const noCredential = project(`connectors:\n  partner: { kind: sftp, host: h, username: u, host_key: insecure-accept-any }\n`);
    const missing = configError(() => loadConfig({ projectDir: noCredential, env: {} }), 'INVALID_CONFIG');
    assert.deepEqual(missing.details, { issues: ['connectors.partner.password: set password, private_key or private_key_file (secrets: use ${env:NAME} or an encrypted value)'] });
  });

  it('refuses a host_key that is not a SHA256 fingerprint (an MD5 one, say)', () => {
    const dir = project('connectors:\n  partner: { kind: sftp, host: h, username: u, password: p, host_key: "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48" }\n');
    const error = configError(() => loadConfig({ projectDir: dir, env: {} }), 'INVALID_CONFIG');
    assert.deepEqual(error.details, { issues: ['connectors.partner.host_key: expected SHA256:<43 base64 characters> as `ssh-keygen -lf` prints it, or insecure-accept-any'] });
  });
});

describe('hostKeyFingerprint', () => {
  it('is what ssh-keygen -lf prints for the same key', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-hostkey-'));
    const file = path.join(dir, 'key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
    const blob = Buffer.from(readFileSync(`${file}.pub`, 'utf8').split(' ')[1]!, 'base64');
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1];
    assert.equal(hostKeyFingerprint(blob), printed);
  });
});

describe('accessError for sftp', () => {
  const subject = { kind: 'sftp' as const, connector: 'partner', host: 'sftp.example.com', port: 2222, username: 'etl', what: 'in/orders.csv' };

  it('reads ssh2 refusing every authentication method as AUTH_FAILED', () => {
    const error = accessError(Object.assign(new Error('getConnection: All configured authentication methods failed'), { code: 'ERR_GENERIC_CLIENT' }), subject);
    assert.ok(error instanceof AccessError);
    assert.equal(error.code, 'AUTH_FAILED');
    assert.equal(
      error.message,
      'connectors.partner: the SFTP server at sftp.example.com:2222 refused user "etl" (All configured authentication methods failed); ' +
        'check connectors.partner.username and password, private_key or private_key_file (or the secret it references), and that the server authorises that key',
    );
  });

  it('reads SFTP status 3 as PERMISSION_DENIED naming the path', () => {
    const error = accessError(Object.assign(new Error('get: Permission denied /in/orders.csv'), { code: 3 }), subject);
    assert.equal(error?.code, 'PERMISSION_DENIED');
    assert.match(error!.message, /^connectors\.partner: user "etl" at sftp\.example\.com:2222 may not access in\/orders\.csv \(permission denied\)/);
  });

  it('leaves other errors alone', () => {
    assert.equal(accessError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:2222'), { code: 'ECONNREFUSED' }), subject), undefined);
  });
});
