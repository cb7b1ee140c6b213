/**
 * Fault test: the S3 server stopped and started again under a running worker, mid-upload. The server
 * is a versitygw this test starts (tests/helpers/s3-server.ts) and restarts on the same port and data
 * dir; it is both the worker's staging (`staging.s3`) and a run's S3 target. The worker is a
 * `node dist/cli/main.js worker` process.
 *
 * 1. The server killed (SIGKILL) while `syncTarget` has a multipart upload to the target's temporary
 *    `.sluice-tmp-` key in progress, kept down 3 s, started again: `syncTarget` fails and is retried, and
 *    the run publishes exactly one complete object holding every row exactly once, with no temporary keys
 *    or unfinished uploads left.
 * 2. The server killed while the transform uploads mapped chunks to staging (and downloads staged source
 *    chunks), kept down 3 s, started again: the failed chunks are retried and the run loads every row
 *    exactly once into PostgreSQL.
 *
 * Each time the worker stays up with the same pid (no `Unhandled 'error' event`), and the retries run on it.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import pl from 'nodejs-polars';
import { Sluice } from '../../client/sluice';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { createTestDatabase, PROJECT_DIR, startTemporal, tempProject, type TestDatabase } from '../helpers/services';
import { s3ClientFor, startS3Server, type S3Server } from '../helpers/s3-server';
import { spawnWatchedWorker, type WatchedWorker } from '../helpers/watched-worker';
import { eventsFlow, writeEventsCsv, idCounts } from '../helpers/event-fixtures';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROWS = 600_000;
const DOWN_MS = 3_000;
const TO_TABLE = eventsFlow('events_pg', '{ connector: warehouse, table: public.events }');
const FLOW = eventsFlow('events_s3', '{ connector: lake, path: "s3://exports/events/{run_id}.csv" }');

describe('a worker whose S3 server (target and staging) restarts mid-upload', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let s3: S3Server;
  let client: S3Client;
  let dir: string;
  let sluice: Sluice;
  let worker: WatchedWorker;
  const taskQueue = `s3-restart-${Date.now()}`;

  before(async () => {
    [env, db, s3] = await Promise.all([startTemporal(), createTestDatabase(), startS3Server(PROJECT_DIR)]);
    client = s3ClientFor(s3);
    await client.send(new CreateBucketCommand({ Bucket: 'exports' }));
    await client.send(new CreateBucketCommand({ Bucket: 'sluice-staging' }));
    dir = tempProject();
    writeEventsCsv(dir, ROWS);
    writeFileSync(
      path.join(dir, 'sluice.config.yaml'),
      [
        'connectors:',
        '  files: { kind: local, root: . }',
        '  warehouse: { kind: postgres, url: "${env:DATABASE_URL}" }',
        `  lake: { kind: s3, endpoint: "${s3.endpoint}", region: ${s3.region}, force_path_style: true, access_key_id: "\${env:LAKE_KEY}", secret_access_key: "\${env:LAKE_SECRET}" }`,
        'staging:',
        '  s3: { connector: lake, bucket: sluice-staging, prefix: runs/ }',
        '',
      ].join('\n'),
    );
    sluice = new Sluice({ connection: env.connection, taskQueue, databaseUrl: db.url });
    worker = spawnWatchedWorker(dir, {
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: env.address,
      SLUICE_TASK_QUEUE: taskQueue,
      SLUICE_STAGING_DIR: path.join(dir, '.staging'),
      SLUICE_CHUNK_ROWS: '50000',
      LAKE_KEY: s3.accessKeyId,
      LAKE_SECRET: s3.secretAccessKey,
    });
  });

  after(async () => {
    if (worker && worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await sluice?.close();
    client?.destroy();
    await env?.teardown();
    await db?.drop();
    await s3?.stop();
  });

  it('killed during the multipart upload, back 3 s later: same worker, one complete object, every row exactly once', { timeout: 150_000 }, async (t) => {
    const { version } = await new FlowVersionStore(db.pool).publish(parseFlowSpec(FLOW), { sourceText: FLOW });
    const run = await sluice.run({ flowVersion: version.id, sourcePath: 'events.csv' });
    const finalKey = `events/${run.id}.csv`;
    // A multipart upload to the temporary key is under way (polled tightly: the window is a few seconds).
    const deadline = Date.now() + 90_000;
    let uploading: string[] = [];
    while (uploading.length === 0 && Date.now() < deadline) {
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: 'exports' }));
      uploading = (uploads.Uploads ?? []).map((u) => u.Key!).filter((k) => k.includes('.sluice-tmp-'));
    }
    assert.ok(uploading.length > 0, 'a multipart upload to a temporary key was seen within 90 s');
    const stopped = Date.now();
    await s3.halt('SIGKILL');
    await new Promise((r) => setTimeout(r, DOWN_MS));
    await s3.resume();
    t.diagnostic(`the S3 server was down ${Date.now() - stopped} ms, killed during the upload of ${uploading.join(', ')}`);

    const metadata = await worker.runEnd(run, 90_000);
    t.diagnostic(`the worker logged: ${worker.logSummary()}`);
    worker.assertSameWorker();
    assert.equal(metadata.status, 'SUCCEEDED', JSON.stringify(metadata.error));
    assert.deepEqual(metadata.rows, { read: ROWS, mapped: ROWS, rejected: 0, written: ROWS });
    assert.equal(metadata.steps.sync_target?.location, `s3://exports/${finalKey}`);

    // Exactly the two published objects, no temporary keys, no unfinished multipart uploads.
    const objects = ((await client.send(new ListObjectsV2Command({ Bucket: 'exports' }))).Contents ?? []).map((o) => o.Key!).sort();
    assert.deepEqual(objects, [finalKey, `events/${run.id}_rejects.csv`].sort());
    assert.deepEqual((await client.send(new ListMultipartUploadsCommand({ Bucket: 'exports' }))).Uploads ?? [], []);
    const body = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: 'exports', Key: finalKey }))).Body!.transformToByteArray());
    const ids = pl.readCSV(body, { inferSchemaLength: 0 } as never).select(pl.col('id').cast(pl.Int64)).getColumn('id');
    assert.deepEqual([ids.length, ids.nUnique(), Number(ids.min()), Number(ids.max())], [ROWS, ROWS, 1, ROWS]);

    // syncTarget failed on the outage and its retry ran on the same worker process.
    const started = await startedActivities(run.id, 'syncTarget');
    assert.equal(started.length, 1);
    assert.ok(started[0]!.attempt >= 2, `syncTarget was retried (attempt ${started[0]!.attempt})`);
    assert.equal(started[0]!.identity, `${worker.pid}@${os.hostname()}`, 'the retry ran on the same worker process');
  });

  it('killed while the transform stages mapped chunks, back 3 s later: same worker, every row exactly once', { timeout: 150_000 }, async (t) => {
    const { version } = await new FlowVersionStore(db.pool).publish(parseFlowSpec(TO_TABLE), { sourceText: TO_TABLE });
    const run = await sluice.run({ flowVersion: version.id, sourcePath: 'events.csv' });
    // The first mapped chunk is in staging: the transform is under way, later chunks still to come.
    const deadline = Date.now() + 90_000;
    let mapped = 0;
    while (mapped === 0 && Date.now() < deadline) {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: 'sluice-staging', Prefix: `runs/${run.id}/` }));
      mapped = (listed.Contents ?? []).filter((o) => o.Key!.includes('/mapped/')).length;
    }
    assert.ok(mapped > 0, 'a mapped chunk was staged in S3 within 90 s');
    const stopped = Date.now();
    await s3.halt('SIGKILL');
    await new Promise((r) => setTimeout(r, DOWN_MS));
    await s3.resume();
    t.diagnostic(`the S3 server was down ${Date.now() - stopped} ms, killed after ${mapped} of ${ROWS / 50_000} mapped chunks were staged`);

    const metadata = await worker.runEnd(run, 90_000);
    t.diagnostic(`the worker logged: ${worker.logSummary()}`);
    worker.assertSameWorker();
    assert.equal(metadata.status, 'SUCCEEDED', JSON.stringify(metadata.error));
    assert.deepEqual(metadata.rows, { read: ROWS, mapped: ROWS, rejected: 0, written: ROWS });
        assert.deepEqual(await idCounts(db.pool, 'public.events'), { n: ROWS, ids: ROWS, lo: 1, hi: ROWS });
    // Some chunk failed on the outage and was retried, every attempt on the same worker process.
    const chunks = await startedActivities(run.id, 'transformChunk');
    assert.equal(chunks.length, ROWS / 50_000);
    assert.ok(chunks.some((c) => c.attempt >= 2), `a transformChunk was retried (attempts ${chunks.map((c) => c.attempt).join(', ')})`);
    assert.deepEqual([...new Set(chunks.map((c) => c.identity))], [`${worker.pid}@${os.hostname()}`]);
  });

  /** The started events (final attempt and worker identity) of each `activity` scheduled by run `runId`. */
  async function startedActivities(runId: string, activity: string): Promise<Array<{ attempt: number; identity: string }>> {
    const history = await env.client.workflow.getHandle(runId).fetchHistory();
    const scheduled = new Map<string, string>();
    for (const e of history.events ?? []) {
      if (e.activityTaskScheduledEventAttributes) scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
    }
    return (history.events ?? []).flatMap((e) => {
      const a = e.activityTaskStartedEventAttributes;
      return a && scheduled.get(String(a.scheduledEventId)) === activity ? [{ attempt: a.attempt ?? 1, identity: a.identity ?? '' }] : [];
    });
  }
});
