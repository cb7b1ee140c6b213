/**
 * `sluice housekeeping run`: runs the `housekeeping` workflow now (retention of backups, rejected-row files,
 * logs and staging; rules in ops/housekeeping.ts), waits for it and prints its report. The
 * daily run is a Temporal Schedule made by `sluice schedules apply` (workflows/housekeeping.ts
 * `housekeepingScheduleSpec`). A worker of the environment must be running: it does the deleting, with its
 * own config's `retention` windows.
 *
 * ```sh
 * sluice housekeeping run --dry-run         # what would be deleted; nothing is
 * sluice housekeeping run -e prod --json    # the report as one JSON object
 * ```
 *
 * Exit codes: 0 done; 1 some kind could not be swept, or no worker finished it within `--timeout`;
 * 2 a refused request (bad option or config).
 */
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import type { Command } from 'commander';
import type { HousekeepingReport, SweepRetentionResult } from '../ops/housekeeping';
import type { SluiceConfig } from '../config/sluice-config';
import { HOUSEKEEPING_INCOMPLETE_TYPE, HOUSEKEEPING_WORKFLOW_TYPE } from '../common/workflow-types';
import type { housekeeping as housekeepingWorkflow } from '../workflows/housekeeping';
import { configFrom, ExitError } from './cli-config';
import { seconds } from './number-options';

const DEFAULT_TIMEOUT_S = 600;

/** `1536` → `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

const UNITS: Record<SweepRetentionResult['kind'], [string, string]> = {
  backup: ['date folder', 'date folders'],
  errors: ['date folder', 'date folders'],
  logs: ['file', 'files'],
  staging: ['run execution', 'run executions'],
};

/** The report as text: a row per kind, then what was kept and deleted (errors go to stderr). */
export function formatReport(report: HousekeepingReport, workflowId: string): string {
  const lines = [`housekeeping ${report.dryRun ? '(dry run: nothing was deleted) ' : ''}at ${report.startedAt}, workflow ${workflowId}`];
  const header = ['KIND', 'WINDOW', report.dryRun ? 'WOULD DELETE' : 'DELETED', 'FILES', 'SIZE', 'KEPT', 'LOCATION'];
  const rows = report.kinds.map((k) => [
    k.kind,
    `${k.windowDays} d`,
    `${k.deleted.count} ${UNITS[k.kind][k.deleted.count === 1 ? 0 : 1]}`,
    String(k.deleted.files),
    formatBytes(k.deleted.bytes),
    String(k.keptCount),
    k.location,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) lines.push(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  lines.push(`in flight: ${report.inFlight.length > 0 ? report.inFlight.join(', ') : 'none'}`);
  const kept = report.kinds.flatMap((k) => k.kept.map((e) => `  ${k.kind}: ${e.path} — ${e.reason}`));
  if (kept.length > 0) lines.push('kept:', ...kept);
  const deleted = report.kinds.flatMap((k) => k.deleted.paths.map((p) => `  ${k.kind}: ${p}`));
  if (deleted.length > 0) lines.push(report.dryRun ? 'would delete:' : 'deleted:', ...deleted);
  return `${lines.join('\n')}\n`;
}

/** Starts the housekeeping workflow on the run task queue and waits for its report. */
async function runHousekeeping(config: SluiceConfig, options: { dryRun: boolean; timeoutS: number }): Promise<{ workflowId: string; report?: HousekeepingReport; error?: string }> {
  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const workflowId = `sluice-housekeeping-manual-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const handle = await client.workflow.start<typeof housekeepingWorkflow>(HOUSEKEEPING_WORKFLOW_TYPE, {
      taskQueue: config.temporal.taskQueue,
      workflowId,
      args: [{ dryRun: options.dryRun }],
      // With no worker on the task queue, the workflow ends instead of waiting forever.
      workflowExecutionTimeout: options.timeoutS * 1000,
    });
    try {
      return { workflowId, report: (await handle.result()) as HousekeepingReport };
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) throw error;
      if (error.cause instanceof TimeoutFailure) {
        return {
          workflowId,
          error: `housekeeping did not finish within ${options.timeoutS} s; is a worker running on task queue "${config.temporal.taskQueue}" (sluice worker, or sluice dev)? A longer --timeout gives it more time`,
        };
      }
      if (error.cause instanceof ApplicationFailure && error.cause.type === HOUSEKEEPING_INCOMPLETE_TYPE) {
        return { workflowId, report: error.cause.details?.[0] as HousekeepingReport, error: error.cause.message };
      }
      return { workflowId, error: `housekeeping failed: ${error.cause?.message ?? error.message}` };
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Adds `sluice housekeeping run` to a program. */
export function addHousekeepingCommands(program: Command): void {
  const housekeeping = program.command('housekeeping').description('retention: delete old backups, rejected-row files, logs and staged data (never those of runs in flight)');
  housekeeping
    .command('run')
    .description('run the housekeeping workflow now on the environment\'s workers, wait, and print its report')
    .option('--dry-run', 'report what would be deleted; delete nothing')
    .option('--json', 'print the report as one JSON object: { workflow_id, report, error? }')
    .option('--timeout <seconds>', `give up after this many seconds (default ${DEFAULT_TIMEOUT_S})`, seconds({ atLeast: 1 }))
    .action(async (options: { dryRun?: boolean; json?: boolean; timeout?: number }, command: Command) => {
      const config = configFrom(command);
      const { workflowId, report, error } = await runHousekeeping(config, { dryRun: options.dryRun ?? false, timeoutS: options.timeout ?? DEFAULT_TIMEOUT_S });
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ workflow_id: workflowId, report: report ?? null, ...(error ? { error } : {}) })}\n`);
      } else {
        if (report) process.stdout.write(formatReport(report, workflowId));
        if (error) process.stderr.write(`error: ${error}\n`);
      }
      if (error) throw new ExitError(1);
    });
}
