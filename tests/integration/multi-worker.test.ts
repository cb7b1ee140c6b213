/**
 * Integration: a run spread over two worker processes that share nothing but Temporal, Postgres
 * and S3 staging (each has its own local folder), on the real Temporal dev server, PostgreSQL and
 * a real S3-compatible server (versitygw). Then one worker is killed mid-transform and the run
 * completes on the other with every row exactly once.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Sluice } from '../../client/sluice';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { createTestDatabase, PROJECT_DIR, startTemporal, tempProject, type TestDatabase, killAll, spawnCliWorker } from '../helpers/services';
import { startS3Server, type S3Server } from '../helpers/s3-server';

const FLOW = (name: string) => `
name: ${name}
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.${name} }
fields:
  id:     { from: id, type: int64, required: true }
  amount: { from: amount, type: int64, check: "amount >= 0" }
  note:   { from: note, type: string }
`;

function writeCsv(file: string, rows: number): number {
  const lines = ['id,amount,note'];
  let bad = 0;
  for (let i = 1; i <= rows; i++) {
    const isBad = i % 97 === 0;
    if (isBad) bad++;
    lines.push(`${i},${isBad ? 'x' : i % 1000},"n ${i}"`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return bad;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a run spread over two workers with S3 staging', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let s3: S3Server;
  let dir: string;
  let client: S3Client;
  const workers: ChildProcess[] = [];
  const taskQueue = `multi-${Date.now()}`;

  const startWorker = (name: string): ChildProcess => {
    const cache = path.join(dir, `.worker-${name}`);
    mkdirSync(cache, { recursive: true });
    const child = spawnCliWorker(dir, {
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: env.address,
      SLUICE_TASK_QUEUE: taskQueue,
      // Each worker has its own local folder: only S3 staging is shared.
      SLUICE_STAGING_DIR: cache,
    });
    workers.push(child);
    return child;
  };

  before(async () => {
    [env, db, s3] = await Promise.all([startTemporal(), createTestDatabase(), startS3Server(PROJECT_DIR)]);
    dir = tempProject();
    client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    await client.send(new CreateBucketCommand({ Bucket: 'sluice-staging' }));
    writeFileSync(
      path.join(dir, 'sluice.config.yaml'),
      `connectors:
  files: { kind: local, root: . }
  warehouse: { kind: postgres, url: "${db.url}" }
  stage: { kind: s3, endpoint: "${s3.endpoint}", region: ${s3.region}, force_path_style: true, access_key_id: ${s3.accessKeyId}, secret_access_key: ${s3.secretAccessKey} }
staging:
  s3: { connector: stage, bucket: sluice-staging, prefix: runs/ }
  chunk_rows: 20000
`,
    );
  });

  after(async () => {
    killAll(workers);
    client?.destroy();
    await env?.teardown();
    await db?.drop();
    await s3?.stop();
  });

  it('spreads the chunks of one run over both workers', { timeout: 180_000 }, async () => {
    const rows = 200_000;
    const bad = writeCsv(path.join(dir, 'spread.csv'), rows);
    const store = new FlowVersionStore(db.pool);
    const { version } = await store.publish(parseFlowSpec(FLOW('spread')), { sourceText: FLOW('spread') });
    startWorker('a');
    startWorker('b');
    const sluice = new Sluice({ connection: env.connection, taskQueue, databaseUrl: db.url });
    try {
      const run = await sluice.run({ flowVersion: version.id, sourcePath: 'spread.csv' });
      const metadata = await run.wait({ timeoutMs: 150_000, pollIntervalMs: 500 });
      assert.equal(metadata.status, 'PARTIAL_FAILED');
      assert.deepEqual(metadata.rows, { read: rows, mapped: rows - bad, rejected: bad, written: rows - bad });
      const transform = metadata.steps.transform as unknown as { chunks: number; workers: Record<string, number> };
      assert.equal(transform.chunks, rows / 20_000);
      const pids = Object.keys(transform.workers).map((w) => Number(w.split(':').pop()));
      assert.deepEqual(pids.sort(), workers.map((w) => w.pid!).sort(), 'both worker processes mapped chunks');
      assert.equal(Object.values(transform.workers).reduce((a, b) => a + b, 0), transform.chunks);
      const listed = await client.send(new ListObjectsV2Command({ Bucket: 'sluice-staging', Prefix: `runs/${run.id}/` }));
      const keys = (listed.Contents ?? []).map((o) => o.Key!);
      assert.equal(keys.filter((k) => k.includes('/mapped/')).length, transform.chunks, 'the chunks were staged in S3');
      assert.ok(keys.some((k) => k.endsWith('/finished.json')), 'the run is marked finished for retention');
      const count = await db.pool.query('SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM public.spread');
      assert.deepEqual(count.rows[0], { n: rows - bad, ids: rows - bad });
    } finally {
      await sluice.close();
    }
  });

  it('survives losing a worker mid-transform: every row exactly once', { timeout: 240_000 }, async () => {
    const rows = 400_000;
    const bad = writeCsv(path.join(dir, 'survive.csv'), rows);
    const store = new FlowVersionStore(db.pool);
    const { version } = await store.publish(parseFlowSpec(FLOW('survive')), { sourceText: FLOW('survive') });
    const sluice = new Sluice({ connection: env.connection, taskQueue, databaseUrl: db.url });
    try {
      const run = await sluice.run({ flowVersion: version.id, sourcePath: 'survive.csv' });
      // Kill one worker once the transform is under way (some chunk parts already in S3).
      const deadline = Date.now() + 60_000;
      let started = false;
      while (!started && Date.now() < deadline) {
        const listed = await client.send(new ListObjectsV2Command({ Bucket: 'sluice-staging', Prefix: `runs/${run.id}/` }));
        started = (listed.Contents ?? []).some((o) => o.Key!.includes('/mapped/'));
        if (!started) await sleep(50);
      }
      assert.ok(started, 'the transform started');
      const victim = workers.find((w) => w.exitCode === null && w.signalCode === null)!;
      victim.kill('SIGKILL');
      await new Promise((resolve) => victim.once('exit', resolve));
      const metadata = await run.wait({ timeoutMs: 200_000, pollIntervalMs: 500 });
      assert.equal(metadata.status, 'PARTIAL_FAILED');
      assert.deepEqual(metadata.rows, { read: rows, mapped: rows - bad, rejected: bad, written: rows - bad });
      const count = await db.pool.query('SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM public.survive');
      assert.deepEqual(count.rows[0], { n: rows - bad, ids: rows - bad });
      const rejects = await db.pool.query('SELECT count(*)::int AS n, count(DISTINCT row_number)::int AS rows FROM public.survive_rejects');
      assert.deepEqual(rejects.rows[0], { n: bad, rows: bad });
    } finally {
      await sluice.close();
    }
  });
});
