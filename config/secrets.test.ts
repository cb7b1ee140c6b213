/**
 * Unit tests of secrets: AES-256-GCM round trip, wrong and rotated keys, key files and their mode, the plain-text
 * policy and masking; and secrets through `loadConfig` (decrypted at load, refused in plain text in prod).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import { ConfigError } from '../common/errors';
import {
  decryptSecret,
  encryptSecret,
  findSecretFields,
  generateMasterKey,
  keyIdOf,
  loadMasterKeys,
  maskSecret,
  parseMasterKeys,
  plainTextSecret,
  secret,
  SecretDecryptError,
} from './secrets';
import { loadConfig, resolveConfigFile } from './sluice-config';

const temps: string[] = [];
function tempDir(): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'sluice-secrets-')));
  temps.push(dir);
  return dir;
}
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

function thrown<E extends Error>(fn: () => unknown, type: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected ${type.name}, nothing was thrown`);
}

const KEY_A = generateMasterKey();
const KEY_B = generateMasterKey();
const ring = (text: string) => parseMasterKeys(text, 'SLUICE_MASTER_KEY');
const idOf = (text: string) => ring(text).keys[0]!.id;

describe('encryptSecret / decryptSecret', () => {
  it('round-trips a secret through enc:v1:<key-id>:<iv>:<ciphertext+tag>, with a fresh IV every time', () => {
    const plain = 'postgres://app:pä$$ word@db.internal:5432/wh';
    const one = encryptSecret(plain, ring(KEY_A));
    const two = encryptSecret(plain, ring(KEY_A));
    assert.match(one, /^enc:v1:[0-9a-f]{8}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22,}$/);
    assert.equal(one.split(':')[2], idOf(KEY_A));
    assert.notEqual(one, two);
    assert.ok(!one.includes('word'));
    assert.equal(decryptSecret(one, ring(KEY_A)), plain);
    assert.equal(decryptSecret(two, ring(KEY_A)), plain);
  });

  it('the key id is the first 8 hex digits of sha256(key); hex and base64 spellings are the same key', () => {
    const bytes = Buffer.from(KEY_A, 'base64');
    assert.equal(idOf(KEY_A), keyIdOf(bytes));
    assert.equal(idOf(bytes.toString('hex')), keyIdOf(bytes));
    assert.equal(idOf(bytes.toString('base64url')), keyIdOf(bytes));
    assert.equal(decryptSecret(encryptSecret('x', ring(KEY_A)), ring(bytes.toString('hex'))), 'x');
  });

  it('a wrong key fails clearly: the key id is not found, and the configured ids are named', () => {
    const value = encryptSecret('s3cret', ring(KEY_A));
    const error = thrown(() => decryptSecret(value, ring(KEY_B)), SecretDecryptError);
    assert.equal(error.code, 'SECRET_DECRYPT_FAILED');
    assert.equal(
      error.message,
      `cannot decrypt with the configured key (key id ${idOf(KEY_A)} not found; SLUICE_MASTER_KEY has ${idOf(KEY_B)}); use the key it was encrypted with, or encrypt it again with \`sluice secret encrypt\``,
    );
    assert.ok(!error.message.includes('s3cret'));
  });

  it('without any key, says which key it needs and how to provide one', () => {
    const value = encryptSecret('s3cret', ring(KEY_A));
    const error = thrown(() => decryptSecret(value, null), SecretDecryptError);
    assert.equal(
      error.message,
      `encrypted with key ${idOf(KEY_A)}, but no master key is configured; set SLUICE_MASTER_KEY or SLUICE_MASTER_KEY_FILE, or put the key in .sluice/master.key (mode 0600)`,
    );
  });

  it('an altered value fails authentication; a malformed or future-format value is named as such', () => {
    const value = encryptSecret('s3cret', ring(KEY_A));
    const last = value.at(-2) === 'A' ? 'B' : 'A';
    const altered = `${value.slice(0, -2)}${last}${value.at(-1)}`;
    assert.equal(thrown(() => decryptSecret(altered, ring(KEY_A)), SecretDecryptError).message, `cannot decrypt with key ${idOf(KEY_A)}: authentication failed (the value was altered or truncated)`);
    assert.equal(
      thrown(() => decryptSecret('enc:v1:nothex', ring(KEY_A)), SecretDecryptError).message,
      'not a valid encrypted value (expected enc:v1:<key-id>:<iv>:<ciphertext>, as printed by `sluice secret encrypt`)',
    );
    assert.equal(thrown(() => decryptSecret('enc:v2:abc', ring(KEY_A)), SecretDecryptError).message, 'encrypted with format enc:v2, which this Sluice cannot read (it reads enc:v1)');
  });

  it('rotation: with several keys the first encrypts and every one decrypts', () => {
    const old = encryptSecret('s3cret', ring(KEY_A));
    const both = ring(`${KEY_B},${KEY_A}`);
    assert.deepEqual(both.keys.map((k) => k.id), [idOf(KEY_B), idOf(KEY_A)]);
    assert.equal(decryptSecret(old, both), 's3cret');
    const fresh = encryptSecret('s3cret', both);
    assert.equal(fresh.split(':')[2], idOf(KEY_B));
    assert.equal(decryptSecret(fresh, ring(KEY_B)), 's3cret');
  });
});

describe('master keys', () => {
  it('parses keys one per line or separated by commas, skipping comments and blank lines, never echoing a bad key', () => {
    const keys = parseMasterKeys(`# new key\n${KEY_B}\n\n${KEY_A} # old key\n`, '/k/master.key');
    assert.deepEqual(keys.keys.map((k) => k.id), [idOf(KEY_B), idOf(KEY_A)]);
    const error = thrown(() => parseMasterKeys(`${KEY_A}\ntoo-short-secret\n`, '/k/master.key'), ConfigError);
    assert.equal(error.code, 'INVALID_MASTER_KEY');
    assert.equal(
      error.message,
      '/k/master.key line 2 is not a master key: expected 32 bytes as 64 hex digits or 44 base64 characters; make one with `sluice secret keygen` or `openssl rand -base64 32`',
    );
    assert.equal(thrown(() => parseMasterKeys(`${KEY_A},nope`, 'SLUICE_MASTER_KEY'), ConfigError).message.split(':')[0], 'SLUICE_MASTER_KEY (key 2) is not a master key');
    assert.equal(thrown(() => parseMasterKeys('# nothing\n', '/k/master.key'), ConfigError).message.split(':')[0], '/k/master.key holds no key');
  });

  it('SLUICE_MASTER_KEY wins; else SLUICE_MASTER_KEY_FILE; else <stateDir>/master.key when it exists; else none', () => {
    const dir = tempDir();
    const stateDir = path.join(dir, '.sluice');
    assert.equal(loadMasterKeys({ env: {}, stateDir, projectDir: dir }), null);
    mkdirSync(stateDir);
    writeFileSync(path.join(stateDir, 'master.key'), `${KEY_A}\n`, { mode: 0o600 });
    writeFileSync(path.join(dir, 'other.key'), `${KEY_B}\n`, { mode: 0o400 });
    assert.equal(loadMasterKeys({ env: {}, stateDir, projectDir: dir })?.source, path.join(stateDir, 'master.key'));
    assert.equal(loadMasterKeys({ env: { SLUICE_MASTER_KEY_FILE: 'other.key' }, stateDir, projectDir: dir })?.keys[0]?.id, idOf(KEY_B));
    assert.equal(loadMasterKeys({ env: { SLUICE_MASTER_KEY: KEY_B, SLUICE_MASTER_KEY_FILE: 'other.key' }, stateDir, projectDir: dir })?.source, 'SLUICE_MASTER_KEY');
    const missing = thrown(() => loadMasterKeys({ env: { SLUICE_MASTER_KEY_FILE: 'nope.key' }, stateDir, projectDir: dir }), ConfigError);
    assert.equal(missing.code, 'MASTER_KEY_FILE_NOT_FOUND');
  });

  it('refuses a key file others may read, with the chmod that fixes it', () => {
    const dir = tempDir();
    const file = path.join(dir, 'master.key');
    writeFileSync(file, `${KEY_A}\n`);
    chmodSync(file, 0o644);
    const error = thrown(() => loadMasterKeys({ env: { SLUICE_MASTER_KEY_FILE: file }, stateDir: dir }), ConfigError);
    assert.equal(error.code, 'INSECURE_MASTER_KEY_FILE');
    assert.equal(error.message, `master key file ${file} has mode 0644, so other users may read it; make it private to its owner: chmod 600 ${file}`);
    chmodSync(file, 0o600);
    assert.equal(loadMasterKeys({ env: { SLUICE_MASTER_KEY_FILE: file }, stateDir: dir })?.keys[0]?.id, idOf(KEY_A));
  });
});

describe('secret fields', () => {
  const schema = z.strictObject({
    db: secret(z.string(), 'url').optional(),
    plain: z.string().optional(),
    things: z.record(
      z.string(),
      z.discriminatedUnion('kind', [
        z.strictObject({ kind: z.literal('a'), password: secret(z.string()) }),
        z.strictObject({ kind: z.literal('b'), password: z.string() }),
      ]),
    ),
    list: z.array(z.strictObject({ token: secret(z.string()).default('x') })).optional(),
  });

  it('are found through the schema: records, discriminated unions (by kind), arrays, optional and default wrappers', () => {
    const doc = { db: 'postgres://x', plain: 'p', things: { one: { kind: 'a', password: 'p1' }, two: { kind: 'b', password: 'p2' } }, list: [{ token: 't' }, {}] };
    assert.deepEqual(findSecretFields(schema, doc), [
      { path: ['db'], kind: 'url' },
      { path: ['things', 'one', 'password'], kind: 'value' },
      { path: ['list', '0', 'token'], kind: 'value' },
    ]);
  });

  it('plain text: a value unless encrypted or from ${env:NAME}; a URL only when it holds a password', () => {
    assert.equal(plainTextSecret('hunter2', 'value'), 'a plain-text secret');
    assert.equal(plainTextSecret('${env:S3_SECRET}', 'value'), null);
    assert.equal(plainTextSecret('enc:v1:12345678:aaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbbbbbb', 'value'), null);
    assert.equal(plainTextSecret('postgres://app:hunter2@db/wh', 'url'), 'a plain-text password');
    assert.equal(plainTextSecret('postgres://app@db/wh?password=hunter2', 'url'), 'a plain-text password');
    assert.equal(plainTextSecret('host=db user=app password=hunter2', 'url'), 'a plain-text password');
    assert.equal(plainTextSecret('postgres://app@db/wh', 'url'), null);
    assert.equal(plainTextSecret('postgres://app:${env:PGPASSWORD}@db/wh', 'url'), null);
    assert.equal(plainTextSecret('${env:WAREHOUSE_URL}', 'url'), null);
    assert.equal(plainTextSecret('postgres://app:hunter2@${env:PGHOST}/wh', 'url'), 'a plain-text password');
  });

  it('masking: a value is ****, a URL keeps all but its password, an undecrypted value keeps its key id', () => {
    assert.equal(maskSecret('hunter2', 'value'), '****');
    assert.equal(maskSecret('postgres://app:hunter2@db:5432/wh?sslmode=require', 'url'), 'postgres://app:****@db:5432/wh?sslmode=require');
    assert.equal(maskSecret('postgres://app@db/wh?password=hunter2', 'url'), 'postgres://app@db/wh?password=****');
    assert.equal(maskSecret('host=db password=hunter2 user=app', 'url'), 'host=db password=**** user=app');
    assert.equal(maskSecret('enc:v1:1234abcd:aaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbbbbbb', 'url'), 'enc:v1:1234abcd:****');
  });
});

describe('loadConfig with secrets', () => {
  function project(configText: string): string {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'sluice.config.yaml'), configText);
    return dir;
  }
  const configError = (fn: () => unknown) => thrown(fn, ConfigError);

  it('decrypts encrypted secrets at load, also when they come through ${env:NAME}', () => {
    const url = encryptSecret('postgres://app:hunter2@db/wh', ring(KEY_A));
    const key = encryptSecret('AKIAEXAMPLE', ring(KEY_A));
    const dir = project(`
environments: { prod: {} }
database_url: "${url}"
connectors:
  lake: { kind: s3, access_key_id: "\${env:LAKE_KEY_ID}", secret_access_key: "${encryptSecret('wJalr/EXAMPLE', ring(KEY_A))}" }
`);
    const config = loadConfig({ projectDir: dir, environment: 'prod', env: { SLUICE_MASTER_KEY: KEY_A, LAKE_KEY_ID: key } });
    assert.equal(config.databaseUrl, 'postgres://app:hunter2@db/wh');
    assert.deepEqual(config.connectors.lake, { kind: 's3', region: 'us-east-1', force_path_style: false, access_key_id: 'AKIAEXAMPLE', secret_access_key: 'wJalr/EXAMPLE' });
  });

  it('a wrong key is a ConfigError naming every field it cannot decrypt, and nothing secret', () => {
    const dir = project(`
connectors:
  warehouse: { kind: postgres, url: "${encryptSecret('postgres://app:hunter2@db/wh', ring(KEY_A))}" }
  lake: { kind: s3, secret_access_key: "${encryptSecret('wJalr/EXAMPLE', ring(KEY_A))}" }
`);
    const error = configError(() => loadConfig({ projectDir: dir, env: { SLUICE_MASTER_KEY: KEY_B } }));
    assert.equal(error.code, 'INVALID_CONFIG');
    const why = `cannot decrypt with the configured key (key id ${idOf(KEY_A)} not found; SLUICE_MASTER_KEY has ${idOf(KEY_B)}); use the key it was encrypted with, or encrypt it again with \`sluice secret encrypt\``;
    assert.deepEqual(error.details, { issues: [`connectors.warehouse.url: ${why}`, `connectors.lake.secret_access_key: ${why}`] });
    assert.ok(!error.message.includes('hunter2') && !error.message.includes('wJalr'));
  });

  it('plain text is refused in prod (the default for every environment but dev), with the field path in the file', () => {
    const dir = project(`
connectors:
  warehouse: { kind: postgres, url: "postgres://app@localhost/wh" }
  lake: { kind: s3, access_key_id: "\${env:KEY_ID}", secret_access_key: "\${env:SECRET}" }
environments:
  prod:
    database_url: "postgres://meta:hunter2@db/meta"
    connectors:
      warehouse: { url: "postgres://app:hunter2@db/wh" }
      lake: { secret_access_key: "wJalr/EXAMPLE" }
`);
    const env = { KEY_ID: 'AKIA', SECRET: 's' };
    const error = configError(() => loadConfig({ projectDir: dir, environment: 'prod', env }));
    const refused = 'is refused in environment "prod" (require_encrypted_secrets is true); encrypt it with `sluice secret encrypt` or reference an environment variable as ${env:NAME}';
    assert.deepEqual(error.details, {
      issues: [
        `environments.prod.database_url: a plain-text password ${refused}`,
        `environments.prod.connectors.warehouse.url: a plain-text password ${refused}`,
        `environments.prod.connectors.lake.secret_access_key: a plain-text secret ${refused}`,
      ],
    });
    assert.equal(error.message.split('\n')[0], `${path.join(dir, 'sluice.config.yaml')} (environment prod) is invalid:`);
    assert.ok(!error.message.includes('hunter2') && !error.message.includes('wJalr'));
  });

  it('plain text is accepted in dev with one warning naming the fields; require_encrypted_secrets changes either default', () => {
    const text = `
connectors:
  warehouse: { kind: postgres, url: "postgres://app:hunter2@db/wh" }
environments:
  dev: {}
  test: { require_encrypted_secrets: false }
  strictdev: {}
`;
    const dir = project(text);
    const warnings: string[] = [];
    const config = loadConfig({ projectDir: dir, env: {}, onWarning: (w) => warnings.push(w) });
    assert.deepEqual(config.connectors.warehouse, { kind: 'postgres', url: 'postgres://app:hunter2@db/wh' });
    assert.equal(warnings.length, 1);
    assert.equal(
      warnings[0],
      `plain-text secrets in ${path.join(dir, 'sluice.config.yaml')}: connectors.warehouse.url; accepted in environment "dev", refused wherever require_encrypted_secrets is true (by default every environment but dev). Encrypt them with \`sluice secret encrypt\` or use \${env:NAME}`,
    );
    assert.equal(loadConfig({ projectDir: dir, environment: 'test', env: {}, onWarning: () => undefined }).connectors.warehouse?.kind, 'postgres');
    configError(() => loadConfig({ projectDir: dir, environment: 'strictdev', env: {} }));
    const strict = project(`require_encrypted_secrets: true\n${text}`);
    const error = configError(() => loadConfig({ projectDir: strict, env: {} }));
    assert.match(String(error.details?.issues), /^connectors\.warehouse\.url: a plain-text password is refused in environment "dev"/);
  });

  it('resolveConfigFile keeps encrypted values without reading a key when asked, and lists where each secret came from', () => {
    const url = encryptSecret('postgres://app:hunter2@db/wh', ring(KEY_A));
    const dir = project(`
connectors:
  warehouse: { kind: postgres, url: "${url}" }
  lake: { kind: s3, secret_access_key: "\${env:SECRET}", access_key_id: AKIA }
`);
    const kept = resolveConfigFile({ projectDir: dir, env: { SECRET: 's' }, secrets: 'keep' });
    assert.equal((kept.file.connectors?.warehouse as { url: string }).url, url);
    assert.deepEqual(kept.secrets, [
      { path: ['connectors', 'warehouse', 'url'], kind: 'url', source: 'encrypted', keyId: idOf(KEY_A), decrypted: false },
      { path: ['connectors', 'lake', 'access_key_id'], kind: 'value', source: 'plain' },
      { path: ['connectors', 'lake', 'secret_access_key'], kind: 'value', source: 'env' },
    ]);
    const noKey = resolveConfigFile({ projectDir: dir, env: { SECRET: 's' }, secrets: 'decrypt-if-key' });
    assert.equal(noKey.secrets[0]?.decrypted, false);
    const withKey = resolveConfigFile({ projectDir: dir, env: { SECRET: 's', SLUICE_MASTER_KEY: KEY_A }, secrets: 'decrypt-if-key' });
    assert.equal((withKey.file.connectors?.warehouse as { url: string }).url, 'postgres://app:hunter2@db/wh');
  });
});
