/**
 * Unit tests of `sluice rejects` output: the summary tables, the sample rows, the export format.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exportFormat, formatRejectRows, formatRejectsSummary } from './rejects-command';

describe('sluice rejects output', () => {
  it('prints rows rejected, errors by field and rule, and the most frequent messages', () => {
    const text = formatRejectsSummary({
      runId: 'movies-v1-abc',
      executionId: 'e1',
      flowVersion: 'movies:v1',
      status: 'PARTIAL_FAILED',
      location: 'warehouse:public.movies_rejects',
      rowsRejected: 412,
      byFieldRule: [
        { field: 'budget_usd', rule: 'check', count: 310 },
        { field: null, rule: 'dedupe', count: 9 },
      ],
      topMessages: [
        { message: 'failed check: budget_usd > 0', count: 310 },
        { message: 'duplicate of row 12', count: 9 },
      ],
    });
    assert.equal(
      text,
      [
        'run movies-v1-abc: PARTIAL_FAILED   flow version: movies:v1',
        'rejects: warehouse:public.movies_rejects',
        'rows rejected: 412',
        '',
        'errors by field and rule:',
        'FIELD       RULE    COUNT',
        'budget_usd  check     310',
        '(row)       dedupe      9',
        '',
        'most frequent messages:',
        'COUNT  MESSAGE',
        '  310  failed check: budget_usd > 0',
        '    9  duplicate of row 12',
        '',
      ].join('\n'),
    );
  });

  it('prints no tables for a run without rejects', () => {
    const text = formatRejectsSummary({ runId: 'r', executionId: 'e', flowVersion: 'f:v1', status: 'SUCCEEDED', location: null, rowsRejected: 0, byFieldRule: [], topMessages: [] });
    assert.equal(text, 'run r: SUCCEEDED   flow version: f:v1\nrejects: (none written)\nrows rejected: 0\n');
  });

  it('prints sample rows: row number, the errors in words, the original values clipped to 100 characters', () => {
    const long = 'x'.repeat(200);
    const text = formatRejectRows([
      { rowNumber: 7, executionId: 'e', record: { amount: 'abc' }, errors: [{ field: 'amount', rule: 'type', message: 'cannot convert "abc" to an int64 (whole number)' }] },
      { rowNumber: 12, executionId: 'e', record: { note: long }, errors: [{ field: null, rule: 'dedupe', message: 'duplicate' }] },
    ]);
    const lines = text.split('\n');
    assert.match(lines[0]!, /^ROW  ERRORS +ORIGINAL VALUES$/);
    assert.equal(lines[1], '  7  amount (type): cannot convert "abc" to an int64 (whole number)  {"amount":"abc"}');
    assert.ok(lines[2]!.startsWith(' 12  dedupe: duplicate'));
    assert.ok(lines[2]!.endsWith(`{"note":"${'x'.repeat(90)}…`), lines[2]);
  });

  it('picks the export format from the extension, refusing others', () => {
    assert.equal(exportFormat('out/rejects.csv'), 'csv');
    assert.equal(exportFormat('REJECTS.PARQUET'), 'parquet');
    assert.throws(() => exportFormat('rejects.xlsx'), { code: 'INVALID_OUT_FILE', message: '--out rejects.xlsx: name a .csv or .parquet file (the extension picks the format)' });
  });
});
