/**
 * The activity of a dry run: `dryRunReport` builds `metadata.dry_run_report` (common/dry-run-report.ts) from the
 * run's staged mapped and rejected parts after `finishTransform`, instead of `syncTarget`. It writes nothing to the
 * target: the only target access is a READ ONLY look (postgres: does the table exist, which upsert keys it holds,
 * how many rows a replace would delete).
 *
 * ```ts
 * const activities = createDryRunActivities({ config, connectors, flowVersions, staging, logger });
 * const report = await activities.dryRunReport({ ...ref, mappedFiles, rejectedFiles, rows: { read, mapped, rejected } });
 * ```
 */
import pl from 'nodejs-polars';
import type { Logger } from 'pino';
import type { SluiceConfig } from '../config/sluice-config';
import type { ConnectorRegistry } from '../connectors/registry';
import { DRY_RUN_SAMPLE_SIZE, type DryRunRejectError, type DryRunReport, type DryRunSample, type DryRunTargetPlan } from '../common/dry-run-report';
import type { FlowVersionStore } from '../flows/flow-versions';
import type { FlowSpec } from '../flows/flow-spec';
import type { Staging } from '../storage/staging';
import { ROW_COLUMN } from '../transform/map-chunk';
import { withActivityBoundary } from './activity-boundary';
import type { RunRef } from './run-activities';

export interface DryRunDeps {
  config: SluiceConfig;
  connectors: ConnectorRegistry;
  flowVersions: FlowVersionStore;
  staging: Staging;
  logger: Logger;
}

export interface DryRunReportInput extends RunRef {
  /** Staging keys of the mapped parts (after dedupe and a custom map), as `finishTransform` returned them. */
  mappedFiles: string[];
  /** Staging keys of the rejected parts. */
  rejectedFiles: string[];
  rows: { read: number; mapped: number; rejected: number };
}

/** Reject errors by (field, rule), most frequent first, from local rejected parts (one part's errors in memory at a time). */
export function rejectsByRule(files: string[]): DryRunReport['by_rule'] {
  const counts = new Map<string, { field: string | null; rule: string; count: number }>();
  for (const file of files) {
    const errors = pl.readParquet(file, { columns: ['errors'] } as never).getColumn('errors').toArray() as string[];
    for (const text of errors) {
      for (const error of JSON.parse(text) as DryRunRejectError[]) {
        const id = JSON.stringify([error.field, error.rule]);
        const entry = counts.get(id) ?? { field: error.field, rule: error.rule, count: 0 };
        entry.count++;
        counts.set(id, entry);
      }
    }
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || `${a.field}:${a.rule}`.localeCompare(`${b.field}:${b.rule}`));
}

/** The first `n` rejects by source row number, with their original values and reasons. */
export function sampleRejects(files: string[], n = DRY_RUN_SAMPLE_SIZE): DryRunSample[] {
  if (files.length === 0) return [];
  const first = pl
    .concat(files.map((f) => pl.scanParquet(f).select(pl.col(ROW_COLUMN).cast(pl.Int64), pl.col('record'), pl.col('errors'))))
    .sort(ROW_COLUMN)
    .head(n)
    .collectSync();
  return first.toRecords().map((r) => ({
    row: Number(r[ROW_COLUMN]),
    record: JSON.parse(String(r.record)) as Record<string, unknown>,
    errors: JSON.parse(String(r.errors)) as DryRunRejectError[],
  }));
}

/** Mapped rows (local parts) whose non-null key another mapped row also has: what makes an upsert's INSERT … ON CONFLICT fail. */
export function duplicateKeyRows(files: string[], key: string[]): number {
  if (files.length === 0 || key.length === 0) return 0;
  const keys = pl.concat(files.map((f) => pl.scanParquet(f).select(...key.map((k) => pl.col(k)))));
  const counted = keys
    .dropNulls()
    .groupBy(key)
    .agg(pl.len().alias('n'))
    .filter(pl.col('n').gt(1))
    .select(pl.col('n').sum().alias('rows'))
    .collectSync();
  return Number(counted.getColumn('rows').get(0) ?? 0);
}

/** Where a flow's target rows go, as a run reports it (`connector:table` or `connector:path`). */
const targetLocation = (spec: FlowSpec) => `${spec.target.connector}:${spec.target.table ?? spec.target.path ?? ''}`;

export function createDryRunActivities(deps: DryRunDeps) {
  const { config, connectors, flowVersions, staging, logger } = deps;

  /** What the load would do: inserts vs updates (upsert), rows a replace would delete. Reads only. */
  const planLoad = async (spec: FlowSpec, mappedFiles: string[], mapped: number, startedBy: string | undefined): Promise<DryRunTargetPlan> => {
    const write = spec.target.write;
    const target = await connectors.targetFor(spec.target.connector, startedBy);
    const kind = config.connectors[spec.target.connector]?.kind ?? target.kind;
    if (!target.inspectForDryRun) {
      const upsert = write === 'upsert';
      return {
        location: targetLocation(spec),
        write,
        table_exists: null,
        would_insert: upsert ? 0 : mapped,
        would_update: upsert ? null : 0,
        existing_rows: null,
        note: upsert
          ? `upsert into a ${kind} target: inserts and updates are not told apart by a dry run (only postgres targets are inspected); ${mapped} rows would be written`
          : write === 'replace'
            ? `replace: the target's current content would be replaced by ${mapped} rows`
            : `append: ${mapped} rows would be inserted`,
      };
    }
    const inspection = await target.inspectForDryRun({ spec, mappedFiles, countRows: write === 'replace' });
    const created = inspection.tableExists ? '' : ' (the table does not exist yet; a real run would create it)';
    if (write === 'upsert') {
      const updates = inspection.existingKeys ?? 0;
      const duplicates = duplicateKeyRows(mappedFiles, spec.target.key ?? []);
      const failing = duplicates > 0 ? `; but ${duplicates} mapped rows share a key with another row of the batch, so a real run would fail (TARGET_REJECTED_LOAD): add dedupe on the key` : '';
      return {
        location: inspection.location,
        write,
        table_exists: inspection.tableExists,
        would_insert: mapped - updates,
        would_update: updates,
        existing_rows: null,
        duplicate_keys: duplicates,
        note: `upsert on (${(spec.target.key ?? []).join(', ')}): ${mapped - updates} new keys would be inserted, ${updates} existing keys updated${created}${failing}`,
      };
    }
    if (write === 'replace') {
      return {
        location: inspection.location,
        write,
        table_exists: inspection.tableExists,
        would_insert: mapped,
        would_update: 0,
        existing_rows: inspection.existingRows,
        note: `replace: the table's ${inspection.existingRows ?? 0} rows would be deleted, then ${mapped} inserted${created}`,
      };
    }
    return {
      location: inspection.location,
      write,
      table_exists: inspection.tableExists,
      would_insert: mapped,
      would_update: 0,
      existing_rows: null,
      note: `append: ${mapped} rows would be inserted${created}`,
    };
  };

  return withActivityBoundary(logger, {
    /**
     * Builds a dry run's report from its staged parts: reject errors by (field, rule), the first
     * {@link DRY_RUN_SAMPLE_SIZE} rejects, and the target plan. Writes nothing anywhere but its answer.
     */
    async dryRunReport(input: DryRunReportInput): Promise<DryRunReport> {
      const { spec } = await flowVersions.get(input.flowVersion);
      const rejected = await Promise.all(input.rejectedFiles.map((f) => staging.fetch(f)));
      const mapped = await Promise.all(input.mappedFiles.map((f) => staging.fetch(f)));
      const report: DryRunReport = {
        rows: input.rows,
        by_rule: rejectsByRule(rejected),
        samples: sampleRejects(rejected),
        target: await planLoad(spec, mapped, input.rows.mapped, input.startedBy),
      };
      logger.info({ runId: input.runId, rows: input.rows, target: report.target }, 'dry run report');
      return report;
    },
  });
}

export type DryRunActivities = ReturnType<typeof createDryRunActivities>;
