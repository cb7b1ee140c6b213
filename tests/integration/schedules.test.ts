/**
 * Integration: `sluice schedules …` on the real Temporal dev server — a pipeline's `schedule` becomes
 * a Temporal Schedule (created, left alone when unchanged, updated when changed, pruned), paused and
 * unpaused, triggered (the pipeline runs on a real worker and loads today's file), and backfilled
 * (each run loads the date of its own scheduled time).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { waitPipelineRun } from '../../client/pipeline-client';
import { dateIn } from '../../pipelines/pipeline-spec';
import { createTestDatabase, startInProcessRunner, startTemporal, tempProject, testConfig, type InProcessRunner, type TestDatabase, runCli, type CliResult } from '../helpers/services';


const pipelineYaml = (cron: string, extra = '') => `
name: nightly
schedule:
  cron: "${cron}"
  timezone: Europe/Paris
${extra}jobs:
  - name: items
    flow_version: items:v1
    source_path: "data/import/items_{date}.csv"
    backup: false
`;

describe('sluice schedules on the real Temporal dev server', { timeout: 300_000 }, () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let runner: InProcessRunner;
  let dir: string;
  let taskQueue: string;
  const id = 'sluice-test-nightly';

  const cli = (args: string[]): Promise<CliResult> =>
    runCli([...args, '-e', 'test'], {
      cwd: dir,
      env: { ...process.env, DATABASE_URL: db.url, TEMPORAL_ADDRESS: env.address, SLUICE_TASK_QUEUE: taskQueue, SLUICE_STATE_DIR: path.join(dir, '.sluice') },
    });

  const json = async (args: string[]) => {
    const result = await cli([...args, '--json']);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout);
  };

  const writePipeline = (text: string) => writeFileSync(path.join(dir, 'pipelines', 'nightly.yaml'), text);

  /** The pipeline runs the schedule has started so far (workflow ids), oldest first. */
  const scheduledRuns = async (): Promise<string[]> => {
    const description = await env.client.schedule.getHandle(id).describe();
    return description.info.recentActions.map((a) => a.action.workflow.workflowId);
  };

  before(async () => {
    [env, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    dir = tempProject();
    mkdirSync(path.join(dir, 'pipelines'));
    mkdirSync(path.join(dir, 'data', 'import'), { recursive: true });
    // An environment "test" exists in the project's config; nothing secret in it.
    writeFileSync(
      path.join(dir, 'sluice.config.yaml'),
      ['connectors:', '  files: { kind: local, root: . }', '  warehouse: { kind: postgres }', 'environments:', '  test: {}', ''].join('\n'),
    );
    // The worker serves environment test, as the schedules (applied with -e test) stamp their runs.
    const config = { ...testConfig({ dir, databaseUrl: db.url, address: env.address, connectors: { files: { kind: 'local', root: '.' }, warehouse: { kind: 'postgres' } } }), environment: 'test' };
    taskQueue = config.temporal.taskQueue;
    runner = await startInProcessRunner(env, db, config);
    await runner.publish(`
name: items
source: { connector: files, format: csv }
target: { connector: warehouse, table: public.items, write: append }
fields:
  id:  { from: id, type: int64 }
  day: { from: day, type: string }
`);
    for (const day of [dateIn('Europe/Paris'), '2026-11-01', '2026-11-02']) writeFileSync(path.join(dir, 'data', 'import', `items_${day}.csv`), `id,day\n1,${day}\n`);
  });

  after(async () => {
    await env?.client.schedule.getHandle(id).delete().catch(() => undefined);
    await env?.client.schedule.getHandle('sluice-test-housekeeping').delete().catch(() => undefined);
    await runner?.stop();
    await env?.teardown();
    await db?.drop();
  });

  it('creates a schedule from the pipeline file, leaves it alone when unchanged and updates it when changed', async () => {
    writePipeline(pipelineYaml('0 6 * * *'));
    assert.deepEqual(await json(['schedules', 'apply']), [
      { id, pipeline: 'nightly', action: 'created' },
      { id: 'sluice-test-housekeeping', pipeline: 'housekeeping', action: 'created' },
    ]);
    assert.deepEqual(await json(['schedules', 'apply', '--no-housekeeping']), [{ id, pipeline: 'nightly', action: 'unchanged' }]);
    const housekeeping = await env.client.schedule.getHandle('sluice-test-housekeeping').describe();
    assert.equal(housekeeping.action.type === 'startWorkflow' && housekeeping.action.workflowType, 'housekeeping');
    const described = await env.client.schedule.getHandle(id).describe();
    assert.equal(described.spec.timezone, 'Europe/Paris');
    assert.equal(described.action.type, 'startWorkflow');
    assert.equal(described.action.type === 'startWorkflow' && described.action.workflowType, 'runPipeline');
    assert.deepEqual(described.action.type === 'startWorkflow' && described.action.args, [{ pipeline: 'nightly', environment: 'test', trigger: 'schedule', startedBy: 'local' }]);
    assert.equal(described.policies.overlap, 'SKIP', 'overlap defaults to skip');
    // The next run is 06:00 in Paris.
    const next = described.info.nextActionTimes[0]!;
    assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' }).format(next), '06:00');

    writePipeline(pipelineYaml('*/5 7-18 * * *', '  overlap: buffer_one\n'));
    assert.deepEqual(await json(['schedules', 'apply', '--no-housekeeping']), [{ id, pipeline: 'nightly', action: 'updated' }]);
    const updated = await env.client.schedule.getHandle(id).describe();
    assert.equal(updated.policies.overlap, 'BUFFER_ONE');
    const hour = Number(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', hourCycle: 'h23' }).format(updated.info.nextActionTimes[0]!));
    assert.ok(hour >= 7 && hour <= 18, `every 5 minutes from 7 to 18 in Paris (next at hour ${hour})`);
    const listed = await json(['schedules', 'list']);
    assert.deepEqual(listed.map((l: { id: string }) => l.id), ['sluice-test-housekeeping', id], 'sorted by id');
    assert.equal(listed[1].paused, false);
    assert.deepEqual(listed[1].cron, ['*/5 7-18 * * *'], 'the cron lines as written');
    assert.deepEqual(listed[0].cron, ['30 3 * * *']);

    // Its runs are started by whoever applied it: applied by ana, they are ana's (and resolve her secrets).
    assert.deepEqual(await json(['schedules', 'apply', '--no-housekeeping', '--user', 'ana']), [{ id, pipeline: 'nightly', action: 'updated' }]);
    const asAna = await env.client.schedule.getHandle(id).describe();
    assert.equal(asAna.action.type === 'startWorkflow' && (asAna.action.args?.[0] as { startedBy?: string } | undefined)?.startedBy, 'ana');
    assert.deepEqual(await json(['schedules', 'apply', '--no-housekeeping']), [{ id, pipeline: 'nightly', action: 'updated' }]);
  });

  it('pauses and unpauses, and refuses an unknown pipeline with exit 2', async () => {
    const paused = await cli(['schedules', 'pause', 'nightly', '--note', 'warehouse migration']);
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal((await env.client.schedule.getHandle(id).describe()).state.paused, true);
    assert.match((await cli(['schedules', 'list'])).stdout, /PAUSED \(warehouse migration\)/);
    // Applying an unchanged pipeline keeps it paused.
    assert.deepEqual((await json(['schedules', 'apply'])).map((a: { action: string }) => a.action), ['unchanged', 'unchanged']);
    assert.equal((await env.client.schedule.getHandle(id).describe()).state.paused, true);
    assert.equal((await cli(['schedules', 'unpause', 'nightly'])).code, 0);
    assert.equal((await env.client.schedule.getHandle(id).describe()).state.paused, false);
    const unknown = await cli(['schedules', 'pause', 'weekly']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no schedule sluice-test-weekly: pipeline weekly has no schedule in environment test/);
  });

  it('triggers a run now: the pipeline runs on the worker and loads today\'s file (in the schedule\'s time zone)', async () => {
    const before = (await scheduledRuns()).length;
    assert.equal((await cli(['schedules', 'trigger', 'nightly'])).code, 0);
    const started = await until(async () => ((await scheduledRuns()).length > before ? (await scheduledRuns()).at(-1) : undefined));
    const state = await waitPipelineRun(env.client, started);
    assert.equal(state.status, 'SUCCEEDED', JSON.stringify(state));
    assert.equal(state.trigger, 'schedule');
    assert.equal(state.environment, 'test');
    assert.equal(state.date, dateIn('Europe/Paris'));
    assert.equal(state.jobs[0]!.source_path, `data/import/items_${dateIn('Europe/Paris')}.csv`);
  });

  it('backfills past times: one run per scheduled time, each loading the date of its scheduled time', async () => {
    writePipeline(pipelineYaml('0 6 * * *'));
    assert.equal((await json(['schedules', 'apply', '--no-housekeeping']))[0].action, 'updated');
    const before = (await scheduledRuns()).length;
    const backfill = await cli(['schedules', 'backfill', 'nightly', '--from', '2026-11-01T00:00:00Z', '--to', '2026-11-03T00:00:00Z']);
    assert.equal(backfill.code, 0, backfill.stderr);
    const runs = await until(async () => {
      const all = await scheduledRuns();
      return all.length >= before + 2 ? all.slice(before) : undefined;
    });
    const states = await Promise.all(runs.map((workflowId) => waitPipelineRun(env.client, workflowId)));
    assert.deepEqual(states.map((s) => s.date).sort(), ['2026-11-01', '2026-11-02']);
    assert.ok(states.every((s) => s.status === 'SUCCEEDED'), JSON.stringify(states.map((s) => s.status)));
    const { rows } = await db.pool.query<{ day: string }>(`SELECT day FROM public.items ORDER BY day`);
    assert.deepEqual(rows.map((r) => r.day).filter((d) => d.startsWith('2026-11-0')), ['2026-11-01', '2026-11-02']);
  });

  it('prunes the schedule of a pipeline that no longer has one', async () => {
    writeFileSync(path.join(dir, 'pipelines', 'nightly.yaml'), pipelineYaml('0 6 * * *').replace(/schedule:\n(  .*\n)+/, ''));
    assert.deepEqual(await json(['schedules', 'apply', '--no-housekeeping']), [], 'without --prune nothing is deleted');
    assert.deepEqual(await json(['schedules', 'apply', '--prune']), [
      { id: 'sluice-test-housekeeping', pipeline: 'housekeeping', action: 'unchanged' },
      { id, pipeline: 'nightly', action: 'deleted' },
    ]);
    assert.deepEqual((await json(['schedules', 'list'])).map((l: { id: string }) => l.id), ['sluice-test-housekeeping']);
  });
});

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 250));
  }
}
