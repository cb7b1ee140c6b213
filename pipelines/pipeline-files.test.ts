/**
 * Unit tests of the files a pipeline run writes: source backups (relative to data/import/, never
 * overwriting, found again after a retry) and rejects CSVs from staged Parquet parts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { LocalStaging } from '../storage/local-staging';
import { ROW_COLUMN } from '../transform/map-chunk';
import { stagedRejectParts, writeRejectsCsv } from './reject-files';
import { backupTarget, lastBackup, moveToBackup } from './source-backup';

describe('moveToBackup', () => {
  const project = mkdtempSync(path.join(os.tmpdir(), 'sluice-backup-'));
  const where = { root: project, importDir: path.join(project, 'data', 'import'), backupDir: path.join(project, 'data', 'backup'), date: '2026-11-21' };
  const put = (relative: string, text: string) => {
    const file = path.join(project, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    return file;
  };

  it('moves a file under data/import/ keeping its path below it, and never overwrites', async () => {
    const first = await moveToBackup({ ...where, file: put('data/import/eu/companies.csv', 'one') });
    assert.equal(first, path.join(project, 'data/backup/2026-11-21/eu/companies.csv'));
    assert.equal(existsSync(path.join(project, 'data/import/eu/companies.csv')), false);
    const second = await moveToBackup({ ...where, file: put('data/import/eu/companies.csv', 'two') });
    const third = await moveToBackup({ ...where, file: put('data/import/eu/companies.csv', 'three') });
    assert.equal(second, path.join(project, 'data/backup/2026-11-21/eu/companies.1.csv'));
    assert.equal(third, path.join(project, 'data/backup/2026-11-21/eu/companies.2.csv'));
    assert.deepEqual([first, second, third].map((f) => readFileSync(f, 'utf8')), ['one', 'two', 'three']);
    assert.equal(lastBackup(backupTarget({ ...where, file: path.join(project, 'data/import/eu/companies.csv') })), third, 'a retry finds where the file went');
  });

  it('takes the path relative to the connector root for files outside data/import/', async () => {
    const moved = await moveToBackup({ ...where, file: put('exports/orders.csv', 'x') });
    assert.equal(moved, path.join(project, 'data/backup/2026-11-21/exports/orders.csv'));
  });
});

describe('rejects CSV', () => {
  it('writes staged rejected parts (chunks and dedupe) sorted by row, one column per source column', async () => {
    const staging = new LocalStaging(mkdtempSync(path.join(os.tmpdir(), 'sluice-rejects-')));
    const runKey = staging.runKey('orders-v1-abc', 'exec-1');
    const part = (rows: number[], records: Record<string, unknown>[], errors: unknown[][]) =>
      pl.DataFrame({
        [ROW_COLUMN]: pl.Series(ROW_COLUMN, rows, pl.Int64),
        record: pl.Series('record', records.map((r) => JSON.stringify(r)), pl.Utf8),
        errors: pl.Series('errors', errors.map((e) => JSON.stringify(e)), pl.Utf8),
      });
    await staging.writeParquet(part([2], [{ id: '2', amount: 'abc' }], [[{ field: 'amount', rule: 'type', message: 'cannot convert "abc"' }]]), `${runKey}/rejected/part-00000.parquet`);
    await staging.writeParquet(part([6], [{ id: '6', amount: '1' }], [[{ field: null, rule: 'dedupe', message: 'duplicate of row 1 on (id)' }]]), `${runKey}/rejected-dedupe/part-00000.parquet`);
    await staging.writeParquet(
      part([4, 5], [{ id: '4', amount: '-1', note: 'a, b' }, { id: '5' }], [[{ field: 'amount', rule: 'check', message: 'failed check: amount > 0' }, { field: 'id', rule: 'in', message: 'x' }], []]),
      `${runKey}/rejected/part-00001.parquet`,
    );
    // The custom map's rejects.
    await staging.writeParquet(part([3], [{ id: '3', amount: '7', note: 'say "hi"\nbye' }], [[{ field: null, rule: 'map', message: 'superseded by row 6' }]]), `${runKey}/rejected/map.parquet`);
    const parts = await stagedRejectParts(staging, runKey);
    assert.deepEqual(parts, [
      `${runKey}/rejected/part-00000.parquet`,
      `${runKey}/rejected-dedupe/part-00000.parquet`,
      `${runKey}/rejected/part-00001.parquet`,
      `${runKey}/rejected/map.parquet`,
    ]);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'sluice-errors-')), 'daily', 'orders.csv');
    const rows = await writeRejectsCsv(await Promise.all(parts.map((p) => staging.fetch(p))), file);
    assert.equal(rows, 5);
    assert.equal(
      readFileSync(file, 'utf8'),
      [
        'row_number,id,amount,note,errors',
        '2,2,abc,,"amount (type): cannot convert ""abc"""',
        '3,3,7,"say ""hi""\nbye",map: superseded by row 6',
        '4,4,-1,"a, b",amount (check): failed check: amount > 0; id (in): x',
        '5,5,,,',
        '6,6,1,,dedupe: duplicate of row 1 on (id)',
        '',
      ].join('\n'),
    );
  });
});
