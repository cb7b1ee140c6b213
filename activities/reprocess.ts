/**
 * The activity of a reprocess (`sluice run flow:vN --rejects-of <run-id>`): `stageRejectsOf` stages the earlier
 * run's unresolved rejects as this run's source, instead of `syncSource`. The rows are read back from the target's
 * rejects table (the target connector's `stageRejects`: postgres, mysql) with their original values and their
 * original source row numbers; then the run maps them like any source, and its load marks the earlier rejects of the
 * rows it loads resolved, in the same transaction (connectors/postgres/postgres-rejects.ts `resolvePostgresRejects`).
 *
 * ```ts
 * const activities = createReprocessActivities({ config, connectors, staging, logger });
 * const staged = await activities.stageRejectsOf({ ...ref, rejectsOf: { runId, executionId, flowVersion, sourcePath } });
 * ```
 */
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import { chunkRowsFor, type StagedFileRef } from '../common/chunk-plan';
import { TargetError } from '../common/errors';
import type { SluiceConfig } from '../config/sluice-config';
import type { ConnectorRegistry } from '../connectors/registry';
import type { FlowVersionStore } from '../flows/flow-versions';
import type { Staging } from '../storage/staging';
import { withActivityBoundary } from './activity-boundary';
import { canRunOnePass, type RunRef, type SyncSourceOutput } from './run-activities';

export interface ReprocessDeps {
  config: SluiceConfig;
  connectors: ConnectorRegistry;
  flowVersions: FlowVersionStore;
  staging: Staging;
  logger: Logger;
}

export function createReprocessActivities(deps: ReprocessDeps) {
  const { config, connectors, flowVersions, staging, logger } = deps;
  return withActivityBoundary(logger, {
    /**
     * Stages the unresolved rejects of `input.rejectsOf` as the run's source: Parquet chunks in original row order,
     * each row with its original values and `__sluice_source_row`. Heartbeats `{ rows, chunk }`.
     * @throws TargetError `REJECTS_OF_UNSUPPORTED` (the target cannot stage rejects: s3), `REJECTS_OF_INVALID` (no
     *   unresolved rejects left), `REJECTS_NOT_READY`, `REJECTS_GONE`.
     */
    async stageRejectsOf(input: RunRef): Promise<SyncSourceOutput> {
      const context = Context.current();
      const rejectsOf = input.rejectsOf;
      if (!rejectsOf) throw new Error('stageRejectsOf needs rejectsOf');
      const { spec } = await flowVersions.get(input.flowVersion);
      const target = await connectors.targetFor(spec.target.connector, input.startedBy);
      if (!target.stageRejects) {
        throw new TargetError(
          'REJECTS_OF_UNSUPPORTED',
          `connector "${spec.target.connector}" (kind ${target.kind}) cannot reprocess rejects: its rejects are not in a table it can resolve them in; postgres and mysql targets can`,
        );
      }
      const runKey = staging.runKey(input.runId, input.executionId);
      const scratch = await staging.scratch(runKey, 'source');
      const chunkRows = chunkRowsFor(config.staging.chunkRows, spec.fields.length);
      const timer = setInterval(() => context.heartbeat(), 5_000);
      try {
        const staged = await target.stageRejects({
          rejectsOf,
          stagingDir: scratch,
          chunkRows,
          onProgress: (progress) => context.heartbeat(progress),
          signal: context.cancellationSignal,
        });
        if (staged.rows === 0) {
          throw new TargetError(
            'REJECTS_OF_INVALID',
            `run ${rejectsOf.runId} has no unresolved rejects left to reprocess (each was loaded by a reprocess, or rejected only as a duplicate: dedupe)`,
            { details: { rejects_of: rejectsOf.runId } },
          );
        }
        const files: StagedFileRef[] = [];
        for (const file of staged.files) {
          const key = `${runKey}/source/${path.basename(file.path)}`;
          await staging.store(file.path, key);
          files.push({ path: key, rows: file.rows });
        }
        logger.info({ runId: input.runId, rejectsOf: rejectsOf.runId, rows: staged.rows, files: files.length }, 'rejects staged for reprocess');
        return {
          files,
          rows: staged.rows,
          columns: staged.columns,
          format: staged.format,
          chunkRows: chunkRowsFor(config.staging.chunkRows, Math.max(spec.fields.length, staged.columns.length)),
          onePass: canRunOnePass(config, spec),
        };
      } finally {
        clearInterval(timer);
      }
    },
  });
}

export type ReprocessActivities = ReturnType<typeof createReprocessActivities>;
