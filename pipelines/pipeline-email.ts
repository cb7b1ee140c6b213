/**
 * The one email of a pipeline run: a subject that says how it went, a summary table of the jobs (text
 * and HTML), and every job's rejected rows attached as CSV. Sent through the `smtp` connector named by
 * `notifications.email.connector`, to `notifications.email.to`.
 *
 * ```
 * Subject: [prod] pipeline daily 2026-11-21: PARTIAL_FAILED — 2 rows rejected, 1 job failed, 1 skipped
 * Attachments: products.csv, …
 * ```
 *
 * Sent when the run has something to report (rows rejected, a job failed, crashed or was skipped, or the
 * run failed or was skipped), or after every run with `send: always`. The Message-ID is derived from the
 * workflow execution, so a retried send is recognisably the same message.
 *
 * @example
 * ```ts
 * const email = composePipelineEmail(state, { subjectPrefix: '[prod]', attachments });
 * ```
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { PipelineJobState, PipelineRunState } from './pipeline-model';
import { hasProblems, pipelineHeadline } from './pipeline-model';

/** Total size of attachments one email carries; larger files are named in the body instead. */
export const MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024;

/** A file to attach: its name in the email and its absolute path. */
export interface EmailAttachment {
  filename: string;
  path: string;
}

/** A composed email: what nodemailer sends. */
export interface ComposedEmail {
  subject: string;
  text: string;
  html: string;
  attachments: EmailAttachment[];
  /** Files too large to attach (over {@link MAX_ATTACHMENT_BYTES} in total), named in the body. */
  notAttached: EmailAttachment[];
  /** `<…@sluice>`: the same for every attempt of one pipeline run. */
  messageId: string;
}

/** Whether a pipeline run's email goes out under `send`. */
export function shouldSend(state: Pick<PipelineRunState, 'status' | 'totals'>, send: 'problems' | 'always'): boolean {
  return send === 'always' || hasProblems(state);
}

/** The subject: `[<env>] pipeline <name> <date>: <headline>`. */
export function emailSubject(state: PipelineRunState, subjectPrefix?: string): string {
  const prefix = subjectPrefix ?? `[${state.environment}]`;
  return `${prefix ? `${prefix} ` : ''}pipeline ${state.pipeline}${state.date ? ` ${state.date}` : ''}: ${pipelineHeadline(state)}`;
}

const rowsText = (job: PipelineJobState, key: 'read' | 'mapped' | 'rejected' | 'written') => (job.rows ? String(job.rows[key]) : '-');

/** The reason column: the job's reason, its backup, its rejects file. */
function notes(job: PipelineJobState): string {
  const parts: string[] = [];
  if (job.reason) parts.push(job.reason);
  if (job.backup?.status === 'moved') parts.push(`source moved to ${job.backup.path}`);
  if (job.backup?.status === 'failed') parts.push(`source not moved to backup: ${job.backup.reason}`);
  if (job.rejects_file) parts.push(`rejected rows: ${job.rejects_file}`);
  return parts.join('; ');
}

const COLUMNS = ['job', 'flow version', 'source_path', 'status', 'read', 'mapped', 'rejected', 'written', 'reason'] as const;

function jobCells(job: PipelineJobState): string[] {
  return [job.name, job.flow_version, job.source_path, job.status, rowsText(job, 'read'), rowsText(job, 'mapped'), rowsText(job, 'rejected'), rowsText(job, 'written'), notes(job)];
}

/** A plain-text table, columns padded to their widest cell (the reason column last, unpadded). */
export function textTable(jobs: PipelineJobState[]): string {
  const rows = [COLUMNS.map(String), ...jobs.map(jobCells)];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const numeric = new Set([4, 5, 6, 7]);
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const STATUS_COLOURS: Record<string, string> = {
  SUCCEEDED: '#1a7f37',
  ALREADY_LOADED: '#57606a',
  PARTIAL_FAILED: '#9a6700',
  FAILED: '#cf222e',
  CRASHED: '#cf222e',
  SKIPPED: '#57606a',
};

/**
 * Composes the email of a finished pipeline run.
 * @param options.attachments candidate files (each job's rejects CSV); attached in order while their
 *   total stays under {@link MAX_ATTACHMENT_BYTES}, the rest listed in `notAttached`.
 */
export function composePipelineEmail(
  state: PipelineRunState,
  options: { subjectPrefix?: string; attachments: EmailAttachment[]; uiUrl?: string },
): ComposedEmail {
  const subject = emailSubject(state, options.subjectPrefix);
  const attachments: EmailAttachment[] = [];
  const notAttached: EmailAttachment[] = [];
  let bytes = 0;
  for (const file of options.attachments) {
    const size = statSync(file.path).size;
    if (bytes + size <= MAX_ATTACHMENT_BYTES) {
      attachments.push(file);
      bytes += size;
    } else {
      notAttached.push(file);
    }
  }
  const t = state.totals;
  const facts: [string, string][] = [
    ['pipeline', state.pipeline],
    ['environment', state.environment],
    ['date', `${state.date ?? '-'}${state.timezone ? ` (${state.timezone})` : ''}`],
    ['status', state.status],
    ['trigger', state.trigger],
    ['pipeline run', state.workflow_id],
    ['started', state.started_at],
    ...(state.ended_at ? [['ended', state.ended_at] as [string, string]] : []),
    [
      'jobs',
      `${t.jobs}: ${t.succeeded} succeeded, ${t.partial_failed} partial_failed, ${t.failed} failed, ${t.crashed} crashed, ${t.skipped} skipped, ${t.already_loaded} already loaded; ${t.rows_rejected} rows rejected`,
    ],
    ...(state.reason ? [['reason', state.reason] as [string, string]] : []),
    ...(state.error ? [['error', `${state.error.code}: ${state.error.message}`] as [string, string]] : []),
  ];
  if (options.uiUrl) facts.push(['Temporal UI', options.uiUrl]);
  const attachedLine = attachments.length > 0 ? `Attached: the rejected rows of ${attachments.map((a) => a.filename).join(', ')} (CSV: row number, original values, errors).` : '';
  const notAttachedLine =
    notAttached.length > 0 ? `Too large to attach (over ${MAX_ATTACHMENT_BYTES / 1024 / 1024} MB in all), on the worker: ${notAttached.map((a) => a.path).join(', ')}.` : '';

  const text = [
    subject,
    '',
    ...facts.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`),
    '',
    ...(state.jobs.length > 0 ? [textTable(state.jobs), ''] : []),
    ...(attachedLine ? [attachedLine] : []),
    ...(notAttachedLine ? [notAttachedLine] : []),
    '',
    '-- Sluice',
  ].join('\n');

  const cell = (value: string, style = '') => `<td style="border:1px solid #d0d7de;padding:4px 8px;${style}">${escapeHtml(value)}</td>`;
  const html = [
    '<!doctype html><html><body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#1f2328">',
    `<h2 style="font-size:18px">${escapeHtml(`pipeline ${state.pipeline}${state.date ? ` ${state.date}` : ''}: `)}<span style="color:${STATUS_COLOURS[state.status] ?? '#1f2328'}">${escapeHtml(state.status)}</span></h2>`,
    `<p>${escapeHtml(pipelineHeadline(state))}</p>`,
    '<table style="border-collapse:collapse;margin-bottom:16px">',
    ...facts.map(([k, v]) => `<tr><th style="text-align:left;padding:2px 12px 2px 0">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`),
    '</table>',
    ...(state.jobs.length > 0
      ? [
          '<table style="border-collapse:collapse">',
          `<tr>${COLUMNS.map((c) => `<th style="border:1px solid #d0d7de;padding:4px 8px;background:#f6f8fa;text-align:left">${escapeHtml(c)}</th>`).join('')}</tr>`,
          ...state.jobs.map((job) => {
            const cells = jobCells(job);
            return `<tr>${cells
              .map((value, i) => (i === 3 ? cell(value, `color:${STATUS_COLOURS[value] ?? '#1f2328'};font-weight:600`) : cell(value, i >= 4 && i <= 7 ? 'text-align:right' : '')))
              .join('')}</tr>`;
          }),
          '</table>',
        ]
      : []),
    ...(attachedLine ? [`<p>${escapeHtml(attachedLine)}</p>`] : []),
    ...(notAttachedLine ? [`<p>${escapeHtml(notAttachedLine)}</p>`] : []),
    '<p style="color:#57606a">— Sluice</p>',
    '</body></html>',
  ].join('\n');

  return { subject, text, html, attachments, notAttached, messageId: `<${state.workflow_id}.${state.execution_id}@sluice>` };
}

/** The attachment name of a job's rejects file: `<job>.csv`. */
export function attachmentFor(job: PipelineJobState, projectDir: string): EmailAttachment | null {
  if (!job.rejects_file) return null;
  return { filename: `${job.name}.csv`, path: path.resolve(projectDir, job.rejects_file) };
}
