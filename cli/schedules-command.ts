/**
 * `sluice schedules …`: the project's pipeline schedules as Temporal Schedules, per environment.
 *
 * ```sh
 * sluice schedules apply -e prod                  # a schedule per scheduled pipeline + daily housekeeping (--prune deletes stale ones)
 * sluice schedules list -e prod                   # cron lines, time zone, paused, next and recent runs
 * sluice schedules pause daily -e prod --note "warehouse migration"
 * sluice schedules unpause daily -e prod
 * sluice schedules trigger daily -e prod          # one run now
 * sluice schedules backfill daily -e prod --from 2026-11-01T00:00:00Z --to 2026-11-08T00:00:00Z
 * ```
 *
 * Exit codes: 0 done, 2 a refused request (invalid pipeline file, unknown schedule, bad time).
 */
import type { Command } from 'commander';
import { Client, Connection, ScheduleOverlapPolicy } from '@temporalio/client';
import { UserError } from '../common/errors';
import { readEnv } from '../common/env';
import { DEFAULT_ENVIRONMENT } from '../config/environments';
import type { SluiceConfig } from '../config/sluice-config';
import { applySchedules, listSchedules, pipelineSchedule } from '../pipelines/pipeline-schedules';
import { actingUser, configFrom, globalOptions } from './cli-config';

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Runs `body` with a Temporal client for the command's config and environment. */
async function withClient<T>(command: Command, body: (client: Client, config: SluiceConfig, environment: string) => Promise<T>): Promise<T> {
  const config = configFrom(command);
  const environment = globalOptions(command).env || readEnv('SLUICE_ENV') || DEFAULT_ENVIRONMENT;
  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    return await body(new Client({ connection, namespace: config.temporal.namespace }), config, environment);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

function instant(option: string) {
  return (text: string): Date => {
    const date = new Date(text);
    if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(date.getTime())) {
      throw new UserError('INVALID_TIME', `${option} must be an ISO 8601 time, e.g. 2026-11-01T00:00:00Z (or a date, 2026-11-01, read as UTC midnight), not "${text}"`);
    }
    return date;
  };
}

/** Adds `sluice schedules apply|list|pause|unpause|trigger|backfill` to a program. */
export function addSchedulesCommands(program: Command): void {
  const schedules = program.command('schedules').description("the pipelines' schedules as Temporal Schedules, one per pipeline and environment");

  schedules
    .command('apply')
    .description('create or update a Temporal Schedule for every pipeline with a schedule (-e chooses the environment)')
    .option('--prune', "also delete this environment's Sluice schedules whose pipeline has no schedule any more")
    .option('--no-housekeeping', 'do not keep the daily retention housekeeping schedule (sluice-<env>-housekeeping)')
    .option('--json', 'print a JSON array')
    .option('--user <name>', "the scheduled runs' user: they start as whoever applies the schedule (default SLUICE_USER, the config's user:, else local)")
    .action(async (options: { prune?: boolean; housekeeping: boolean; json?: boolean }, command: Command) => {
      const applied = await withClient(command, (client, config, environment) =>
        applySchedules(client, config, environment, { prune: options.prune, housekeeping: options.housekeeping, startedBy: actingUser(command, config) }),
      );
      if (options.json) return print(JSON.stringify(applied));
      if (applied.length === 0) return print('no pipeline has a schedule; add schedule: { cron: "0 6 * * *", timezone: "Europe/Paris" } to pipelines/<name>.yaml');
      for (const a of applied) print(`${a.action.padEnd(9)} ${a.id}  (${a.pipeline === 'housekeeping' ? 'retention housekeeping' : `pipelines/${a.pipeline}.yaml`})`);
    });

  schedules
    .command('list')
    .description("this environment's schedules: cron lines, time zone, paused, next and recent runs")
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }, command: Command) => {
      const listed = await withClient(command, (client, _config, environment) => listSchedules(client, environment));
      if (options.json) {
        return print(
          JSON.stringify(
            listed.map((s) => ({
              id: s.id,
              pipeline: s.pipeline,
              environment: s.environment,
              cron: s.cron,
              timezone: s.timezone,
              paused: s.paused,
              note: s.note,
              next_runs: s.nextRuns.map((d) => d.toISOString()),
              recent_runs: s.recentRuns.map((r) => ({ scheduled_at: r.scheduledAt.toISOString(), workflow_id: r.workflowId })),
            })),
          ),
        );
      }
      if (listed.length === 0) return print('no schedules in this environment; create them with: sluice schedules apply');
      for (const s of listed) {
        print(`${s.id}  ${s.cron.join(' | ')}  ${s.timezone}  ${s.paused ? `PAUSED${s.note ? ` (${s.note})` : ''}` : 'active'}`);
        if (s.nextRuns.length > 0) print(`    next: ${s.nextRuns.map((d) => d.toISOString()).join(', ')}`);
        for (const r of s.recentRuns.slice(-3)) print(`    ran:  ${r.scheduledAt.toISOString()}  ${r.workflowId}`);
      }
    });

  schedules
    .command('pause')
    .description("pause a pipeline's schedule (no runs until unpaused)")
    .argument('<pipeline>', 'pipeline name')
    .option('--note <text>', 'why (shown by list and in the Temporal UI)')
    .action(async (pipeline: string, options: { note?: string }, command: Command) => {
      await withClient(command, async (client, _config, environment) => (await pipelineSchedule(client, environment, pipeline)).pause(options.note ?? 'paused with sluice schedules pause'));
      print(`paused the schedule of ${pipeline}`);
    });

  schedules
    .command('unpause')
    .description("resume a pipeline's schedule")
    .argument('<pipeline>', 'pipeline name')
    .action(async (pipeline: string, _options: unknown, command: Command) => {
      await withClient(command, async (client, _config, environment) => (await pipelineSchedule(client, environment, pipeline)).unpause('unpaused with sluice schedules unpause'));
      print(`unpaused the schedule of ${pipeline}`);
    });

  schedules
    .command('trigger')
    .description('start one run of the pipeline now, through its schedule (its overlap policy applies)')
    .argument('<pipeline>', 'pipeline name')
    .action(async (pipeline: string, _options: unknown, command: Command) => {
      await withClient(command, async (client, _config, environment) => (await pipelineSchedule(client, environment, pipeline)).trigger());
      print(`triggered ${pipeline}; see sluice schedules list for the run`);
    });

  schedules
    .command('backfill')
    .description('run the pipeline for every scheduled time in [from, to), one after another; each run loads the date of its scheduled time')
    .argument('<pipeline>', 'pipeline name')
    .requiredOption('--from <time>', 'start, ISO 8601 (inclusive)', instant('--from'))
    .requiredOption('--to <time>', 'end, ISO 8601 (exclusive)', instant('--to'))
    .action(async (pipeline: string, options: { from: Date; to: Date }, command: Command) => {
      if (options.to <= options.from) throw new UserError('INVALID_TIME', `--to (${options.to.toISOString()}) must be after --from (${options.from.toISOString()})`);
      await withClient(command, async (client, _config, environment) =>
        (await pipelineSchedule(client, environment, pipeline)).backfill([{ start: options.from, end: options.to, overlap: ScheduleOverlapPolicy.BUFFER_ALL }]),
      );
      print(`backfilling ${pipeline} from ${options.from.toISOString()} to ${options.to.toISOString()}; runs start one after another`);
    });
}
