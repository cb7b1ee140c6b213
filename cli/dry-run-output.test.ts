/**
 * Unit tests of how the CLI prints a dry run's report (cli/dry-run-output.ts) and a version diff (cli/diff-command.ts):
 * counts first, one aligned table per section, long cells clipped.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { DryRunReport } from '../common/dry-run-report';
import type { RunMetadata } from '../common/run-model';
import type { VersionDiffReport } from '../common/version-diff-report';
import { diffReportText } from './diff-command';
import { dryRunReportText, targetPlanLine } from './dry-run-output';

const report: DryRunReport = {
  rows: { read: 10, mapped: 7, rejected: 3 },
  by_rule: [
    { field: 'amount', rule: 'type', count: 2 },
    { field: null, rule: 'dedupe', count: 1 },
  ],
  samples: [{ row: 7, record: { id: '7', amount: 'n/a', note: 'x'.repeat(200) }, errors: [{ field: 'amount', rule: 'type', message: '"n/a" is not a float64' }] }],
  target: { location: 'warehouse:public.o', write: 'upsert', table_exists: true, would_insert: 5, would_update: 2, existing_rows: null, note: '' },
};

it('a dry run: the target line, a table by rule and a table of samples; nothing for a real run', () => {
  const text = dryRunReportText({ dry_run: true, dry_run_report: report } as RunMetadata);
  const lines = text.split('\n');
  assert.deepEqual(lines.slice(0, 6), [
    'dry run: nothing was written to the target',
    '  target: warehouse:public.o (upsert): 5 would be inserted, 2 updated',
    '  rejects by rule:',
    '    FIELD   RULE    COUNT',
    '    amount  type        2',
    '    -       dedupe      1',
  ]);
  assert.equal(lines[6], '  first 1 rejects (of 3):');
  assert.match(lines[8]!, /^ {6}7 {2}amount:type: "n\/a" is not a float64 {2}\{"id":"7","amount":"n\/a","note":"x+…$/);
  assert.equal(dryRunReportText({} as RunMetadata), '');
  assert.equal(targetPlanLine({ ...report.target, write: 'replace', existing_rows: 4, table_exists: false }), 'target: warehouse:public.o (replace): 5 would be inserted, 4 existing rows deleted first, table would be created');
});

it('a version diff: counts first, then spec changes, rows and changed values as tables', () => {
  const diff: VersionDiffReport = {
    flow: 'parts', version_a: 'parts:v1', version_b: 'parts:v2', source_path: 'p.csv', diff_id: 'diff-x',
    rows: { read: 6, a: { mapped: 4, rejected: 2 }, b: { mapped: 4, rejected: 2 } },
    newly_rejected: { count: 1, samples: [{ row: 1, record: { id: '1' }, errors: [{ field: 'v', rule: 'check', message: 'v < 9 is false' }] }] },
    newly_accepted: { count: 1, samples: [{ row: 5, record: { id: '5' }, errors: [{ field: 'v', rule: 'type', message: 'not an int64' }] }] },
    changed: { matched_by: 'key', match: ['id'], matched: 3, only_in_a: 1, only_in_b: 1, rows_changed: 1, fields: [{ field: 'v', changed: 1, samples: [{ match: { id: '30' }, old: '3', new: '3.5' }] }] },
    spec: [{ change: 'type_changed', field: 'v', before: 'int64', after: 'float64' }],
  };
  const text = diffReportText(diff);
  assert.ok(text.startsWith('parts:v1 → parts:v2 on p.csv: read 6\n  v1: mapped 4, rejected 2    v2: mapped 4, rejected 2\n  newly rejected 1, newly accepted 1, rows with changed values 1 of 3 matched (by key id)\n\n'));
  assert.doesNotMatch(text, /without a match/, 'the unmatched rows are the newly rejected / accepted ones');
  assert.match(text, /\n  CHANGE {8}FIELD {2}RULE {2}BEFORE {3}AFTER\n  type_changed {2}v {6}- {5}"int64" {2}"float64"\n/);
  assert.match(text, /newly rejected \(accepted by v1, rejected by v2\): 1\n  ROW  V2 REASONS {15}RECORD\n {4}1  v:check: v < 9 is false  \{"id":"1"\}\n/);
  assert.match(text, /\n {4}FIELD  MATCH  V1 \(OLD\)  V2 \(NEW\)\n {4}v {6}id=30  3 {9}3\.5\n/);
  const moved = diffReportText({ ...diff, changed: { ...diff.changed, only_in_a: 4 } });
  assert.match(moved, /accepted rows without a match in the other version: 4 of v1 \(1 newly rejected\), 1 of v2 \(1 newly accepted\)/);
});
