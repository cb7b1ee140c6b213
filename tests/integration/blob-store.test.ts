/**
 * The blob layer on both backends — local disk and a real S3-compatible server (versitygw) — with one shared set
 * of checks: atomic puts (bytes, a copied file, a moved file), reads and byte ranges, stat, listings by plain
 * prefix (across several ListObjectsV2 pages on S3), deletes of one object or a folder; plus what only the local
 * layout shows (temporary files never listed, empty folders pruned).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { PROJECT_DIR } from '../helpers/services';
import { s3ClientFor, startS3Server, type S3Server } from '../helpers/s3-server';
import { listKeys, type BlobStore } from '../../storage/blob-store';
import { LocalBlobStore } from '../../storage/local-blob-store';
import { S3BlobStore } from '../../storage/s3-blob-store';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'sluice-blob-test-'));
let files = 0;
/** A fresh local file holding `text`. */
function localFile(text: string): string {
  const file = path.join(scratch, `file-${++files}.txt`);
  writeFileSync(file, text);
  return file;
}

const sorted = async (blobs: BlobStore, prefix: string) => (await listKeys(blobs, prefix)).sort();

function conformance(name: string, make: () => BlobStore) {
  describe(`${name} blob store`, () => {
    it('puts bytes and files atomically, reads them whole or by range, and answers missing objects with undefined', async () => {
      const blobs = make();
      assert.equal(await blobs.putBytes('a/bytes.bin', Buffer.from('hello world')), 11);
      assert.deepEqual(await blobs.read('a/bytes.bin'), Buffer.from('hello world'));
      assert.deepEqual(await blobs.read('a/bytes.bin', [6, 11]), Buffer.from('world'));
      const info = await blobs.stat('a/bytes.bin');
      assert.equal(info?.size, 11);
      assert.ok(Math.abs(info!.lastModifiedMs - Date.now()) < 60_000, `lastModifiedMs ${info!.lastModifiedMs} is about now`);

      const copied = localFile('copied');
      assert.equal(await blobs.putFile('a/copied.txt', copied), 6);
      assert.equal(readFileSync(copied, 'utf8'), 'copied', 'a copied file stays');
      const target = path.join(scratch, 'out', 'nested', 'copied.txt');
      assert.equal(await blobs.getToFile('a/copied.txt', target), 6);
      assert.equal(readFileSync(target, 'utf8'), 'copied');
      assert.deepEqual(readdirSync(path.dirname(target)), ['copied.txt'], 'no partial download is left');

      assert.equal(await blobs.putBytes('a/bytes.bin', Buffer.from('bye')), 3);
      assert.deepEqual(await blobs.read('a/bytes.bin'), Buffer.from('bye'));

      assert.equal(await blobs.stat('a/missing'), undefined);
      assert.equal(await blobs.stat('a'), undefined, 'a folder is not an object');
      assert.equal(await blobs.read('a/missing'), undefined);
      assert.equal(await blobs.read('a/missing', [0, 1]), undefined);
      writeFileSync(target, 'kept');
      assert.equal(await blobs.getToFile('a/missing', target), undefined);
      assert.equal(readFileSync(target, 'utf8'), 'kept', 'a failed download leaves the file untouched');
    });

    it('moves a file in when a local folder can take it, and uploads it (leaving it) when remote', async () => {
      const blobs = make();
      const moved = localFile('moved');
      assert.equal(await blobs.putFile('m/moved.txt', moved, { move: true }), 5);
      assert.deepEqual(await blobs.read('m/moved.txt'), Buffer.from('moved'));
      const local = blobs.localPath('m/moved.txt');
      if (local === undefined) {
        assert.equal(existsSync(moved), true, 'a remote store leaves the file');
      } else {
        assert.equal(existsSync(moved), false, 'a local store renames the file into place');
        assert.equal(readFileSync(local, 'utf8'), 'moved');
      }
    });

    it('lists by plain prefix, relative to the root, with sizes', async () => {
      const blobs = make();
      const keys = ['l/reports/2024/b.csv', 'l/reports/2024/a.csv', 'l/reports-old.csv', 'l/other/x', 'l/é', 'l/r/1', 'l/r/2', 'l/r/3'];
      for (const key of keys) await blobs.putBytes(key, Buffer.from(key));
      assert.deepEqual(await sorted(blobs, 'l/'), [...keys].sort());
      assert.deepEqual(await sorted(blobs, 'l/reports/'), ['l/reports/2024/a.csv', 'l/reports/2024/b.csv']);
      assert.deepEqual(await sorted(blobs, 'l/reports'), ['l/reports-old.csv', 'l/reports/2024/a.csv', 'l/reports/2024/b.csv']);
      assert.deepEqual(await sorted(blobs, 'l/reports/2024/a'), ['l/reports/2024/a.csv']);
      assert.deepEqual(await sorted(blobs, 'l/nothing/'), []);
      const sizes = new Map<string, number>();
      for await (const { key, size } of blobs.list('l/r/')) sizes.set(key, size);
      assert.deepEqual([...sizes].sort(), [['l/r/1', 5], ['l/r/2', 5], ['l/r/3', 5]]);
      assert.equal(await blobs.hasAny('l/reports/'), true);
      assert.equal(await blobs.hasAny('l/report/'), false);
    });

    it('deletes one object, or everything under a folder, and says how many', async () => {
      const blobs = make();
      for (const key of ['d/x/1', 'd/x/2', 'd/x/deep/3', 'd/x-sibling', 'd/y']) await blobs.putBytes(key, Buffer.from(key));
      assert.equal(await blobs.deleteOne('d/y'), true);
      assert.equal(await blobs.deleteOne('d/y'), false);
      assert.equal(await blobs.deleteOne('d/x'), false, 'a folder is not an object');
      assert.equal(await blobs.deleteUnder('d/x/'), 3);
      assert.equal(await blobs.deleteUnder('d/x/'), 0);
      assert.deepEqual(await sorted(blobs, 'd/'), ['d/x-sibling']);
      assert.equal(await blobs.hasAny('d/x/'), false);
      // The folder name is free again: a name is never both an object and a folder.
      assert.equal(await blobs.putBytes('d/x', Buffer.from('now an object')), 13);
      assert.deepEqual(await sorted(blobs, 'd/'), ['d/x', 'd/x-sibling']);
    });
  });
}

conformance('local', () => new LocalBlobStore(mkdtempSync(path.join(os.tmpdir(), 'sluice-blob-local-'))));

describe('local blob store layout', () => {
  it('keeps temporary files under .tmp/, never lists them, and prunes emptied folders up to the root', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'sluice-blob-local-'));
    const blobs = new LocalBlobStore(root);
    assert.equal(blobs.location, `file://${root}`);
    assert.equal(blobs.uri('a/b c.txt'), `file://${root}/a/b%20c.txt`);
    assert.equal(blobs.localPath('a/b.txt'), path.join(root, 'a', 'b.txt'));
    await blobs.putBytes('a/b/c.txt', Buffer.from('c'));
    await blobs.putFile('a/d.txt', localFile('d'));
    assert.deepEqual(readdirSync(path.join(root, '.tmp')), []);
    writeFileSync(path.join(root, '.tmp', 'left-over'), 'x');
    assert.deepEqual(await sorted(blobs, ''), ['a/b/c.txt', 'a/d.txt']);
    assert.equal(await blobs.deleteOne('a/b/c.txt'), true);
    assert.equal(existsSync(path.join(root, 'a', 'b')), false, 'the emptied folder is removed');
    assert.equal(existsSync(path.join(root, 'a')), true, 'a folder still holding an object stays');
    assert.equal(await blobs.deleteUnder('a/'), 1);
    assert.deepEqual(readdirSync(root).sort(), ['.tmp']);
    await assert.rejects(blobs.deleteUnder('a'), { message: 'deleteUnder needs a folder prefix ending with "/", not "a"' });
  });
});

describe('S3 blob store on a real S3-compatible server', () => {
  let server: S3Server;
  let client: S3Client;
  let stores = 0;
  before(async () => {
    server = await startS3Server(PROJECT_DIR);
    client = s3ClientFor(server);
    await client.send(new CreateBucketCommand({ Bucket: 'blob-test' }));
  });
  after(async () => {
    client?.destroy();
    await server?.stop();
  });

  // Two keys per ListObjectsV2 page, so every listing above crosses pages.
  conformance('s3', () => new S3BlobStore({ client, bucket: 'blob-test', prefix: `store-${++stores}`, listPageSize: 2 }));

  it('names its location and URIs under the prefix, and has no local files', () => {
    const blobs = new S3BlobStore({ client, bucket: 'blob-test', prefix: 'runs' });
    assert.equal(blobs.location, 's3://blob-test/runs/');
    assert.equal(blobs.uri('a/b.parquet'), 's3://blob-test/runs/a/b.parquet');
    assert.equal(blobs.localPath(), undefined);
  });

  it("throws the configured error for a missing bucket, and S3's own error without one", async () => {
    const configured = new S3BlobStore({ client, bucket: 'no-such-bucket', prefix: '', bucketNotFound: () => new Error('configured: no bucket') });
    await assert.rejects(listKeys(configured, ''), { message: 'configured: no bucket' });
    await assert.rejects(configured.putBytes('x', Buffer.from('x')), { message: 'configured: no bucket' });
    await assert.rejects(configured.read('x'), { message: 'configured: no bucket' });
    const plain = new S3BlobStore({ client, bucket: 'no-such-bucket', prefix: '' });
    await assert.rejects(listKeys(plain, ''), { name: 'NoSuchBucket' });
  });

  it('throws AUTH_FAILED naming the connector when the store refuses its secret key (staging, data store), on every call', async () => {
    const wrongKey = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: 'not-the-secret' },
    });
    try {
      const blobs = new S3BlobStore({ client: wrongKey, bucket: 'blob-test', prefix: 'runs', connector: 'lake' });
      const refused = (call: string) => (error: unknown) => {
        assert.deepEqual({ name: (error as Error).name, code: (error as { code?: string }).code }, { name: 'AccessError', code: 'AUTH_FAILED' }, call);
        assert.match((error as Error).message, /^connectors\.lake: the S3 store refused the credentials for s3:\/\/blob-test\/runs\/ \(SignatureDoesNotMatch/, call);
        assert.doesNotMatch((error as Error).message, /not-the-secret/, call);
        return true;
      };
      await assert.rejects(blobs.putBytes('x', Buffer.from('x')), refused('put'));
      await assert.rejects(blobs.read('x'), refused('read'));
      await assert.rejects(listKeys(blobs, ''), refused('list'));
      // HEAD (stat) gets a bare 403: no code says whether the key or a permission is wrong.
      await assert.rejects(blobs.stat('x'), {
        name: 'AccessError',
        code: 'PERMISSION_DENIED',
        message:
          'connectors.lake: the S3 store refused the request for s3://blob-test/runs/ (403 without a reason: wrong credentials or a missing permission); ' +
          'check connectors.lake.access_key_id and secret_access_key, and grant connectors.lake\'s credentials access to bucket "blob-test" (bucket policy or IAM)',
      });
    } finally {
      wrongKey.destroy();
    }
  });
});
