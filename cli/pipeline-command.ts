/**
 * `sluice pipeline …`: list the project's pipelines, run one, follow a pipeline run.
 *
 * ```sh
 * sluice pipeline list                                   # pipelines/*.yaml: jobs, schedule, problems
 * sluice pipeline run daily -e prod                      # → pipeline-daily-prod-2026-11-21-3f9a1c and its Temporal UI link
 * sluice pipeline run daily -e prod --date 2026-11-20 --wait   # the job table when it ends
 * sluice pipeline status pipeline-daily-prod-2026-11-21-3f9a1c --json
 * ```
 *
 * Exit codes: 0 SUCCEEDED or PARTIAL_FAILED (or a command that worked), 1 FAILED or SKIPPED, 2 a
 * refused request (unknown or invalid pipeline, bad date, bad config).
 */
import type { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import type { Pool } from 'pg';
import { UserError } from '../common/errors';
import { readEnv } from '../common/env';
import { createLogger } from '../common/logger';
import { DEFAULT_ENVIRONMENT } from '../config/environments';
import type { SluiceConfig } from '../config/sluice-config';
import { migrate } from '../db/migrations';
import { createPool } from '../db/pg-pool';
import { isIsoDate, listPipelines, loadPipeline, pipelineDate } from '../pipelines/pipeline-spec';
import { getPipelineRun, startPipelineRun, waitPipelineRun } from '../client/pipeline-client';
import { pipelineHeadline, type PipelineRunState } from '../pipelines/pipeline-model';
import { textTable } from '../pipelines/pipeline-email';
import { actingUser, configFrom, ExitError, globalOptions } from './cli-config';
import { emailWaitText, pendingEmailDelivery } from '../client/email-delivery';

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function uiLink(config: SluiceConfig, workflowId: string): string {
  return `${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}`;
}

/**
 * Opens Temporal (and, with `database` and a configured `databaseUrl`, the metadata database, where
 * ended pipeline runs are recorded), runs `body`, closes both.
 */
async function withTemporal<T>(config: SluiceConfig, database: boolean, body: (client: Client, pool: Pool | undefined) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: config.temporal.address });
  const pool = database && config.databaseUrl
    ? createPool({ connectionString: config.databaseUrl, max: 1, application_name: 'sluice:cli' }, { label: 'the metadata database', logger: createLogger('sluice-cli', 'warn') })
    : undefined;
  try {
    if (pool) await migrate(pool);
    return await body(new Client({ connection, namespace: config.temporal.namespace }), pool);
  } finally {
    await pool?.end().catch(() => undefined);
    await connection.close().catch(() => undefined);
  }
}

/**
 * While `until` is pending, polls the run every 2 s and writes what it waits for when that is the email (an
 * SMTP server that does not answer keeps the run open for minutes): a live line on a terminal, else one line
 * per attempt.
 */
async function narrateEmailWait<T>(client: Client, workflowId: string, until: Promise<T>): Promise<T> {
  const live = process.stderr.isTTY;
  let last = '';
  let shown = false;
  const timer = setInterval(() => {
    pendingEmailDelivery(client, workflowId)
      .then((delivery) => {
        if (!delivery) return;
        const text = emailWaitText(delivery);
        if (live) process.stderr.write(`\r\x1b[2K${text}`);
        else if (text.replace(/; next attempt in \d+ s/, '') !== last) process.stderr.write(`${text}\n`);
        last = text.replace(/; next attempt in \d+ s/, '');
        shown = true;
      })
      .catch(() => undefined);
  }, 2_000);
  try {
    return await until;
  } finally {
    clearInterval(timer);
    if (live && shown) process.stderr.write('\n');
  }
}

/** The job table and what happened around it, for people. `emailWait`: what a pending email waits for. */
function printState(config: SluiceConfig, state: PipelineRunState, emailWait?: string): void {
  print(`pipeline ${state.pipeline}${state.date ? ` ${state.date}` : ''} (${state.environment}): ${state.status === 'RUNNING' ? 'RUNNING' : pipelineHeadline(state)}`);
  print(`  pipeline run: ${state.workflow_id}   trigger: ${state.trigger}   started ${state.started_at}${state.ended_at ? `   ended ${state.ended_at}` : ''}`);
  if (state.error) print(`  error: ${state.error.code}: ${state.error.message}`);
  if (state.jobs.length > 0) for (const line of textTable(state.jobs).split('\n')) print(`  ${line}`);
  const email = state.email;
  if (email.status === 'sent') print(`  email: sent to ${email.to?.join(', ')}${email.attachments?.length ? ` (attached: ${email.attachments.join(', ')})` : ''}`);
  else if (email.status === 'pending') print(`  email: pending — ${emailWait ?? (state.status === 'RUNNING' ? 'sent when the jobs end' : 'not sent yet')}`);
  else print(`  email: ${email.status}${email.reason ? ` (${email.reason})` : ''}`);
  print(`  Temporal UI: ${uiLink(config, state.workflow_id)}`);
}

const exitCodeOf = (state: PipelineRunState) => (state.status === 'SUCCEEDED' || state.status === 'PARTIAL_FAILED' || state.status === 'RUNNING' ? 0 : 1);

/** Adds `sluice pipeline list|run|status` to a program. */
export function addPipelineCommands(program: Command): void {
  const pipeline = program.command('pipeline').description('run pipelines: jobs of flow versions with dependencies, one error email per run');

  pipeline
    .command('list')
    .description('list the pipelines in pipelines/ (jobs, schedule, and the problems of invalid files)')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = configFrom(command);
      const listed = listPipelines(config);
      if (options.json) {
        print(
          JSON.stringify(
            listed.map((p) => ({
              name: p.name,
              file: p.file,
              valid: p.spec !== null,
              description: p.spec?.description ?? null,
              jobs: p.spec?.jobs.map((j) => ({ name: j.name, flow_version: j.flowVersion, source_path: j.sourcePath, depends_on: j.dependsOn })) ?? null,
              schedule: p.spec?.schedule ?? null,
              requires: p.spec?.requires.map((r) => ({ pipeline: r.pipeline, within: r.within })) ?? null,
              issues: p.error?.issues ?? null,
            })),
          ),
        );
        return;
      }
      if (listed.length === 0) return print('no pipelines; write one as pipelines/<name>.yaml (see docs/pipelines.md)');
      for (const p of listed) {
        if (!p.spec) {
          print(`${p.name.padEnd(24)} INVALID  ${p.error!.issues.length} problem(s): sluice pipeline run ${p.name} shows them`);
          continue;
        }
        const schedule = p.spec.schedule ? `${p.spec.schedule.cron.join(' | ')} (${p.spec.schedule.timezone})` : 'no schedule';
        print(`${p.name.padEnd(24)} ${String(p.spec.jobs.length).padStart(2)} job(s)  ${schedule}${p.spec.description ? `  ${p.spec.description}` : ''}`);
      }
    });

  pipeline
    .command('run')
    .description('start a pipeline run (-e chooses the environment); with --wait, print the job table when it ends')
    .argument('<name>', 'a pipeline of pipelines/<name>.yaml')
    .option('--date <YYYY-MM-DD>', "the run's {date} (default: today in the schedule's time zone, else UTC)")
    .option('-w, --wait', 'wait for the pipeline run to end; exit 1 when it FAILED or was SKIPPED')
    .option('--json', 'print exactly one JSON object on stdout')
    .option('--user <name>', 'start its runs as this user (default SLUICE_USER, the config\'s user:, else local)')
    .action(async (name: string, options: { date?: string; wait?: boolean; json?: boolean }, command: Command) => {
      const config = configFrom(command);
      const startedBy = actingUser(command, config);
      const environment = globalOptions(command).env || readEnv('SLUICE_ENV') || DEFAULT_ENVIRONMENT;
      const spec = loadPipeline(config, name);
      if (options.date !== undefined && !isIsoDate(options.date)) throw new UserError('INVALID_DATE', `--date must be a date written YYYY-MM-DD, not "${options.date}"`);
      const date = options.date ?? pipelineDate(spec);
      const input = { pipeline: spec.name, environment, date, trigger: 'manual' as const, startedBy };
      // Only --wait reads a recorded run, so only --wait opens (and migrates) the metadata database.
      const code = await withTemporal(config, options.wait === true, async (client, pool) => {
        const { workflowId } = await startPipelineRun(client, { taskQueue: config.temporal.taskQueue, input });
        if (!options.wait) {
          if (options.json) print(JSON.stringify({ id: workflowId, pipeline: spec.name, environment, date, status: 'RUNNING', ui_url: uiLink(config, workflowId) }));
          else print(`started pipeline run ${workflowId} (${spec.name}, ${environment}, ${date}; ${spec.jobs.length} job(s))\n  Temporal UI: ${uiLink(config, workflowId)}`);
          return 0;
        }
        if (!options.json) process.stderr.write(`pipeline run ${workflowId} started; waiting…\n`);
        const state = await narrateEmailWait(client, workflowId, waitPipelineRun(client, workflowId)).catch(async (error: unknown) => {
          // Ended without a state (terminated, timed out): show what was recorded.
          return getPipelineRun(client, workflowId, pool).catch(() => {
            throw error;
          });
        });
        if (options.json) print(JSON.stringify({ id: workflowId, ...state }));
        else printState(config, state);
        return exitCodeOf(state);
      });
      if (code !== 0) throw new ExitError(code);
    });

  pipeline
    .command('status')
    .description('show a pipeline run and its job table')
    .argument('<id>', 'the pipeline run id (pipeline-<name>-<env>-<date>-…)')
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const config = configFrom(command);
      const { state, emailWait } = await withTemporal(config, true, async (client, pool) => {
        const found = await getPipelineRun(client, id, pool);
        const delivery = found.email.status === 'pending' ? await pendingEmailDelivery(client, id).catch(() => undefined) : undefined;
        return { state: found, emailWait: delivery ? emailWaitText(delivery) : undefined };
      });
      if (options.json) print(JSON.stringify({ id, ...state, ...(emailWait ? { email_wait: emailWait } : {}) }));
      else printState(config, state, emailWait);
    });
}
