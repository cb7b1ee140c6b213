/**
 * Integration: retention housekeeping on the real Temporal dev server, with a Sluice worker in this process and
 * `sluice housekeeping run` as a user runs it (the built CLI in a child process). A temp project holds backup
 * date folders, rejected-row files, logs and staged runs of various ages, and two workflows in flight (started on
 * task queues no worker polls, so they stay Running): a `runFlow` whose run id and execution id appear in paths, and
 * a `runPipeline` backfilling a date 45 days ago, whose date folders carry no run id. Only what is older than each
 * window is deleted; the files of the runs in flight are kept; `--dry-run` deletes nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { HousekeepingReport } from '../../ops/housekeeping';
import type { SluiceConfig } from '../../config/sluice-config';
import { PIPELINE_WORKFLOW_TYPE, RUN_WORKFLOW_TYPE } from '../../common/workflow-types';
import type { runFlow } from '../../workflows/run-flow';
import type { runPipeline } from '../../workflows/run-pipeline';
import { createSluiceWorker, type SluiceWorker } from '../../worker/sluice-worker';
import { createTestDatabase, logger, startTemporal, tempProject, testConfig, type TestDatabase, runCli, type CliResult } from '../helpers/services';

const DAY = 86_400_000;
/** `YYYY-MM-DD` of `n` days before today (UTC). */
const daysAgo = (n: number) => new Date(Date.now() - n * DAY).toISOString().slice(0, 10);


describe('housekeeping (retention)', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let dir: string;
  let config: SluiceConfig;
  let worker: SluiceWorker;
  let running: Promise<void>;
  const inFlightId = `orders-v1-${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  let inFlightExecution: string;
  /** A pipeline run in flight for a date 45 days ago (a backfill): its date folders carry no run id. */
  const backfillDate = daysAgo(45);
  const pipelineId = `pipeline-nightly-dev-${backfillDate}-${randomUUID().slice(0, 6)}`;

  const cli = (args: string[]): Promise<CliResult> =>
    runCli(args, {
      cwd: dir,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        TEMPORAL_ADDRESS: env.address,
        SLUICE_TASK_QUEUE: config.temporal.taskQueue,
        SLUICE_STATE_DIR: path.join(dir, '.sluice'),
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });

  /** Writes a file `ageDays` old (mtime), like a source file moved into a backup folder keeps its own mtime. */
  const file = (rel: string, ageDays: number, content = 'x'.repeat(100)) => {
    const full = path.join(dir, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content);
    const time = new Date(Date.now() - ageDays * DAY);
    utimesSync(full, time, time);
  };
  const exists = (rel: string) => existsSync(path.join(dir, rel));
  const staged = (runKey: string, finishedDaysAgo: number | null) => {
    const root = path.relative(dir, config.staging.dir);
    file(`${root}/${runKey}/mapped/part-00000.parquet`, 0, 'p'.repeat(1000));
    if (finishedDaysAgo !== null) file(`${root}/${runKey}/finished.json`, 0, JSON.stringify({ finished_at: new Date(Date.now() - finishedDaysAgo * DAY).toISOString() }));
  };

  // The fixture, as paths relative to the project dir, by what must happen to them.
  const expectDeleted = {
    backup: [`data/backup/${daysAgo(40)}/a.csv`, `data/backup/${daysAgo(31)}/b.csv`],
    errors: [`data/errors/invoices/${daysAgo(11)}/invoices-v2-1111111111111111.rejects.csv`, `data/errors/orders/${daysAgo(20)}/other.csv`],
    logs: ['logs/worker-old.log', 'logs/archive/2020.log'],
  };
  const expectKept = () => [
    `data/backup/${daysAgo(40)}/${inFlightId}/in.csv`, // a run in flight, by run id
    `data/backup/${daysAgo(30)}/c.csv`, // within 30 days
    `data/backup/${daysAgo(0)}/d.csv`, // today's folder, though the file is old
    'data/backup/notes.txt', // not in a date folder
    `data/errors/invoices/${daysAgo(10)}/invoices-v2-2222222222222222.rejects.csv`, // within 10 days
    `data/errors/orders/${daysAgo(20)}/${inFlightExecution}.rejects.csv`, // a run in flight, by execution id
    `data/backup/${backfillDate}/nightly.csv`, // the date of a pipeline run in flight
    `data/errors/nightly/${backfillDate}/load.csv`, // the date of a pipeline run in flight
    'logs/worker-recent.log', // within 14 days
    `logs/${inFlightId}.log`, // a run in flight
  ];

  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    dir = realpathSync(tempProject());
    writeFileSync(path.join(dir, 'sluice.config.yaml'), 'retention: { backup_days: 30, errors_days: 10, logs_days: 14, staging_days: 1 }\n');
    config = testConfig({ dir, databaseUrl: db.url, address: env.address });
    config = { ...config, dataStore: { backend: 'local', dir: path.join(dir, '.sluice', 'data') } };
    worker = await createSluiceWorker({ config, logger, connection: env.nativeConnection });
    running = worker.run();

    // A run in flight: started on a task queue no worker polls, so it stays Running.
    const handle = await env.client.workflow.start<typeof runFlow>(RUN_WORKFLOW_TYPE, {
      taskQueue: `no-worker-${randomUUID()}`,
      workflowId: inFlightId,
      args: [{ flowVersion: 'orders:v1', sourcePath: 'data/import/orders.csv' }],
    });
    inFlightExecution = handle.firstExecutionRunId;
    await env.client.workflow.start<typeof runPipeline>(PIPELINE_WORKFLOW_TYPE, { taskQueue: `no-worker-${randomUUID()}`, workflowId: pipelineId, args: [{ pipeline: 'nightly', environment: 'dev', date: backfillDate, trigger: 'manual' }] });
    for (let i = 0; ; i++) {
      const listed = [];
      for await (const w of env.client.workflow.list({ query: `ExecutionStatus = 'Running'` })) listed.push(w);
      if (listed.length === 2) break;
      assert.ok(i < 100, 'the run in flight shows in visibility');
      await new Promise((r) => setTimeout(r, 100));
    }
    // The worker sweeps staging once when it starts: let that pass before staging runs exist.
    await new Promise((r) => setTimeout(r, 1_000));

    for (const rel of expectDeleted.backup) file(rel, 40);
    for (const rel of expectDeleted.errors) file(rel, 20);
    file('logs/worker-old.log', 15);
    file('logs/archive/2020.log', 2_000);
    for (const rel of expectKept()) file(rel, rel.startsWith('logs/worker-recent') ? 13 : rel === 'data/backup/notes.txt' ? 400 : 45);
    staged('finished-run/exec-1', 2); // finished 2 days ago: swept
    staged('fresh-run/exec-1', 0.1); // finished 2.4 hours ago: kept
    staged(`${inFlightId}/${inFlightExecution}`, null); // the run in flight: no finished.json
    staged(`${inFlightId}/old-exec`, 3); // an earlier execution of that run id: swept, but its data.pipeline stays
    file('.sluice/data/pipeline/finished-run/lookup.csv', 3);
    file(`.sluice/data/pipeline/${inFlightId}/lookup.csv`, 3);
  });

  after(async () => {
    await worker?.shutdown();
    await running;
    await env?.teardown();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (config) rmSync(config.staging.dir, { recursive: true, force: true });
  });

  it('--dry-run reports what would be deleted and deletes nothing', { timeout: 120_000 }, async () => {
    const result = await cli(['housekeeping', 'run', '--dry-run']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    assert.match(lines[0]!, /^housekeeping \(dry run: nothing was deleted\) at \d{4}-\d{2}-\d{2}T.*Z, workflow sluice-housekeeping-manual-/);
    assert.match(lines[1]!, /^KIND\s+WINDOW\s+WOULD DELETE\s+FILES\s+SIZE\s+KEPT\s+LOCATION$/);
    assert.match(lines[2]!, /^backup\s+30 d\s+1 date folder\s+2\s+200 B\s+2\s+data\/backup$/);
    assert.match(lines[3]!, /^errors\s+10 d\s+1 date folder\s+2\s+200 B\s+2\s+data\/errors$/);
    assert.match(lines[4]!, /^logs\s+14 d\s+2 files\s+2\s+200 B\s+1\s+logs$/);
    assert.match(lines[5]!, /^staging\s+1 d\s+2 run executions\s+4\s+2\.0 KiB\s+2\s+file:\/\//);
    assert.match(result.stdout, new RegExp(`\\nin flight: (${inFlightId}, ${pipelineId}|${pipelineId}, ${inFlightId})\\n`));
    assert.ok(result.stdout.includes('would delete:\n'));
    for (const rel of [...Object.values(expectDeleted).flat(), ...expectKept()]) assert.ok(exists(rel), `${rel} is still there`);
    assert.ok(exists('.sluice/data/pipeline/finished-run/lookup.csv'));
    assert.equal(readdirSync(config.staging.dir).sort().join(','), [inFlightId, 'finished-run', 'fresh-run'].sort().join(','));
  });

  it('deletes only what is older than each window and keeps the files of the run in flight', { timeout: 120_000 }, async () => {
    const result = await cli(['housekeeping', 'run', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const { workflow_id: workflowId, report } = JSON.parse(result.stdout) as { workflow_id: string; report: HousekeepingReport };
    assert.match(workflowId, /^sluice-housekeeping-manual-/);
    assert.equal(report.dryRun, false);
    assert.deepEqual(report.windows, { backupDays: 30, errorsDays: 10, stagingDays: 1, logsDays: 14 });
    assert.deepEqual(report.errors, []);
    assert.deepEqual(report.inFlight.sort(), [inFlightId, pipelineId].sort());
    const kind = (name: string) => report.kinds.find((k) => k.kind === name)!;
    assert.deepEqual(report.kinds.map((k) => k.kind), ['backup', 'errors', 'logs', 'staging']);

    // The 40-day-old folder holds a run in flight: only a.csv goes, the folder stays with what is kept.
    const backup = kind('backup').deleted;
    assert.deepEqual({ ...backup, paths: backup.paths.sort() }, { count: 1, files: 2, bytes: 200, paths: [`data/backup/${daysAgo(40)}/a.csv`, `data/backup/${daysAgo(31)}`].sort() });
    const byPath = (a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path);
    assert.deepEqual(
      kind('backup').kept.sort(byPath),
      [
        { path: `data/backup/${daysAgo(40)}/${inFlightId}`, reason: `runFlow ${inFlightId} is in flight` },
        { path: `data/backup/${backfillDate}`, reason: `runPipeline ${pipelineId} is in flight for ${backfillDate}` },
      ].sort(byPath),
    );
    assert.deepEqual(kind('errors').deleted.paths.sort(), [`data/errors/invoices/${daysAgo(11)}`, `data/errors/orders/${daysAgo(20)}/other.csv`]);
    assert.equal(kind('errors').deleted.files, 2);
    assert.deepEqual(
      kind('errors').kept.sort(byPath),
      [
        { path: `data/errors/orders/${daysAgo(20)}/${inFlightExecution}.rejects.csv`, reason: `runFlow ${inFlightId} is in flight` },
        { path: `data/errors/nightly/${backfillDate}`, reason: `runPipeline ${pipelineId} is in flight for ${backfillDate}` },
      ].sort(byPath),
    );
    assert.deepEqual(kind('logs').deleted.paths.sort(), ['logs/archive/2020.log', 'logs/worker-old.log']);
    assert.deepEqual(kind('logs').kept, [{ path: `logs/${inFlightId}.log`, reason: `runFlow ${inFlightId} is in flight` }]);

    const stagingResult = kind('staging');
    assert.deepEqual(stagingResult.deleted.paths.sort(), [`${inFlightId}/old-exec`, 'finished-run/exec-1'].sort());
    assert.equal(stagingResult.deleted.files, 4);
    assert.ok(stagingResult.deleted.bytes > 2_000 && stagingResult.deleted.bytes < 2_200, String(stagingResult.deleted.bytes)); // two parts + two markers
    assert.deepEqual(stagingResult.pipelineDataPurged, ['finished-run']);
    assert.deepEqual(
      stagingResult.kept.map((k) => k.path).sort(),
      [`${inFlightId}/${inFlightExecution}`, `data.pipeline ${inFlightId}`].sort(),
    );

    // The files themselves.
    for (const rel of Object.values(expectDeleted).flat()) assert.ok(!exists(rel), `${rel} is deleted`);
    for (const rel of expectKept()) assert.ok(exists(rel), `${rel} is kept`);
    assert.ok(!exists(`data/errors/invoices/${daysAgo(11)}`), 'the expired date folder is gone');
    assert.ok(!exists(`data/errors/orders/${daysAgo(20)}/other.csv`));
    assert.ok(!exists('logs/archive'), 'a log folder emptied by the sweep is removed');
    assert.ok(exists('data/errors/invoices'), 'pipeline folders stay');
    assert.ok(!exists('.sluice/data/pipeline/finished-run/lookup.csv'), 'the data.pipeline scope of a swept run is deleted');
    assert.ok(exists(`.sluice/data/pipeline/${inFlightId}/lookup.csv`), 'the data.pipeline scope of a run in flight stays');
    assert.deepEqual(readdirSync(config.staging.dir).sort(), [inFlightId, 'fresh-run'].sort());
    assert.deepEqual(readdirSync(path.join(config.staging.dir, inFlightId)), [inFlightExecution]);

    // A second run finds nothing more to delete.
    const again = await cli(['housekeeping', 'run', '--json']);
    assert.equal(again.code, 0, again.stderr);
    const second = (JSON.parse(again.stdout) as { report: HousekeepingReport }).report;
    assert.deepEqual(second.kinds.map((k) => k.deleted.count), [0, 0, 0, 0]);
  });
});
