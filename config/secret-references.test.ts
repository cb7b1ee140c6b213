/**
 * Unit tests of `${secret:NAME}` in sluice.config.yaml: accepted in secret fields (not a plain-text secret, even
 * where encryption is required), kept unresolved by loading, refused elsewhere and in connectors staging uses; and of
 * the gateway tokens' users and roles.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configError, project } from '../tests/helpers/config-fixtures';
import { loadConfig, tokenActor } from './sluice-config';

const SHA = 'a'.repeat(64);

describe('${secret:NAME} in config', () => {
  it('is kept as written in secret fields, and is no plain-text secret where encryption is required', () => {
    const dir = project(`
user: ana
connectors:
  wh: { kind: postgres, url: "postgres://app:\${secret:WAREHOUSE_PW}@db:5432/wh" }
  lake: { kind: s3, access_key_id: "\${secret:LAKE_KEY_ID}", secret_access_key: "\${secret:LAKE_KEY}" }
environments:
  prod: {}
`);
    const config = loadConfig({ projectDir: dir, env: {}, environment: 'prod' });
    assert.deepEqual(config.connectors.wh, { kind: 'postgres', url: 'postgres://app:${secret:WAREHOUSE_PW}@db:5432/wh' });
    assert.equal((config.connectors.lake as { secret_access_key: string }).secret_access_key, '${secret:LAKE_KEY}');
    assert.equal(config.user, 'ana');
  });

  it('is refused outside secret fields and in a connector that staging uses, each with its path', () => {
    const dir = project(`
staging: { s3: { connector: lake, bucket: stage } }
connectors:
  wh: { kind: postgres, url: "postgres://db/wh", query: "SELECT '\${secret:X}'" }
  lake: { kind: s3, access_key_id: "id", secret_access_key: "\${secret:LAKE_KEY}" }
`);
    const error = configError(() => loadConfig({ projectDir: dir, env: {} }), 'INVALID_CONFIG');
    assert.deepEqual(error.details?.issues, [
      'connectors.wh.query: ${secret:NAME} is allowed only in a secret field (a password, a key, a connection URL\'s password)',
      'connectors.lake.secret_access_key: connector "lake" is used by staging or the data store, which run for no user; ${secret:NAME} cannot be resolved there (use enc:v1:… or ${env:NAME})',
    ]);
  });

  it('refuses a config user that is not a user name', () => {
    const error = configError(() => loadConfig({ projectDir: project('user: "Ana Lopez"\n'), env: {} }), 'INVALID_CONFIG');
    assert.match(String(error.details?.issues), /^user: user names are 1-64 letters/);
  });
});

describe('gateway tokens', () => {
  it('belong to their user (default: the token name) with a role (default: member)', () => {
    const dir = project(`
gateway:
  tokens:
    - { name: ops, user: olga, role: admin, sha256: "${SHA}", scopes: [secrets:write] }
    - { name: ben, sha256: "${SHA}", scopes: [runs:read, secrets:read] }
`);
    const [ops, ben] = loadConfig({ projectDir: dir, env: {} }).gateway!.tokens;
    assert.deepEqual(tokenActor(ops!), { user: 'olga', role: 'admin' });
    assert.deepEqual(tokenActor(ben!), { user: 'ben', role: 'member' });
    const bad = project(`gateway: { tokens: [{ name: x, role: owner, sha256: "${SHA}", scopes: [runs:read] }] }\n`);
    assert.match(String(configError(() => loadConfig({ projectDir: bad, env: {} }), 'INVALID_CONFIG').details?.issues), /gateway\.tokens\.0\.role/);
  });
});
