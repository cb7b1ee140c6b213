/**
 * Fault test: the Temporal server killed and started again under a running worker. The server is a
 * dev server this test starts itself (local-stack/dev-server.ts: `temporal server start-dev` with a
 * SQLite file, Sluice's search attributes registered) on its own port; it is killed (SIGKILL) while
 * the load's COPY runs (`transformAndLoad`, the one-pass path), kept down 5 s, and started again on the same port and file. The worker is
 * a `node dist/cli/main.js worker` process with `TEMPORAL_ADDRESS` pointing at it.
 *
 * The worker reconnects on its own and stays up with the same pid (no `Unhandled 'error' event`); the
 * run ends SUCCEEDED with every row exactly once, every activity of it run by that same worker, and the
 * load in flight during the outage is not redone (one attempt: its result is reported once the server is back).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { Sluice } from '../../client/sluice';
import { parseFlowSpec } from '../../flows/flow-spec';
import { FlowVersionStore } from '../../flows/flow-versions';
import { startDevServer, type DevServerHandle } from '../../local-stack/dev-server';
import { findTemporalCli } from '../../local-stack/temporal-cli';
import { createTestDatabase, freePort, logger, PROJECT_DIR, tempProject, type TestDatabase } from '../helpers/services';
import { spawnWatchedWorker, type WatchedWorker } from '../helpers/watched-worker';
import { eventsFlow, writeEventsCsv, idCounts } from '../helpers/event-fixtures';

const ROWS = 400_000;
const DOWN_MS = 5_000;
const FLOW = eventsFlow('events', '{ connector: warehouse, table: public.events }');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a worker whose Temporal server restarts mid-run', () => {
  let temporal: DevServerHandle | undefined;
  let startTemporal: () => Promise<DevServerHandle>;
  let stateDir: string;
  let db: TestDatabase;
  let dir: string;
  let sluice: Sluice;
  let worker: WatchedWorker;
  const taskQueue = `temporal-restart-${Date.now()}`;

  before(async () => {
    const [cli, port, uiPort] = await Promise.all([findTemporalCli({ projectDir: PROJECT_DIR, logger }), freePort(), freePort()]);
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-temporal-'));
    startTemporal = () => startDevServer({ cli, stateDir, logger, port, uiPort });
    [temporal, db] = await Promise.all([startTemporal(), createTestDatabase()]);
    dir = tempProject();
    writeEventsCsv(dir, ROWS);
    writeFileSync(path.join(dir, 'sluice.config.yaml'), ['connectors:', '  files: { kind: local, root: . }', '  warehouse: { kind: postgres }', ''].join('\n'));
    sluice = new Sluice({ address: temporal.address, taskQueue, databaseUrl: db.url });
    worker = spawnWatchedWorker(dir, {
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: temporal.address,
      SLUICE_TASK_QUEUE: taskQueue,
      SLUICE_STAGING_DIR: path.join(dir, '.staging'),
      SLUICE_CHUNK_ROWS: '20000',
    });
  });

  after(async () => {
    if (worker && worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await sluice?.close();
    await temporal?.stop('SIGKILL');
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    await db?.drop();
  });

  it('killed during the load, back 5 s later: the worker reconnects, same pid, every row exactly once', { timeout: 150_000 }, async (t) => {
    const { version } = await new FlowVersionStore(db.pool).publish(parseFlowSpec(FLOW), { sourceText: FLOW });
    const run = await sluice.run({ flowVersion: version.id, sourcePath: 'events.csv' });
    const deadline = Date.now() + 90_000;
    let copying = false;
    while (!copying && Date.now() < deadline) {
      const active = await db.pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' AND query ILIKE 'COPY "public"."events"%'`,
      );
      copying = active.rows[0].n > 0;
      if (!copying) await sleep(10);
    }
    assert.ok(copying, 'the COPY into public.events was seen running within 90 s');
    const stopped = Date.now();
    await temporal!.stop('SIGKILL');
    temporal = undefined;
    await sleep(DOWN_MS);
    temporal = await startTemporal();
    const back = Date.now();
    t.diagnostic(`the Temporal server was down ${Date.now() - stopped} ms (killed during the COPY, ${DOWN_MS} ms, then its start)`);

    const metadata = await worker.runEnd(run, 90_000);
    t.diagnostic(`the run ended ${Date.now() - back} ms after the server was back`);
    t.diagnostic(`the worker logged: ${worker.logSummary()}`);
    worker.assertSameWorker();
    assert.equal(metadata.status, 'SUCCEEDED', JSON.stringify(metadata.error));
    assert.deepEqual(metadata.rows, { read: ROWS, mapped: ROWS, rejected: 0, written: ROWS });
        assert.deepEqual(await idCounts(db.pool, 'public.events'), { n: ROWS, ids: ROWS, lo: 1, hi: ROWS });
    const ledger = await db.pool.query(`SELECT count(*)::int AS n FROM sluice.load_ledger WHERE run_id = $1`, [run.id]);
    assert.equal(ledger.rows[0].n, 1);

    // Every activity of the run was started by the one worker process (`pid@host`).
    const connection = await Connection.connect({ address: temporal.address });
    try {
      const history = await new Client({ connection }).workflow.getHandle(run.id).fetchHistory();
      const identities = new Set((history.events ?? []).flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.identity] : [])));
      assert.deepEqual([...identities], [`${worker.pid}@${os.hostname()}`]);
      // The load in flight during the outage was not redone: its one attempt's result was delivered after it.
      const scheduled = new Map<string, string>();
      for (const e of history.events ?? []) {
        if (e.activityTaskScheduledEventAttributes) scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
      }
      // The flow takes the one-pass path: the load runs in transformAndLoad.
      const load = (history.events ?? []).flatMap((e) =>
        e.activityTaskStartedEventAttributes && scheduled.get(String(e.activityTaskStartedEventAttributes.scheduledEventId)) === 'transformAndLoad' ? [e.activityTaskStartedEventAttributes.attempt ?? 1] : [],
      );
      assert.deepEqual(load, [1]);
    } finally {
      await connection.close();
    }
  });
});
