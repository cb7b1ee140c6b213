/**
 * Integration: Sluice scaled out on a production-shaped Temporal — the official server built from its Go module,
 * PostgreSQL persistence and visibility, frontend, history, matching and worker as separate processes, configured
 * by docker/temporal/sluice.yaml (tests/helpers/temporal-cluster.ts) — with three `sluice worker` processes that
 * share nothing but Temporal, PostgreSQL and S3 staging (versitygw):
 * - one multi-chunk run spreads over all three workers, every row exactly once;
 * - a worker SIGKILLed mid-transform and then the Temporal history service SIGKILLed and started again: the
 *   run completes, every row exactly once, one load-ledger row;
 * - 200 small runs started at once all complete, none lost (visibility on PostgreSQL counts them by
 *   Sluice's search attributes).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Sluice, type SluiceRun } from '../../client/sluice';
import { SEARCH_ATTRIBUTES } from '../../common/run-model';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { idCounts } from '../helpers/event-fixtures';
import { s3ClientFor, startS3Server, type S3Server } from '../helpers/s3-server';
import { createTestDatabase, PROJECT_DIR, tempProject, type TestDatabase } from '../helpers/services';
import { startTemporalCluster, type TemporalCluster } from '../helpers/temporal-cluster';
import { spawnWatchedWorker, type WatchedWorker } from '../helpers/watched-worker';

const FLOW = (name: string) => `
name: ${name}
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.${name} }
fields:
  id:     { from: id, type: int64, required: true }
  amount: { from: amount, type: int64, check: "amount >= 0" }
  note:   { from: note, type: string }
`;

/** Writes `file`: ids `first`..`first + rows - 1`, every 97th amount not a number (rejected); returns the rejected count. */
function writeCsv(file: string, rows: number, first = 1): number {
  const lines = ['id,amount,note'];
  let bad = 0;
  for (let i = first; i < first + rows; i++) {
    const isBad = i % 97 === 0;
    if (isBad) bad++;
    lines.push(`${i},${isBad ? 'x' : i % 1000},"n ${i}, quoted"`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return bad;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CHUNK_ROWS = 10_000;

describe('scale-out on a Temporal cluster (PostgreSQL, four service processes)', () => {
  let db: TestDatabase;
  let s3: S3Server;
  let cluster: TemporalCluster;
  let dir: string;
  let bucket: S3Client;
  let sluice: Sluice;
  let store: FlowVersionStore;
  const workers: WatchedWorker[] = [];
  const taskQueue = `scale-${Date.now()}`;

  const startWorker = (name: string): WatchedWorker => {
    const cache = path.join(dir, `.worker-${name}`);
    mkdirSync(cache, { recursive: true });
    const worker = spawnWatchedWorker(dir, {
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: cluster.address,
      SLUICE_TASK_QUEUE: taskQueue,
      // Each worker has its own local folder: only S3 staging is shared.
      SLUICE_STAGING_DIR: cache,
    });
    workers.push(worker);
    return worker;
  };
  const running = () => workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);

  /** Resolves once `n` distinct workers poll the task queue for activities (so each can take a chunk). */
  const waitForPollers = async (n: number) => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const described = await cluster.connection.workflowService.describeTaskQueue({
        namespace: cluster.namespace,
        taskQueue: { name: taskQueue },
        taskQueueType: 2, // TASK_QUEUE_TYPE_ACTIVITY
      });
      const identities = new Set((described.pollers ?? []).map((p) => p.identity));
      const alive = running().filter((w) => [...identities].some((id) => id?.startsWith(`${w.pid}@`)));
      if (alive.length >= n) return;
      if (Date.now() > deadline) assert.fail(`${n} workers did not poll ${taskQueue} within 90 s (pollers: ${[...identities].join(', ')})`);
      await sleep(250);
    }
  };

  const publish = async (name: string) => (await store.publish(parseFlowSpec(FLOW(name)), { sourceText: FLOW(name) })).version.id;

  /** Resolves once the run has staged a mapped chunk in S3 (the transform is under way). */
  const waitForMappedChunk = async (run: SluiceRun) => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const listed = await bucket.send(new ListObjectsV2Command({ Bucket: 'sluice-staging', Prefix: `runs/${run.id}/` }));
      if ((listed.Contents ?? []).some((o) => o.Key!.includes('/mapped/'))) return;
      if (Date.now() > deadline) assert.fail('the transform did not start within 90 s');
      await sleep(50);
    }
  };

  before(async () => {
    [db, s3] = await Promise.all([createTestDatabase(), startS3Server(PROJECT_DIR)]);
    cluster = await startTemporalCluster({ databaseUrl: db.url });
    dir = tempProject();
    bucket = s3ClientFor(s3);
    await bucket.send(new CreateBucketCommand({ Bucket: 'sluice-staging' }));
    writeFileSync(
      path.join(dir, 'sluice.config.yaml'),
      `connectors:
  files: { kind: local, root: . }
  warehouse: { kind: postgres, url: "${db.url}" }
  stage: { kind: s3, endpoint: "${s3.endpoint}", region: ${s3.region}, force_path_style: true, access_key_id: ${s3.accessKeyId}, secret_access_key: ${s3.secretAccessKey} }
staging:
  s3: { connector: stage, bucket: sluice-staging, prefix: runs/ }
  chunk_rows: ${CHUNK_ROWS}
`,
    );
    sluice = new Sluice({ connection: cluster.connection, taskQueue, databaseUrl: db.url });
    store = new FlowVersionStore(db.pool);
    for (const name of ['a', 'b', 'c']) startWorker(name);
    await waitForPollers(3);
  });

  after(async () => {
    for (const w of running()) w.child.kill('SIGKILL');
    bucket?.destroy();
    await sluice?.close();
    await cluster?.stop();
    await s3?.stop();
    await db?.drop();
  });

  it('spreads the chunks of one run over all three workers, every row exactly once', { timeout: 180_000 }, async () => {
    const rows = 150_000;
    const bad = writeCsv(path.join(dir, 'spread.csv'), rows);
    const run = await sluice.run({ flowVersion: await publish('spread'), sourcePath: 'spread.csv' });
    const metadata = await run.wait({ timeoutMs: 150_000 });
    assert.equal(metadata.status, 'PARTIAL_FAILED');
    assert.deepEqual(metadata.rows, { read: rows, mapped: rows - bad, rejected: bad, written: rows - bad });
    const transform = metadata.steps.transform as unknown as { chunks: number; workers: Record<string, number> };
    assert.equal(transform.chunks, rows / CHUNK_ROWS);
    const pids = Object.keys(transform.workers).map((w) => Number(w.split(':').pop()));
    assert.deepEqual(pids.sort(), workers.map((w) => w.pid).sort(), `every worker mapped chunks: ${JSON.stringify(transform.workers)}`);
    assert.equal(Object.values(transform.workers).reduce((a, b) => a + b, 0), transform.chunks);
    const listed = await bucket.send(new ListObjectsV2Command({ Bucket: 'sluice-staging', Prefix: `runs/${run.id}/` }));
    assert.equal((listed.Contents ?? []).filter((o) => o.Key!.includes('/mapped/')).length, transform.chunks, 'the chunks were staged in S3');
    assert.deepEqual(await idCounts(db.pool, 'public.spread'), { n: rows - bad, ids: rows - bad, lo: 1, hi: rows });
    for (const w of workers) w.assertSameWorker();
  });

  it('survives a killed worker and a killed and restarted history service: every row exactly once', { timeout: 300_000 }, async () => {
    const rows = 300_000;
    const bad = writeCsv(path.join(dir, 'survive.csv'), rows);
    const run = await sluice.run({ flowVersion: await publish('survive'), sourcePath: 'survive.csv' });
    await waitForMappedChunk(run);

    const victim = running()[0]!;
    victim.child.kill('SIGKILL');
    await new Promise((resolve) => victim.child.once('exit', resolve));

    const before = (await run.refresh()).status;
    assert.ok(['SYNCING_SOURCE', 'TRANSFORMING', 'SYNCING_TARGET'].includes(before), `the run is still going when history is killed (${before})`);
    const historyPid = cluster.pids().history;
    await cluster.kill('history', 'SIGKILL');
    assert.equal(cluster.pids().history, undefined, 'the history service is down');
    await sleep(3000);
    await cluster.restart('history');
    assert.notEqual(cluster.pids().history, historyPid, 'a new history process');

    const metadata = await run.wait({ timeoutMs: 240_000 });
    assert.equal(metadata.status, 'PARTIAL_FAILED');
    assert.deepEqual(metadata.rows, { read: rows, mapped: rows - bad, rejected: bad, written: rows - bad });
    assert.deepEqual(await idCounts(db.pool, 'public.survive'), { n: rows - bad, ids: rows - bad, lo: 1, hi: rows });
    const rejects = await db.pool.query('SELECT count(*)::int AS n, count(DISTINCT row_number)::int AS rows FROM public.survive_rejects');
    assert.deepEqual(rejects.rows[0], { n: bad, rows: bad });
    const ledger = await db.pool.query('SELECT count(*)::int AS n FROM sluice.load_ledger WHERE run_id = $1', [run.id]);
    assert.equal(ledger.rows[0].n, 1);
    for (const w of running()) w.assertSameWorker();
  });

  it('completes 200 small runs started at once, none lost', { timeout: 240_000 }, async () => {
    // Back to three workers after the fault test.
    while (running().length < 3) startWorker(`r${workers.length}`);
    await waitForPollers(3);
    const runs = 200;
    const rowsPerRun = 20;
    mkdirSync(path.join(dir, 'small'));
    for (let i = 0; i < runs; i++) writeCsv(path.join(dir, 'small', `s-${i}.csv`), rowsPerRun, i * rowsPerRun + 1);
    const flowVersion = await publish('small');
    const started = await Promise.all(Array.from({ length: runs }, (_, i) => sluice.run({ flowVersion, sourcePath: `small/s-${i}.csv` })));
    assert.equal(new Set(started.map((r) => r.id)).size, runs);
    const ended = await Promise.all(started.map((r) => r.wait({ timeoutMs: 200_000 })));
    const statuses = ended.map((m) => m.status);
    const bad = Array.from({ length: runs * rowsPerRun }, (_, i) => i + 1).filter((id) => id % 97 === 0).length;
    assert.equal(statuses.filter((s) => s === 'SUCCEEDED' || s === 'PARTIAL_FAILED').length, runs, `statuses: ${statuses.join(', ')}`);
    assert.equal(ended.reduce((a, m) => a + m.rows.written, 0), runs * rowsPerRun - bad);
    assert.deepEqual(await idCounts(db.pool, 'public.small'), { n: runs * rowsPerRun - bad, ids: runs * rowsPerRun - bad, lo: 1, hi: runs * rowsPerRun });
    const ledger = await db.pool.query(`SELECT count(DISTINCT run_id)::int AS n FROM sluice.load_ledger WHERE run_id LIKE 'small-%'`);
    assert.equal(ledger.rows[0].n, runs);
    // Visibility on PostgreSQL finds every run by Sluice's search attributes (eventually consistent).
    const query = `${SEARCH_ATTRIBUTES.flowVersion.name} = "${flowVersion}" AND ExecutionStatus = "Completed"`;
    const deadline = Date.now() + 30_000;
    let counted = 0;
    while (Date.now() < deadline) {
      counted = (await cluster.client.workflow.count(query)).count;
      if (counted === runs) break;
      await sleep(500);
    }
    assert.equal(counted, runs, `visibility counts ${query}`);
  });
});
