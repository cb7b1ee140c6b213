/**
 * Retention housekeeping: `sweepKind`, run once per kind by the `sweepRetention` activity of the `housekeeping`
 * workflow (activities/housekeeping-activities.ts, workflows/housekeeping.ts), deletes what is older than its window of `retention`
 * (`retentionSettings(config)`, from the worker's own config):
 *
 * | kind | what | older than its window when |
 * |---|---|---|
 * | `backup` | date folders `YYYY-MM-DD` under `data/backup/` (at any depth) | the whole day (UTC) is older than `backup_days` |
 * | `errors` | date folders under `data/errors/` (`<pipeline>/<YYYY-MM-DD>/`, at any depth) | the whole day (UTC) is older than `errors_days` |
 * | `logs` | files under `logs/` (any depth) | last modified more than `logs_days` ago |
 * | `staging` | staged data of finished run executions (and the `data.pipeline` scope of their run) | `finished.json` older than `staging_days`; `Staging.sweep` deletes |
 *
 * A date folder is read as a UTC day (as `{date}` in target paths renders): with `backup_days: 30`, today's folder
 * and the 30 before it are kept. Files outside date folders under `data/backup` and `data/errors` are never touched.
 *
 * **Files of a run in flight are never touched.** Right before it sweeps, each activity lists the workflows
 * still running in the namespace (Temporal visibility: `ExecutionStatus = 'Running'`, every type but
 * `housekeeping` — runs, and pipelines or anything else that writes files). Then it keeps:
 * - any file or folder whose path, relative to the project dir, contains the workflow id (the run id), its
 *   staging-safe form, or the execution id of one of them;
 * - any date folder of a day one of them may be writing (pipelines write `data/backup/<date>/` and
 *   `data/errors/<pipeline>/<date>/` without run ids in the paths): a `YYYY-MM-DD` in its workflow id (a pipeline
 *   run or backfill for that date; a scheduled start's time) or the day it started, and the day before and after;
 * - any file modified within the last hour (covers a run started after the listing, or not yet visible);
 * - today's date folder (UTC), whatever the window;
 * - staged executions without `finished.json` (unfinished runs; `Staging.sweep` never deletes them), and the
 *   `data.pipeline` scope of a run id that is in flight again.
 * A date folder holding something kept stays, with only what is kept in it. Every kept entry is in the report.
 *
 * With `dryRun` nothing is deleted and the report says what would be.
 */
import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { projectPaths, retentionSettings, type RetentionSettings, type SluiceConfig } from '../config/sluice-config';
import { purgePipelineData } from '../storage/data-store';
import type { Staging } from '../storage/staging';
import { HOUSEKEEPING_WORKFLOW_TYPE } from '../common/workflow-types';

/** What retention applies to. */
export type RetentionKind = 'backup' | 'errors' | 'logs' | 'staging';

/** Input of the `housekeeping` workflow. */
export interface HousekeepingInput {
  /** Report what would be deleted, delete nothing. @default false */
  dryRun?: boolean;
}

/**
 * The signature of the `housekeeping` workflow (workflows/housekeeping.ts), declared here so schedules and the CLI
 * start it type-checked without importing workflow code; `workflows/workflow-types.test.ts` fails to compile if the
 * workflow drifts from it.
 */
export type HousekeepingWorkflow = (input?: HousekeepingInput) => Promise<HousekeepingReport>;

/** Input of `sweepRetention`: one kind, the workflow's clock. */
export interface SweepRetentionInput {
  kind: RetentionKind;
  dryRun: boolean;
  /** "Now" for the windows, in ms since the epoch (the workflow's time, the same for every kind). */
  nowMs: number;
}

/** Something kept although it is older than its window, and why. */
export interface KeptEntry {
  /** Relative to the project dir (a run key for staging). */
  path: string;
  reason: string;
}

/** What one kind's sweep deleted (or, in a dry run, would delete) and kept. */
export interface SweepRetentionResult {
  kind: RetentionKind;
  windowDays: number;
  /** The folder swept, relative to the project dir, or the staging location. */
  location: string;
  deleted: {
    /** Date folders (backup, errors), files (logs) or run executions (staging) deleted whole. */
    count: number;
    /** Files deleted (for staging: objects or files of the executions deleted). */
    files: number;
    bytes: number;
    /** What was deleted whole, and inside a folder that stays for something kept, what went from it (the first 100). */
    paths: string[];
  };
  /** What was kept although older than the window (the first 100), and why. */
  kept: KeptEntry[];
  keptCount: number;
  /** Workflow ids of the runs in flight when this kind was swept (the first 100). */
  inFlight: string[];
  /** Staging only: run ids whose `data.pipeline` scope was (or would be) deleted. */
  pipelineDataPurged?: string[];
}

/** The `housekeeping` workflow's result. */
export interface HousekeepingReport {
  dryRun: boolean;
  /** The workflow's "now", ISO 8601. */
  startedAt: string;
  windows: RetentionSettings;
  kinds: SweepRetentionResult[];
  /** Workflow ids in flight seen by any kind's sweep (the first 100). */
  inFlight: string[];
  /** Kinds whose sweep failed (after retries), with the reason; the other kinds ran. */
  errors: { kind: RetentionKind; message: string }[];
}

/** A workflow running when the sweep started. */
export interface InFlightRun {
  workflowId: string;
  /** The execution id (Temporal run id). */
  runId: string;
  workflowType: string;
  /** When it started, ISO 8601. */
  startTime?: string;
}

const DAY_MS = 86_400_000;
/** Files modified this recently are kept, whatever their window. */
const RECENT_WRITE_MS = 3_600_000;
const LIST_LIMIT = 100;
const DATE_FOLDER = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The UTC start of the day a `YYYY-MM-DD` folder name stands for, in ms; null when it is not a real date. */
export function dateFolderDay(name: string): number | null {
  const match = DATE_FOLDER.exec(name);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(year, month - 1, day);
  const back = new Date(ms);
  return back.getUTCFullYear() === year && back.getUTCMonth() === month - 1 && back.getUTCDate() === day ? ms : null;
}

/**
 * Whether a date folder is past its window: the whole day (UTC) ended more than `windowDays` ago. Today's folder
 * never is. False for a name that is not a date.
 */
export function isDateFolderExpired(name: string, windowDays: number, nowMs: number): boolean {
  const day = dateFolderDay(name);
  if (day === null) return false;
  const today = Math.floor(nowMs / DAY_MS) * DAY_MS;
  if (day >= today) return false;
  return day + DAY_MS + windowDays * DAY_MS <= nowMs;
}

/** The staging-safe form of an id, as in staging run keys (storage/staging.ts `runKeyOf`). */
const safeId = (id: string) => id.replace(/[^A-Za-z0-9_.-]/g, '_');

/** Why `relPath` belongs to a run in flight (naming the run), or null. */
export function inFlightReason(relPath: string, inFlight: InFlightRun[]): string | null {
  for (const run of inFlight) {
    const ids = [run.workflowId, safeId(run.workflowId), run.runId].filter((id) => id.length > 0);
    if (ids.some((id) => relPath.includes(id))) return `${run.workflowType} ${run.workflowId} is in flight`;
  }
  return null;
}

/**
 * The days (UTC ms) whose date folders a run in flight may be writing, with why: every `YYYY-MM-DD` in its
 * workflow id (a pipeline run for a date, a scheduled or backfilled start) and the day it started, each with the
 * day before and after (a pipeline's date is in its schedule's time zone).
 */
export function inFlightDays(inFlight: InFlightRun[]): Map<number, string> {
  const days = new Map<number, string>();
  for (const run of inFlight) {
    const found: { day: number; why: string }[] = [];
    for (const match of run.workflowId.matchAll(/\d{4}-\d{2}-\d{2}/g)) {
      const day = dateFolderDay(match[0]);
      if (day !== null) found.push({ day, why: `for ${match[0]}` });
    }
    const started = run.startTime ? Date.parse(run.startTime) : NaN;
    if (!Number.isNaN(started)) found.push({ day: Math.floor(started / DAY_MS) * DAY_MS, why: `since ${new Date(started).toISOString().slice(0, 10)}` });
    for (const { day, why } of found) {
      for (const near of [day - DAY_MS, day, day + DAY_MS]) if (!days.has(near)) days.set(near, `${run.workflowType} ${run.workflowId} is in flight ${why}`);
    }
  }
  return days;
}

/** Everything one sweep needs; the pure part of the activity, usable without Temporal. */
export interface SweepOptions {
  config: SluiceConfig;
  staging: Staging;
  dryRun: boolean;
  nowMs: number;
  inFlight: InFlightRun[];
  /** Called every few hundred entries (the activity heartbeats). */
  heartbeat?: () => void;
  logger?: Logger;
  /** Files modified after this are kept. @default Date.now() - RECENT_WRITE_MS */
  recentSinceMs?: number;
}

/** `full` relative to the project dir, with `/` separators (as paths are reported). */
const relativePath = (projectDir: string, full: string): string => path.relative(projectDir, full).split(path.sep).join('/');

/** Collects one kind's report while walking. */
class Sweep {
  readonly result: SweepRetentionResult;
  private touched = 0;
  readonly recentSinceMs: number;
  /** Date folders kept whole because a run in flight may write them. */
  readonly busyDays: Map<number, string>;

  constructor(
    readonly options: SweepOptions,
    kind: RetentionKind,
    windowDays: number,
    location: string,
  ) {
    this.recentSinceMs = options.recentSinceMs ?? Date.now() - RECENT_WRITE_MS;
    this.busyDays = inFlightDays(options.inFlight);
    this.result = {
      kind,
      windowDays,
      location,
      deleted: { count: 0, files: 0, bytes: 0, paths: [] },
      kept: [],
      keptCount: 0,
      inFlight: options.inFlight.slice(0, LIST_LIMIT).map((r) => r.workflowId),
    };
  }

  rel(full: string): string {
    return relativePath(this.options.config.projectDir, full);
  }

  tick(): void {
    if (++this.touched % 200 === 0) this.options.heartbeat?.();
  }

  keep(relPath: string, reason: string): void {
    this.result.keptCount += 1;
    if (this.result.kept.length < LIST_LIMIT) this.result.kept.push({ path: relPath, reason });
  }

  deletedWhole(relPath: string): void {
    this.result.deleted.count += 1;
    this.listDeleted(relPath);
  }

  /** Lists a path deleted whole inside a folder that stays (not counted as a unit). */
  listDeleted(relPath: string): void {
    if (this.result.deleted.paths.length < LIST_LIMIT) this.result.deleted.paths.push(relPath);
  }

  deletedFile(bytes: number): void {
    this.result.deleted.files += 1;
    this.result.deleted.bytes += bytes;
  }
}

const ignoreMissing = (error: unknown) => {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
};

async function entriesOf(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * Deletes a file or a folder tree, except what is protected (in flight, or written recently).
 * @returns true when `full` is gone (or would be, in a dry run).
 */
async function deleteTree(full: string, sweep: Sweep): Promise<boolean> {
  sweep.tick();
  const rel = sweep.rel(full);
  const protectedBy = inFlightReason(rel, sweep.options.inFlight);
  if (protectedBy) {
    sweep.keep(rel, protectedBy);
    return false;
  }
  let info;
  try {
    info = await lstat(full);
  } catch (error) {
    ignoreMissing(error);
    return true;
  }
  if (info.isDirectory()) {
    const gone: string[] = [];
    let all = true;
    for (const child of await entriesOf(full)) {
      const childPath = path.join(full, child.name);
      if (await deleteTree(childPath, sweep)) gone.push(childPath);
      else all = false;
    }
    if (!all) {
      // The folder stays for what is kept in it; list what went.
      for (const childPath of gone) sweep.listDeleted(sweep.rel(childPath));
      return false;
    }
    if (!sweep.options.dryRun) {
      try {
        await rmdir(full);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOTEMPTY') {
          sweep.keep(rel, 'something was written into it during the sweep');
          return false;
        }
        ignoreMissing(error);
      }
    }
    return true;
  }
  if (info.mtimeMs > sweep.recentSinceMs) {
    sweep.keep(rel, 'modified within the last hour');
    return false;
  }
  if (!sweep.options.dryRun) await unlink(full).catch(ignoreMissing);
  sweep.deletedFile(info.size);
  return true;
}

/** Walks `dir` for date folders (not into them); deletes those past the window. Other files are left alone. */
async function sweepDateFolders(dir: string, sweep: Sweep): Promise<void> {
  for (const entry of await entriesOf(dir)) {
    if (!entry.isDirectory()) continue;
    const full = path.join(dir, entry.name);
    if (dateFolderDay(entry.name) === null) {
      await sweepDateFolders(full, sweep);
      continue;
    }
    sweep.tick();
    if (!isDateFolderExpired(entry.name, sweep.result.windowDays, sweep.options.nowMs)) continue;
    const busy = sweep.busyDays.get(dateFolderDay(entry.name)!);
    if (busy) {
      sweep.keep(sweep.rel(full), busy);
      continue;
    }
    if (await deleteTree(full, sweep)) sweep.deletedWhole(sweep.rel(full));
  }
}

/** Deletes files under `dir` last modified before `cutoffMs`; removes sub-folders it emptied. @returns files deleted. */
async function sweepFilesByAge(dir: string, cutoffMs: number, sweep: Sweep): Promise<number> {
  let deleted = 0;
  for (const entry of await entriesOf(dir)) {
    const full = path.join(dir, entry.name);
    sweep.tick();
    if (entry.isDirectory()) {
      const inside = await sweepFilesByAge(full, cutoffMs, sweep);
      deleted += inside;
      if (inside > 0 && !sweep.options.dryRun) await rmdir(full).catch(() => undefined); // only when now empty
      continue;
    }
    let info;
    try {
      info = await lstat(full);
    } catch (error) {
      ignoreMissing(error);
      continue;
    }
    if (info.mtimeMs >= cutoffMs) continue;
    if (await deleteTree(full, sweep)) {
      sweep.deletedWhole(sweep.rel(full));
      deleted += 1;
    }
  }
  return deleted;
}

async function sweepStaging(sweep: Sweep): Promise<void> {
  const { config, staging, dryRun, nowMs, inFlight, logger } = sweep.options;
  const windowMs = sweep.result.windowDays * DAY_MS;
  const executions = await staging.executions();
  sweep.options.heartbeat?.();
  for (const execution of executions) {
    if (execution.finishedAtMs !== null) continue;
    sweep.keep(execution.runKey, inFlightReason(execution.runKey, inFlight) ?? 'unfinished (no finished.json): staging never deletes it; delete it by hand if its run is gone');
  }
  const expired = executions.filter((e) => e.finishedAtMs !== null && e.finishedAtMs < nowMs - windowMs).map((e) => e.runKey);
  // The deleting is Staging.sweep's (the same rule, on its own clock); a dry run reports what it would delete.
  const deleted = dryRun ? expired : await staging.sweep(windowMs);
  const sizes = new Map(executions.map((e) => [e.runKey, e]));
  for (const runKey of deleted) {
    sweep.deletedWhole(runKey);
    sweep.result.deleted.files += sizes.get(runKey)?.files ?? 0;
    sweep.result.deleted.bytes += sizes.get(runKey)?.bytes ?? 0;
  }
  const purged: string[] = [];
  for (const runId of new Set(deleted.map((runKey) => runKey.split('/')[0]!))) {
    const busy = inFlight.find((r) => safeId(r.workflowId) === runId);
    if (busy) {
      sweep.keep(`data.pipeline ${runId}`, `${busy.workflowType} ${busy.workflowId} is in flight again: its data.pipeline scope is kept`);
      continue;
    }
    if (!dryRun) {
      try {
        await purgePipelineData(config, runId);
      } catch (error) {
        logger?.warn({ err: error, runId }, 'housekeeping: could not delete the data.pipeline scope of a swept run');
        continue;
      }
    }
    purged.push(runId);
  }
  sweep.result.pipelineDataPurged = purged.slice(0, LIST_LIMIT);
}

/**
 * Sweeps one kind (see the module doc for the rules). Pure of Temporal: the activity adds the in-flight listing
 * and heartbeats.
 */
export async function sweepKind(kind: RetentionKind, options: SweepOptions): Promise<SweepRetentionResult> {
  const windows = retentionSettings(options.config);
  const paths = projectPaths(options.config);
  const rel = (full: string) => relativePath(options.config.projectDir, full);
  switch (kind) {
    case 'backup': {
      const sweep = new Sweep(options, kind, windows.backupDays, rel(paths.backup));
      await sweepDateFolders(paths.backup, sweep);
      return sweep.result;
    }
    case 'errors': {
      const sweep = new Sweep(options, kind, windows.errorsDays, rel(paths.errors));
      await sweepDateFolders(paths.errors, sweep);
      return sweep.result;
    }
    case 'logs': {
      const sweep = new Sweep(options, kind, windows.logsDays, rel(paths.logs));
      await sweepFilesByAge(paths.logs, options.nowMs - windows.logsDays * DAY_MS, sweep);
      return sweep.result;
    }
    case 'staging': {
      const sweep = new Sweep(options, kind, windows.stagingDays, options.staging.location);
      await sweepStaging(sweep);
      return sweep.result;
    }
  }
}

/** The workflows running in the namespace (but housekeeping itself), from Temporal visibility. */
export async function listInFlightFromVisibility(client: Client): Promise<InFlightRun[]> {
  const runs: InFlightRun[] = [];
  for await (const execution of client.workflow.list({ query: `ExecutionStatus = 'Running' AND WorkflowType != '${HOUSEKEEPING_WORKFLOW_TYPE}'` })) {
    runs.push({ workflowId: execution.workflowId, runId: execution.runId, workflowType: execution.type, startTime: execution.startTime.toISOString() });
  }
  return runs;
}
