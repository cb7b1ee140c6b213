/**
 * Integration: the `s3` connector on a real S3-compatible server (versitygw), the real Temporal dev
 * server and real PostgreSQL: S3 objects (CSV, NDJSON, Parquet) → Postgres, Postgres → S3 objects
 * (CSV, Parquet) with rejects beside them, FAILED codes for missing keys, buckets and bad
 * credentials, and the S3 target's ledger (a retried load writes nothing) and leftover clean-up.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import pl from 'nodejs-polars';
import { RunFailedError, Sluice } from '../../client/sluice';
import type { SluiceConfig } from '../../config/sluice-config';
import { createS3Client } from '../../connectors/s3/s3-client';
import { S3Target } from '../../connectors/s3/s3-target';
import { parseFlowSpec } from '../../flows/flow-spec';
import { emptyRejected, ROW_COLUMN } from '../../transform/map-chunk';
import { createTestDatabase, PROJECT_DIR, startTemporal, tempProject, testConfig, startInProcessRunner, type InProcessRunner, type TestDatabase } from '../helpers/services';
import { startS3Server, type S3Server } from '../helpers/s3-server';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ORDERS_CSV = ['id,name,amount', '1,alpha,10', '2,beta,abc', '3,,5', '4,delta,-1', '5,eps,7', '6,"zeta, z",8'].join('\n');
const ORDERS_NDJSON = [
  '{"id": 11, "name": "n11", "amount": 4}',
  '{"id": 12, "name": "n12", "amount": 0}',
  '{"id": 13, "name": null, "amount": 3}',
  '{"id": 14, "name": "n14", "amount": 9}',
].join('\n');

const IMPORT_FLOW = `
name: s3_orders
source: { connector: lake }
target: { connector: warehouse, table: public.s3_orders }
fields:
  id:     { from: id, type: int64, required: true }
  name:   { from: name, type: string, required: true }
  amount: { from: amount, type: int64, check: "amount > 0" }
`;

const exportFlow = (name: string, ext: string, extra = '') => `
name: ${name}
source: { connector: warehouse, query: "SELECT id, name, amount FROM public.batches WHERE batch_id = :source_path ORDER BY id" }
target: { connector: lake, path: "s3://exports/{flow}/{version}/{run_id}.${ext}" ${extra} }
fields:
  id:     { from: id, type: int64, required: true }
  name:   { from: name, type: string, required: true }
  amount: { from: amount, type: float64, check: "amount > 0" }
`;

describe('the s3 connector on a real S3 server, Temporal and Postgres', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let s3: S3Server;
  let client: S3Client;
  let config: SluiceConfig;
  let runner: InProcessRunner;
  let sluice: Sluice;

  const publish = (yaml: string) => runner.publish(yaml);
  const bytes = async (bucket: string, key: string) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
  const keys = async (bucket: string) => ((await client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!).sort();
  const failedWith = (code: string, step: string, message: string | RegExp) => (error: unknown) => {
    assert.ok(error instanceof RunFailedError, `expected RunFailedError, got ${String(error)}`);
    assert.equal(error.status, 'FAILED');
    assert.deepEqual({ code: error.error.code, step: error.error.step }, { code, step });
    if (typeof message === 'string') assert.equal(error.error.message, message);
    else assert.match(error.error.message, message);
    return true;
  };

  before(async () => {
    [env, db, s3] = await Promise.all([startTemporal(), createTestDatabase(), startS3Server(PROJECT_DIR)]);
    // An idle connection ended by the server must not fail the file after its tests passed.
    db.pool.on('error', () => undefined);
    client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    for (const bucket of ['inbox', 'exports']) await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const parquet = pl.DataFrame({ id: pl.Series('id', [21, 22, 23], pl.Int64), name: ['p21', 'p22', 'p23'], amount: pl.Series('amount', [5, 6, 7], pl.Int64) }).writeParquet();
    await client.send(new PutObjectCommand({ Bucket: 'inbox', Key: 'orders/orders.csv', Body: ORDERS_CSV }));
    await client.send(new PutObjectCommand({ Bucket: 'inbox', Key: 'orders/orders.ndjson', Body: ORDERS_NDJSON }));
    await client.send(new PutObjectCommand({ Bucket: 'inbox', Key: 'orders/orders.parquet', Body: parquet }));
    await client.send(new PutObjectCommand({ Bucket: 'inbox', Key: 'orders/ragged.csv', Body: 'id,name,amount\n1,a,2\n2,"b",3,4\n' }));
    await db.pool.query(`CREATE TABLE public.batches (batch_id text, id integer, name text, amount numeric)`);
    await db.pool.query(`INSERT INTO public.batches VALUES ('b1', 1, 'a', 10.5), ('b1', 2, 'b, "quoted"', 20), ('b1', 3, NULL, 5), ('b1', 4, 'd', -1), ('b1', 5, 'e', 7.25), ('b2', 6, 'f', 1)`);
    const lake = { kind: 's3' as const, endpoint: s3.endpoint, region: s3.region, force_path_style: true, access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey };
    config = testConfig({
      dir: tempProject(),
      databaseUrl: db.url,
      address: env.address,
      connectors: {
        files: { kind: 'local', root: '.' },
        warehouse: { kind: 'postgres' },
        lake,
        lake_badkey: { ...lake, secret_access_key: 'not-the-secret' },
      },
    });
    runner = await startInProcessRunner(env, db, config);
    ({ sluice } = runner);
  });

  after(async () => {
    await runner?.stop();
    client?.destroy();
    await env?.teardown();
    await db?.drop();
    await s3?.stop();
  });

  it('loads CSV, NDJSON and Parquet objects into Postgres with exact counts and rejects', async () => {
    const version = await publish(IMPORT_FLOW);
    const csv = await sluice.run({ flowVersion: version, sourcePath: 's3://inbox/orders/orders.csv' });
    const csvMeta = await csv.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(csvMeta.status, 'PARTIAL_FAILED');
    assert.deepEqual(csvMeta.rows, { read: 6, mapped: 3, rejected: 3, written: 3 });
    assert.deepEqual(csvMeta.rejects.by_rule, { 'amount:type': 1, 'name:required': 1, 'amount:check': 1 });
    assert.equal(csvMeta.steps.sync_source?.format, 'csv');

    const ndjson = await sluice.run({ flowVersion: version, sourcePath: 's3://inbox/orders/orders.ndjson' });
    const ndjsonMeta = await ndjson.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(ndjsonMeta.status, 'PARTIAL_FAILED');
    assert.deepEqual(ndjsonMeta.rows, { read: 4, mapped: 2, rejected: 2, written: 2 });
    assert.deepEqual(ndjsonMeta.rejects.by_rule, { 'name:required': 1, 'amount:check': 1 });
    assert.equal(ndjsonMeta.steps.sync_source?.format, 'ndjson');

    const parquet = await sluice.run({ flowVersion: version, sourcePath: 's3://inbox/orders/orders.parquet' });
    const parquetMeta = await parquet.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(parquetMeta.status, 'SUCCEEDED');
    assert.deepEqual(parquetMeta.rows, { read: 3, mapped: 3, rejected: 0, written: 3 });
    assert.equal(parquetMeta.steps.sync_source?.format, 'parquet');

    const rows = await db.pool.query('SELECT id::int, name, amount::int FROM public.s3_orders ORDER BY id');
    assert.deepEqual(rows.rows, [
      { id: 1, name: 'alpha', amount: 10 },
      { id: 5, name: 'eps', amount: 7 },
      { id: 6, name: 'zeta, z', amount: 8 },
      { id: 11, name: 'n11', amount: 4 },
      { id: 14, name: 'n14', amount: 9 },
      { id: 21, name: 'p21', amount: 5 },
      { id: 22, name: 'p22', amount: 6 },
      { id: 23, name: 'p23', amount: 7 },
    ]);
    const rejects = await db.pool.query('SELECT source_path, row_number::int, record, errors FROM public.s3_orders_rejects ORDER BY source_path, row_number');
    assert.deepEqual(
      rejects.rows.map((r) => [r.source_path, r.row_number, r.errors[0].rule]),
      [
        ['s3://inbox/orders/orders.csv', 2, 'type'],
        ['s3://inbox/orders/orders.csv', 3, 'required'],
        ['s3://inbox/orders/orders.csv', 4, 'check'],
        ['s3://inbox/orders/orders.ndjson', 2, 'check'],
        ['s3://inbox/orders/orders.ndjson', 3, 'required'],
      ],
    );
    assert.deepEqual(rejects.rows[0].record, { id: '2', name: 'beta', amount: 'abc' });
  });

  it('ends FAILED (not CRASHED) for a missing key, a missing bucket, bad credentials, a bad URI and an unreadable object', async () => {
    const version = await publish(IMPORT_FLOW.replace('s3_orders', 's3_missing'));
    const missingKey = await sluice.run({ flowVersion: version, sourcePath: 's3://inbox/orders/nope.csv' });
    await assert.rejects(missingKey.wait({ timeoutMs: 120_000 }), failedWith('SOURCE_NOT_FOUND', 'sync_source', 'source object s3://inbox/orders/nope.csv does not exist'));
    assert.equal(missingKey.status, 'FAILED');

    const missingBucket = await sluice.run({ flowVersion: version, sourcePath: 's3://no-such-bucket/orders.csv' });
    await assert.rejects(
      missingBucket.wait({ timeoutMs: 120_000 }),
      failedWith('S3_BUCKET_NOT_FOUND', 'sync_source', 'bucket "no-such-bucket" does not exist (s3://no-such-bucket/orders.csv); create it or fix the source_path'),
    );
    assert.equal(missingBucket.status, 'FAILED');

    const notAnUri = await sluice.run({ flowVersion: version, sourcePath: 'orders/orders.csv' });
    await assert.rejects(notAnUri.wait({ timeoutMs: 120_000 }), failedWith('INVALID_S3_URI', 'sync_source', '"orders/orders.csv" is not an S3 object URI; expected s3://bucket/key'));

    const ragged = await sluice.run({ flowVersion: version, sourcePath: 's3://inbox/orders/ragged.csv' });
    await assert.rejects(
      ragged.wait({ timeoutMs: 120_000 }),
      failedWith('UNREADABLE_SOURCE', 'sync_source', 's3://inbox/orders/ragged.csv line 3 (byte 21) has 4 fields but the header has 3; fix the row, or quote the field that contains a comma'),
    );

    const badKey = await publish(IMPORT_FLOW.replace('s3_orders', 's3_badkey').replace('connector: lake', 'connector: lake_badkey'));
    const denied = await sluice.run({ flowVersion: badKey, sourcePath: 's3://inbox/orders/orders.csv' });
    await assert.rejects(
      denied.wait({ timeoutMs: 120_000 }),
      failedWith('AUTH_FAILED', 'sync_source', /^connectors\.lake_badkey: the S3 store refused the credentials for s3:\/\/inbox\/orders\/orders\.csv \(SignatureDoesNotMatch/),
    );
  });

  it('exports a Postgres batch to a CSV object with its rejects beside it, atomically', async () => {
    const version = await publish(exportFlow('export_csv', 'csv'));
    const run = await sluice.run({ flowVersion: version, sourcePath: 'b1' });
    const metadata = await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.equal(metadata.status, 'PARTIAL_FAILED');
    assert.deepEqual(metadata.rows, { read: 5, mapped: 3, rejected: 2, written: 3 });
    const key = `export_csv/v1/${run.id}.csv`;
    const rejectsKey = `export_csv/v1/${run.id}_rejects.csv`;
    assert.equal(metadata.steps.sync_target?.location, `s3://exports/${key}`);
    assert.equal(metadata.rejects.location, `s3://exports/${rejectsKey}`);

    // The fields, then the lineage columns: the run and each row's source row (ids 1, 2, 5 are rows 1, 2, 5 of the batch).
    assert.equal(
      (await bytes('exports', key)).toString(),
      `id,name,amount,_sluice_run_id,_sluice_source_row\n1,a,10.5,${run.id},1\n2,"b, ""quoted""",20.0,${run.id},2\n5,e,7.25,${run.id},5\n`,
    );
    const head = await client.send(new HeadObjectCommand({ Bucket: 'exports', Key: key }));
    assert.deepEqual(head.Metadata, {
      'sluice-execution-id': metadata.run.execution_id,
      'sluice-run-id': run.id,
      'sluice-flow-version': version,
      'sluice-rows': '3',
      'sluice-rejected-rows': '2',
    });
    assert.match(head.ContentType ?? '', /^text\/csv/);

    const rejects = pl.readCSV(await bytes('exports', rejectsKey), { inferSchemaLength: 0 } as never);
    assert.deepEqual(rejects.columns, ['run_id', 'execution_id', 'flow_version', 'source_path', 'row_number', 'record', 'errors']);
    const records = rejects.toRecords() as Record<string, string>[];
    assert.deepEqual(
      records.map((r) => ({ ...r, record: JSON.parse(r.record!), errors: JSON.parse(r.errors!) })),
      [
        {
          run_id: run.id,
          execution_id: metadata.run.execution_id,
          flow_version: version,
          source_path: 'b1',
          row_number: '3',
          record: { id: '3', name: null, amount: '5' },
          errors: [{ field: 'name', rule: 'required', message: 'name is required but missing' }],
        },
        {
          run_id: run.id,
          execution_id: metadata.run.execution_id,
          flow_version: version,
          source_path: 'b1',
          row_number: '4',
          record: { id: '4', name: 'd', amount: '-1' },
          errors: [{ field: 'amount', rule: 'check', message: 'failed check: amount > 0' }],
        },
      ],
    );
    assert.deepEqual(await keys('exports').then((all) => all.filter((k) => k.includes('.sluice-tmp-'))), []);
  });

  it('exports a Postgres batch to a Parquet object, rejects in Parquet too', async () => {
    const version = await publish(exportFlow('export_parquet', 'parquet'));
    const run = await sluice.run({ flowVersion: version, sourcePath: 'b1' });
    const metadata = await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.deepEqual(metadata.rows, { read: 5, mapped: 3, rejected: 2, written: 3 });
    const mapped = pl.readParquet(await bytes('exports', `export_parquet/v1/${run.id}.parquet`));
    assert.deepEqual(mapped.columns, ['id', 'name', 'amount', '_sluice_run_id', '_sluice_source_row']);
    assert.ok(mapped.getColumn('id').dtype.equals(pl.Int64), `id is Int64, not ${mapped.getColumn('id').dtype}`);
    assert.ok(mapped.getColumn('amount').dtype.equals(pl.Float64), `amount is Float64, not ${mapped.getColumn('amount').dtype}`);
    assert.deepEqual(mapped.toRecords(), [
      { id: 1, name: 'a', amount: 10.5, _sluice_run_id: run.id, _sluice_source_row: 1 },
      { id: 2, name: 'b, "quoted"', amount: 20, _sluice_run_id: run.id, _sluice_source_row: 2 },
      { id: 5, name: 'e', amount: 7.25, _sluice_run_id: run.id, _sluice_source_row: 5 },
    ]);
    const rejects = pl.readParquet(await bytes('exports', `export_parquet/v1/${run.id}_rejects.parquet`));
    assert.deepEqual(rejects.getColumn('row_number').toArray().map(Number), [3, 4]);
    assert.deepEqual(rejects.getColumn('source_path').toArray(), ['b1', 'b1']);
    assert.deepEqual(await keys('exports').then((all) => all.filter((k) => k.includes('.sluice-tmp-'))), []);

    // A batch with no rejects still writes an (empty) rejects object, so the pair always matches.
    const clean = await sluice.run({ flowVersion: version, sourcePath: 'b2' });
    const cleanMeta = await clean.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    assert.deepEqual({ status: cleanMeta.status, rows: cleanMeta.rows }, { status: 'SUCCEEDED', rows: { read: 1, mapped: 1, rejected: 0, written: 1 } });
    assert.equal(pl.readParquet(await bytes('exports', `export_parquet/v1/${clean.id}_rejects.parquet`)).height, 0);
  });

  it('writes NDJSON, renders {date}, and ends FAILED for upsert, a missing target bucket and an unknown placeholder', async () => {
    const ndjson = await publish(exportFlow('export_ndjson', 'ndjson'));
    const run = await sluice.run({ flowVersion: ndjson, sourcePath: 'b1' });
    await run.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    const lines = (await bytes('exports', `export_ndjson/v1/${run.id}.ndjson`)).toString().trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines, [
      { id: 1, name: 'a', amount: 10.5, _sluice_run_id: run.id, _sluice_source_row: 1 },
      { id: 2, name: 'b, "quoted"', amount: 20, _sluice_run_id: run.id, _sluice_source_row: 2 },
      { id: 5, name: 'e', amount: 7.25, _sluice_run_id: run.id, _sluice_source_row: 5 },
    ]);

    // {date}: the UTC date the load was first scheduled.
    const dated = await publish(exportFlow('export_dated', 'csv').replace('{version}/', '{version}/{date}/'));
    const before = new Date().toISOString().slice(0, 10);
    const datedRun = await sluice.run({ flowVersion: dated, sourcePath: 'b2' });
    const datedMeta = await datedRun.wait({ timeoutMs: 120_000, pollIntervalMs: 200 });
    const afterDate = new Date().toISOString().slice(0, 10);
    const datedKeys = [before, afterDate].map((d) => `s3://exports/export_dated/v1/${d}/${datedRun.id}.csv`);
    assert.ok(datedKeys.includes(String(datedMeta.steps.sync_target?.location)), `${datedMeta.steps.sync_target?.location} is one of ${datedKeys.join(', ')}`);
    assert.equal((await bytes('exports', String(datedMeta.steps.sync_target?.location).slice('s3://exports/'.length))).toString(), `id,name,amount,_sluice_run_id,_sluice_source_row\n6,f,1.0,${datedRun.id},1\n`);

    const upsert = await publish(exportFlow('export_upsert', 'csv', ', write: upsert, key: [id]'));
    await assert.rejects(
      (await sluice.run({ flowVersion: upsert, sourcePath: 'b1' })).wait({ timeoutMs: 120_000 }),
      failedWith('S3_UPSERT_NOT_SUPPORTED', 'sync_target', /^flow export_upsert: write: upsert is not supported for object-store targets/),
    );
    const noBucket = await publish(exportFlow('export_nobucket', 'csv').replace('s3://exports/', 's3://missing-exports/'));
    const noBucketRun = await sluice.run({ flowVersion: noBucket, sourcePath: 'b1' });
    await assert.rejects(
      noBucketRun.wait({ timeoutMs: 120_000 }),
      failedWith('S3_BUCKET_NOT_FOUND', 'sync_target', `bucket "missing-exports" does not exist (s3://missing-exports/export_nobucket/v1/${noBucketRun.id}.csv); create it or fix the target path`),
    );
    const placeholder = await publish(exportFlow('export_placeholder', 'csv').replace('{version}', '{year}'));
    await assert.rejects(
      (await sluice.run({ flowVersion: placeholder, sourcePath: 'b1' })).wait({ timeoutMs: 120_000 }),
      failedWith('INVALID_TARGET_PATH', 'sync_target', 'target path "s3://exports/{flow}/{year}/{run_id}.csv" uses unknown placeholder {year}; use {flow}, {version}, {run_id}, {date}'),
    );
  });

  describe('S3Target directly', () => {
    const spec = parseFlowSpec(`
name: direct
source: { connector: files }
target: { connector: lake, path: "s3://exports/direct/{date}/{run_id}.csv" }
fields:
  id:   { from: id, type: int64 }
  note: { from: note, type: string }
`);
    const writeChunks = (rows: number) => {
      const dir = tempProject();
      const mapped = path.join(dir, 'mapped.parquet');
      const rejected = path.join(dir, 'rejected.parquet');
      const ids = Array.from({ length: rows }, (_, i) => i + 1);
      pl.DataFrame({
        [ROW_COLUMN]: pl.Series(ROW_COLUMN, ids, pl.Int64),
        id: pl.Series('id', ids, pl.Int64),
        note: ids.map((i) => `note ${i} ${'x'.repeat(20)}`),
      }).writeParquet(mapped);
      emptyRejected().writeParquet(rejected);
      return { mapped, rejected };
    };
    const request = (files: { mapped: string; rejected: string }, executionId: string) => ({
      runId: 'direct-v1-0001',
      executionId,
      flowVersion: 'direct:v1',
      sourcePath: 'x.csv',
      spec,
      mappedFiles: [files.mapped],
      rejectedFiles: [files.rejected],
      onProgress: () => undefined,
      signal: new AbortController().signal,
    });

    it('a retried load of the same execution writes nothing (the object metadata is the ledger); leftovers are removed', async () => {
      const s3Client = createS3Client(config.connectors.lake as never);
      const target = new S3Target(s3Client, 'lake', { loadDate: () => new Date('2024-03-04T05:06:07Z') });
      const key = 'direct/2024-03-04/direct-v1-0001.csv';
      // An interrupted earlier attempt: a temporary object and an unfinished multipart upload.
      await client.send(new PutObjectCommand({ Bucket: 'exports', Key: `${key}.sluice-tmp-exec-1`, Body: 'partial' }));
      await client.send(new CreateMultipartUploadCommand({ Bucket: 'exports', Key: `${key}.sluice-tmp-exec-1` }));
      const files = writeChunks(3);
      const first = await target.load(request(files, 'exec-1'));
      assert.deepEqual(first, { rowsWritten: 3, rowsRejected: 0, alreadyLoaded: false, location: `s3://exports/${key}`, rejectsLocation: 's3://exports/direct/2024-03-04/direct-v1-0001_rejects.csv' });
      const again = await target.load(request(files, 'exec-1'));
      assert.deepEqual({ ...again }, { ...first, alreadyLoaded: true });
      assert.deepEqual(await keys('exports').then((all) => all.filter((k) => k.startsWith('direct/'))), [
        'direct/2024-03-04/direct-v1-0001.csv',
        'direct/2024-03-04/direct-v1-0001_rejects.csv',
      ]);
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: 'exports', Prefix: 'direct/' }));
      assert.deepEqual(uploads.Uploads ?? [], []);
      const line = (i: number) => `${i},note ${i} ${'x'.repeat(20)},direct-v1-0001,${i}`;
      assert.equal((await bytes('exports', key)).toString(), `id,note,_sluice_run_id,_sluice_source_row\n${line(1)}\n${line(2)}\n${line(3)}\n`);

      // A new execution (a forced rerun) overwrites the object.
      const rerun = await target.load(request(writeChunks(2), 'exec-2'));
      assert.equal(rerun.alreadyLoaded, false);
      const head = await client.send(new HeadObjectCommand({ Bucket: 'exports', Key: key }));
      assert.equal(head.Metadata?.['sluice-execution-id'], 'exec-2');
      assert.equal((await bytes('exports', key)).toString().trim().split('\n').length, 3);
      s3Client.destroy();
    });

    it('publishes a large object with a multipart copy, byte for byte', async () => {
      const s3Client = createS3Client(config.connectors.lake as never);
      const target = new S3Target(s3Client, 'lake', { loadDate: () => new Date('2024-03-05T00:00:00Z'), singleCopyLimit: 1, copyPartSize: 5 * 1024 * 1024, partSize: 5 * 1024 * 1024 });
      const rows = 300_000;
      const result = await target.load({ ...request(writeChunks(rows), 'exec-big'), runId: 'direct-v1-big' });
      assert.deepEqual({ written: result.rowsWritten, already: result.alreadyLoaded }, { written: rows, already: false });
      const body = await bytes('exports', 'direct/2024-03-05/direct-v1-big.csv');
      assert.ok(body.length > 10 * 1024 * 1024, `the object spans several copy parts (${body.length} bytes)`);
      const frame = pl.readCSV(body);
      assert.equal(frame.height, rows);
      assert.deepEqual([frame.getColumn('id').min(), frame.getColumn('id').max(), frame.getColumn('id').nUnique()], [1, rows, rows]);
      const head = await client.send(new HeadObjectCommand({ Bucket: 'exports', Key: 'direct/2024-03-05/direct-v1-big.csv' }));
      assert.equal(head.Metadata?.['sluice-execution-id'], 'exec-big');
      assert.deepEqual(await keys('exports').then((all) => all.filter((k) => k.includes('.sluice-tmp-'))), []);
      s3Client.destroy();
    });
  });
});
