import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pipelineDetails, pipelineSummary, pipelineTotals, type PipelineJobState } from '../pipelines/pipeline-model';
import { runDetails, runSummary, SUMMARY_MAX_CHARS } from './user-metadata';

describe('user metadata shown in the Temporal UI', () => {
  it('summarises a run as its flow version on its source_path', () => {
    assert.equal(runSummary('movies:v3', 'data/movies.csv'), 'movies:v3 on data/movies.csv');
  });

  it('keeps both ends of a source_path too long for one line', () => {
    const sourcePath = `s3://bucket/${'x'.repeat(3000)}/2026-12-02.csv`;
    const summary = runSummary('movies:v3', sourcePath);
    assert.equal(summary.length, SUMMARY_MAX_CHARS);
    assert.ok(summary.startsWith('movies:v3 on s3://bucket/xxx'), summary);
    assert.ok(summary.endsWith('xxx/2026-12-02.csv'), summary);
    assert.equal([...summary].filter((c) => c === '…').length, 1);
  });

  it('details a PARTIAL_FAILED run: status first, counts, the most frequent reject rules', () => {
    const details = runDetails({
      status: 'PARTIAL_FAILED',
      rows: { read: 10, mapped: 6, rejected: 4, written: 6 },
      rejects: { location: 'warehouse:public.t_rejects', by_rule: { 'b:required': 1, 'a:type': 2, 'c:check': 1, 'd:check': 3 } },
    });
    assert.equal(details, '**PARTIAL_FAILED** · read 10 · mapped 6 · rejected 4 · written 6\n\nTop reject rules: d:check 3, a:type 2, b:required 1');
  });

  it('details a reprocess: the earlier run, its version and source_path, then recovered and still rejected', () => {
    const rejectsOf = { run_id: 'movies-v1-8035273603c904cd', execution_id: 'e1', flow_version: 'movies:v1', source_path: 'movies.json' };
    const base = { status: 'SYNCING_TARGET' as const, rows: { read: 103, mapped: 0, rejected: 0, written: 0 }, rejects: { location: null, by_rule: {} } };
    assert.equal(
      runDetails({ ...base, rejects_of: rejectsOf }).split('\n\n')[1],
      'Reprocess of the rejects of movies-v1-8035273603c904cd (movies:v1 on movies.json)',
    );
    assert.equal(
      runDetails({ ...base, status: 'PARTIAL_FAILED', rejects_of: { ...rejectsOf, recovered: 96, still_rejected: 7 } }).split('\n\n')[1],
      'Reprocess of the rejects of movies-v1-8035273603c904cd (movies:v1 on movies.json) · recovered 96 · still rejected 7',
    );
  });

  it('details a FAILED run with its error code, step and the first line of its message', () => {
    const details = runDetails({
      status: 'FAILED',
      rows: { read: 0, mapped: 0, rejected: 0, written: 0 },
      rejects: { location: null, by_rule: {} },
      error: { code: 'SOURCE_NOT_FOUND', step: 'sync_source', message: 'no file data/x.csv under the files connector\nsecond line' },
    });
    assert.equal(details, '**FAILED** · read 0 · mapped 0 · rejected 0 · written 0\n\nError: SOURCE_NOT_FOUND in sync_source: no file data/x.csv under the files connector');
  });

  it('summarises and details a pipeline run with its job table', () => {
    assert.equal(pipelineSummary({ pipeline: 'nightly', environment: 'prod', date: '2026-12-01' }), 'pipeline nightly (prod) for 2026-12-01');
    assert.equal(pipelineSummary({ pipeline: 'nightly', environment: 'prod' }), 'pipeline nightly (prod)');
    const jobs: PipelineJobState[] = [
      { name: 'movies', flow_version: 'movies:v1', source_path: 'm.csv', depends_on: [], run_id: 'r1', status: 'PARTIAL_FAILED', rows: { read: 3, mapped: 2, rejected: 1, written: 2 } },
      { name: 'ratings', flow_version: 'ratings:v1', source_path: 'r.csv', depends_on: ['movies'], run_id: 'r2', status: 'SKIPPED', rows: null, reason: 'depends on a|b' },
    ];
    const details = pipelineDetails({ status: 'PARTIAL_FAILED', totals: pipelineTotals(jobs), jobs });
    assert.deepEqual(details.split('\n'), [
      '**PARTIAL_FAILED — 1 row rejected, 1 skipped**',
      '',
      '| job | status | read | mapped | rejected | written | reason |',
      '|---|---|---|---|---|---|---|',
      '| movies | PARTIAL_FAILED | 3 | 2 | 1 | 2 |  |',
      '| ratings | SKIPPED |  |  |  |  | depends on a\\|b |',
    ]);
  });
});
