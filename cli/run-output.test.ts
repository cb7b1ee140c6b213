/**
 * Unit: the CLI's run story on a terminal — the live `--wait` line (step, chunks, rows, elapsed), the
 * `runs list` table (header, source_path, counts) and the warning lines.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { RunMetadata } from '../common/run-model';
import { elapsedText, progressLine, runsTable, warningLines } from './run-output';
import { formatTable } from './table';

const STARTED = Date.parse('2026-01-05T10:00:00.000Z');
const metadata = (overrides: Partial<RunMetadata>): RunMetadata => ({
  run: { id: 'orders-v1-3f9a', execution_id: 'e1', flow_version: 'orders:v1', source_path: 'orders.csv', run_metadata: {} },
  status: 'TRANSFORMING',
  rows: { read: 80_000, mapped: 29_950, rejected: 50, written: 0 },
  rejects: { location: null, by_rule: {} },
  steps: { sync_source: { started_at: new Date(STARTED).toISOString() } },
  ...overrides,
});

it('the live line while transforming: step, chunks done/total, rows, elapsed since the run started', () => {
  const run = { id: 'orders-v1-3f9a', status: 'TRANSFORMING' as const, metadata: metadata({ progress: { chunks_done: 3, chunks_total: 8 } }) };
  assert.equal(
    progressLine(run, STARTED + 12_400, STARTED + 5_000),
    'orders-v1-3f9a  TRANSFORMING    transform  chunks 3/8  read 80000  mapped 29950  rejected 50  written 0  0:12',
  );
});

it('the live line before any metadata: status and the time since the wait began', () => {
  assert.equal(progressLine({ id: 'r1', status: 'CREATED', metadata: undefined }, STARTED + 3_000, STARTED), 'r1  CREATED         0:03');
  const steps = { sync_source: { started_at: new Date(STARTED).toISOString() }, transform: { started_at: new Date(STARTED).toISOString(), ended_at: new Date(STARTED + 60_000).toISOString() } };
  const syncing = { id: 'r1', status: 'SYNCING_TARGET' as const, metadata: metadata({ status: 'SYNCING_TARGET', steps, progress: { chunks_done: 8, chunks_total: 8 } }) };
  assert.equal(progressLine(syncing, STARTED + 3_723_000, 0), 'r1  SYNCING_TARGET  sync_target  read 80000  mapped 29950  rejected 50  written 0  1:02:03');
});

it('the live line of a one-pass run: chunks while SYNCING_TARGET, as long as the transform step is open', () => {
  const run = { id: 'r1', status: 'SYNCING_TARGET' as const, metadata: metadata({ status: 'SYNCING_TARGET', progress: { chunks_done: 2, chunks_total: 4 } }) };
  assert.equal(progressLine(run, STARTED + 7_000, 0), 'r1  SYNCING_TARGET  sync_target  chunks 2/4  read 80000  mapped 29950  rejected 50  written 0  0:07');
});

it('elapsed time as m:ss, or h:mm:ss from an hour', () => {
  assert.deepEqual([0, 59_999, 60_000, 3_599_000, 3_600_000, -5].map(elapsedText), ['0:00', '0:59', '1:00', '59:59', '1:00:00', '0:00']);
});

it('runs list: a header, source_path and counts, numbers right-aligned, "-" for counts not recorded', () => {
  const text = runsTable([
    { id: 'orders-v1-3f9a', executionId: 'e2', flowVersion: 'orders:v1', status: 'PARTIAL_FAILED', startedAt: new Date(STARTED), closedAt: undefined, sourcePath: 'orders.csv', rows: { read: 4, mapped: 2, rejected: 2, written: 2 } },
    { id: 'movies-v2-77aa', executionId: 'e1', flowVersion: 'movies:v2', status: 'SUCCEEDED', startedAt: new Date(STARTED + 61_000), closedAt: undefined, sourcePath: 'node_modules/vega-datasets/data/movies.json', rows: { read: 3201, mapped: 3190, rejected: 11, written: 3190 } },
    { id: 'old-v1-0000', executionId: 'e0', flowVersion: undefined, status: undefined, startedAt: new Date(STARTED), closedAt: undefined },
  ]);
  assert.equal(
    text,
    [
      'RUN             STATUS          FLOW VERSION  SOURCE_PATH                                  READ  MAPPED  REJECTED  WRITTEN  STARTED',
      'orders-v1-3f9a  PARTIAL_FAILED  orders:v1     orders.csv                                      4       2         2        2  2026-01-05T10:00:00Z',
      'movies-v2-77aa  SUCCEEDED       movies:v2     node_modules/vega-datasets/data/movies.json  3201    3190        11     3190  2026-01-05T10:01:01Z',
      'old-v1-0000     ?               -             -                                               -       -         -        -  2026-01-05T10:00:00Z',
      '',
    ].join('\n'),
  );
});

it('a table pads every column but the last, and right-aligns where asked', () => {
  assert.equal(formatTable(['A', 'NUMBER', 'Z'], [['xx', '7', 'end'], ['y', '1234', '']], ['left', 'right']), 'A   NUMBER  Z\nxx       7  end\ny     1234  \n');
});

it('warnings: one line each, with code and message', () => {
  assert.equal(warningLines(metadata({ warnings: [{ code: 'EMPTY_SOURCE', step: 'sync_source', message: 'source_path "a.csv" read 0 rows' }] })), 'warning: EMPTY_SOURCE: source_path "a.csv" read 0 rows\n');
  assert.equal(warningLines(metadata({})), '');
  assert.equal(warningLines(undefined), '');
});
