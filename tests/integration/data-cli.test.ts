/**
 * Integration: `sluice data put|get|cat|ls|rm|size` as a user runs it (a child process) in a fresh
 * project folder with the default local data store (`.sluice/data`). No other service is needed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PROJECT_DIR, tempProject } from '../helpers/services';

interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

describe('sluice data (CLI, local data store)', () => {
  let dir: string;

  const cli = (...args: string[]): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      const env: NodeJS.ProcessEnv = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
      for (const name of ['SLUICE_STATE_DIR', 'SLUICE_CONFIG', 'SLUICE_ENV', 'SLUICE_STAGING_DIR']) delete env[name];
      const child = spawn(process.execPath, [path.join(PROJECT_DIR, 'dist', 'cli', 'main.js'), 'data', ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const stdout: Buffer[] = [];
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => stdout.push(d));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr }));
    });

  /** Asserts a refused request: exit 2, nothing on stdout, exactly `error: <message>` on stderr. */
  const refused = (result: CliResult, message: string) => {
    assert.equal(result.stderr, `error: ${message}\n`);
    assert.equal(result.stdout.toString(), '');
    assert.equal(result.code, 2);
  };

  before(() => {
    dir = tempProject();
    writeFileSync(path.join(dir, 'rates.csv'), 'currency,rate\nEUR,1.08\nGBP,1.27\n');
    writeFileSync(path.join(dir, 'bytes.bin'), Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('puts, lists, sizes, cats, gets and removes user data under .sluice/data/user', { timeout: 180_000 }, async () => {
    let r = await cli('put', 'lookups/rates.csv', 'rates.csv', '--user');
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.toString(), 'stored lookups/rates.csv in the user data store (32 bytes)\n');
    assert.equal(r.code, 0);
    assert.equal(readFileSync(path.join(dir, '.sluice', 'data', 'user', 'lookups', 'rates.csv'), 'utf8'), 'currency,rate\nEUR,1.08\nGBP,1.27\n');

    r = await cli('put', 'lookups/bytes.bin', 'bytes.bin', '--user');
    assert.equal(r.stdout.toString(), 'stored lookups/bytes.bin in the user data store (256 bytes)\n');
    r = await cli('put', 'top.txt', 'rates.csv', '--user');
    assert.equal(r.code, 0);

    r = await cli('ls', '--user');
    assert.equal(r.stdout.toString(), 'lookups/bytes.bin\nlookups/rates.csv\ntop.txt\n');
    assert.equal(r.code, 0);
    r = await cli('ls', 'lookups/', '--user', '--json');
    assert.deepEqual(JSON.parse(r.stdout.toString()), ['lookups/bytes.bin', 'lookups/rates.csv']);
    r = await cli('ls', 'nothing/', '--user');
    assert.equal(r.stdout.toString(), '');
    assert.equal(r.code, 0);

    r = await cli('size', 'lookups/bytes.bin', '--user');
    assert.equal(r.stdout.toString(), '256\n');

    r = await cli('cat', 'lookups/rates.csv', '--user');
    assert.equal(r.stdout.toString(), 'currency,rate\nEUR,1.08\nGBP,1.27\n');
    r = await cli('cat', 'lookups/bytes.bin', '--user');
    assert.deepEqual(r.stdout, Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    r = await cli('cat', 'lookups/bytes.bin', '--user', '--range', '254:256');
    assert.deepEqual(r.stdout, Buffer.from([254, 255]));
    r = await cli('cat', 'lookups/bytes.bin', '--user', '--range', '0:1');
    assert.deepEqual(r.stdout, Buffer.from([0]));
    r = await cli('cat', 'lookups/bytes.bin', '--user', '--range', '7:7');
    assert.deepEqual(r.stdout, Buffer.alloc(0));
    assert.equal(r.code, 0);

    r = await cli('get', 'lookups/rates.csv', 'out/copy.csv', '--user');
    assert.equal(r.stdout.toString(), 'wrote out/copy.csv (32 bytes) from lookups/rates.csv in the user data store\n');
    assert.equal(readFileSync(path.join(dir, 'out', 'copy.csv'), 'utf8'), 'currency,rate\nEUR,1.08\nGBP,1.27\n');

    r = await cli('rm', 'top.txt', '--user');
    assert.equal(r.stdout.toString(), 'deleted 1 object from the user data store\n');
    r = await cli('rm', 'lookups', '--user', '--recursive');
    assert.equal(r.stdout.toString(), 'deleted 2 objects from the user data store\n');
    r = await cli('ls', '--user', '--json');
    assert.equal(r.stdout.toString(), '[]\n');
    assert.equal(existsSync(path.join(dir, '.sluice', 'data', 'user', 'lookups')), false);
  });

  it('keeps pipeline data per run, apart from user data', { timeout: 180_000 }, async () => {
    assert.equal((await cli('put', 'chunk.csv', 'rates.csv', '--pipeline', 'orders-v1-aaaa')).code, 0);
    assert.equal((await cli('put', 'other.csv', 'rates.csv', '--pipeline', 'orders-v1-bbbb')).code, 0);
    assert.equal((await cli('put', 'mine.csv', 'rates.csv', '--user')).code, 0);
    assert.equal(existsSync(path.join(dir, '.sluice', 'data', 'pipeline', 'orders-v1-aaaa', 'chunk.csv')), true);

    assert.equal((await cli('ls', '--pipeline', 'orders-v1-aaaa')).stdout.toString(), 'chunk.csv\n');
    assert.equal((await cli('ls', '--pipeline', 'orders-v1-bbbb')).stdout.toString(), 'other.csv\n');
    assert.equal((await cli('ls', '--user')).stdout.toString(), 'mine.csv\n');
    refused(
      await cli('cat', 'other.csv', '--pipeline', 'orders-v1-aaaa'),
      'no data named "other.csv" in the pipeline data of run orders-v1-aaaa; list what is there with list() or `sluice data ls`',
    );
    refused(
      await cli('rm', 'mine.csv', '--pipeline', 'orders-v1-aaaa'),
      'no data named "mine.csv" in the pipeline data of run orders-v1-aaaa; list what is there with list() or `sluice data ls`',
    );
    assert.equal((await cli('size', 'mine.csv', '--user')).stdout.toString(), '32\n');
  });

  it('refuses requests with exit 2 and a message saying what to fix', { timeout: 180_000 }, async () => {
    assert.equal((await cli('put', 'ranged.csv', 'rates.csv', '--user')).code, 0);
    refused(await cli('ls'), "give exactly one scope: --user (persistent data) or --pipeline <run-id> (one run's data)");
    refused(await cli('ls', '--user', '--pipeline', 'r1'), 'give either --user or --pipeline <run-id>, not both');
    refused(
      await cli('put', '../escape.csv', 'rates.csv', '--user'),
      'data name "../escape.csv" contains a ".." segment; names cannot leave their scope: remove the ".." segment',
    );
    refused(await cli('size', '/abs', '--user'), 'data name "/abs" is an absolute path; names are relative to their scope: use "abs"');
    refused(await cli('get', 'a//b', 'x.csv', '--user'), 'data name "a//b" contains an empty segment ("//" or a trailing "/"); remove the extra "/"');
    refused(await cli('ls', '--pipeline', '../user'), 'run id "../user" contains "/" or a backslash; pipeline data is scoped by a run id such as "movies-v1-2d8005a1aaecf9bb"');
    refused(await cli('cat', 'nope.csv', '--user'), 'no data named "nope.csv" in the user data store; list what is there with list() or `sluice data ls`');
    refused(await cli('put', 'x.csv', 'missing.csv', '--user'), 'cannot store "x.csv": local file missing.csv does not exist');
    refused(await cli('cat', 'ranged.csv', '--user', '--range', '10'), '--range must be begin:end in bytes, half-open (0:100 is the first 100 bytes), not "10"');
    refused(
      await cli('cat', 'ranged.csv', '--user', '--range', '30:40'),
      'byte range [30, 40) is outside "ranged.csv", which is 32 bytes long; the range must end at or before 32',
    );
    refused(
      await cli('rm', 'nothing', '--user', '--recursive'),
      'no data named "nothing" in the user data store; list what is there with list() or `sluice data ls`',
    );

    // With --json, the error is one JSON object on stdout.
    const r = await cli('ls', '../x', '--user', '--json');
    assert.equal(r.code, 2);
    assert.deepEqual(JSON.parse(r.stdout.toString()), {
      error: { code: 'INVALID_DATA_NAME', message: 'data prefix "../x" contains a ".." segment; names cannot leave their scope: remove the ".." segment' },
    });
  });
});
