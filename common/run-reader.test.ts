/** Unit: a one-pass run's live counts, read from its pending activity's last heartbeat. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import type { RunMetadata } from './run-model';
import { withOnePassProgress } from './run-reader';

type Description = Awaited<ReturnType<WorkflowHandle['describe']>>;

const metadata = (): RunMetadata => ({
  run: { id: 'orders-v1-3f9a', execution_id: 'e1', flow_version: 'orders:v1', source_path: 'orders.csv', run_metadata: {} },
  status: 'SYNCING_TARGET',
  rows: { read: 1_000_000, mapped: 0, rejected: 0, written: 0 },
  rejects: { location: null, by_rule: {} },
  steps: {},
});

/** What `describe()` holds for a run whose `activity` heartbeated `details` (only the fields read). */
const described = (activity: string, details?: unknown): Description =>
  ({
    raw: {
      pendingActivities: [
        { activityType: { name: activity }, ...(details === undefined ? {} : { heartbeatDetails: { payloads: [defaultPayloadConverter.toPayload(details)] } }) },
      ],
    },
  }) as unknown as Description;

it('copies chunk progress and counts from the transformAndLoad heartbeat', () => {
  const result = withOnePassProgress(metadata(), described('transformAndLoad', { chunk: 1, chunks: 4, mapped: 498_000, rejected: 2_000 }));
  assert.deepEqual(result.progress, { chunks_done: 2, chunks_total: 4 });
  assert.deepEqual(result.rows, { read: 1_000_000, mapped: 498_000, rejected: 2_000, written: 0 });
});

it('leaves the metadata alone without that activity or before its first heartbeat, and never lowers a count', () => {
  assert.deepEqual(withOnePassProgress(metadata(), described('syncSource', { chunk: 0, chunks: 4, mapped: 5, rejected: 0 })), metadata());
  assert.deepEqual(withOnePassProgress(metadata(), described('transformAndLoad')), metadata());
  const ahead = metadata();
  ahead.rows.mapped = 700_000;
  assert.equal(withOnePassProgress(ahead, described('transformAndLoad', { chunk: 0, chunks: 4, mapped: 250_000, rejected: 0 })).rows.mapped, 700_000);
});
