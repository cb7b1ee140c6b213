/**
 * Integration: `sluice secret …` and `sluice config show` as a user runs them (the built CLI in a child process)
 * in a fresh project folder: a key file made by `keygen`, a secret encrypted through stdin, the prod config shown
 * masked, plain text refused in prod (exit 2), a wrong key and a readable key file refused, and a key rotation.
 * No other service is needed.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, type CliResult } from '../helpers/services';



describe('sluice secret and sluice config show (CLI)', () => {
  let dir: string;
  const SECRET_URL = 'postgres://app:hunter2@db.internal:5432/wh';

  const cli = (args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> => {
    const env: NodeJS.ProcessEnv = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    for (const name of ['SLUICE_STATE_DIR', 'SLUICE_CONFIG', 'SLUICE_ENV', 'SLUICE_MASTER_KEY', 'SLUICE_MASTER_KEY_FILE', 'DATABASE_URL', 'TEMPORAL_ADDRESS']) delete env[name];
    return runCli(args, { cwd: dir, env: { ...env, ...options.env }, input: options.input ?? '' });
  };

  const configFile = () => path.join(dir, 'sluice.config.yaml');
  const keyFile = () => path.join(dir, '.sluice', 'master.key');
  const writeConfig = (prodWarehouseUrl: string) =>
    writeFileSync(
      configFile(),
      [
        'connectors:',
        '  files: { kind: local, root: ./data }',
        '  warehouse: { kind: postgres, url: "postgres://app@localhost/wh" }',
        'environments:',
        '  test: {}',
        '  prod:',
        '    temporal: { namespace: prod }',
        '    connectors:',
        '      files: null',
        `      warehouse: { url: "${prodWarehouseUrl}" }`,
        '',
      ].join('\n'),
    );

  let encrypted: string;
  let firstKeyId: string;

  before(() => {
    dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'sluice-config-cli-')));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keygen writes a private key file; secret encrypt reads stdin and prints only enc:v1:…', { timeout: 180_000 }, async () => {
    const keygen = await cli(['secret', 'keygen']);
    assert.equal(keygen.code, 0, keygen.stderr);
    firstKeyId = /^wrote key ([0-9a-f]{8}) to (.+) \(mode 0600\)\n$/.exec(keygen.stdout)?.[1] ?? '';
    assert.equal(keygen.stdout, `wrote key ${firstKeyId} to ${keyFile()} (mode 0600)\n`);
    assert.equal(statSync(keyFile()).mode & 0o777, 0o600);

    const result = await cli(['secret', 'encrypt'], { input: `${SECRET_URL}\n` });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, new RegExp(`^enc:v1:${firstKeyId}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+\\n$`));
    assert.ok(!result.stdout.includes('hunter2'));
    encrypted = result.stdout.trim();

    const empty = await cli(['secret', 'encrypt'], { input: '' });
    assert.equal(empty.code, 2);
    assert.equal(empty.stderr, 'error: no secret given; type it at the prompt or pipe it: printf %s "$SECRET" | sluice secret encrypt\n');
  });

  it('config show -e prod prints the merged config with the decrypted URL\'s password masked, as YAML and JSON', { timeout: 180_000 }, async () => {
    writeConfig(encrypted);
    const shown = await cli(['config', 'show', '-e', 'prod']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stderr, '');
    assert.equal(
      shown.stdout,
      [
        `# ${configFile()}`,
        '# environment: prod (defined: test, prod); require_encrypted_secrets: true',
        `# secrets, masked: connectors.warehouse.url (encrypted, key ${firstKeyId})`,
        'temporal:',
        '  namespace: prod',
        'connectors:',
        '  warehouse:',
        '    kind: postgres',
        '    url: postgres://app:****@db.internal:5432/wh',
        '',
      ].join('\n'),
    );

    const json = await cli(['config', 'show', '--env', 'prod', '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.ok(!json.stdout.includes('hunter2') && !json.stdout.includes(encrypted));
    assert.deepEqual(JSON.parse(json.stdout), {
      environment: 'prod',
      environments: ['test', 'prod'],
      config_file: configFile(),
      require_encrypted_secrets: true,
      secrets: [{ path: 'connectors.warehouse.url', source: 'encrypted', key_id: firstKeyId, decrypted: true }],
      overridden_by: [],
      config: { connectors: { warehouse: { kind: 'postgres', url: 'postgres://app:****@db.internal:5432/wh' } }, temporal: { namespace: 'prod' } },
    });

    // SLUICE_ENV chooses it too; without any key (another state dir) the value is shown still encrypted, by key id.
    const noKey = await cli(['config', 'show'], { env: { SLUICE_ENV: 'prod', SLUICE_STATE_DIR: 'elsewhere' } });
    assert.equal(noKey.code, 0, noKey.stderr);
    assert.match(noKey.stdout, new RegExp(`\\n    url: enc:v1:${firstKeyId}:\\*\\*\\*\\*\\n`));
    assert.match(noKey.stdout, /connectors\.warehouse\.url \(encrypted, key [0-9a-f]{8}, not decrypted: no master key\)/);
    const missingFile = path.join(dir, 'no-such.key');
    const missing = await cli(['config', 'show', '-e', 'prod'], { env: { SLUICE_MASTER_KEY_FILE: missingFile } });
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, `error: master key file ${missingFile} does not exist; create one with \`sluice secret keygen --file ${missingFile}\`\n`);
  });

  it('plain text is refused in prod with exit 2 and the path of the field, accepted in dev with a warning', { timeout: 180_000 }, async () => {
    writeConfig(SECRET_URL);
    const refused = await cli(['config', 'show', '-e', 'prod']);
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, '');
    assert.equal(
      refused.stderr,
      [
        `error: ${configFile()} (environment prod) is invalid:`,
        '  - environments.prod.connectors.warehouse.url: a plain-text password is refused in environment "prod" (require_encrypted_secrets is true); encrypt it with `sluice secret encrypt` or reference an environment variable as ${env:NAME}',
        '',
      ].join('\n'),
    );
    // Every command loads config the same way: a run in prod is refused before anything starts.
    const run = await cli(['run', 'movies:v1', '--source', 'x.csv', '-e', 'prod']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, refused.stderr);

    writeFileSync(configFile(), `connectors:\n  warehouse: { kind: postgres, url: "${SECRET_URL}" }\nenvironments: { prod: {} }\n`);
    const dev = await cli(['config', 'show']);
    assert.equal(dev.code, 0, dev.stderr);
    assert.match(dev.stdout, /url: postgres:\/\/app:\*\*\*\*@db\.internal:5432\/wh\n/);
    assert.equal(
      dev.stderr,
      `warning: plain-text secrets in ${configFile()}: connectors.warehouse.url; accepted in environment "dev", refused wherever require_encrypted_secrets is true (by default every environment but dev). Encrypt them with \`sluice secret encrypt\` or use \${env:NAME}\n`,
    );
    assert.ok(!dev.stdout.includes('hunter2') && !dev.stderr.includes('hunter2'));

    const unknown = await cli(['config', 'show', '-e', 'prd']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, `error: unknown environment "prd": ${configFile()} defines prod; choose one of dev, prod with --env/-e or SLUICE_ENV (dev is always available)\n`);
  });

  it('a wrong key and a key file others can read are refused clearly, without a stack trace', { timeout: 180_000 }, async () => {
    writeConfig(encrypted);
    const otherKey = Buffer.alloc(32, 7).toString('base64');
    const wrong = await cli(['config', 'show', '-e', 'prod'], { env: { SLUICE_MASTER_KEY: otherKey } });
    assert.equal(wrong.code, 2);
    assert.match(
      wrong.stderr,
      new RegExp(`^error: .+ \\(environment prod\\) is invalid:\\n  - environments\\.prod\\.connectors\\.warehouse\\.url: cannot decrypt with the configured key \\(key id ${firstKeyId} not found; SLUICE_MASTER_KEY has [0-9a-f]{8}\\); `),
    );
    assert.ok(!wrong.stderr.includes('    at '), 'no stack trace');

    chmodSync(keyFile(), 0o644);
    const readable = await cli(['config', 'show', '-e', 'prod']);
    chmodSync(keyFile(), 0o600);
    assert.equal(readable.code, 2);
    assert.equal(readable.stderr, `error: master key file ${keyFile()} has mode 0644, so other users may read it; make it private to its owner: chmod 600 ${keyFile()}\n`);
  });

  it('rotates: keygen --add puts a new key first, secret rotate re-encrypts the file with it, then the old key can go', { timeout: 180_000 }, async () => {
    writeConfig(encrypted);
    const add = await cli(['secret', 'keygen', '--add']);
    assert.equal(add.code, 0, add.stderr);
    const newKeyId = /^added key ([0-9a-f]{8})/.exec(add.stdout)?.[1] ?? '';
    assert.notEqual(newKeyId, firstKeyId);
    const keys = await cli(['secret', 'keys']);
    assert.equal(keys.stdout, `${keyFile()}\n  ${newKeyId}  (encrypts)\n  ${firstKeyId}\n`);

    const rotate = await cli(['secret', 'rotate']);
    assert.equal(rotate.code, 0, rotate.stderr);
    assert.equal(rotate.stdout, `re-encrypted 1 of 1 encrypted values in ${configFile()} with key ${newKeyId}\n`);
    const text = readFileSync(configFile(), 'utf8');
    assert.ok(!text.includes(encrypted));
    assert.match(text, new RegExp(`url: "enc:v1:${newKeyId}:`));

    // Remove the old key: the rotated config still decrypts.
    const lines = readFileSync(keyFile(), 'utf8').split('\n');
    const newKeyLine = lines.find((line) => line !== '' && !line.startsWith('#'))!;
    writeFileSync(keyFile(), `${newKeyLine}\n`, { mode: 0o600 });
    const shown = await cli(['config', 'show', '-e', 'prod', '--json']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(JSON.parse(shown.stdout).config.connectors.warehouse.url, 'postgres://app:****@db.internal:5432/wh');
  });
});
