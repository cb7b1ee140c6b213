/**
 * Integration: the data store conformance suite on a real S3-compatible server (versitygw, started
 * by tests/helpers/s3-server.ts), each test under its own key prefix in one bucket; plus where
 * objects land in the bucket. With `CI` set a missing server fails instead of skipping.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { loadConfig, type SluiceConfig } from '../../config/sluice-config';
import { createDataStore } from '../../storage/data-store';
import { dataStoreConformance, rejectsWithDataError } from '../helpers/data-store-conformance';
import { createS3Client } from '../../connectors/s3/s3-client';
import { startS3Server, type S3Server } from '../helpers/s3-server';
import { PROJECT_DIR, tempProject } from '../helpers/services';

const BUCKET = 'sluice-data';
let server: S3Server | undefined;
let admin: S3Client | undefined;
let starting: Promise<void> | undefined;

/** Starts the server and creates the bucket, once for the whole file. */
function ensureServer(): Promise<void> {
  starting ??= (async () => {
    server = await startS3Server(PROJECT_DIR);
    admin = createS3Client(connectorOf(server), 'test');
    await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
  })();
  return starting;
}

function connectorOf(s: S3Server) {
  return { kind: 's3' as const, endpoint: s.endpoint, region: s.region, force_path_style: true, access_key_id: s.accessKeyId, secret_access_key: s.secretAccessKey };
}

function configWith(prefix: string, bucket = BUCKET): SluiceConfig {
  const config = loadConfig({ projectDir: tempProject(), env: {} });
  return {
    ...config,
    connectors: { ...config.connectors, lake: connectorOf(server!) },
    dataStore: { backend: 's3', dir: config.dataStore.dir, s3: { connector: 'lake', bucket, prefix } },
  };
}

dataStoreConformance('S3 (versitygw)', {
  setup: ensureServer,
  // A prefix per test: every test starts from an empty data store.
  freshConfig: () => configWith(`t-${randomUUID().slice(0, 8)}/`),
});

after(async () => {
  admin?.destroy();
  await server?.stop();
});

describe('S3 data store layout', () => {
  before(ensureServer);

  it('stores user data under <prefix>user/ and pipeline data under <prefix>pipeline/<run id>/', async () => {
    const data = createDataStore(configWith('layout/sluice'), 'movies-v1-0123456789abcdef');
    try {
      assert.equal(data.location, `s3://${BUCKET}/layout/sluice/`);
      await data.user.put('a/b.txt', Buffer.from('user'));
      await data.pipeline.put('a/b.txt', Buffer.from('pipeline'));
      const listed = await admin!.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'layout/' }));
      assert.deepEqual(
        (listed.Contents ?? []).map((o) => [o.Key, o.Size]),
        [
          ['layout/sluice/pipeline/movies-v1-0123456789abcdef/a/b.txt', 8],
          ['layout/sluice/user/a/b.txt', 4],
        ],
      );
    } finally {
      await data.close();
    }
  });

  it('says so when the bucket does not exist', async () => {
    const data = createDataStore(configWith('x/', 'no-such-bucket'));
    try {
      await rejectsWithDataError(
        data.user.list(),
        'DATA_STORE_BUCKET_NOT_FOUND',
        `the data store's bucket "no-such-bucket" does not exist; create it, or fix data_store.s3.bucket in sluice.config.yaml`,
      );
    } finally {
      await data.close();
    }
  });
});
