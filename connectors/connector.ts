/**
 * The connector interface. A connector is a named, authenticated link to one external system;
 * its credentials are resolved inside the worker and never leave it.
 *
 * - A **source** stages one `source_path` as Parquet files in the run's staging folder, streaming
 *   (a large source never sits whole in memory), and returns references to them. The `local` source may
 *   instead hold a small file whole in the worker's memory for a one-pass run (`hold`).
 * - A **target** loads a run's mapped and rejected Parquet chunks inside a transaction it owns,
 *   effectively once: a retried load neither duplicates nor loses a row.
 *
 * - Both **check** themselves (`check()`): `sluice test-connections` is orchestration over these checks.
 *
 * New connector kinds implement these two interfaces in their own folder, register in
 * `connectors/registry.ts` (construction and `check()`), add one line to
 * tests/integration/connector-conformance.test.ts, and a section to docs/connectors.md.
 */
import type { LinkStepMetadata, RejectsOfRef } from '../common/run-model';
import type { DataFrame } from 'nodejs-polars';
import type { FlowSpec, SourceFormat } from '../flows/flow-spec';
import type { ListRejectsRequest, RejectsPage, RejectsSummary, RejectsTarget } from './rejects';

/** Options of a connector's `check()`. */
export interface CheckOptions {
  /** Give up after this many milliseconds (the result then says so). @default 10000 */
  timeoutMs?: number;
  /** Aborted when the caller gives up: the check closes what it opened and returns. */
  signal?: AbortSignal;
}

/**
 * What a connector's `check()` found: reachable, authenticated, and the configured query, table, bucket or
 * path valid. Never holds a secret (URL passwords and keys are masked). One row of `sluice test-connections`.
 */
export interface CheckResult {
  ok: boolean;
  /** OK: what was verified (`PostgreSQL 16.4, SELECT 1 ok`); FAILED: what failed and what to fix. */
  reason: string;
  /** FAILED: the stable error code when the failure is one (`AUTH_FAILED`, `INVALID_QUERY`, `SOURCE_NOT_FOUND`…). */
  code?: string;
  /** Facts found on the way: server version, root, buckets checked… */
  detail?: Record<string, unknown>;
}

/** Progress callback: called at least once per chunk, so activities can heartbeat. */
export type ProgressFn = (progress: { rows: number; chunk: number }) => void;

export interface StageSourceRequest {
  sourcePath: string;
  spec: FlowSpec;
  /** Absolute folder to write staged Parquet files into; it exists and is empty. */
  stagingDir: string;
  /** Target rows per staged file for chunked sources. */
  chunkRows: number;
  onProgress: ProgressFn;
  /** Aborted when the activity is cancelled. */
  signal: AbortSignal;
}

export interface StagedSource {
  /** Staged Parquet files, in source order, with their row counts. Paths are absolute. */
  files: { path: string; rows: number }[];
  rows: number;
  columns: string[];
  /** The format actually read (from the spec, or the file extension); `rejects` for a reprocess's staged rejects. */
  format: SourceFormat | 'query' | 'rejects';
}

/** What {@link SourceConnector.hold} reads: a stage request without the staging folder, and a size limit. */
export interface HoldSourceRequest extends Pick<StageSourceRequest, 'sourcePath' | 'spec' | 'onProgress' | 'signal'> {
  /** Files larger than this many bytes are not held: `hold` returns undefined and the run stages them. */
  maxBytes: number;
}

/** A source read whole into the worker's memory by {@link SourceConnector.hold}. */
export interface HeldSource {
  /** Every row, with the columns staging would give them (text for CSV, nested values as JSON text). */
  frame: DataFrame;
  rows: number;
  columns: string[];
  format: SourceFormat;
  /** The file's size in bytes and its modification time (ms since the epoch) when it was read. */
  bytes: number;
  mtimeMs: number;
}

/** What {@link TargetConnector.stageRejects} stages: the unresolved rejects of an earlier run, as a reprocess's source. */
export interface StageRejectsRequest {
  rejectsOf: RejectsOfRef;
  /** Absolute folder to write staged Parquet files into; it exists and is empty. */
  stagingDir: string;
  /** Rows per staged file. */
  chunkRows: number;
  onProgress: ProgressFn;
  signal: AbortSignal;
}

/** What {@link SourceConnector.afterLoad} is told: the loaded source_path and the run's start day. */
export interface AfterLoadRequest {
  sourcePath: string;
  /** YYYY-MM-DD (UTC): the run's start day, for `{date}` in a destination. */
  date: string;
}

export interface AfterLoadResult {
  /** Where the source file is now, relative to the connector's root. */
  movedTo: string;
}

export interface SourceConnector {
  readonly kind: string;
  /**
   * Present when the connector does something with a source_path once a run loaded it (SUCCEEDED or
   * PARTIAL_FAILED, rows written): the sftp connector's `after_load.move_to`. Idempotent: called again
   * after it succeeded (an activity retry), it reports the same result without moving anything.
   */
  readonly afterLoad?: (request: AfterLoadRequest) => Promise<AfterLoadResult>;
  /**
   * Connection test: reachable, authenticated, and what the source reads (root, query, bucket) valid.
   * Never rejects: a failure is `{ ok: false, reason }` (see {@link CheckResult}); runs at most `timeoutMs`.
   */
  check(options?: CheckOptions): Promise<CheckResult>;
  /**
   * Streams the source into Parquet files under `request.stagingDir`.
   * @throws SourceError for user-fixable problems (missing file, unreadable format, path outside the root).
   */
  stage(request: StageSourceRequest): Promise<StagedSource>;
  /**
   * Present when the connector can read a source_path whole into memory instead of staging it (the `local`
   * connector: its files stay where they are, so a retry on another worker reads them again). The same
   * checks and errors as `stage`.
   * @returns undefined when the file is larger than `request.maxBytes`.
   * @throws SourceError as `stage`.
   */
  hold?(request: HoldSourceRequest): Promise<HeldSource | undefined>;
}

export interface LoadRequest {
  /** The run (workflow) id, stored with every reject. */
  runId: string;
  /** Identifies this execution of the run: the load-ledger key. */
  executionId: string;
  flowVersion: string;
  sourcePath: string;
  spec: FlowSpec;
  /** Mapped chunk files (target fields + row number column), in source order. */
  mappedFiles: string[];
  /** Rejected chunk files (row number, record JSON, errors JSON). */
  rejectedFiles: string[];
  onProgress: ProgressFn;
  signal: AbortSignal;
  /**
   * A reprocess: in the load's transaction, the earlier run's rejects of the mapped rows' row numbers are marked
   * resolved (`resolved_by_run`, `resolved_at`); one already resolved by another run fails the load
   * (`REJECTS_OF_CONFLICT`, nothing written). New rejects get `rejects_of` = the earlier run id and its source_path.
   */
  rejectsOf?: RejectsOfRef;
}

export interface StreamLoadRequest extends Omit<LoadRequest, 'mappedFiles' | 'rejectedFiles'> {
  /**
   * Mapped frames (target fields, plus the row number column, which is dropped) in source order.
   * The next frame is pulled while the previous one is written, so mapping and loading overlap.
   */
  mapped: AsyncIterable<DataFrame>;
  /** Called once every mapped frame is written: the rejected files to load, or null to roll everything back. */
  rejected: () => Promise<string[] | null>;
  /** Called when the first mapped row is handed to the target (the load's real start). */
  onFirstWrite?: () => void;
}

/** The rows one link step affected: `target.link[index]` (see {@link LinkStepMetadata}). */
export type LinkStepResult = LinkStepMetadata;

export interface LoadResult {
  rowsWritten: number;
  rowsRejected: number;
  /** True when the ledger showed this execution already loaded, so nothing was written now. */
  alreadyLoaded: boolean;
  /** Where the mapped rows went, e.g. `warehouse:public.movies`. */
  location: string;
  /** Where the rejected rows went, e.g. `warehouse:public.movies_rejects`. */
  rejectsLocation: string;
  /**
   * Database targets with `target.link`: each statement's row count, in order. Link steps run after
   * the load in its transaction, so a load found done in the ledger reports the counts recorded there.
   */
  links?: LinkStepResult[];
  /** PostgreSQL targets: the format the mapped rows were COPYed in (absent when nothing was COPYed now). */
  copyFormat?: 'binary' | 'csv';
  /** PostgreSQL targets: the format the rejects were COPYed in (absent when none were COPYed now). */
  rejectsCopyFormat?: 'binary' | 'csv';
}

export interface TargetConnector {
  readonly kind: string;
  /** Connection test: reachable, authenticated, loadable (see {@link SourceConnector.check}). Never rejects. */
  check(options?: CheckOptions): Promise<CheckResult>;
  /**
   * Loads mapped and rejected rows and a ledger row keyed by `executionId` in one transaction
   * (database targets also run the flow's `target.link` statements in it, after the rows);
   * returns the ledger's counts without writing when that execution was already loaded.
   * @throws TargetError for user-fixable problems (incompatible existing table, missing key constraint).
   */
  load(request: LoadRequest): Promise<LoadResult>;
  /**
   * Optional, for targets that can overlap the load with the transform (postgres): the same
   * transaction as {@link load}, but the mapped rows arrive as frames the caller produces (maps)
   * while the previous frame is being written; then {@link StreamLoadRequest.rejected} says which
   * rejected files to load, or that the run must write nothing (the transaction is rolled back).
   * @returns the load's result, or null when rolled back on request.
   * @throws TargetError as {@link load}; whatever the frame source throws (after rolling back).
   */
  loadStream?(request: StreamLoadRequest): Promise<LoadResult | null>;
  /**
   * Optional (postgres), for a dry run: what the target holds now, read in a READ ONLY transaction (nothing created
   * or written): whether the table exists, its row count (`countRows`), and how many of the mapped rows' keys it
   * holds (`write: upsert`). See connectors/postgres/dry-run-inspect.ts.
   */
  inspectForDryRun?(request: { spec: FlowSpec; mappedFiles: string[]; countRows: boolean }): Promise<{ location: string; tableExists: boolean; existingRows: number | null; existingKeys: number | null }>;
  /**
   * Optional, for targets that can read rejects back (postgres, s3, mysql): one page of an execution's rejects, in row
   * order, filtered by rule and/or field (see connectors/rejects.ts).
   * @throws InvalidRequestError `INVALID_CURSOR`; TargetError `REJECTS_NOT_READY` (the execution is not loaded),
   *   `REJECTS_GONE` (its rejects table or object is gone or was overwritten).
   */
  listRejects?(request: ListRejectsRequest): Promise<RejectsPage>;
  /**
   * Optional, with {@link listRejects}: rows rejected, errors by (field, rule), most frequent messages.
   * @throws as {@link listRejects}.
   */
  summarizeRejects?(request: RejectsTarget): Promise<RejectsSummary>;
  /**
   * Optional (postgres, mysql), for a reprocess: stages the earlier run's unresolved rejects (not those rejected only
   * as duplicates: `dedupe`) in row order as Parquet files, one column per source column of the original record
   * (values as they were staged) plus `__sluice_source_row` (the original row numbers, transform/lineage.ts).
   * Adds the rejects table's `resolved_by_run` / `resolved_at` / `rejects_of` columns when missing.
   * @throws TargetError `REJECTS_NOT_READY` (the execution is not in the load ledger), `REJECTS_GONE`.
   */
  stageRejects?(request: StageRejectsRequest): Promise<StagedSource>;
  /**
   * Optional (postgres, mysql): whether the flow's target table exists and has the lineage columns
   * (`sluice flows publish`'s notice, cli/lineage-notice.ts). Read-only.
   */
  lineageOf?(spec: FlowSpec): Promise<'present' | 'absent' | 'partial' | 'no-table'>;
  /**
   * Optional: releases what the target itself holds (the s3 target's downloaded rejects objects, see
   * {@link listRejects}). Pools and clients are not the target's: they belong to the ConnectorRegistry (shared by a
   * connector's source and target), which ends them in `forget()` and `close()`; a check opens and closes its own
   * connection.
   */
  close?(): Promise<void>;
}
