import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../config/sluice-config';
import { LocalStaging } from '../storage/local-staging';
import { dateFolderDay, inFlightDays, inFlightReason, isDateFolderExpired, sweepKind, type InFlightRun } from './housekeeping';

const NOW = Date.parse('2026-03-31T03:30:00Z');
const DAY = 86_400_000;

describe('date folder selection', () => {
  it('reads YYYY-MM-DD names as UTC days and refuses anything else', () => {
    assert.equal(dateFolderDay('2026-03-01'), Date.parse('2026-03-01T00:00:00Z'));
    assert.equal(dateFolderDay('2024-02-29'), Date.parse('2024-02-29T00:00:00Z'));
    for (const name of ['2026-02-30', '2025-02-29', '2026-13-01', '2026-3-1', '20260301', 'invoices', '2026-03-01.bak', ' 2026-03-01']) {
      assert.equal(dateFolderDay(name), null, name);
    }
  });

  it('selects the folders whose whole day is older than the window: today and the N days before it stay', () => {
    const names = ['2026-01-15', '2026-02-28', '2026-03-01', '2026-03-30', '2026-03-31', '2026-04-01', '2026-02-30', 'invoices'];
    const expiredDateFolders = (names: string[], windowDays: number, nowMs: number) => names.filter((name) => isDateFolderExpired(name, windowDays, nowMs));
    assert.deepEqual(expiredDateFolders(names, 30, NOW), ['2026-01-15', '2026-02-28']);
    assert.deepEqual(expiredDateFolders(names, 1, NOW), ['2026-01-15', '2026-02-28', '2026-03-01']);
    assert.deepEqual(expiredDateFolders(names, 365, NOW), []);
  });

  it('handles fractional windows, and never selects today (UTC) or a future date', () => {
    // 2026-03-30 ended at 03-31T00:00; half a day later is 12:00, after now: kept. 03-29 ended 03-30T00:00 + 12 h <= now.
    assert.equal(isDateFolderExpired('2026-03-30', 0.5, NOW), false);
    assert.equal(isDateFolderExpired('2026-03-29', 0.5, NOW), true);
    assert.equal(isDateFolderExpired('2026-03-30', 0.0001, NOW), true);
    assert.equal(isDateFolderExpired('2026-03-31', 0.0001, NOW), false);
    assert.equal(isDateFolderExpired('2026-03-31', 0.0001, Date.parse('2026-03-31T23:59:59Z')), false);
    assert.equal(isDateFolderExpired('2027-01-01', 1, NOW), false);
    // The boundary: a 30-day window drops 2026-02-28 exactly when 2026-03-31 begins.
    assert.equal(isDateFolderExpired('2026-02-28', 30, Date.parse('2026-03-31T00:00:00Z')), true);
    assert.equal(isDateFolderExpired('2026-02-28', 30, Date.parse('2026-03-30T23:59:59Z')), false);
  });

  it('finds the run in flight a path belongs to by its workflow id, staging-safe form or execution id', () => {
    const inFlight: InFlightRun[] = [
      { workflowId: 'movies-v1-2d8005a1aaecf9bb', runId: '0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', workflowType: 'runFlow' },
      { workflowId: 'nightly/eu', runId: '0199a1b2-0000-7e5f-8a9b-0c1d2e3f4a5b', workflowType: 'runPipeline' },
    ];
    assert.equal(inFlightReason('data/errors/movies/2026-01-01/movies-v1-2d8005a1aaecf9bb.rejects.csv', inFlight), 'runFlow movies-v1-2d8005a1aaecf9bb is in flight');
    assert.equal(inFlightReason('logs/0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.log', inFlight), 'runFlow movies-v1-2d8005a1aaecf9bb is in flight');
    assert.equal(inFlightReason('data/backup/2026-01-01/nightly_eu/in.csv', inFlight), 'runPipeline nightly/eu is in flight');
    assert.equal(inFlightReason('data/backup/2026-01-01/movies-v1-ffffffffffffffff.csv', inFlight), null);
  });

  it('knows the days runs in flight may write: dates in their ids and the day they started, each ±1 day', () => {
    const days = inFlightDays([
      { workflowId: 'pipeline-nightly-prod-2026-01-10-a1b2c3', runId: 'e1', workflowType: 'runPipeline', startTime: '2026-03-31T03:00:00.000Z' },
      { workflowId: 'pipeline-orders-prod-2026-02-01T05:00:00Z', runId: 'e2', workflowType: 'runPipeline' },
    ]);
    const name = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    assert.deepEqual(
      [...days].map(([day, why]) => [name(day), why]).sort(),
      [
        ['2026-01-09', 'runPipeline pipeline-nightly-prod-2026-01-10-a1b2c3 is in flight for 2026-01-10'],
        ['2026-01-10', 'runPipeline pipeline-nightly-prod-2026-01-10-a1b2c3 is in flight for 2026-01-10'],
        ['2026-01-11', 'runPipeline pipeline-nightly-prod-2026-01-10-a1b2c3 is in flight for 2026-01-10'],
        ['2026-01-31', 'runPipeline pipeline-orders-prod-2026-02-01T05:00:00Z is in flight for 2026-02-01'],
        ['2026-02-01', 'runPipeline pipeline-orders-prod-2026-02-01T05:00:00Z is in flight for 2026-02-01'],
        ['2026-02-02', 'runPipeline pipeline-orders-prod-2026-02-01T05:00:00Z is in flight for 2026-02-01'],
        ['2026-03-30', 'runPipeline pipeline-nightly-prod-2026-01-10-a1b2c3 is in flight since 2026-03-31'],
        ['2026-03-31', 'runPipeline pipeline-nightly-prod-2026-01-10-a1b2c3 is in flight since 2026-03-31'],
        ['2026-04-01', 'runPipeline pipeline-nightly-prod-2026-01-10-a1b2c3 is in flight since 2026-03-31'],
      ],
    );
  });
});

describe('sweepKind on a project folder', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-housekeeping-unit-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const file = (rel: string, ageDays: number) => {
    const full = path.join(dir, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, 'x'.repeat(10));
    const time = new Date(Date.now() - ageDays * DAY);
    utimesSync(full, time, time);
  };

  it('deletes expired date folders at any depth, keeps in-flight and recently written files, and a dry run deletes nothing', async () => {
    writeFileSync(path.join(dir, 'sluice.config.yaml'), 'retention: { errors_days: 10 }\n');
    const config = loadConfig({ projectDir: dir, env: {} });
    const staging = new LocalStaging(path.join(dir, '.sluice', 'staging'));
    const today = new Date().toISOString().slice(0, 10);
    const old = new Date(Date.now() - 40 * DAY).toISOString().slice(0, 10);
    file(`data/errors/invoices/${old}/a.csv`, 40);
    file(`data/errors/invoices/${old}/nested/b.csv`, 40);
    file(`data/errors/eu/invoices/${old}/c.csv`, 40);
    file(`data/errors/orders/${old}/orders-v2-aaaaaaaaaaaaaaaa.rejects.csv`, 40);
    file(`data/errors/orders/${old}/other.csv`, 40);
    file(`data/errors/orders/${old}/late.csv`, 0);
    file(`data/errors/orders/${today}/today.csv`, 40);
    file('data/errors/loose.csv', 400);
    const backfilled = new Date(Date.now() - 60 * DAY).toISOString().slice(0, 10);
    file(`data/errors/nightly/${backfilled}/job.csv`, 60);
    const inFlight: InFlightRun[] = [
      { workflowId: 'orders-v2-aaaaaaaaaaaaaaaa', runId: 'e1', workflowType: 'runFlow' },
      { workflowId: `pipeline-nightly-dev-${backfilled}-abcdef`, runId: 'e2', workflowType: 'runPipeline' },
    ];

    const dry = await sweepKind('errors', { config, staging, dryRun: true, nowMs: Date.now(), inFlight });
    assert.equal(dry.deleted.count, 2);
    assert.equal(dry.deleted.files, 4);
    assert.ok(existsSync(path.join(dir, `data/errors/invoices/${old}/a.csv`)), 'a dry run deletes nothing');

    const done = await sweepKind('errors', { config, staging, dryRun: false, nowMs: Date.now(), inFlight });
    assert.equal(done.windowDays, 10);
    assert.equal(done.location, 'data/errors');
    assert.deepEqual(done.deleted.paths.sort(), [`data/errors/eu/invoices/${old}`, `data/errors/invoices/${old}`, `data/errors/orders/${old}/other.csv`]);
    assert.deepEqual({ count: done.deleted.count, files: done.deleted.files, bytes: done.deleted.bytes }, { count: 2, files: 4, bytes: 40 });
    assert.deepEqual(
      done.kept.sort((a, b) => a.path.localeCompare(b.path)),
      [
        { path: `data/errors/nightly/${backfilled}`, reason: `runPipeline pipeline-nightly-dev-${backfilled}-abcdef is in flight for ${backfilled}` },
        { path: `data/errors/orders/${old}/late.csv`, reason: 'modified within the last hour' },
        { path: `data/errors/orders/${old}/orders-v2-aaaaaaaaaaaaaaaa.rejects.csv`, reason: 'runFlow orders-v2-aaaaaaaaaaaaaaaa is in flight' },
      ].sort((a, b) => a.path.localeCompare(b.path)),
    );
    assert.ok(!existsSync(path.join(dir, `data/errors/invoices/${old}`)));
    assert.ok(!existsSync(path.join(dir, `data/errors/orders/${old}/other.csv`)));
    assert.ok(existsSync(path.join(dir, `data/errors/orders/${today}/today.csv`)));
    assert.ok(existsSync(path.join(dir, 'data/errors/loose.csv')), 'files outside date folders are never touched');
    assert.ok(existsSync(path.join(dir, `data/errors/nightly/${backfilled}/job.csv`)), 'a date a pipeline in flight writes is kept');
    assert.ok(existsSync(path.join(dir, 'data/errors/invoices')), 'the pipeline folder stays');
  });
});
