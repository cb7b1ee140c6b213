/**
 * Integration: a worker process killed (SIGKILL) in the middle of an S3 target's `syncTarget`
 * (a temporary `.sluice-tmp-` object already uploaded, the final object not yet published); the
 * run finishes on a new worker process with exactly one complete object at the final key, every
 * row exactly once, and no temporary keys or unfinished uploads left. Real Temporal dev server,
 * PostgreSQL and versitygw; the workers are `node dist/cli/main.js worker` processes.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import pl from 'nodejs-polars';
import { Sluice } from '../../client/sluice';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { createTestDatabase, PROJECT_DIR, startTemporal, tempProject, type TestDatabase, killAll, spawnCliWorker } from '../helpers/services';
import { startS3Server, type S3Server } from '../helpers/s3-server';
import { eventsFlow, writeEventsCsv } from '../helpers/event-fixtures';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROWS = 600_000;
const FLOW = eventsFlow('events_s3', '{ connector: lake, path: "s3://exports/events/{run_id}.csv" }');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a worker killed during an S3 target syncTarget', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let s3: S3Server;
  let client: S3Client;
  let dir: string;
  const workers: ChildProcess[] = [];

  const startWorker = (workerEnv: Record<string, string>): ChildProcess => {
    const child = spawnCliWorker(dir, workerEnv);
    workers.push(child);
    return child;
  };
  const tempKeys = async () =>
    ((await client.send(new ListObjectsV2Command({ Bucket: 'exports', Prefix: 'events/' }))).Contents ?? []).map((o) => o.Key!).filter((k) => k.includes('.sluice-tmp-'));

  before(async () => {
    [env, db, s3] = await Promise.all([startTemporal(), createTestDatabase(), startS3Server(PROJECT_DIR)]);
    // An idle connection ended by the server must not fail the file after its tests passed.
    db.pool.on('error', () => undefined);
    dir = tempProject();
    client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    await client.send(new CreateBucketCommand({ Bucket: 'exports' }));
    writeEventsCsv(dir, ROWS);
    // The CLI worker reads its connectors from sluice.config.yaml in its cwd.
    writeFileSync(
      path.join(dir, 'sluice.config.yaml'),
      [
        'connectors:',
        '  files: { kind: local, root: . }',
        '  warehouse: { kind: postgres }',
        `  lake: { kind: s3, endpoint: "${s3.endpoint}", region: ${s3.region}, force_path_style: true, access_key_id: "\${env:LAKE_KEY}", secret_access_key: "\${env:LAKE_SECRET}" }`,
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    killAll(workers);
    client?.destroy();
    await env?.teardown();
    await db?.drop();
    await s3?.stop();
  });

  it('publishes exactly one complete object after a new worker retries the load', { timeout: 240_000 }, async () => {
    const taskQueue = `s3-crash-${Date.now()}`;
    const workerEnv = {
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: env.address,
      SLUICE_TASK_QUEUE: taskQueue,
      SLUICE_STAGING_DIR: path.join(dir, '.staging'),
      SLUICE_CHUNK_ROWS: '50000',
      LAKE_KEY: s3.accessKeyId,
      LAKE_SECRET: s3.secretAccessKey,
    };
    const store = new FlowVersionStore(db.pool);
    const { version } = await store.publish(parseFlowSpec(FLOW), { sourceText: FLOW });
    const first = startWorker(workerEnv);
    const sluice = new Sluice({ connection: env.connection, taskQueue, databaseUrl: db.url });
    try {
      const run = await sluice.run({ flowVersion: version.id, sourcePath: 'events.csv' });
      const finalKey = `events/${run.id}.csv`;

      // Kill the worker outright as soon as syncTarget has begun writing: a multipart upload to a
      // temporary key in progress, or a temporary object already uploaded (polled tightly, without
      // waiting for status queries, so the window cannot be missed on a fast or a loaded machine).
      const deadline = Date.now() + 150_000;
      const inFlight = async (): Promise<string[]> => {
        const [objects, uploads] = await Promise.all([tempKeys(), client.send(new ListMultipartUploadsCommand({ Bucket: 'exports' }))]);
        return [...objects, ...(uploads.Uploads ?? []).map((u) => u.Key!).filter((k) => k.includes('.sluice-tmp-'))];
      };
      let seen: string[] = [];
      while (seen.length === 0 && Date.now() < deadline) seen = await inFlight();
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));
      assert.ok(seen.length > 0, 'a temporary upload or object was seen before the kill');
      assert.equal((await run.refresh()).status, 'SYNCING_TARGET', 'killed during syncTarget');
      const executionId = (await env.client.workflow.getHandle(run.id).describe()).runId;
      assert.ok(seen.every((k) => k.endsWith(`.sluice-tmp-${executionId}`)), `temporary keys name the execution: ${seen.join(', ')}`);

      // The interrupted load published nothing at the final key; its leftovers are temporary only.
      await sleep(300);
      const beforeRetry = ((await client.send(new ListObjectsV2Command({ Bucket: 'exports', Prefix: 'events/' }))).Contents ?? []).map((o) => o.Key!);
      assert.ok(!beforeRetry.includes(finalKey), `nothing at ${finalKey} before the retry (found ${beforeRetry.join(', ')})`);
      assert.ok(beforeRetry.every((k) => k.includes('.sluice-tmp-')), `only temporary objects before the retry: ${beforeRetry.join(', ')}`);
      assert.ok((await inFlight()).length > 0, 'the killed attempt left a temporary upload or object behind');

      startWorker(workerEnv);
      const metadata = await run.wait({ timeoutMs: 180_000, pollIntervalMs: 500 });
      assert.equal(metadata.status, 'SUCCEEDED');
      assert.deepEqual(metadata.rows, { read: ROWS, mapped: ROWS, rejected: 0, written: ROWS });
      assert.equal(metadata.steps.sync_target?.location, `s3://exports/${finalKey}`);

      // Exactly the two published objects, no temporary keys, no unfinished multipart uploads.
      const objects = ((await client.send(new ListObjectsV2Command({ Bucket: 'exports' }))).Contents ?? []).map((o) => o.Key!).sort();
      assert.deepEqual(objects, [finalKey, `events/${run.id}_rejects.csv`].sort());
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: 'exports' }));
      assert.deepEqual(uploads.Uploads ?? [], []);

      const head = await client.send(new HeadObjectCommand({ Bucket: 'exports', Key: finalKey }));
      assert.equal(head.Metadata?.['sluice-execution-id'], metadata.run.execution_id);
      assert.equal(head.Metadata?.['sluice-rows'], String(ROWS));
      const body = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: 'exports', Key: finalKey }))).Body!.transformToByteArray());
      assert.equal(body.length, head.ContentLength, 'the object is complete');
      const frame = pl.readCSV(body, { inferSchemaLength: 0 } as never).select(pl.col('id').cast(pl.Int64));
      const ids = frame.getColumn('id');
      assert.deepEqual([frame.height, ids.nUnique(), Number(ids.min()), Number(ids.max())], [ROWS, ROWS, 1, ROWS]);
      const text = body.toString('utf8', 0, 200);
      // The lineage columns Sluice adds to the objects it writes (docs/rejects.md, "Lineage").
      assert.ok(text.startsWith(`id,kind,amount,note,_sluice_run_id,_sluice_source_row\n1,sale,0.1,"note 1, with a comma",${run.id},1\n`), text);

      // syncTarget itself ran a second attempt.
      const history = await env.client.workflow.getHandle(run.id).fetchHistory();
      const scheduled = new Map<string, string>();
      for (const e of history.events ?? []) {
        if (e.activityTaskScheduledEventAttributes) scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
      }
      const syncTargetAttempts = (history.events ?? [])
        .filter((e) => e.activityTaskStartedEventAttributes && scheduled.get(String(e.activityTaskStartedEventAttributes.scheduledEventId)) === 'syncTarget')
        .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
      assert.ok(syncTargetAttempts.some((a) => a >= 2), `syncTarget was retried (attempts: ${syncTargetAttempts.join(', ')})`);
    } finally {
      await sluice.close();
    }
  });
});
