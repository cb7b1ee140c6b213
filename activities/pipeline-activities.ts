/**
 * The activities of a pipeline run (the `runPipeline` workflow): everything that reads files, the
 * metadata database, staging, SMTP or Temporal.
 *
 * - `recordPipelineRun`: upserts the run's row in `sluice.pipeline_runs` (its state as `summary`);
 * - `preparePipelineRun`: loads `pipelines/<name>.yaml` on the worker, picks the date, renders every
 *   job's source_path and computes its run id (`runIdFor`, which hashes with node:crypto and so cannot
 *   run in workflow code), checks each flow version exists and whether its source is local;
 * - `checkPipelineRequirements`: the `requires` of the pipeline against `sluice.pipeline_runs`;
 * - `inspectExistingRun`: the status of a run the pipeline was refused to start again;
 * - `backupSource`: moves a loaded local source file to `data/backup/<date>/`;
 * - `writeRejectFiles`: each job's rejected rows from staging to `data/errors/<pipeline>/<date>/<job>.csv`;
 * - `sendPipelineEmail`: the one email, at most once per pipeline run execution.
 *
 * ```ts
 * const activities = createPipelineActivities({ config, pool, flowVersions, staging, logger });
 * ```
 */
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { ConfigError, SourceError, UserError } from '../common/errors';
import type { EnvironmentStamp, RunMetadata, RunStatus } from '../common/run-model';
import { projectPaths, type SluiceConfig } from '../config/sluice-config';
import { resolveUnderRoot } from '../connectors/local/local-source';
import { accessError } from '../connectors/access-errors';
import { createSmtpTransport, smtpAccess } from '../connectors/smtp/smtp-transport';
import { runIdFor, type FlowVersionStore } from '../flows/flow-versions';
import { readRunState } from '../common/run-reader';
import { attachmentFor, composePipelineEmail, shouldSend, type EmailAttachment } from '../pipelines/pipeline-email';
import { dateIn, isIsoDate, loadPipeline, pipelineDate, pipelineTimezone, renderSourcePath, type PipelineRequirement } from '../pipelines/pipeline-spec';
import type { PipelineEmail, PipelineJobState, PipelineRunState, PipelineStatus } from '../pipelines/pipeline-model';
import { stagedRejectParts, writeRejectsCsv } from '../pipelines/reject-files';
import { backupTarget, lastBackup, moveToBackup } from '../pipelines/source-backup';
import type { Staging } from '../storage/staging';
import { withActivityBoundary } from './activity-boundary';

export interface PipelineActivityDeps {
  config: SluiceConfig;
  /** The metadata database (`sluice.pipeline_runs`). */
  pool: Pool;
  flowVersions: FlowVersionStore;
  staging: Staging;
  logger: Logger;
}

export interface PreparePipelineRunInput {
  pipeline: string;
  environment: string;
  /** YYYY-MM-DD; absent: the date of `scheduledAt`, else today, in the schedule's time zone (else UTC). */
  date?: string;
  /** ISO time a Temporal Schedule started this run for (`TemporalScheduledStartTime`): a backfilled run loads its own date. */
  scheduledAt?: string;
  workflowId: string;
}

/** One job, rendered: what the workflow needs to start its run. */
export interface PreparedJob {
  name: string;
  flowVersion: string;
  /** The rendered source_path. */
  sourcePath: string;
  dependsOn: string[];
  runId: string;
  /** Move the source file to data/backup after it loads: `backup` is not false and the source connector is local. */
  backup: boolean;
  /** Why this job cannot start (unknown flow version, bad source_path): it ends FAILED without a run. */
  error?: { code: string; message: string };
}

export interface PreparedPipeline {
  date: string;
  timezone: string;
  requires: PipelineRequirement[];
  /** In file order. */
  jobs: PreparedJob[];
}

export interface CheckRequirementsInput {
  pipeline: string;
  environment: string;
  requires: PipelineRequirement[];
  /** For the times in messages. */
  timezone: string;
}

export interface InspectExistingRunOutput {
  running: boolean;
  status: RunStatus;
  metadata?: RunMetadata;
  /** When it closed, `YYYY-MM-DD HH:mm UTC`. */
  endedAt?: string;
}

export interface BackupSourceInput extends EnvironmentStamp {
  flowVersion: string;
  sourcePath: string;
  /** YYYY-MM-DD: the folder under data/backup/. */
  date: string;
}

export interface WriteRejectFilesInput extends EnvironmentStamp {
  pipeline: string;
  date: string;
  jobs: PipelineJobState[];
}

/** A job's rejects file: project-relative path and rows. */
export interface RejectFile {
  job: string;
  path: string;
  rows: number;
}

/** `2026-11-20 06:00 Europe/Paris`. */
function formatTime(instant: Date, timezone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(instant);
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')} ${timezone}`;
}

/** A project-relative path with `/`, for messages and the job table. */
const relative = (projectDir: string, file: string) => path.relative(projectDir, file).split(path.sep).join('/');

export function createPipelineActivities(deps: PipelineActivityDeps) {
  const { config, pool, flowVersions, staging, logger } = deps;
  const paths = projectPaths(config);

  /** The local connector a flow version reads from, or null when its source is not local. */
  const localRootOf = async (flowVersion: string): Promise<string | null> => {
    const { spec } = await flowVersions.get(flowVersion);
    const connector = config.connectors[spec.source.connector];
    return connector?.kind === 'local' ? path.resolve(config.projectDir, connector.root) : null;
  };

  return withActivityBoundary(logger, {
    /** Inserts or updates the pipeline run's row (keyed by the Temporal execution). */
    async recordPipelineRun(input: { state: PipelineRunState } & EnvironmentStamp): Promise<void> {
      const { state } = input;
      const ended = state.status !== 'RUNNING';
      await pool.query(
        `INSERT INTO sluice.pipeline_runs (id, pipeline, environment, workflow_id, run_date, trigger, status, started_at, ended_at, summary)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET run_date = EXCLUDED.run_date, status = EXCLUDED.status, ended_at = EXCLUDED.ended_at, summary = EXCLUDED.summary`,
        [state.execution_id, state.pipeline, state.environment, state.workflow_id, state.date, state.trigger, state.status, state.started_at, ended ? (state.ended_at ?? new Date().toISOString()) : null, JSON.stringify(state)],
      );
    },

    /**
     * Loads and renders the pipeline.
     * @throws (non-retryable) `INVALID_PIPELINE_SPEC`, `UNKNOWN_PIPELINE`, `INVALID_PIPELINE_NAME`, `INVALID_DATE`.
     */
    async preparePipelineRun(input: PreparePipelineRunInput): Promise<PreparedPipeline> {
      const spec = loadPipeline(config, input.pipeline);
      if (input.date !== undefined && !isIsoDate(input.date)) throw new UserError('INVALID_DATE', `date "${input.date}" is not a date written YYYY-MM-DD`);
      const date = input.date ?? (input.scheduledAt ? dateIn(pipelineTimezone(spec), new Date(input.scheduledAt)) : pipelineDate(spec));
      const jobs: PreparedJob[] = [];
      for (const job of spec.jobs) {
        const sourcePath = renderSourcePath(job.sourcePath, { date, env: input.environment, pipeline: spec.name });
        const prepared: PreparedJob = { name: job.name, flowVersion: job.flowVersion, sourcePath, dependsOn: job.dependsOn, runId: runIdFor(job.flowVersion, sourcePath, input.environment), backup: false };
        try {
          prepared.backup = job.backup && (await localRootOf(job.flowVersion)) !== null;
        } catch (error) {
          if (!(error instanceof UserError)) throw error;
          prepared.error = { code: error.code, message: error.message };
        }
        jobs.push(prepared);
      }
      logger.info({ pipeline: spec.name, date, jobs: jobs.length, workflowId: input.workflowId }, 'pipeline prepared');
      return { date, timezone: pipelineTimezone(spec), requires: spec.requires, jobs };
    },

    /**
     * A requirement is met when the latest finished run of that pipeline, in the same environment, loaded
     * every job (SUCCEEDED, or PARTIAL_FAILED with only rejected rows) and ended within its window.
     */
    async checkPipelineRequirements(input: CheckRequirementsInput): Promise<{ met: boolean; reasons: string[] }> {
      const reasons: string[] = [];
      for (const requirement of input.requires) {
        const { rows } = await pool.query<{ status: PipelineStatus; ended_at: Date; summary: PipelineRunState }>(
          `SELECT status, ended_at, summary FROM sluice.pipeline_runs
           WHERE pipeline = $1 AND environment = $2 AND ended_at IS NOT NULL AND status <> 'RUNNING'
           ORDER BY ended_at DESC LIMIT 1`,
          [requirement.pipeline, input.environment],
        );
        const latest = rows[0];
        const prefix = `requires ${requirement.pipeline}`;
        if (!latest) {
          reasons.push(`${prefix}: it has no finished run in environment ${input.environment}`);
          continue;
        }
        const when = formatTime(latest.ended_at, input.timezone);
        const totals = latest.summary?.totals;
        const everyJobLoaded = !!totals && totals.failed + totals.crashed + totals.skipped === 0;
        const succeeded = latest.status === 'SUCCEEDED' || (latest.status === 'PARTIAL_FAILED' && everyJobLoaded);
        const ageMs = Date.now() - latest.ended_at.getTime();
        if (!succeeded) reasons.push(`${prefix}: its latest run (${when}, ${latest.status}) did not succeed within ${requirement.within}`);
        else if (ageMs > requirement.withinMs) reasons.push(`${prefix}: its latest run (${when}, ${latest.status}) is older than ${requirement.within}`);
      }
      if (reasons.length > 0) logger.warn({ pipeline: input.pipeline, reasons }, 'pipeline requirements not met');
      return { met: reasons.length === 0, reasons };
    },

    /** The status (and final metadata) of a run whose id the pipeline could not start again. */
    async inspectExistingRun(input: { runId: string } & EnvironmentStamp): Promise<InspectExistingRunOutput> {
      const client = Context.current().client;
      const handle = client.workflow.getHandle(input.runId);
      const description = await handle.describe();
      const run = await readRunState(handle, input.runId);
      const closed = description.closeTime;
      return {
        running: description.status.name === 'RUNNING',
        status: run.status ?? 'CREATED',
        ...(run.metadata ? { metadata: run.metadata } : {}),
        ...(closed ? { endedAt: formatTime(closed, 'UTC') } : {}),
      };
    },

    /**
     * Moves a loaded local source file to `data/backup/<date>/`, never overwriting.
     * @returns its new project-relative path.
     * @throws (non-retryable) `SOURCE_NOT_LOCAL`, `SOURCE_NOT_FOUND` (nothing to move, and no earlier attempt moved it).
     */
    async backupSource(input: BackupSourceInput): Promise<{ path: string }> {
      const root = await localRootOf(input.flowVersion);
      if (!root) throw new ConfigError('SOURCE_NOT_LOCAL', `${input.flowVersion} does not read from a local connector; only local source files are backed up`);
      const where = { root, importDir: paths.import, backupDir: paths.backup, date: input.date };
      let file: string;
      try {
        file = resolveUnderRoot(root, input.sourcePath);
      } catch (error) {
        if (!(error instanceof SourceError && error.code === 'SOURCE_NOT_FOUND')) throw error;
        // A retry after the move: the file is already in the backup folder.
        const guess = backupTarget({ ...where, file: path.resolve(root, input.sourcePath) });
        const moved = lastBackup(guess);
        if (moved) return { path: relative(config.projectDir, moved) };
        throw error;
      }
      const moved = await moveToBackup({ ...where, file });
      logger.info({ sourcePath: input.sourcePath, backup: moved }, 'source file moved to backup');
      return { path: relative(config.projectDir, moved) };
    },

    /**
     * Writes each job's rejected rows, from staging, to `data/errors/<pipeline>/<date>/<job>.csv`:
     * jobs this pipeline run started whose run rejected rows (PARTIAL_FAILED, or FAILED with rejects,
     * e.g. above `max_reject_ratio`).
     */
    async writeRejectFiles(input: WriteRejectFilesInput): Promise<{ files: RejectFile[] }> {
      const files: RejectFile[] = [];
      for (const job of input.jobs) {
        if (!job.execution_id || !job.rows || job.rows.rejected === 0) continue;
        const runKey = staging.runKey(job.run_id, job.execution_id);
        const parts = await stagedRejectParts(staging, runKey);
        if (parts.length === 0) {
          logger.warn({ job: job.name, runKey }, 'rejected rows are no longer in staging; no rejects file');
          continue;
        }
        const file = path.join(paths.errors, input.pipeline, input.date, `${job.name}.csv`);
        const rows = await writeRejectsCsv(await Promise.all(parts.map((p) => staging.fetch(p))), file);
        Context.current().heartbeat({ job: job.name });
        files.push({ job: job.name, path: relative(config.projectDir, file), rows });
      }
      return { files };
    },

    /**
     * Sends the pipeline run's one email, when `notifications.email` is configured and the run has
     * something to report (or `send: always`). A send that succeeded is recorded in
     * `sluice.pipeline_runs.email`, so a retried activity does not send it twice. SMTP refusals (5xx)
     * are not retried.
     * @throws AccessError `AUTH_FAILED` when the server refuses the connector's user and password;
     *   UserError `EMAIL_REFUSED` for another 5xx answer.
     */
    async sendPipelineEmail(input: { state: PipelineRunState } & EnvironmentStamp): Promise<PipelineEmail> {
      const { state } = input;
      const settings = config.notifications?.email;
      if (!settings) {
        logger.info({ pipeline: state.pipeline, workflowId: state.workflow_id }, 'no notifications.email configured: no pipeline email');
        return { status: 'not_configured' };
      }
      if (!shouldSend(state, settings.send)) return { status: 'not_needed' };
      const connector = config.connectors[settings.connector];
      if (!connector || connector.kind !== 'smtp') {
        throw new ConfigError(
          'EMAIL_CONNECTOR_INVALID',
          `notifications.email.connector "${settings.connector}" ${connector ? `is a ${connector.kind} connector, not smtp` : (config.unavailableConnectors?.[settings.connector] ? `cannot be used: ${config.unavailableConnectors[settings.connector]!.reason}` : 'is not a configured connector')}`,
        );
      }
      const sent = await pool.query<{ email: PipelineEmail | null }>('SELECT email FROM sluice.pipeline_runs WHERE id = $1', [state.execution_id]);
      const previous = sent.rows[0]?.email;
      if (previous?.status === 'sent') return previous;

      const attachments = state.jobs.map((job) => attachmentFor(job, config.projectDir)).filter((a): a is EmailAttachment => a !== null);
      const uiUrl = `${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows/${encodeURIComponent(state.workflow_id)}`;
      const email = composePipelineEmail(state, { subjectPrefix: settings.subjectPrefix, attachments, uiUrl });
      const transport = createSmtpTransport(connector);
      try {
        await transport.sendMail({
          from: connector.from,
          to: settings.to,
          subject: email.subject,
          text: email.text,
          html: email.html,
          messageId: email.messageId,
          attachments: email.attachments.map((a) => ({ filename: a.filename, path: a.path, contentType: 'text/csv; charset=utf-8' })),
        });
      } catch (error) {
        const refused = accessError(error, smtpAccess(settings.connector, connector));
        if (refused) throw refused;
        const code = (error as { responseCode?: number }).responseCode;
        if (code !== undefined && code >= 500) throw new UserError('EMAIL_REFUSED', `the SMTP server refused the email: ${(error as Error).message}`, { cause: error });
        throw error;
      } finally {
        transport.close();
      }
      const result: PipelineEmail = { status: 'sent', message_id: email.messageId, to: settings.to, subject: email.subject, attachments: email.attachments.map((a) => a.filename) };
      if (email.notAttached.length > 0) result.reason = `not attached (too large): ${email.notAttached.map((a) => a.filename).join(', ')}`;
      await pool.query('UPDATE sluice.pipeline_runs SET email = $2 WHERE id = $1', [state.execution_id, JSON.stringify(result)]);
      logger.info({ pipeline: state.pipeline, workflowId: state.workflow_id, to: settings.to.length, attachments: result.attachments }, 'pipeline email sent');
      return result;
    },
  });
}

export type PipelineActivities = ReturnType<typeof createPipelineActivities>;
