/**
 * The run model shared by workflows, activities, the worker, the client SDK and the CLI.
 *
 * Terminology (used everywhere: code, CLI, API, docs):
 * - **connector**: a named, authenticated link to one external system (a local folder, a Postgres
 *   database, later an S3 bucket). Defined in config; its credentials never leave the worker.
 * - **flow**: a mapping template (source connector + format, target connector + table, fields,
 *   rules, reject policy), written as YAML.
 * - **flow version**: an immutable, content-hashed snapshot of a flow, named `flow:vN`.
 * - **run**: one execution of a flow version against one `source_path`; one Temporal workflow.
 * - **source_path**: a file path or URI for file connectors; a batch identifier bound as a query
 *   parameter for database connectors (never interpolated).
 * - **staging**: where a run keeps its intermediate Parquet files; only references to them travel
 *   through Temporal.
 * - **reject**: a source row that failed a cast or a rule, kept with its original values, its row
 *   number and one error per failed rule.
 * - **reprocess**: a run whose source is the unresolved rejects of an earlier run of the same flow
 *   (`rejects_of`); its source_path reads `rejects-of:<run-id>`.
 * - **lineage**: `_sluice_run_id`, `_sluice_source_row` on loaded rows (transform/lineage.ts).
 *
 * This module is imported by workflow code, so it imports only `@temporalio/workflow` and types.
 */
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';
import { defineQuery } from '@temporalio/workflow';
import type { DryRunReport } from './dry-run-report';

/** The task queue every Sluice worker polls unless configured otherwise. */
export const DEFAULT_TASK_QUEUE = 'sluice';

/** Run states, exactly; see README.md "Run states". */
export const RUN_STATUSES = [
  'CREATED',
  'SYNCING_SOURCE',
  'TRANSFORMING',
  'SYNCING_TARGET',
  'SUCCEEDED',
  'PARTIAL_FAILED',
  'FAILED',
  'CRASHED',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Terminal states: a run in one of these never changes again. */
export const TERMINAL_STATUSES: readonly RunStatus[] = ['SUCCEEDED', 'PARTIAL_FAILED', 'FAILED', 'CRASHED'];

/** Search attributes Sluice registers on the Temporal namespace, so runs can be filtered in the UI. */
export const SEARCH_ATTRIBUTES: Record<'flow' | 'flowVersion' | 'status' | 'startedBy', SearchAttributeKey<'KEYWORD'>> = {
  flow: { name: 'SluiceFlow', type: 'KEYWORD' },
  flowVersion: { name: 'SluiceFlowVersion', type: 'KEYWORD' },
  status: { name: 'SluiceStatus', type: 'KEYWORD' },
  /** The user who started the run (common/users.ts). */
  startedBy: { name: 'SluiceStartedBy', type: 'KEYWORD' },
};

/** Step names as they appear in `metadata.steps` and `metadata.error.step`. */
export type StepName = 'sync_source' | 'transform' | 'sync_target';

/** Timing and counters of one step; times are ISO-8601 strings, durations milliseconds. */
export interface StepMetadata {
  started_at: string;
  ended_at?: string;
  duration_ms?: number;
  [detail: string]: unknown;
}

/**
 * `metadata.steps.transform.map` of a flow with a custom map: which file ran (its sha256 is the one
 * the flow version recorded) and how many rows went in, came out mapped, and were rejected by it.
 * Rows a map neither returns nor rejects (merged by a group-by, say) are `rows_in - rows_out - rejected`.
 */
export interface CustomMapMetadata {
  path: string;
  sha256: string;
  rows_in: number;
  rows_out: number;
  rejected: number;
}

/**
 * One entry of `metadata.steps.sync_target.links`: a link step of the target (`target.link[index]`)
 * and the rows it affected (Postgres' row count; null for a statement that reports none).
 */
export interface LinkStepMetadata {
  index: number;
  rows: number | null;
}

/** What went wrong when a run is FAILED or CRASHED. `code` is stable; `message` says how to fix it. */
export interface RunError {
  code: string;
  message: string;
  step: StepName | 'start';
}

/**
 * Something a run noticed that did not fail it, e.g. `EMPTY_SOURCE` (the source_path read 0 rows). Kept in
 * `metadata.warnings` and printed by the CLI.
 */
export interface RunWarning {
  code: string;
  message: string;
  step: StepName;
}

/**
 * Progress of the transform step while it runs: chunks mapped so far of the run's total. `rows.mapped` and
 * `rows.rejected` grow with each chunk and take their final values (after dedupe and a custom map) when the step ends.
 */
export interface TransformProgress {
  chunks_done: number;
  chunks_total: number;
}

/** The document returned by the `metadata` query and kept as the workflow's final state. */
export interface RunMetadata {
  run: {
    id: string;
    execution_id: string;
    flow_version: string;
    source_path: string;
    run_metadata: Record<string, unknown>;
    /** The user who started the run (an API token's user, the CLI's acting user, or whoever applied the schedule). Absent on runs started before users existed. */
    started_by?: string;
  };
  status: RunStatus;
  rows: { read: number; mapped: number; rejected: number; written: number };
  rejects: { location: string | null; by_rule: Record<string, number> };
  steps: Partial<Record<StepName, StepMetadata>>;
  error?: RunError;
  /** Absent when there is none. */
  warnings?: RunWarning[];
  /** Set once the transform step starts. */
  progress?: TransformProgress;
  /** Present (true) on a dry run: nothing was written to the target (see docs/rejects.md "Dry runs"). */
  dry_run?: true;
  /** A dry run's report, set once its transform ended (common/dry-run-report.ts). */
  dry_run_report?: DryRunReport;
  /**
   * Present on a reprocess (docs/rejects.md "Reprocessing rejects"): the earlier run whose rejects are this run's
   * source, and, once loaded, how many of them were `recovered` (loaded, their rejects marked resolved) and how many
   * are `still_rejected` (rejects of this run now, with its reasons).
   */
  rejects_of?: {
    run_id: string;
    execution_id: string;
    flow_version: string;
    /** The source_path the rejected rows were read from in the first place (their row numbers are lines of it). */
    source_path: string;
    recovered?: number;
    still_rejected?: number;
  };
}

/** The source_path of a reprocess: `rejects-of:<run-id>` (part of its run id, shown wherever a source_path is). */
export const REJECTS_OF_PREFIX = 'rejects-of:';

/** `rejects-of:<run-id>`. */
export function rejectsOfSourcePath(runId: string): string {
  return `${REJECTS_OF_PREFIX}${runId}`;
}

/**
 * Which rejects a reprocess reads: the earlier run's loaded execution (its rejects table rows with that
 * `execution_id`, not yet resolved). Names and ids only, never rows.
 */
export interface RejectsOfRef {
  /** The earlier run (workflow) id. */
  runId: string;
  /** Its execution whose load wrote the rejects. */
  executionId: string;
  /** Its flow version (`flow:vN`), whose spec names the rejects table. */
  flowVersion: string;
  /** The original source_path of the rows (for a chain of reprocesses, the first run's). */
  sourcePath: string;
}

/**
 * True for a run that ended SUCCEEDED on a source_path that read 0 rows (the `EMPTY_SOURCE` warning): it wrote
 * nothing, so the client and pipelines start the same (flow version, source_path) again instead of calling it loaded.
 */
export function isEmptyRun(metadata: Pick<RunMetadata, 'status' | 'warnings'> | undefined): boolean {
  return metadata?.status === 'SUCCEEDED' && (metadata.warnings ?? []).some((w) => w.code === 'EMPTY_SOURCE');
}

/** Input of the `runFlow` workflow. Holds names and references only, never data or credentials. */
export interface RunFlowInput {
  /** `flow:vN`, e.g. `movies:v1`. */
  flowVersion: string;
  sourcePath: string;
  runMetadata?: Record<string, unknown>;
  /**
   * The environment the run belongs to (`dev`, `test`, `prod`, …), stamped by whoever starts it. Every activity of
   * the run carries it, and a worker of another environment refuses them (`WRONG_ENVIRONMENT`). Absent only in runs
   * started before environments were stamped: those are not checked.
   */
  environment?: string;
  /**
   * A dry run: sync the source and transform it, then report what a real run would write (counts, rejects by rule,
   * sample rejects, inserts vs updates) without writing anything to the target. Its run id ends in `-dry-<random>`,
   * so it neither counts as loading the source_path nor is refused because of an earlier run.
   */
  dryRun?: boolean;
  /**
   * The user who started the run: `${secret:NAME}` in the run's connectors resolves to this user's secret, else the
   * org's. A name, never a credential. Absent on runs started before users existed: those resolve as `local`.
   */
  startedBy?: string;
  /**
   * A reprocess: the source is the unresolved rejects of this earlier run (staged by `stageRejectsOf`), not
   * `sourcePath` (which is then `rejects-of:<run-id>`). `max_reject_ratio` does not apply.
   */
  rejectsOf?: RejectsOfRef;
}

/**
 * What every activity input of a run or pipeline run may carry: the environment its work belongs to. A worker
 * refuses an activity stamped for another environment than its own (worker/environment-guard.ts).
 */
export interface EnvironmentStamp {
  environment?: string;
}

/** Failure types a finished-but-unsuccessful run raises, so Temporal marks the execution failed. */
export const RUN_FAILED_TYPE = 'SluiceRunFailed';
export const RUN_CRASHED_TYPE = 'SluiceRunCrashed';

export const statusQuery = defineQuery<RunStatus>('status');
export const metadataQuery = defineQuery<RunMetadata>('metadata');

