/**
 * Staging on both backends — local disk and a real S3-compatible server (versitygw) — with one
 * shared set of checks: store/fetch/exists, atomic Parquet writes, finished markers and the
 * retention sweep, purge.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import pl from 'nodejs-polars';
import { PROJECT_DIR } from '../helpers/services';
import { s3ClientFor, startS3Server, type S3Server } from '../helpers/s3-server';
import { LocalStaging } from '../../storage/local-staging';
import { S3Staging } from '../../storage/s3-staging';
import type { Staging } from '../../storage/staging';

function conformance(name: string, make: () => Staging) {
  describe(`${name} staging`, () => {
    it('stores a file, reports it, and fetches it back', async () => {
      const staging = make();
      const runKey = staging.runKey('orders-v1-abc', 'exec-1');
      assert.equal(runKey, 'orders-v1-abc/exec-1');
      const scratch = await staging.scratch(runKey, 'source');
      const file = path.join(scratch, 'source-00000.parquet');
      pl.DataFrame({ a: [1, 2, 3] }).writeParquet(file);
      assert.equal(await staging.exists(`${runKey}/source/other.parquet`), false);
      await staging.store(file, `${runKey}/source/source-00000.parquet`);
      assert.equal(await staging.exists(`${runKey}/source/source-00000.parquet`), true);
      const fetched = await staging.fetch(`${runKey}/source/source-00000.parquet`);
      assert.deepEqual(pl.readParquet(fetched).getColumn('a').toArray(), [1, 2, 3]);
    });

    it('writes Parquet atomically under a key', async () => {
      const staging = make();
      const key = `${staging.runKey('orders-v1-abc', 'exec-2')}/mapped/part-00000.parquet`;
      await staging.writeParquet(pl.DataFrame({ b: ['x', 'y'] }), key);
      assert.deepEqual(pl.readParquet(await staging.fetch(key)).getColumn('b').toArray(), ['x', 'y']);
    });

    it('sweeps only finished runs older than the retention, and purges them whole', async () => {
      const staging = make();
      const finished = staging.runKey('sweep-v1-a', 'exec-old');
      const running = staging.runKey('sweep-v1-a', 'exec-running');
      await staging.writeParquet(pl.DataFrame({ c: [1] }), `${finished}/mapped/part-00000.parquet`);
      await staging.writeParquet(pl.DataFrame({ c: [2] }), `${running}/mapped/part-00000.parquet`);
      await staging.markFinished(finished);
      assert.deepEqual(await staging.sweep(3_600_000), [], 'a run finished just now is kept');
      await new Promise((r) => setTimeout(r, 1100));
      assert.deepEqual(await staging.sweep(1000), [finished]);
      assert.equal(await staging.exists(`${finished}/mapped/part-00000.parquet`), false);
      assert.equal(await staging.exists(`${running}/mapped/part-00000.parquet`), true, 'a run without a marker is never swept');
    });
  });
}

const localRoot = mkdtempSync(path.join(os.tmpdir(), 'sluice-staging-test-'));
conformance('local', () => new LocalStaging(localRoot));

describe('local staging retention reads the marker time', () => {
  it('keeps a run whose marker is recent even if its files are old', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'sluice-staging-test-'));
    const staging = new LocalStaging(root);
    const runKey = staging.runKey('r', 'e');
    await staging.writeParquet(pl.DataFrame({ c: [1] }), `${runKey}/mapped/part-00000.parquet`);
    const old = new Date(Date.now() - 10 * 86_400_000);
    utimesSync(path.join(root, 'r', 'e', 'mapped', 'part-00000.parquet'), old, old);
    await staging.markFinished(runKey);
    assert.deepEqual(await staging.sweep(86_400_000), []);
    writeFileSync(path.join(root, 'r', 'e', 'finished.json'), JSON.stringify({ finished_at: old.toISOString() }));
    assert.deepEqual(await staging.sweep(86_400_000), ['r/e']);
    assert.equal(existsSync(path.join(root, 'r')), false, 'the emptied run folder is removed too');
  });
});

describe('S3 staging on a real S3-compatible server', () => {
  let server: S3Server;
  let client: S3Client;
  before(async () => {
    server = await startS3Server(PROJECT_DIR);
    client = s3ClientFor(server);
    await client.send(new CreateBucketCommand({ Bucket: 'staging-test' }));
  });
  after(async () => {
    client?.destroy();
    await server?.stop();
  });

  conformance('s3', () => new S3Staging(client, 'staging-test', 'runs', mkdtempSync(path.join(os.tmpdir(), 'sluice-s3-cache-'))));

  it('keeps objects under its prefix, and a second worker (another cache) fetches what the first stored', async () => {
    const first = new S3Staging(client, 'staging-test', 'shared/', mkdtempSync(path.join(os.tmpdir(), 'sluice-s3-cache-')));
    const second = new S3Staging(client, 'staging-test', 'shared/', mkdtempSync(path.join(os.tmpdir(), 'sluice-s3-cache-')));
    const key = `${first.runKey('x', 'y')}/rejected/part-00003.parquet`;
    await first.writeParquet(pl.DataFrame({ d: [7] }), key);
    assert.deepEqual(pl.readParquet(await second.fetch(key)).getColumn('d').toArray(), [7]);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'staging-test', Prefix: 'shared/' }));
    assert.deepEqual((listed.Contents ?? []).map((o) => o.Key), ['shared/x/y/rejected/part-00003.parquet']);
    assert.equal(first.uri(key), 's3://staging-test/shared/x/y/rejected/part-00003.parquet');
  });
});
