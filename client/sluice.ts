/**
 * The Sluice client SDK: start runs of flow versions, follow them, list them.
 *
 * @example
 * ```ts
 * import { Sluice, RunFailedError } from 'sluice/client';
 * const sluice = new Sluice({ address: '127.0.0.1:7233', databaseUrl: process.env.DATABASE_URL });
 * const run = await sluice.run({ flowVersion: 'movies:v1', sourcePath: 'data/movies.json', runMetadata: { ticket: 'OPS-12' } });
 * const metadata = await run.wait({ timeoutMs: 600_000 });  // throws RunFailedError on FAILED / CRASHED
 * console.log(run.status, metadata.rows);                    // 'PARTIAL_FAILED' { read: 3201, … }
 * // A reprocess: movies:v2 on the unresolved rejects of that run (docs/rejects.md "Reprocessing rejects").
 * const fixed = await (await sluice.run({ flowVersion: 'movies:v2', rejectsOf: run.id })).wait();
 * console.log(fixed.rejects_of);                              // { run_id, …, recovered: 93, still_rejected: 10 }
 * await sluice.close();
 * ```
 *
 * A (flow version, source_path) that already SUCCEEDED or PARTIAL_FAILED is refused
 * ({@link InvalidRequestError} `REPEATED_SOURCE_PATH`) unless `forceRerun`; after FAILED or
 * CRASHED, or a SUCCEEDED run that read 0 rows (`EMPTY_SOURCE` warning), it may run again. This is Temporal's workflow-id reuse policy: the run id is derived
 * from the flow version and the source_path.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Client, Connection, WorkflowFailedError, type WorkflowExecutionInfo, type WorkflowHandle } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { executionInfoFromRaw } from '@temporalio/client/lib/helpers';
import type { Pool } from 'pg';
import type { ErrorCode } from '../common/error-codes';
import { InvalidRequestError, TargetError } from '../common/errors';
import { readEnv } from '../common/env';
import { createLogger } from '../common/logger';
import {
  DEFAULT_TASK_QUEUE,
  isEmptyRun,
  RUN_STATUSES,
  SEARCH_ATTRIBUTES,
  TERMINAL_STATUSES,
  rejectsOfSourcePath,
  type RunError,
  type RunFlowInput,
  type RunMetadata,
  type RunStatus,
} from '../common/run-model';
import { RUN_WORKFLOW_TYPE } from '../common/workflow-types';
import { runMetadataSchema, sourcePathSchema } from '../common/run-inputs';
import { DEFAULT_ENVIRONMENT } from '../config/environments';
import { LOCAL_USER, parseUserName } from '../common/users';
import type { runFlow } from '../workflows/run-flow';
import { runSummary } from '../workflows/user-metadata';
import { migrate } from '../db/migrations';
import { createPool, type PoolLogger } from '../db/pg-pool';
import { FlowVersionStore, runIdFor } from '../flows/flow-versions';
import { describeRun, failureMetadata, readRunState } from '../common/run-reader';
import { runFlowDiff, type FlowDiffRequest, type VersionDiffReport } from './flow-diff';
import type { SluiceConfig } from '../config/sluice-config';
import { RejectsReader, type RejectsPage, type RejectsQuery, type RunRejectsSummary } from './rejects';
import { reprocessRequest } from './reprocess-request';

export { InvalidRequestError } from '../common/errors';
export type { FlowDiffRequest, VersionDiffReport } from './flow-diff';
export type { RunMetadata, RunStatus } from '../common/run-model';

/** Thrown by {@link SluiceRun.wait} when the run ends FAILED or CRASHED; carries `metadata.error`. */
export class RunFailedError extends Error {
  override readonly name = 'RunFailedError';
  constructor(
    readonly status: 'FAILED' | 'CRASHED',
    readonly error: RunError,
    readonly metadata: RunMetadata | undefined,
  ) {
    super(`run ${status}: ${error.code}: ${error.message}`);
  }
}

/** Thrown by {@link SluiceRun.wait} when the run is still going after `timeoutMs`. */
export class RunTimeoutError extends Error {
  override readonly name = 'RunTimeoutError';
  constructor(
    readonly runId: string,
    readonly timeoutMs: number,
    readonly lastStatus: RunStatus,
  ) {
    super(`run ${runId} still ${lastStatus} after ${timeoutMs} ms`);
  }
}

export interface SluiceOptions {
  /** Temporal frontend address. @default `TEMPORAL_ADDRESS` or '127.0.0.1:7233' */
  address?: string;
  /** @default 'default' */
  namespace?: string;
  /** @default 'sluice' */
  taskQueue?: string;
  /**
   * The environment runs are started in: stamped into each run (a worker of another environment refuses it) and part
   * of the run id outside `dev`. Pair it with that environment's task queue. @default `SLUICE_ENV`, else `dev`
   */
  environment?: string;
  /** Metadata database (flow versions). @default `DATABASE_URL` */
  databaseUrl?: string;
  /** Use an existing Temporal connection instead of `address`. */
  connection?: Connection;
  /** Where the metadata pool's dropped idle connections are logged. @default a pino logger on stderr (`sluice-client`) */
  logger?: PoolLogger;
  /**
   * The config whose connectors read rejects back ({@link Sluice.rejects}): the workers' config of this environment.
   * @default `loadConfig({ environment })` (sluice.config.yaml in the working directory) on first use
   */
  config?: SluiceConfig;
  /**
   * The user this client acts as: who starts its runs (`metadata.run.started_by`, the `SluiceStartedBy` search
   * attribute) unless a request names another ({@link RunRequest.startedBy}). @default `SLUICE_USER`, else `local`
   */
  user?: string;
}

export interface RunRequest {
  /** `flow:vN`, e.g. 'movies:v1'. */
  flowVersion: string;
  /**
   * A file path or URI, or a batch id for database sources; at most 2,048 characters. Required unless
   * `rejectsOf` is given (then it must be absent: the run's source_path is `rejects-of:<run-id>`).
   */
  sourcePath?: string;
  /**
   * Reprocess: the id of an earlier run of the same flow (any version) whose unresolved rejects are this run's
   * source (docs/rejects.md "Reprocessing rejects"). A repeat of the same version's reprocess of that run is refused
   * (`REJECTS_OF_REPROCESSED`) unless `forceRerun`.
   */
  rejectsOf?: string;
  /** Free-form JSON kept with the run (ticket, requester, …); at most 16 KiB serialised. */
  runMetadata?: Record<string, unknown>;
  /** Run again even if this (flow version, source_path) already SUCCEEDED or PARTIAL_FAILED. */
  forceRerun?: boolean;
  /**
   * A dry run: sync and transform, then report what a real run would write (`metadata.dry_run_report`) without
   * writing anything to the target. Its id is the run id plus `-dry-<8 hex>`: it is never refused because of an
   * earlier run, and never makes a later real run a repeat. `forceRerun` is ignored.
   */
  dryRun?: boolean;
  /**
   * The user starting the run (the gateway passes its token's user): whose `${secret:NAME}` the run resolves.
   * @default the client's {@link SluiceOptions.user}
   */
  startedBy?: string;
}

/** Which runs a listing returns; every field narrows it. */
export interface RunsFilter {
  /** Flow name. */
  flow?: string;
  /** `flow:vN`. */
  flowVersion?: string;
  status?: RunStatus;
  /** Only runs started at or after this time. */
  startedAfter?: Date;
  /** Only runs started before this time. */
  startedBefore?: Date;
}

export interface RunSummary {
  id: string;
  executionId: string;
  flowVersion: string | undefined;
  status: RunStatus | undefined;
  startedAt: Date;
  closedAt: Date | undefined;
  /** From the run's memo; `undefined` before its first transition (or for runs of older workers). */
  sourcePath?: string;
  /** Row counts as of the run's last transition (memo); `undefined` as for `sourcePath`. */
  rows?: RunMetadata['rows'];
  /** Who started the run (`SluiceStartedBy`); `undefined` for runs started before users existed. */
  startedBy?: string;
}

/** The filters of {@link Sluice.listRuns} and {@link Sluice.listRunsPage}. */
export interface RunsFilter {
  /** A flow name. */
  flow?: string;
  /** `flow:vN`. */
  flowVersion?: string;
  status?: RunStatus;
  /** Only runs this user started. */
  startedBy?: string;
}

/** A run's row in a visibility listing. */
function runSummaryOf(execution: WorkflowExecutionInfo): RunSummary {
  const memo = (execution.memo ?? {}) as { source_path?: unknown; rows?: unknown };
  const rows = memo.rows && typeof memo.rows === 'object' ? (memo.rows as RunMetadata['rows']) : undefined;
  const startedBy = execution.typedSearchAttributes.get(SEARCH_ATTRIBUTES.startedBy);
  return {
    id: execution.workflowId,
    executionId: execution.runId,
    flowVersion: execution.typedSearchAttributes.get(SEARCH_ATTRIBUTES.flowVersion),
    status: execution.typedSearchAttributes.get(SEARCH_ATTRIBUTES.status) as RunStatus | undefined,
    startedAt: execution.startTime,
    closedAt: execution.closeTime,
    ...(typeof memo.source_path === 'string' ? { sourcePath: memo.source_path } : {}),
    ...(rows ? { rows } : {}),
    ...(startedBy !== undefined ? { startedBy } : {}),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A handle on one run; `status` and `metadata` are as of the last `refresh()`. */
export class SluiceRun {
  status: RunStatus = 'CREATED';
  metadata: RunMetadata | undefined;
  /** Whether the last `refresh()` found the workflow still open. */
  private open = true;

  constructor(
    readonly id: string,
    private readonly handle: WorkflowHandle,
  ) {}

  /**
   * Reloads status and metadata. A finished run's come from its result (or its failure details),
   * which needs no worker; a running one's from the `metadata` query (which holds the status), with a 5 s
   * deadline. When neither answers (no worker is polling), the status comes from the
   * `SluiceStatus` search attribute and the metadata stays as it was.
   * @throws InvalidRequestError `RUN_NOT_FOUND`.
   */
  async refresh(): Promise<this> {
    const state = await readRunState(this.handle, this.id);
    this.open = state.open;
    this.status = state.status ?? this.status;
    this.metadata = state.metadata ?? this.metadata;
    return this;
  }

  /**
   * Waits until the run reaches a terminal status.
   * @param options.timeoutMs give up after this long. @default no limit
   * @param options.pollIntervalMs with `onProgress`, how often to refresh status and metadata. @default 1000
   * @param options.onProgress called after each refresh (for live progress lines); without it,
   *   the wait is a single long-poll on the run's result and returns as soon as the run ends.
   * @returns the final metadata for SUCCEEDED and PARTIAL_FAILED.
   * @throws RunFailedError on FAILED or CRASHED; RunTimeoutError after `timeoutMs`.
   */
  async wait(options: { timeoutMs?: number; pollIntervalMs?: number; onProgress?: (run: SluiceRun) => void } = {}): Promise<RunMetadata> {
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    const interval = options.pollIntervalMs ?? 1000;
    // The result long-poll ends the wait as soon as the run closes; the interval only paces progress.
    let closed = false;
    const outcome = this.handle.result().then(
      () => (closed = true),
      () => (closed = true),
    );
    for (;;) {
      // Progress costs queries, which the worker answers between workflow tasks: only when asked.
      if (!closed && options.onProgress) {
        await this.refresh(); // one describe per poll; it notes whether the run is still open
        if (!this.open) break;
        options.onProgress(this);
      }
      if (closed) break;
      if (Date.now() >= deadline) {
        await this.refresh().catch(() => undefined);
        throw new RunTimeoutError(this.id, options.timeoutMs!, this.status);
      }
      await Promise.race([outcome, sleep(Math.min(interval, Math.max(0, deadline - Date.now())))]);
    }
    try {
      const metadata = (await this.handle.result()) as RunMetadata;
      this.metadata = metadata;
      this.status = metadata.status;
      options.onProgress?.(this);
      return metadata;
    } catch (error) {
      // FAILED / CRASHED carry the metadata in the failure; a cancelled run recorded it before it
      // ended, readable through the queries while a worker runs.
      const details = failureMetadata(error) ?? (await this.refresh().catch(() => this)).metadata;
      if (details?.error && (details.status === 'FAILED' || details.status === 'CRASHED')) {
        this.metadata = details;
        this.status = details.status;
        options.onProgress?.(this);
        throw new RunFailedError(details.status, details.error, details);
      }
      this.status = 'CRASHED';
      const failure = error instanceof WorkflowFailedError ? error.cause : undefined;
      const message = failure?.message ?? (error as Error).message;
      throw new RunFailedError('CRASHED', { code: 'WORKFLOW_FAILED' satisfies ErrorCode, message, step: 'start' }, this.metadata);
    }
  }

  /** True when the status is terminal. */
  get done(): boolean {
    return TERMINAL_STATUSES.includes(this.status);
  }
}

export class Sluice {
  readonly client: Client;
  private readonly taskQueue: string;
  /** The environment runs are started in (see {@link SluiceOptions.environment}). */
  readonly environment: string;
  private readonly databaseUrl: string | undefined;
  private pool: Pool | undefined;
  /** The metadata database, migrated once, and its (caching) flow version store. */
  private store: Promise<FlowVersionStore> | undefined;
  private readonly connection: Connection;
  private readonly ownConnection: boolean;
  private readonly logger: PoolLogger | undefined;
  private readonly config: SluiceConfig | undefined;
  private rejectsReader: RejectsReader | undefined;
  /** The user this client acts as (see {@link SluiceOptions.user}). */
  readonly user: string;

  constructor(options: SluiceOptions = {}) {
    this.ownConnection = !options.connection;
    this.connection = options.connection ?? Connection.lazy({ address: options.address ?? readEnv('TEMPORAL_ADDRESS') ?? '127.0.0.1:7233' });
    this.client = new Client({ connection: this.connection, namespace: options.namespace ?? 'default' });
    this.taskQueue = options.taskQueue ?? DEFAULT_TASK_QUEUE;
    this.environment = options.environment ?? (readEnv('SLUICE_ENV') || DEFAULT_ENVIRONMENT);
    this.databaseUrl = options.databaseUrl ?? readEnv('DATABASE_URL');
    this.logger = options.logger;
    this.config = options.config;
    this.user = parseUserName(options.user ?? (readEnv('SLUICE_USER') || options.config?.user || LOCAL_USER), 'the client\'s user');
  }

  /** The reader of runs' rejects (client/rejects.ts), made on first use. */
  private rejectsOf(): RejectsReader {
    this.rejectsReader ??= new RejectsReader(this, { ...(this.config ? { config: this.config } : {}), environment: this.environment, logger: this.logger ?? createLogger('sluice-client'), client: this.client });
    return this.rejectsReader;
  }

  /**
   * One page of a run's rejects (its latest loaded execution's), in source row order: each with its row number,
   * original values and errors. Page on with `cursor: page.nextCursor`.
   * @param query.limit 1–1000. @default 100
   * @throws InvalidRequestError `RUN_NOT_FOUND`, `INVALID_LIMIT`, `INVALID_CURSOR`; TargetError `REJECTS_NOT_READY`
   *   (running, or FAILED/CRASHED before its load), `REJECTS_NOT_SUPPORTED` (a target kind without `listRejects`), `REJECTS_GONE`.
   */
  rejects(runId: string, query: RejectsQuery = {}): Promise<RejectsPage> {
    return this.rejectsOf().list(runId, query);
  }

  /**
   * A run's rejects summarised: rows rejected, errors by (field, rule), the most frequent messages.
   * @throws as {@link rejects} (but `INVALID_LIMIT` / `INVALID_CURSOR`).
   */
  rejectsSummary(runId: string): Promise<RunRejectsSummary> {
    return this.rejectsOf().summary(runId);
  }

  /** The flow version store of the metadata database (migrated on first use). */
  async flowVersions(): Promise<FlowVersionStore> {
    if (!this.databaseUrl) {
      throw new InvalidRequestError('NO_DATABASE', 'the Sluice client needs databaseUrl (or DATABASE_URL) to look up flow versions');
    }
    if (!this.store) {
      const pool = (this.pool = createPool(
        { connectionString: this.databaseUrl, max: 2, application_name: 'sluice:client' },
        { label: 'the metadata database', logger: this.logger ?? createLogger('sluice-client') },
      ));
      this.store = migrate(pool).then(() => new FlowVersionStore(pool));
      // A failed migration is reported now and tried again on the next call.
      this.store.catch(() => {
        this.store = undefined;
        void pool.end().catch(() => undefined);
      });
    }
    return this.store;
  }

  /**
   * Starts a run.
   * @throws InvalidRequestError `INVALID_FLOW_VERSION` / `UNKNOWN_FLOW_VERSION` (no such version),
   *   `INVALID_SOURCE_PATH`, `INVALID_RUN_METADATA`, `REPEATED_SOURCE_PATH` (already SUCCEEDED or
   *   PARTIAL_FAILED; pass forceRerun), `RUN_IN_PROGRESS` (a run of the same pair is still going). A dry run
   *   (`dryRun`) is refused neither.
   */
  async run(request: RunRequest): Promise<SluiceRun> {
    const store = await this.flowVersions();
    const version = await store.get(request.flowVersion);
    if (request.rejectsOf !== undefined && request.sourcePath !== undefined) {
      throw new InvalidRequestError('INVALID_SOURCE_PATH', 'give either a source_path or rejects_of (a reprocess reads the rejects of that run), not both');
    }
    const rejectsOf =
      request.rejectsOf === undefined
        ? undefined
        : await reprocessRequest({ getRun: (id) => this.getRun(id), versions: store, connectorKind: (name) => this.config?.connectors[name]?.kind }, version, request.rejectsOf);
    const sourcePath = rejectsOf ? rejectsOfSourcePath(rejectsOf.runId) : request.sourcePath;
    if (sourcePath === undefined || !sourcePathSchema.safeParse(sourcePath).success) {
      throw new InvalidRequestError('INVALID_SOURCE_PATH', 'source_path must be a non-empty string of at most 2,048 characters without control characters');
    }
    const runMetadata = request.runMetadata ?? {};
    if (!runMetadataSchema.safeParse(runMetadata).success) {
      throw new InvalidRequestError('INVALID_RUN_METADATA', 'run_metadata must be a JSON object of at most 16 KiB');
    }
    const dryRun = request.dryRun === true;
    const startedBy = parseUserName(request.startedBy ?? this.user, 'startedBy');
    const id = runIdFor(version.id, sourcePath, this.environment) + (dryRun ? `-dry-${randomBytes(4).toString('hex')}` : '');
    const input: RunFlowInput = {
      flowVersion: version.id,
      sourcePath,
      runMetadata,
      environment: this.environment,
      startedBy,
      ...(dryRun ? { dryRun } : {}),
      ...(rejectsOf ? { rejectsOf } : {}),
    };
    const start = (rerun: boolean) =>
      this.client.workflow.start<typeof runFlow>(RUN_WORKFLOW_TYPE, {
        workflowId: id,
        taskQueue: this.taskQueue,
        args: [input],
        workflowIdReusePolicy: rerun ? 'ALLOW_DUPLICATE' : 'ALLOW_DUPLICATE_FAILED_ONLY',
        workflowIdConflictPolicy: 'FAIL',
        staticSummary: `${dryRun ? 'dry run: ' : ''}${runSummary(version.id, sourcePath)}`,
        typedSearchAttributes: [
          { key: SEARCH_ATTRIBUTES.flow, value: version.flow },
          { key: SEARCH_ATTRIBUTES.flowVersion, value: version.id },
          { key: SEARCH_ATTRIBUTES.status, value: 'CREATED' },
          { key: SEARCH_ATTRIBUTES.startedBy, value: startedBy },
        ],
      });
    try {
      const handle = await start(dryRun || (request.forceRerun ?? false));
      return new SluiceRun(id, this.client.workflow.getHandle(id, handle.firstExecutionRunId));
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      const existing = await this.getRun(id);
      const description = await this.client.workflow.getHandle(id).describe();
      if (description.status.name !== 'RUNNING' && isEmptyRun(existing.metadata)) {
        // The last run read 0 rows and loaded nothing: the source_path is not loaded, so it runs again.
        const handle = await start(true);
        return new SluiceRun(id, this.client.workflow.getHandle(id, handle.firstExecutionRunId));
      }
      if (rejectsOf && description.status.name === 'RUNNING') {
        throw new TargetError('REJECTS_OF_CONFLICT', `a reprocess of the rejects of run ${rejectsOf.runId} with ${version.id} is already in progress (run ${id}, ${existing.status})`, {
          details: { run_id: id, status: existing.status, rejects_of: rejectsOf.runId },
        });
      }
      if (rejectsOf) {
        throw new TargetError(
          'REJECTS_OF_REPROCESSED',
          `${version.id} already reprocessed the rejects of run ${rejectsOf.runId} (run ${id}, ${existing.status}). ` +
            `Pass forceRerun (CLI: --force-rerun) to reprocess its still-unresolved rejects again, or reprocess the rejects of run ${id}`,
          { details: { run_id: id, status: existing.status, rejects_of: rejectsOf.runId } },
        );
      }
      if (description.status.name === 'RUNNING') {
        throw new InvalidRequestError('RUN_IN_PROGRESS', `a run of ${version.id} on "${sourcePath}" is already in progress (run ${id}, ${existing.status})`, {
          details: { run_id: id, status: existing.status },
        });
      }
      throw new InvalidRequestError(
        'REPEATED_SOURCE_PATH',
        `${version.id} already ran on "${sourcePath}" (run ${id}, ${existing.status}); loading it again could duplicate rows. ` +
          `Pass forceRerun (CLI: --force-rerun) to run it again anyway.`,
        { details: { run_id: id, status: existing.status } },
      );
    }
  }

  /**
   * A handle on the latest execution of a run, refreshed.
   * @throws InvalidRequestError `RUN_NOT_FOUND`.
   */
  async getRun(id: string): Promise<SluiceRun> {
    // refresh() describes the run, and throws RUN_NOT_FOUND.
    return new SluiceRun(id, this.client.workflow.getHandle(id)).refresh();
  }

  /**
   * Lists runs from Temporal visibility, newest first.
   * @param filter.flow flow name; `filter.flowVersion` `flow:vN`; `filter.status` a run status; `filter.startedBy` a user.
   * @param filter.limit at most this many. @default 50
   */
  async listRuns(filter: RunsFilter & { limit?: number } = {}): Promise<RunSummary[]> {
    const query = this.runsQuery(filter);
    const limit = filter.limit ?? 50;
    const runs: RunSummary[] = [];
    for await (const execution of this.client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
      runs.push(runSummaryOf(execution));
      if (runs.length >= limit) break;
    }
    return runs;
  }

  /** The visibility query of a runs filter. @throws InvalidRequestError `INVALID_STATUS`. */
  private runsQuery(filter: RunsFilter): string {
    const clauses = [`WorkflowType = '${RUN_WORKFLOW_TYPE}'`];
    const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;
    if (filter.flow) clauses.push(`${SEARCH_ATTRIBUTES.flow.name} = ${literal(filter.flow)}`);
    if (filter.flowVersion) clauses.push(`${SEARCH_ATTRIBUTES.flowVersion.name} = ${literal(filter.flowVersion)}`);
    if (filter.startedBy) clauses.push(`${SEARCH_ATTRIBUTES.startedBy.name} = ${literal(filter.startedBy)}`);
    if (filter.status) {
      if (!(RUN_STATUSES as readonly string[]).includes(filter.status)) {
        throw new InvalidRequestError('INVALID_STATUS', `unknown status "${filter.status}"; one of ${RUN_STATUSES.join(', ')}`);
      }
      clauses.push(`${SEARCH_ATTRIBUTES.status.name} = ${literal(filter.status)}`);
    }
    for (const [bound, operator] of [[filter.startedAfter, '>='], [filter.startedBefore, '<']] as const) {
      if (bound === undefined) continue;
      clauses.push(`StartTime ${operator} ${literal(bound.toISOString())}`);
    }
    return clauses.join(' AND ');
  }

  /**
   * One page of runs from Temporal visibility, newest first, for APIs that page with a cursor.
   * Filters as {@link listRuns}, plus `startedAfter` / `startedBefore` (the `StartTime` of visibility); `cursor` is the `nextCursor` of the previous page (opaque,
   * bound to the filters it was made with).
   * @param filter.limit page size, 1–100. @default 50
   * @throws InvalidRequestError `INVALID_STATUS`, `INVALID_CURSOR` (not from a page of the same filters).
   */
  async listRunsPage(
    filter: RunsFilter & { limit?: number; cursor?: string } = {},
  ): Promise<{ runs: RunSummary[]; nextCursor: string | undefined }> {
    const query = this.runsQuery(filter);
    const queryTag = createHash('sha256').update(query).digest('base64url').slice(0, 12);
    let nextPageToken: Uint8Array | undefined;
    if (filter.cursor) {
      const [tag, token] = filter.cursor.split('.', 2);
      if (tag !== queryTag || !token) {
        throw new InvalidRequestError('INVALID_CURSOR', 'cursor is not the next_cursor of a page with the same filters; start again without cursor');
      }
      nextPageToken = Buffer.from(token, 'base64url');
    }
    const namespace = this.client.options.namespace;
    let response;
    try {
      response = await this.client.workflowService.listWorkflowExecutions({ namespace, query, pageSize: Math.min(Math.max(filter.limit ?? 50, 1), 100), nextPageToken });
    } catch (error) {
      if (filter.cursor && /page token|INVALID_ARGUMENT/i.test((error as Error).message)) {
        throw new InvalidRequestError('INVALID_CURSOR', 'cursor is invalid or expired; start again without cursor');
      }
      throw error;
    }
    const runs: RunSummary[] = [];
    for (const raw of response.executions) {
      const execution = await executionInfoFromRaw(raw, this.client.options.loadedDataConverter, raw, namespace);
      runs.push(runSummaryOf(execution));
    }
    const token = response.nextPageToken;
    return { runs, nextCursor: token && token.length > 0 ? `${queryTag}.${Buffer.from(token).toString('base64url')}` : undefined };
  }

  /**
   * Requests cancellation of a running run; the workflow then ends it FAILED with `metadata.error.code`
   * `CANCELLED`. Returns once Temporal has accepted the request, not when the run has ended.
   * @throws InvalidRequestError `RUN_NOT_FOUND`, `RUN_NOT_RUNNING` (it already ended).
   */
  async cancel(id: string): Promise<void> {
    const handle = this.client.workflow.getHandle(id);
    const description = await describeRun(handle, id);
    const status = description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.status);
    // A run already showing a terminal status is only recording how it ended, where a cancel is ignored.
    if (description.status.name !== 'RUNNING' || (status !== undefined && (TERMINAL_STATUSES as readonly string[]).includes(status))) {
      throw new InvalidRequestError('RUN_NOT_RUNNING', `run ${id} has already ended${status ? ` (${status})` : ''}; only a running run can be cancelled`, {
        details: { run_id: id, status },
      });
    }
    await handle.cancel();
  }

  /**
   * Runs two versions of one flow on one staged copy of a source_path, writing nothing to the target, and returns
   * what differs (client/flow-diff.ts): rows newly rejected or accepted, changed values, spec changes.
   * @throws InvalidRequestError `UNKNOWN_FLOW_VERSION`, …; UserError `DIFF_FLOWS_DIFFER`, `DIFF_SOURCES_DIFFER`, or a transform's code.
   */
  async diffFlowVersions(request: FlowDiffRequest): Promise<VersionDiffReport> {
    return runFlowDiff({ client: this.client, taskQueue: this.taskQueue, environment: this.environment, store: await this.flowVersions() }, request);
  }

  /** Closes the connection (when this client opened it) and the metadata pool. */
  async close(): Promise<void> {
    await this.rejectsReader?.close();
    await this.pool?.end().catch(() => undefined);
    if (this.ownConnection) await this.connection.close().catch(() => undefined);
  }
}
