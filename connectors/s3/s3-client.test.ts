import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NoSuchBucket, NoSuchKey, S3ServiceException } from '@aws-sdk/client-s3';
import { AccessError, ConfigError, SourceError, TargetError } from '../../common/errors';
import { parseFlowSpec } from '../../flows/flow-spec';
import { createS3Client, formatS3Uri, mapS3Error, parseS3Uri, renderPathTemplate } from './s3-client';
import { targetFormat, targetObjects } from './s3-target';

/** An error shaped like the AWS SDK's, as a response with `code` and HTTP `status` produces it. */
function awsError(code: string, status: number, message = code): S3ServiceException {
  return new S3ServiceException({ name: code, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });
}

describe('parseS3Uri', () => {
  it('splits bucket and key', () => {
    assert.deepEqual(parseS3Uri('s3://lake/in/2024/orders.csv', 'source'), { bucket: 'lake', key: 'in/2024/orders.csv' });
    assert.deepEqual(parseS3Uri('s3://my.bucket-1/a b.csv', 'target'), { bucket: 'my.bucket-1', key: 'a b.csv' });
    assert.equal(formatS3Uri({ bucket: 'lake', key: 'x/y.parquet' }), 's3://lake/x/y.parquet');
  });

  it('refuses other schemes, missing keys, folders and bad bucket names with INVALID_S3_URI', () => {
    const cases: [string, string][] = [
      ['orders.csv', '"orders.csv" is not an S3 object URI; expected s3://bucket/key'],
      ['s3://lake', '"s3://lake" is not an S3 object URI; expected s3://bucket/key'],
      ['s3://lake/', '"s3://lake/" is not an S3 object URI; expected s3://bucket/key'],
      ['https://lake/x.csv', '"https://lake/x.csv" is not an S3 object URI; expected s3://bucket/key'],
      ['s3://lake/in/', '"s3://lake/in/" names a folder, not an object; give the object\'s full key'],
      ['s3://Lake/x.csv', '"s3://Lake/x.csv": "Lake" is not a valid bucket name (3-63 lower-case letters, digits, "." or "-")'],
      ['s3://ab/x.csv', '"s3://ab/x.csv": "ab" is not a valid bucket name (3-63 lower-case letters, digits, "." or "-")'],
    ];
    for (const [uri, message] of cases) {
      assert.throws(() => parseS3Uri(uri, 'source'), (error: unknown) => error instanceof SourceError && error.code === 'INVALID_S3_URI' && error.message === message, uri);
    }
    assert.throws(() => parseS3Uri('s3://lake', 'target'), (error: unknown) => error instanceof TargetError && error.code === 'INVALID_S3_URI');
  });
});

describe('renderPathTemplate', () => {
  const values = { flow: 'orders', flowVersion: 'orders:v3', runId: 'orders-v3-0123456789abcdef', date: new Date('2024-05-01T23:59:59.999Z') };

  it('renders {flow}, {version} as vN, {run_id} and {date} in UTC', () => {
    assert.equal(renderPathTemplate('s3://exports/{flow}/{version}/{date}/{run_id}.csv', values), 's3://exports/orders/v3/2024-05-01/orders-v3-0123456789abcdef.csv');
    assert.equal(renderPathTemplate('s3://exports/{flow}-{flow}.csv', values), 's3://exports/orders-orders.csv');
    assert.equal(renderPathTemplate('s3://exports/fixed.parquet', values), 's3://exports/fixed.parquet');
  });

  it('refuses unknown placeholders, naming them', () => {
    assert.throws(
      () => renderPathTemplate('s3://exports/{flow}/{year}/{Run_Id}.csv', values),
      (error: unknown) =>
        error instanceof TargetError &&
        error.code === 'INVALID_TARGET_PATH' &&
        error.message === 'target path "s3://exports/{flow}/{year}/{Run_Id}.csv" uses unknown placeholders {year}, {Run_Id}; use {flow}, {version}, {run_id}, {date}',
    );
  });
});

describe('target objects and formats', () => {
  const spec = (target: string) =>
    parseFlowSpec(`
name: orders
source: { connector: files }
target: ${target}
fields:
  id: { from: id, type: int64 }
`);
  const values = { runId: 'orders-v1-abc', flowVersion: 'orders:v1', date: new Date('2024-01-02T00:00:00Z') };

  it('renders the path and the default rejects path <stem>_rejects<ext>', () => {
    assert.deepEqual(targetObjects(spec('{ connector: lake, path: "s3://exports/{flow}/{date}/{run_id}.csv" }'), values), {
      mapped: { bucket: 'exports', key: 'orders/2024-01-02/orders-v1-abc.csv' },
      rejects: { bucket: 'exports', key: 'orders/2024-01-02/orders-v1-abc_rejects.csv' },
    });
    assert.deepEqual(targetObjects(spec('{ connector: lake, path: "s3://exports/{run_id}.parquet", rejects: { path: "s3://errors/{version}/{run_id}.csv" } }'), values), {
      mapped: { bucket: 'exports', key: 'orders-v1-abc.parquet' },
      rejects: { bucket: 'errors', key: 'v1/orders-v1-abc.csv' },
    });
  });

  it('refuses a table target and rejects at the same key', () => {
    assert.throws(() => targetObjects(spec('{ connector: lake, table: public.orders }'), values), (error: unknown) => error instanceof TargetError && error.code === 'TARGET_NEEDS_PATH');
    assert.throws(
      () => targetObjects(spec('{ connector: lake, path: "s3://exports/x.csv", rejects: { path: "s3://exports/x.csv" } }'), values),
      (error: unknown) => error instanceof TargetError && error.code === 'INVALID_TARGET_PATH' && /both render to s3:\/\/exports\/x\.csv/.test(error.message),
    );
  });

  it('takes the format from the flow, else the extension, else csv', () => {
    assert.equal(targetFormat('a/b.parquet', undefined), 'parquet');
    assert.equal(targetFormat('a/b.JSONL', undefined), 'ndjson');
    assert.equal(targetFormat('a/b.ndjson', undefined), 'ndjson');
    assert.equal(targetFormat('a/b.txt', undefined), 'csv');
    assert.equal(targetFormat('a/b', undefined), 'csv');
    assert.equal(targetFormat('a/b.csv', 'parquet'), 'parquet');
  });
});

describe('mapS3Error', () => {
  const uri = 's3://lake/in/x.csv';

  it('maps a missing bucket to S3_BUCKET_NOT_FOUND on either side', () => {
    const bucket = new NoSuchBucket({ $metadata: { httpStatusCode: 404 }, message: 'The specified bucket does not exist.' });
    const source = mapS3Error(bucket, 'source', uri, 'lake');
    assert.ok(source instanceof SourceError);
    assert.equal(source.code, 'S3_BUCKET_NOT_FOUND');
    assert.equal(source.message, 'bucket "lake" does not exist (s3://lake/in/x.csv); create it or fix the source_path');
    assert.deepEqual(source.details, { bucket: 'lake' });
    const target = mapS3Error(bucket, 'target', uri, 'lake');
    assert.ok(target instanceof TargetError);
    assert.equal(target.message, 'bucket "lake" does not exist (s3://lake/in/x.csv); create it or fix the target path');
  });

  it('maps a missing key to SOURCE_NOT_FOUND for a source, and leaves it retryable for a target', () => {
    const key = new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'The specified key does not exist.' });
    const source = mapS3Error(key, 'source', uri, 'lake');
    assert.ok(source instanceof SourceError);
    assert.equal(source.code, 'SOURCE_NOT_FOUND');
    assert.equal(source.message, 'source object s3://lake/in/x.csv does not exist');
    assert.equal(mapS3Error(awsError('NotFound', 404), 'source', uri, 'lake') instanceof SourceError, true);
    assert.equal(mapS3Error(key, 'target', uri, 'lake'), key, 'a target temporary key gone is retried');
  });

  it('maps refused credentials to AUTH_FAILED and refused permissions to PERMISSION_DENIED, naming the connector', () => {
    for (const code of ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'XAdminUserNotFound']) {
      const mapped = mapS3Error(awsError(code, code === 'XAdminUserNotFound' ? 404 : 403, 'nope'), 'target', uri, 'lake');
      assert.ok(mapped instanceof AccessError, code);
      assert.equal(mapped.code, 'AUTH_FAILED');
      assert.equal(
        mapped.message,
        `connectors.lake: the S3 store refused the credentials for s3://lake/in/x.csv (${code}: nope); check connectors.lake.access_key_id and secret_access_key, or the secrets they reference`,
      );
    }
    const denied = mapS3Error(awsError('AccessDenied', 403, 'AccessDenied'), 'source', uri, 'lake');
    assert.ok(denied instanceof AccessError);
    assert.equal(denied.code, 'PERMISSION_DENIED');
    assert.equal(
      denied.message,
      `connectors.lake: access to s3://lake/in/x.csv was denied (AccessDenied); grant connectors.lake's credentials access to bucket "lake" (bucket policy or IAM), or use other credentials`,
    );
    // What the SDK makes of a HEAD's 403 (no body, so no code): either cause is named.
    const head = mapS3Error(awsError('403', 403, 'UnknownError'), 'target', uri, 'lake');
    assert.ok(head instanceof AccessError);
    assert.equal(head.code, 'PERMISSION_DENIED');
    assert.equal(
      head.message,
      `connectors.lake: the S3 store refused the request for s3://lake/in/x.csv (403 without a reason: wrong credentials or a missing permission); ` +
        `check connectors.lake.access_key_id and secret_access_key, and grant connectors.lake's credentials access to bucket "lake" (bucket policy or IAM)`,
    );
  });

  it('maps an invalid bucket name to INVALID_S3_URI', () => {
    const mapped = mapS3Error(awsError('InvalidBucketName', 400), 'source', uri, 'lake');
    assert.ok(mapped instanceof SourceError);
    assert.equal(mapped.code, 'INVALID_S3_URI');
  });

  it('leaves network, server and throttling errors as they are, to be retried', () => {
    const network = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    assert.equal(mapS3Error(network, 'source', uri, 'lake'), network);
    const server = awsError('InternalError', 500);
    assert.equal(mapS3Error(server, 'target', uri, 'lake'), server);
    const slow = awsError('SlowDown', 503);
    assert.equal(mapS3Error(slow, 'source', uri, 'lake'), slow);
    const already = new SourceError('SOURCE_NOT_FOUND', 'y');
    assert.equal(mapS3Error(already, 'target', uri, 'lake'), already);
  });
});

describe('createS3Client', () => {
  it('uses the endpoint, region, path style and static credentials', async () => {
    const client = createS3Client({ kind: 's3', endpoint: 'http://127.0.0.1:9999', region: 'eu-west-1', force_path_style: true, access_key_id: 'k', secret_access_key: 's', session_token: 't' });
    try {
      assert.equal(await client.config.region(), 'eu-west-1');
      assert.equal(client.config.forcePathStyle, true);
      const endpoint = await client.config.endpoint!();
      assert.equal(`${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`, 'http://127.0.0.1:9999');
      const credentials = await client.config.credentials();
      assert.deepEqual({ id: credentials.accessKeyId, secret: credentials.secretAccessKey, token: credentials.sessionToken }, { id: 'k', secret: 's', token: 't' });
    } finally {
      client.destroy();
    }
  });

  it('refuses half a key pair', () => {
    assert.throws(
      () => createS3Client({ kind: 's3', region: 'us-east-1', force_path_style: false, access_key_id: 'k' }, 'lake'),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.code === 'INVALID_CONFIG' &&
        error.message === 'connector "lake": give both access_key_id and secret_access_key, or neither (to use the AWS default credential chain)',
    );
  });
});
