/**
 * Runs in flight when a worker is upgraded replay their history on the new workflow code
 * (docs/deploy.md, "Upgrades"). These histories were recorded from `runFlow` as it was before its
 * bookkeeping became local activities (commit 37cd4c6, mocked activities, the Temporal dev server):
 * a one-pass run and a staged run, each with rejects, and a staged run whose second chunk failed. The current code must replay both without a
 * determinism error (the `patched` marker keeps those runs on remote activities). That new runs
 * record the marker and schedule no remote bookkeeping is asserted in run-flow.test.ts. A fourth history,
 * recorded after local bookkeeping (f2aec51), is a small one-pass run whose `transformAndLoad` was still remote;
 * it too must replay (the `sluice-small-local-load` marker).
 *
 * No services: `Worker.runReplayHistory` replays in this process.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { workflowBundle } from '../worker/sluice-worker';

/**
 * The fixtures stay beside the source (tsc does not copy them into dist/). They are the histories as
 * the server sends them (binary protobuf, `History.encode` of `fetchHistory()`): the SDK's JSON
 * history reader fails in this install ("type must be a Type": @temporalio/common and
 * @temporalio/proto each get their own copy of protobufjs 8 beside gRPC's protobufjs 7).
 */
const FIXTURES = path.resolve(__dirname, '..', '..', 'workflows', 'fixtures');

const history = (name: string) => temporal.api.history.v1.History.decode(readFileSync(path.join(FIXTURES, name)));

describe('runFlow replays histories recorded before local bookkeeping', { timeout: 120_000 }, () => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed in this process
  }

  // [fixture, events published, transformChunk calls scheduled]. The failed one: 10 one-row chunks, chunk 1
  // fails non-retryably; the old fan-out kept scheduling the other chunks after the failure.
  const recordings: [string, number, number][] = [
    ['run-flow-one-pass.history.bin', 5, 0],
    ['run-flow-staged.history.bin', 5, 3],
    ['run-flow-staged-chunk-failed.history.bin', 4, 10],
  ];
  for (const [name, events, chunks] of recordings) {
    it(`${name}: replays without a determinism error`, async () => {
      const recorded = history(name);
      // The recording is of the old code: its events and finishRun were remote activities.
      const scheduled = recorded.events.map((event) => event.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
      assert.equal(scheduled.filter((type) => type === 'publishRunEvent').length, events);
      assert.equal(scheduled.filter((type) => type === 'finishRun').length, 1);
      assert.equal(scheduled.filter((type) => type === 'transformChunk').length, chunks);
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: name }, recorded);
    });
  }

  // Recorded from f2aec51 (local bookkeeping; a small one-pass run's transformAndLoad still a remote activity):
  // the small-run patch keeps it remote on replay.
  it('run-flow-one-pass-local-bookkeeping.history.bin: a small one-pass run from before local loads replays', async () => {
    const name = 'run-flow-one-pass-local-bookkeeping.history.bin';
    const recorded = history(name);
    const scheduled = recorded.events.map((event) => event.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    assert.deepEqual(scheduled, ['syncSource', 'transformAndLoad']);
    const markers = recorded.events.flatMap((event) => event.markerRecordedEventAttributes?.markerName ?? []);
    assert.deepEqual(markers, ['core_patch', ...Array(6).fill('core_local_activity')]);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: name }, recorded);
  });
});
