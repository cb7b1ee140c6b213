/**
 * The data store's conformance suite: one set of node:test tests that every backend must pass,
 * run against local disk (`storage/local-data-store.test.ts`) and a real S3 server
 * (`tests/integration/s3-data-store.test.ts`). Each test gets a fresh, empty data store from the
 * backend's `freshConfig()`, and checks exact values, exact error codes and exact messages.
 *
 * @example
 * ```ts
 * dataStoreConformance('local disk', {
 *   freshConfig: async () => ({ ...loadConfig({ projectDir: dir, env: {} }), dataStore: { backend: 'local', dir: mkdtempSync(…) } }),
 * });
 * ```
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../common/errors';
import type { SluiceConfig } from '../../config/sluice-config';
import { createDataStore, purgePipelineData, type DataScope, type DataStore } from '../../storage/data-store';
import { DataStoreError, type DataStoreErrorCode } from '../../storage/data-store-error';

export interface ConformanceBackend {
  /** Runs once before the suite (start a server, create a bucket). */
  setup?(): Promise<void>;
  /** Runs once after the suite. */
  teardown?(): Promise<void>;
  /** A config whose data store is empty and shared with no other test. */
  freshConfig(): Promise<SluiceConfig> | SluiceConfig;
}

/** Asserts that `promise` rejects with a DataStoreError (a UserError) of exactly this code and message. */
export async function rejectsWithDataError(promise: Promise<unknown>, code: DataStoreErrorCode, message: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DataStoreError, `expected a DataStoreError, got ${String(error)}`);
    assert.ok(error instanceof UserError);
    assert.equal(error.name, 'DataStoreError');
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    return true;
  });
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Writes `size` deterministic, non-repeating bytes to `file` (streamed). */
async function writeLargeFile(file: string, size: number): Promise<string> {
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  let block = createHash('sha256').update('sluice').digest();
  let written = 0;
  while (written < size) {
    const chunk = Buffer.alloc(Math.min(64 * 1024, size - written));
    for (let i = 0; i < chunk.length; i += 32) {
      block = createHash('sha256').update(block).digest();
      block.copy(chunk, i, 0, Math.min(32, chunk.length - i));
    }
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    written += chunk.length;
  }
  out.end();
  await finished(out);
  return hash.digest('hex');
}

/** Bad names with the exact message each must be refused with. */
const REFUSED_NAMES: ReadonlyArray<readonly [name: string, message: string]> = [
  ['', 'data name must not be empty; give a relative name such as "reports/2024-06.csv"'],
  ['../secret.txt', 'data name "../secret.txt" contains a ".." segment; names cannot leave their scope: remove the ".." segment'],
  ['a/../../user/x', 'data name "a/../../user/x" contains a ".." segment; names cannot leave their scope: remove the ".." segment'],
  ['a/..', 'data name "a/.." contains a ".." segment; names cannot leave their scope: remove the ".." segment'],
  ['./a', 'data name "./a" contains a "." segment; remove the "./"'],
  ['/etc/passwd', 'data name "/etc/passwd" is an absolute path; names are relative to their scope: use "etc/passwd"'],
  ['a//b', 'data name "a//b" contains an empty segment ("//" or a trailing "/"); remove the extra "/"'],
  ['a/', 'data name "a/" contains an empty segment ("//" or a trailing "/"); remove the extra "/"'],
  ['a\\b', 'data name "a\\\\b" contains a backslash; separate folders with "/"'],
  ['..\\x', 'data name "..\\\\x" contains a backslash; separate folders with "/"'],
  ['a\u0000b', 'data name "a\\u0000b" contains a control character (U+0000); use printable characters only'],
  ['line\nbreak', 'data name "line\\nbreak" contains a control character (U+000A); use printable characters only'],
  ['del\u007f', 'data name "del\u007f" contains a control character (U+007F); use printable characters only'],
  [`${'x'.repeat(300)}`, `data name "${'x'.repeat(300)}" has a segment of 300 bytes; the limit is 255 bytes between two "/" (a file name on disk): split it into folders`],
  [
    `${'é'.repeat(200)}/${'é'.repeat(200)}/${'é'.repeat(113)}`,
    `data name "${'é'.repeat(40)}…" is 1028 bytes long; the limit is 1024 bytes (UTF-8): use a shorter name`,
  ],
];

/** A name of exactly 1024 UTF-8 bytes, the longest accepted. */
const LONGEST_NAME = ['a'.repeat(255), 'b'.repeat(255), 'c'.repeat(255), 'd'.repeat(254), 'e'].join('/');

/**
 * Registers the conformance tests for one backend under `describe('data store conformance: <name>')`.
 */
export function dataStoreConformance(name: string, backend: ConformanceBackend): void {
  describe(`data store conformance: ${name}`, () => {
    const open: DataStore[] = [];
    let scratch: string;

    /** A fresh data store (its own empty location) with pipeline scopes for these run ids. */
    async function fresh(...runIds: string[]): Promise<{ config: SluiceConfig; user: DataScope; pipelines: DataScope[]; store: DataStore }> {
      const config = await backend.freshConfig();
      const store = createDataStore(config);
      open.push(store);
      const pipelines = runIds.map((id) => {
        const s = createDataStore(config, id);
        open.push(s);
        return s.pipeline;
      });
      return { config, user: store.user, pipelines, store };
    }

    before(async () => {
      scratch = mkdtempSync(path.join(os.tmpdir(), 'sluice-data-conformance-'));
      await backend.setup?.();
    });

    after(async () => {
      for (const store of open) await store.close();
      await backend.teardown?.();
      rmSync(scratch, { recursive: true, force: true });
    });

    it('round-trips a Buffer and a Uint8Array: put, gets, get, size, exists; put replaces', async () => {
      const { user, pipelines } = await fresh('run-1');
      const pipeline = pipelines[0]!;
      assert.equal(await user.put('notes/hello.txt', Buffer.from('hello world')), 11);
      assert.deepEqual(await user.gets('notes/hello.txt'), Buffer.from('hello world'));
      assert.equal(await user.size('notes/hello.txt'), 11);
      assert.equal(await user.exists('notes/hello.txt'), true);
      const file = path.join(scratch, 'buffer-copy', 'nested', 'hello.txt');
      assert.equal(await user.get('notes/hello.txt', file), 11);
      assert.equal(readFileSync(file, 'utf8'), 'hello world');
      assert.deepEqual(readdirSync(path.dirname(file)), ['hello.txt']);

      assert.equal(await pipeline.put('bytes.bin', new Uint8Array([0, 1, 2, 255])), 4);
      assert.deepEqual(await pipeline.gets('bytes.bin'), Buffer.from([0, 1, 2, 255]));

      assert.equal(await user.put('notes/hello.txt', Buffer.from('bye')), 3);
      assert.deepEqual(await user.gets('notes/hello.txt'), Buffer.from('bye'));
      assert.equal(await user.size('notes/hello.txt'), 3);

      assert.equal(await user.put('empty', Buffer.alloc(0)), 0);
      assert.equal(await user.size('empty'), 0);
      assert.deepEqual(await user.gets('empty'), Buffer.alloc(0));
      assert.deepEqual(await user.list(), ['empty', 'notes/hello.txt']);

      assert.equal(await user.put(LONGEST_NAME, Buffer.from('long')), 4);
      assert.deepEqual(await user.gets(LONGEST_NAME), Buffer.from('long'));
    });

    it('round-trips a multi-MiB file (streamed, multipart on S3) and a small file', async () => {
      const { user, pipelines } = await fresh('run-file');
      const size = 12 * 1024 * 1024 + 123;
      const source = path.join(scratch, 'large.bin');
      const hash = await writeLargeFile(source, size);
      assert.equal(await pipelines[0]!.put('big/large.bin', source), size);
      assert.equal(await pipelines[0]!.size('big/large.bin'), size);
      const copy = path.join(scratch, 'large-copy', 'large.bin');
      assert.equal(await pipelines[0]!.get('big/large.bin', copy), size);
      assert.equal(statSync(copy).size, size);
      assert.equal(sha256(readFileSync(copy)), hash);
      assert.deepEqual(readdirSync(path.dirname(copy)), ['large.bin']);
      // A range across the first part boundaries of a multipart upload.
      const whole = readFileSync(source);
      const begin = 8 * 1024 * 1024 - 10;
      assert.deepEqual(await pipelines[0]!.gets('big/large.bin', { byteRange: [begin, begin + 20] }), whole.subarray(begin, begin + 20));

      const small = path.join(scratch, 'small.csv');
      writeFileSync(small, 'id,name\n1,alpha\n');
      assert.equal(await user.put('small.csv', small), 16);
      assert.equal((await user.gets('small.csv')).toString('utf8'), 'id,name\n1,alpha\n');

      // get replaces an existing local file; a failed get leaves it untouched.
      const target = path.join(scratch, 'replace.csv');
      writeFileSync(target, 'old');
      assert.equal(await user.get('small.csv', target), 16);
      assert.equal(readFileSync(target, 'utf8'), 'id,name\n1,alpha\n');
      await rejectsWithDataError(
        user.get('missing.csv', target),
        'DATA_NOT_FOUND',
        'no data named "missing.csv" in the user data store; list what is there with list() or `sluice data ls`',
      );
      assert.equal(readFileSync(target, 'utf8'), 'id,name\n1,alpha\n');

      await rejectsWithDataError(
        user.put('x.csv', path.join(scratch, 'no-such-file.csv')),
        'LOCAL_FILE_NOT_FOUND',
        `cannot store "x.csv": local file ${path.join(scratch, 'no-such-file.csv')} does not exist`,
      );
      assert.equal(await user.exists('x.csv'), false);
    });

    it('reads byte ranges [begin, end): first byte, middle, last byte, empty, whole; refuses ranges outside the object', async () => {
      const { user } = await fresh();
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await user.put('r/bytes.bin', bytes);
      const range = (begin: number, end: number) => user.gets('r/bytes.bin', { byteRange: [begin, end] });
      assert.deepEqual(await range(0, 1), Buffer.from([0]));
      assert.deepEqual(await range(100, 110), Buffer.from([100, 101, 102, 103, 104, 105, 106, 107, 108, 109]));
      assert.deepEqual(await range(255, 256), Buffer.from([255]));
      assert.deepEqual(await range(5, 5), Buffer.alloc(0));
      assert.deepEqual(await range(256, 256), Buffer.alloc(0));
      assert.deepEqual(await range(0, 256), bytes);
      assert.deepEqual(await user.gets('r/bytes.bin'), bytes);

      await rejectsWithDataError(
        range(250, 257),
        'INVALID_BYTE_RANGE',
        'byte range [250, 257) is outside "r/bytes.bin", which is 256 bytes long; the range must end at or before 256',
      );
      await rejectsWithDataError(
        range(300, 300),
        'INVALID_BYTE_RANGE',
        'byte range [300, 300) is outside "r/bytes.bin", which is 256 bytes long; the range must end at or before 256',
      );
      await rejectsWithDataError(
        range(10, 5),
        'INVALID_BYTE_RANGE',
        'byte range [10, 5) of "r/bytes.bin" is invalid: give whole numbers with 0 <= begin <= end (the range is half-open: [0, 1) is the first byte)',
      );
      await rejectsWithDataError(
        range(-1, 2),
        'INVALID_BYTE_RANGE',
        'byte range [-1, 2) of "r/bytes.bin" is invalid: give whole numbers with 0 <= begin <= end (the range is half-open: [0, 1) is the first byte)',
      );
      await rejectsWithDataError(
        range(1.5, 3),
        'INVALID_BYTE_RANGE',
        'byte range [1.5, 3) of "r/bytes.bin" is invalid: give whole numbers with 0 <= begin <= end (the range is half-open: [0, 1) is the first byte)',
      );
      await rejectsWithDataError(
        user.gets('r/missing.bin', { byteRange: [0, 1] }),
        'DATA_NOT_FOUND',
        'no data named "r/missing.bin" in the user data store; list what is there with list() or `sluice data ls`',
      );
      await rejectsWithDataError(
        user.gets('r/missing.bin'),
        'DATA_NOT_FOUND',
        'no data named "r/missing.bin" in the user data store; list what is there with list() or `sluice data ls`',
      );
    });

    it('lists names under a prefix, sorted by UTF-8 bytes, and only that prefix', async () => {
      const { user, pipelines } = await fresh('run-list');
      const names = ['reports/2024/b.csv', 'reports/2024/a.csv', 'reports/2023/z.csv', 'reports-old.csv', 'other/x', 'B', 'a', 'é', 'reports/2024/a.csv.bak'];
      for (const n of names) await user.put(n, Buffer.from(n));
      await pipelines[0]!.put('reports/2024/p.csv', Buffer.from('p'));

      assert.deepEqual(await user.list(), ['B', 'a', 'other/x', 'reports-old.csv', 'reports/2023/z.csv', 'reports/2024/a.csv', 'reports/2024/a.csv.bak', 'reports/2024/b.csv', 'é']);
      assert.deepEqual(await user.list(''), await user.list());
      assert.deepEqual(await user.list('reports/'), ['reports/2023/z.csv', 'reports/2024/a.csv', 'reports/2024/a.csv.bak', 'reports/2024/b.csv']);
      assert.deepEqual(await user.list('reports/2024/'), ['reports/2024/a.csv', 'reports/2024/a.csv.bak', 'reports/2024/b.csv']);
      assert.deepEqual(await user.list('reports'), ['reports-old.csv', 'reports/2023/z.csv', 'reports/2024/a.csv', 'reports/2024/a.csv.bak', 'reports/2024/b.csv']);
      assert.deepEqual(await user.list('reports/2024/a'), ['reports/2024/a.csv', 'reports/2024/a.csv.bak']);
      assert.deepEqual(await user.list('reports/2024/a.csv'), ['reports/2024/a.csv', 'reports/2024/a.csv.bak']);
      assert.deepEqual(await user.list('nothing/'), []);
      assert.deepEqual(await user.list('zzz'), []);
      assert.deepEqual(await pipelines[0]!.list(), ['reports/2024/p.csv']);
      assert.deepEqual(await pipelines[0]!.list('reports/'), ['reports/2024/p.csv']);

      await rejectsWithDataError(user.list('../'), 'INVALID_DATA_NAME', 'data prefix "../" contains a ".." segment; names cannot leave their scope: remove the ".." segment');
      await rejectsWithDataError(user.list('/reports'), 'INVALID_DATA_NAME', 'data prefix "/reports" is an absolute path; names are relative to their scope: use "reports"');
      await rejectsWithDataError(user.list('a//'), 'INVALID_DATA_NAME', 'data prefix "a//" contains an empty segment ("//" or a trailing "/"); remove the extra "/"');
    });

    it('answers exists and size exactly; a folder is not an object', async () => {
      const { user } = await fresh();
      await user.put('folder/one.txt', Buffer.from('12345'));
      assert.equal(await user.exists('folder/one.txt'), true);
      assert.equal(await user.size('folder/one.txt'), 5);
      assert.equal(await user.exists('folder'), false);
      assert.equal(await user.exists('folder/two.txt'), false);
      assert.equal(await user.exists('folder/one.txt/deeper'), false);
      await rejectsWithDataError(user.size('folder'), 'DATA_NOT_FOUND', 'no data named "folder" in the user data store; list what is there with list() or `sluice data ls`');
      await rejectsWithDataError(
        user.size('folder/two.txt'),
        'DATA_NOT_FOUND',
        'no data named "folder/two.txt" in the user data store; list what is there with list() or `sluice data ls`',
      );
    });

    it('refuses a name that is both an object and a folder', async () => {
      const { user } = await fresh();
      await user.put('a/b', Buffer.from('1'));
      await rejectsWithDataError(
        user.put('a', Buffer.from('2')),
        'DATA_NAME_CONFLICT',
        'cannot store "a": it is a folder of other objects; delete them (delete with recursive) or choose another name',
      );
      await user.put('x', Buffer.from('3'));
      await rejectsWithDataError(
        user.put('x/y/z', Buffer.from('4')),
        'DATA_NAME_CONFLICT',
        'cannot store "x/y/z": "x" is an object, so it cannot also be a folder; delete it or choose another name',
      );
      assert.deepEqual(await user.list(), ['a/b', 'x']);
      // Once the folder is gone the name is free (empty folders do not linger).
      assert.equal(await user.delete('a/b'), 1);
      assert.equal(await user.put('a', Buffer.from('2')), 1);
      assert.deepEqual(await user.list(), ['a', 'x']);
    });

    it('deletes one object, or recursively everything under name/', async () => {
      const { user } = await fresh();
      for (const n of ['logs/2024/01.txt', 'logs/2024/02.txt', 'logs/2023/12.txt', 'logs-keep.txt', 'logs2/x.txt', 'top.txt']) await user.put(n, Buffer.from(n));

      assert.equal(await user.delete('logs/2024/01.txt'), 1);
      assert.equal(await user.exists('logs/2024/01.txt'), false);
      assert.deepEqual(await user.list(), ['logs-keep.txt', 'logs/2023/12.txt', 'logs/2024/02.txt', 'logs2/x.txt', 'top.txt']);
      await rejectsWithDataError(
        user.delete('logs/2024/01.txt'),
        'DATA_NOT_FOUND',
        'no data named "logs/2024/01.txt" in the user data store; list what is there with list() or `sluice data ls`',
      );
      await rejectsWithDataError(
        user.delete('logs'),
        'DATA_NOT_FOUND',
        'no data named "logs" in the user data store (it is a folder of objects: delete it with recursive: true, or `sluice data rm --recursive`); list what is there with list() or `sluice data ls`',
      );
      assert.deepEqual(await user.list('logs/'), ['logs/2023/12.txt', 'logs/2024/02.txt']);

      assert.equal(await user.delete('logs', { recursive: true }), 2);
      assert.deepEqual(await user.list(), ['logs-keep.txt', 'logs2/x.txt', 'top.txt']);
      assert.equal(await user.delete('top.txt', { recursive: true }), 1);
      await rejectsWithDataError(
        user.delete('logs', { recursive: true }),
        'DATA_NOT_FOUND',
        'no data named "logs" in the user data store; list what is there with list() or `sluice data ls`',
      );
      assert.deepEqual(await user.list(), ['logs-keep.txt', 'logs2/x.txt']);
    });

    it('isolates scopes: pipeline data of run A, of run B and user data never see or delete each other', async () => {
      const { config, user, pipelines, store } = await fresh('run-a', 'run-b', 'run-ab');
      const [a, b, ab] = pipelines as [DataScope, DataScope, DataScope];
      assert.equal(a.scope, 'pipeline');
      assert.equal(a.runId, 'run-a');
      assert.equal(user.scope, 'user');
      assert.equal(user.runId, undefined);
      assert.equal(store.pipeline, undefined);

      await a.put('shared.txt', Buffer.from('from A'));
      await b.put('shared.txt', Buffer.from('from B'));
      await ab.put('shared.txt', Buffer.from('from AB'));
      await user.put('shared.txt', Buffer.from('from user'));
      await b.put('only-b/x.txt', Buffer.from('b'));
      await user.put('only-user/x.txt', Buffer.from('u'));
      await a.put('dir/a.txt', Buffer.from('a'));
      await user.put('dir/u.txt', Buffer.from('u'));

      assert.equal((await a.gets('shared.txt')).toString(), 'from A');
      assert.equal((await b.gets('shared.txt')).toString(), 'from B');
      assert.equal((await ab.gets('shared.txt')).toString(), 'from AB');
      assert.equal((await user.gets('shared.txt')).toString(), 'from user');
      assert.deepEqual(await a.list(), ['dir/a.txt', 'shared.txt']);
      assert.deepEqual(await b.list(), ['only-b/x.txt', 'shared.txt']);
      assert.deepEqual(await ab.list(), ['shared.txt']);
      assert.deepEqual(await user.list(), ['dir/u.txt', 'only-user/x.txt', 'shared.txt']);

      // A cannot see B's or the user's objects…
      assert.equal(await a.exists('only-b/x.txt'), false);
      assert.equal(await a.exists('only-user/x.txt'), false);
      assert.equal(await user.exists('only-b/x.txt'), false);
      assert.equal(await user.exists('dir/a.txt'), false);
      await rejectsWithDataError(a.gets('only-b/x.txt'), 'DATA_NOT_FOUND', 'no data named "only-b/x.txt" in the pipeline data of run run-a; list what is there with list() or `sluice data ls`');
      await rejectsWithDataError(a.size('only-user/x.txt'), 'DATA_NOT_FOUND', 'no data named "only-user/x.txt" in the pipeline data of run run-a; list what is there with list() or `sluice data ls`');
      // …nor delete them…
      await rejectsWithDataError(a.delete('only-b/x.txt'), 'DATA_NOT_FOUND', 'no data named "only-b/x.txt" in the pipeline data of run run-a; list what is there with list() or `sluice data ls`');
      await rejectsWithDataError(a.delete('only-b', { recursive: true }), 'DATA_NOT_FOUND', 'no data named "only-b" in the pipeline data of run run-a; list what is there with list() or `sluice data ls`');
      await rejectsWithDataError(user.delete('only-b', { recursive: true }), 'DATA_NOT_FOUND', 'no data named "only-b" in the user data store; list what is there with list() or `sluice data ls`');
      await rejectsWithDataError(b.delete('only-user', { recursive: true }), 'DATA_NOT_FOUND', 'no data named "only-user" in the pipeline data of run run-b; list what is there with list() or `sluice data ls`');
      // …nor reach them with a relative name.
      await rejectsWithDataError(a.gets('../run-b/shared.txt'), 'INVALID_DATA_NAME', 'data name "../run-b/shared.txt" contains a ".." segment; names cannot leave their scope: remove the ".." segment');
      await rejectsWithDataError(user.delete('../pipeline/run-a/shared.txt'), 'INVALID_DATA_NAME', 'data name "../pipeline/run-a/shared.txt" contains a ".." segment; names cannot leave their scope: remove the ".." segment');
      await rejectsWithDataError(a.list('../'), 'INVALID_DATA_NAME', 'data prefix "../" contains a ".." segment; names cannot leave their scope: remove the ".." segment');

      // Deleting in one scope leaves the same names in the others.
      assert.equal(await a.delete('shared.txt'), 1);
      assert.equal(await user.delete('dir', { recursive: true }), 1);
      assert.deepEqual(await a.list(), ['dir/a.txt']);
      assert.equal((await b.gets('shared.txt')).toString(), 'from B');
      assert.equal((await user.gets('shared.txt')).toString(), 'from user');
      assert.deepEqual(await user.list(), ['only-user/x.txt', 'shared.txt']);

      // Purging run A's pipeline data leaves run B's, run AB's and the user's.
      assert.equal(await store.purgePipelineData('run-a'), 1);
      assert.deepEqual(await a.list(), []);
      assert.deepEqual(await b.list(), ['only-b/x.txt', 'shared.txt']);
      assert.deepEqual(await ab.list(), ['shared.txt']);
      assert.deepEqual(await user.list(), ['only-user/x.txt', 'shared.txt']);
      assert.equal(await store.purgePipelineData('run-a'), 0);
      assert.equal(await purgePipelineData(config, 'run-b'), 2);
      assert.deepEqual(await b.list(), []);
      assert.deepEqual(await ab.list(), ['shared.txt']);
      assert.deepEqual(await user.list(), ['only-user/x.txt', 'shared.txt']);
    });

    it('refuses bad names with INVALID_DATA_NAME and a message saying what to fix, in every operation', async () => {
      const { user, pipelines } = await fresh('run-names');
      await user.put('ok.txt', Buffer.from('ok'));
      const target = path.join(scratch, 'refused.txt');
      for (const scope of [user, pipelines[0]!]) {
        for (const [bad, message] of REFUSED_NAMES) {
          await rejectsWithDataError(scope.put(bad, Buffer.from('x')), 'INVALID_DATA_NAME', message);
          await rejectsWithDataError(scope.get(bad, target), 'INVALID_DATA_NAME', message);
          await rejectsWithDataError(scope.gets(bad), 'INVALID_DATA_NAME', message);
          await rejectsWithDataError(scope.gets(bad, { byteRange: [0, 1] }), 'INVALID_DATA_NAME', message);
          await rejectsWithDataError(scope.exists(bad), 'INVALID_DATA_NAME', message);
          await rejectsWithDataError(scope.size(bad), 'INVALID_DATA_NAME', message);
          await rejectsWithDataError(scope.delete(bad), 'INVALID_DATA_NAME', message);
          await rejectsWithDataError(scope.delete(bad, { recursive: true }), 'INVALID_DATA_NAME', message);
        }
      }
      assert.deepEqual(await user.list(), ['ok.txt']);
      assert.deepEqual(await pipelines[0]!.list(), []);
    });

    it('refuses a run id that cannot scope pipeline data', async () => {
      const config = await backend.freshConfig();
      assert.throws(
        () => createDataStore(config, '../user'),
        (error: unknown) =>
          error instanceof DataStoreError &&
          error.code === 'INVALID_RUN_ID' &&
          error.message === 'run id "../user" contains "/" or a backslash; pipeline data is scoped by a run id such as "movies-v1-2d8005a1aaecf9bb"',
      );
      assert.throws(
        () => createDataStore(config, ''),
        (error: unknown) => error instanceof DataStoreError && error.code === 'INVALID_RUN_ID' && error.message === 'run id "" must not be empty; pipeline data is scoped by a run id such as "movies-v1-2d8005a1aaecf9bb"',
      );
      assert.throws(
        () => createDataStore(config, '..'),
        (error: unknown) => error instanceof DataStoreError && error.code === 'INVALID_RUN_ID' && error.message === 'run id ".." is "." or ".."; pipeline data is scoped by a run id such as "movies-v1-2d8005a1aaecf9bb"',
      );
      await rejectsWithDataError(
        purgePipelineData(config, 'a/b'),
        'INVALID_RUN_ID',
        'run id "a/b" contains "/" or a backslash; pipeline data is scoped by a run id such as "movies-v1-2d8005a1aaecf9bb"',
      );
    });
  });
}
