/**
 * Unit tests of the pipeline run summary and its email: statuses from the job table, the headline and
 * subject, when an email goes out, the text table, the attachment size cap.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { hasProblems, pipelineHeadline, pipelineStatusOf, pipelineTotals, type JobStatus, type PipelineJobState, type PipelineRunState } from './pipeline-model';
import { composePipelineEmail, emailSubject, MAX_ATTACHMENT_BYTES, shouldSend, textTable } from './pipeline-email';

const job = (name: string, status: JobStatus, rejected = 0, extra: Partial<PipelineJobState> = {}): PipelineJobState => ({
  name,
  flow_version: `${name}:v1`,
  source_path: `data/import/${name}.csv`,
  depends_on: [],
  run_id: `${name}-v1-0123456789abcdef`,
  status,
  rows: status === 'SKIPPED' ? null : { read: 10, mapped: 10 - rejected, rejected, written: 10 - rejected },
  ...extra,
});

const stateOf = (jobs: PipelineJobState[], extra: Partial<PipelineRunState> = {}): PipelineRunState => {
  const status = pipelineStatusOf(jobs);
  return {
    pipeline: 'daily',
    environment: 'prod',
    date: '2026-11-21',
    timezone: 'Europe/Paris',
    trigger: 'schedule',
    workflow_id: 'pipeline-daily-prod-2026-11-21-abcdef',
    execution_id: '0193-exec',
    status,
    started_at: '2026-11-21T05:00:00.000Z',
    ended_at: '2026-11-21T05:03:00.000Z',
    jobs,
    totals: pipelineTotals(jobs),
    email: { status: 'pending' },
    ...extra,
  };
};

describe('pipeline status and headline', () => {
  it('SUCCEEDED only when every job loaded without rejects', () => {
    const state = stateOf([job('a', 'SUCCEEDED'), job('b', 'ALREADY_LOADED', 3)]);
    assert.equal(state.status, 'SUCCEEDED');
    assert.equal(state.totals.rows_rejected, 0, 'rows rejected by an earlier run do not count');
    assert.equal(pipelineHeadline(state), 'SUCCEEDED — 1 job succeeded, 1 already loaded');
    assert.equal(hasProblems(state), false);
    assert.equal(pipelineHeadline(stateOf([job('a', 'ALREADY_LOADED')])), 'SUCCEEDED — 1 job already loaded');
  });

  it('PARTIAL_FAILED when rows were rejected or some jobs did not load, FAILED when none loaded', () => {
    const partial = stateOf([job('a', 'PARTIAL_FAILED', 1), job('b', 'FAILED'), job('c', 'SKIPPED'), job('d', 'PARTIAL_FAILED', 1)]);
    assert.equal(partial.status, 'PARTIAL_FAILED');
    assert.equal(pipelineHeadline(partial), 'PARTIAL_FAILED — 2 rows rejected, 1 job failed, 1 skipped');
    assert.equal(emailSubject(partial), '[prod] pipeline daily 2026-11-21: PARTIAL_FAILED — 2 rows rejected, 1 job failed, 1 skipped');
    assert.equal(emailSubject(partial, 'SLUICE'), 'SLUICE pipeline daily 2026-11-21: PARTIAL_FAILED — 2 rows rejected, 1 job failed, 1 skipped');
    const failed = stateOf([job('a', 'CRASHED'), job('b', 'SKIPPED')]);
    assert.equal(failed.status, 'FAILED');
    assert.equal(pipelineHeadline(failed), 'FAILED — 1 job crashed, 1 skipped');
    assert.equal(pipelineStatusOf([job('a', 'SUCCEEDED'), job('b', 'SKIPPED')]), 'PARTIAL_FAILED');
  });

  it('says why a pipeline run was skipped or could not start', () => {
    assert.equal(pipelineHeadline({ ...stateOf([]), status: 'SKIPPED', reason: 'requires rates: it has no finished run in environment prod' }), 'SKIPPED — requires rates: it has no finished run in environment prod');
    assert.equal(pipelineHeadline({ ...stateOf([]), status: 'FAILED', error: { code: 'INVALID_PIPELINE_SPEC', message: '…' } }), 'FAILED — INVALID_PIPELINE_SPEC');
  });

  it('emails problems by default, everything with send: always', () => {
    const clean = stateOf([job('a', 'SUCCEEDED')]);
    assert.equal(shouldSend(clean, 'problems'), false);
    assert.equal(shouldSend(clean, 'always'), true);
    assert.equal(shouldSend(stateOf([job('a', 'PARTIAL_FAILED', 1)]), 'problems'), true);
    assert.equal(shouldSend({ ...clean, status: 'SKIPPED' }, 'problems'), true);
  });
});

describe('composePipelineEmail', () => {
  it('writes the job table with reasons, backups and rejects files', () => {
    const table = textTable([
      job('companies', 'PARTIAL_FAILED', 2, { backup: { status: 'moved', path: 'data/backup/2026-11-21/companies.csv' }, rejects_file: 'data/errors/daily/2026-11-21/companies.csv' }),
      job('orders', 'SKIPPED', 0, { reason: 'depends on contacts, which FAILED' }),
    ]);
    assert.equal(
      table,
      [
        'job        flow version  source_path                status          read  mapped  rejected  written  reason',
        'companies  companies:v1  data/import/companies.csv  PARTIAL_FAILED    10       8         2        8  source moved to data/backup/2026-11-21/companies.csv; rejected rows: data/errors/daily/2026-11-21/companies.csv',
        'orders     orders:v1     data/import/orders.csv     SKIPPED            -       -         -        -  depends on contacts, which FAILED',
      ].join('\n'),
    );
  });

  it('attaches files up to the size cap and names the others; escapes HTML; a stable Message-ID', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-email-'));
    writeFileSync(path.join(dir, 'small.csv'), 'row_number,errors\n1,x\n');
    writeFileSync(path.join(dir, 'big.csv'), Buffer.alloc(MAX_ATTACHMENT_BYTES, 'a'));
    const state = stateOf([job('a<b>', 'PARTIAL_FAILED', 1)]);
    const email = composePipelineEmail(state, {
      attachments: [
        { filename: 'small.csv', path: path.join(dir, 'small.csv') },
        { filename: 'big.csv', path: path.join(dir, 'big.csv') },
      ],
    });
    assert.deepEqual(email.attachments.map((a) => a.filename), ['small.csv']);
    assert.deepEqual(email.notAttached.map((a) => a.filename), ['big.csv']);
    assert.match(email.text, /Too large to attach \(over 10 MB in all\), on the worker: .*big\.csv\./);
    assert.match(email.html, /a&lt;b&gt;/);
    assert.doesNotMatch(email.html, /a<b>/);
    assert.equal(email.messageId, '<pipeline-daily-prod-2026-11-21-abcdef.0193-exec@sluice>');
  });
});
