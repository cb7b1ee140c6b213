/**
 * Inspecting a run's rejects from the client SDK: the run's metadata says which execution loaded and where its
 * rejects went; its flow version's spec names the target connector; that connector (from the config, as a worker
 * resolves it) reads them back (`listRejects` / `summarizeRejects`, connectors/rejects.ts).
 *
 * @example
 * ```ts
 * const sluice = new Sluice({ databaseUrl: process.env.DATABASE_URL });      // connectors from sluice.config.yaml
 * const summary = await sluice.rejectsSummary('movies-v1-3f9a…');
 * // { rowsRejected: 412, byFieldRule: [{ field: 'budget_usd', rule: 'check', count: 310 }, …], topMessages: […] }
 * let page = await sluice.rejects('movies-v1-3f9a…', { rule: 'check', limit: 50 });
 * while (page.nextCursor) page = await sluice.rejects('movies-v1-3f9a…', { rule: 'check', limit: 50, cursor: page.nextCursor });
 * ```
 *
 * The JSON shapes (CLI `--json`, the gateway) are {@link rejectsPageJson} and {@link rejectsSummaryJson}.
 */
import type { Client } from '@temporalio/client';
import { TargetError } from '../common/errors';
import { readRunState } from '../common/run-reader';
import { TERMINAL_STATUSES, type RunMetadata, type RunStatus } from '../common/run-model';
import { loadConfig, type SluiceConfig } from '../config/sluice-config';
import type { TargetConnector } from '../connectors/connector';
import { ConnectorRegistry } from '../connectors/registry';
import { rejectsLimit, type RejectError, type RejectRow, type RejectsPage, type RejectsSummary, type RejectsTarget } from '../connectors/rejects';
import type { PoolLogger } from '../db/pg-pool';
import type { FlowVersionStore } from '../flows/flow-versions';

export type { RejectRow, RejectsPage, RejectsSummary } from '../connectors/rejects';

/** Filters and page of {@link RejectsReader.list}. */
export interface RejectsQuery {
  /** Only rejects with an error of this rule (`type`, `required`, `check`, `in`, `dedupe`, a flow check's name…). */
  rule?: string;
  /** Only rejects with an error on this target field (with `rule`: one error with both). */
  field?: string;
  /** Page size, 1–1000. @default 100 */
  limit?: number;
  /** The `nextCursor` of the previous page (same filters). */
  cursor?: string;
}

/** A summary with the run it describes. */
export interface RunRejectsSummary extends RejectsSummary {
  runId: string;
  executionId: string;
  flowVersion: string;
  status: RunStatus;
  /** Where the rejects are (`s3://…`, `connector:schema.table`); null when nothing was loaded. */
  location: string | null;
}

/** What the reader needs from the SDK client (a run's metadata, flow versions). */
export interface RejectsRunSource {
  getRun(id: string): Promise<{ id: string; status: RunStatus; metadata: RunMetadata | undefined }>;
  flowVersions(): Promise<FlowVersionStore>;
}

/** Run statuses whose load committed (mapped and rejected rows written). */
const LOADED: readonly RunStatus[] = ['SUCCEEDED', 'PARTIAL_FAILED'];

/** Reads runs' rejects through their target connectors; holds the connectors it opened until {@link close}. */
export class RejectsReader {
  private registry: ConnectorRegistry | undefined;
  private readonly targets = new Map<string, TargetConnector>();

  /**
   * @param options.config the connectors (as the workers have them). @default `loadConfig({ environment })` on first use
   * @param options.targetOf opens the target connector `name`. @default the config's connector registry
   * @param options.client Temporal, to find a run's earlier executions when its latest did not load (a forced rerun
   *   still running or FAILED). @default only the latest execution is considered
   */
  constructor(
    private readonly runs: RejectsRunSource,
    private readonly options: { config?: SluiceConfig; environment: string; logger: PoolLogger; targetOf?: (name: string) => TargetConnector; client?: Client },
  ) {}

  /**
   * One page of a run's rejects, in source row order.
   * @throws InvalidRequestError `RUN_NOT_FOUND`, `INVALID_LIMIT`, `INVALID_CURSOR`; TargetError `REJECTS_NOT_READY`
   *   (still running, or FAILED/CRASHED before its load), `REJECTS_NOT_SUPPORTED` (a target kind that cannot read
   *   rejects back), `REJECTS_GONE`; ConfigError `UNKNOWN_CONNECTOR` (the config lacks the flow's target connector).
   */
  async list(runId: string, query: RejectsQuery = {}): Promise<RejectsPage> {
    const limit = rejectsLimit(query.limit);
    const resolved = await this.resolve(runId);
    if (!resolved.target) return { rows: [] };
    return resolved.target.listRejects!({
      ...resolved.request,
      limit,
      ...(query.rule !== undefined ? { rule: query.rule } : {}),
      ...(query.field !== undefined ? { field: query.field } : {}),
      ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
    });
  }

  /**
   * Rows rejected, errors by (field, rule) and the most frequent messages of a run's rejects.
   * @throws as {@link list} (but `INVALID_LIMIT` / `INVALID_CURSOR`).
   */
  async summary(runId: string): Promise<RunRejectsSummary> {
    const resolved = await this.resolve(runId);
    const summary = resolved.target ? await resolved.target.summarizeRejects!(resolved.request) : { rowsRejected: 0, byFieldRule: [], topMessages: [] };
    return {
      runId,
      executionId: resolved.request.executionId,
      flowVersion: resolved.flowVersion,
      status: resolved.status,
      location: resolved.request.location,
      ...summary,
    };
  }

  /** Closes the connectors this reader opened. */
  async close(): Promise<void> {
    await Promise.all([...this.targets.values()].map((t) => (t.close?.() ?? Promise.resolve()).catch(() => undefined)));
    this.targets.clear();
    await this.registry?.close();
    this.registry = undefined;
  }

  /**
   * The run's loaded execution and its target connector; `target` is null for a loaded run that wrote nothing
   * (a SUCCEEDED run whose source_path read 0 rows).
   */
  private async resolve(runId: string): Promise<{ request: RejectsTarget; target: TargetConnector | null; flowVersion: string; status: RunStatus }> {
    const latest = await this.runs.getRun(runId);
    // A forced rerun that is still going, or ended before its load, leaves the earlier load's rejects in place.
    const run = !latest.metadata || !LOADED.includes(latest.status) ? ((await this.earlierLoaded(runId, latest.metadata?.run.execution_id)) ?? latest) : latest;
    const metadata = run.metadata;
    if (!metadata || !LOADED.includes(run.status)) {
      const why = !(TERMINAL_STATUSES as readonly string[]).includes(run.status)
        ? `it is still ${run.status}; read its rejects once it has loaded its target`
        : `it ended ${run.status}${metadata?.error ? ` (${metadata.error.code} in ${metadata.error.step})` : ''} before loading its target, so it wrote no rejects` +
          (metadata?.error?.code === 'REJECT_RATIO_EXCEEDED' ? '; its rejected rows are in staging for staging.retention_hours (the pipeline error file reads them there)' : '');
      throw new TargetError('REJECTS_NOT_READY', `run ${runId} has no rejects to read: ${why}`, { details: { run_id: runId, status: run.status } });
    }
    const flowVersion = metadata.run.flow_version;
    const { spec } = await (await this.runs.flowVersions()).get(flowVersion);
    const request: RejectsTarget = { runId, executionId: metadata.run.execution_id, spec, location: metadata.rejects.location };
    if (metadata.rejects.location === null) return { request, target: null, flowVersion, status: run.status };
    const target = this.target(spec.target.connector);
    if (!target.listRejects || !target.summarizeRejects) {
      throw new TargetError(
        'REJECTS_NOT_SUPPORTED',
        `run ${runId} loaded into connector "${spec.target.connector}" (kind ${target.kind}), whose rejects Sluice cannot read back yet; read them in ${metadata.rejects.location} directly (postgres, s3 and mysql targets are supported)`,
        { details: { run_id: runId, connector: spec.target.connector, kind: target.kind } },
      );
    }
    return { request, target, flowVersion, status: run.status };
  }

  /**
   * The newest earlier execution of the run that loaded (SUCCEEDED or PARTIAL_FAILED), from Temporal visibility
   * (newest first); undefined without a Temporal client or when none did.
   */
  private async earlierLoaded(runId: string, latestExecution: string | undefined): Promise<{ status: RunStatus; metadata: RunMetadata } | undefined> {
    const client = this.options.client;
    if (!client) return undefined;
    const query = `WorkflowId = '${runId.replace(/'/g, "''")}'`;
    for await (const execution of client.workflow.list({ query, pageSize: 20 })) {
      if (execution.runId === latestExecution || execution.status.name === 'RUNNING') continue;
      const state = await readRunState(client.workflow.getHandle(runId, execution.runId), runId);
      if (state.metadata && state.status && LOADED.includes(state.status)) return { status: state.status, metadata: state.metadata };
    }
    return undefined;
  }

  /** The target connector `name`, opened once. */
  private target(name: string): TargetConnector {
    let target = this.targets.get(name);
    if (!target && this.options.targetOf) {
      target = this.options.targetOf(name);
      this.targets.set(name, target);
    }
    if (!target) {
      this.registry ??= new ConnectorRegistry(this.options.config ?? loadConfig({ environment: this.options.environment }), this.options.logger);
      target = this.registry.target(name);
      this.targets.set(name, target);
    }
    return target;
  }
}

/** A reject as JSON (CLI `--json`, `GET /v1/runs/:id/rejects`). */
export interface RejectRowJson {
  row_number: number;
  execution_id: string;
  record: Record<string, unknown>;
  errors: RejectError[];
}

/** {@link RejectRow} as JSON. */
export function rejectRowJson(row: RejectRow): RejectRowJson {
  return { row_number: row.rowNumber, execution_id: row.executionId, record: row.record, errors: row.errors };
}

/** A page as JSON: `{ rejects, next_cursor }` (null on the last page). */
export function rejectsPageJson(page: RejectsPage): { rejects: RejectRowJson[]; next_cursor: string | null } {
  return { rejects: page.rows.map(rejectRowJson), next_cursor: page.nextCursor ?? null };
}

/** A summary as JSON (CLI `--json`'s `summary`, `GET /v1/runs/:id/rejects/summary`). */
export interface RejectsSummaryJson {
  run_id: string;
  execution_id: string;
  flow_version: string;
  status: RunStatus;
  location: string | null;
  rows_rejected: number;
  by_field_rule: { field: string | null; rule: string; count: number }[];
  top_messages: { message: string; count: number }[];
}

/** {@link RunRejectsSummary} as JSON. */
export function rejectsSummaryJson(summary: RunRejectsSummary): RejectsSummaryJson {
  return {
    run_id: summary.runId,
    execution_id: summary.executionId,
    flow_version: summary.flowVersion,
    status: summary.status,
    location: summary.location,
    rows_rejected: summary.rowsRejected,
    by_field_rule: summary.byFieldRule.map((g) => ({ field: g.field, rule: g.rule, count: g.count })),
    top_messages: summary.topMessages.map((m) => ({ message: m.message, count: m.count })),
  };
}
