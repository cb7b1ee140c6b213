/**
 * Unit tests of the rejects export (`sluice rejects --out`): pages of rejects to CSV and Parquet with Polars.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pl from 'nodejs-polars';
import type { RejectRow } from '../connectors/rejects';
import { writeRejectsExport } from './reject-files';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-reject-export-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function* pages(...list: RejectRow[][]): AsyncGenerator<RejectRow[]> {
  for (const page of list) yield page;
}

const reject = (rowNumber: number, record: Record<string, unknown>): RejectRow => ({
  rowNumber,
  executionId: 'e1',
  record,
  errors: [{ field: 'amount', rule: 'type', message: `bad ${rowNumber}` }],
});

describe('writeRejectsExport', () => {
  it('writes every page: row_number, errors as JSON text, the source columns in first-seen order, missing values null', async () => {
    for (const format of ['csv', 'parquet'] as const) {
      const file = path.join(dir, `rejects.${format}`);
      const written = await writeRejectsExport(pages([reject(2, { id: '2', amount: 'abc' })], [], [reject(9, { id: 9, note: { a: 1 }, amount: null })]), file, format);
      assert.equal(written, 2);
      const frame = format === 'csv' ? pl.readCSV(file, { inferSchemaLength: 0 } as never) : pl.readParquet(file);
      assert.deepEqual(frame.columns, ['row_number', 'errors', 'id', 'amount', 'note']);
      assert.deepEqual(frame.toRecords(), [
        { row_number: format === 'csv' ? '2' : 2, errors: '[{"field":"amount","rule":"type","message":"bad 2"}]', id: '2', amount: 'abc', note: null },
        { row_number: format === 'csv' ? '9' : 9, errors: '[{"field":"amount","rule":"type","message":"bad 9"}]', id: '9', amount: null, note: '{"a":1}' },
      ]);
    }
    // Only the finished files: no parts or temporary files left beside them.
    assert.deepEqual(readdirSync(dir).sort(), ['rejects.csv', 'rejects.parquet']);
  });

  it('renames its own columns when the source has row_number or errors columns, and writes headers for no rejects', async () => {
    const file = path.join(dir, 'clash.csv');
    await writeRejectsExport(pages([reject(3, { row_number: 'r', errors: 'e' })]), file, 'csv');
    assert.deepEqual(pl.readCSV(file).columns, ['sluice_row_number', 'sluice_errors', 'row_number', 'errors']);
    const empty = path.join(dir, 'empty.parquet');
    assert.equal(await writeRejectsExport(pages([]), empty, 'parquet'), 0);
    const frame = pl.readParquet(empty);
    assert.deepEqual([frame.columns, frame.height], [['row_number', 'errors'], 0]);
    rmSync(file);
    rmSync(empty);
  });

  it('leaves no file when reading a page fails', async () => {
    const file = path.join(dir, 'broken.csv');
    async function* failing(): AsyncGenerator<RejectRow[]> {
      yield [reject(1, { id: '1' })];
      throw new Error('connection lost');
    }
    await assert.rejects(writeRejectsExport(failing(), file, 'csv'), { message: 'connection lost' });
    assert.equal(existsSync(file), false);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('broken')), []);
  });
});
