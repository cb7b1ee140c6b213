/**
 * The activities of a run: `syncSource`, `transform`, `syncTarget`, `purgeStaging`.
 * Everything with I/O lives here; the workflow only orchestrates.
 *
 * Built by a factory so the worker passes real dependencies and tests pass their own:
 * ```ts
 * const activities = createRunActivities({ config, connectors, flowVersions, staging, logger });
 * ```
 * Each activity takes one input object and returns one output object; only references to staged
 * files (paths relative to the staging root) and counts travel through Temporal, never rows.
 */
import { pathToFileURL } from 'node:url';
import { Context } from '@temporalio/activity';
import pl from 'nodejs-polars';
import type { Logger } from 'pino';
import type { SluiceConfig } from '../config/sluice-config';
import type { ConnectorRegistry } from '../connectors/registry';
import type { FlowVersionStore } from '../flow-spec/flow-versions';
import type { LocalStaging } from '../staging/local-staging';
import { findDuplicates } from '../transform/dedupe';
import { assertSourceColumns, mapChunk, ROW_COLUMN, ruleKey, toJson, type RejectError } from '../transform/map-chunk';
import { atActivityBoundary } from './activity-boundary';

export interface RunActivityDeps {
  config: SluiceConfig;
  connectors: ConnectorRegistry;
  flowVersions: FlowVersionStore;
  staging: LocalStaging;
  logger: Logger;
}

export interface RunRef {
  /** Run (workflow) id. */
  runId: string;
  /** Temporal run id of this execution; keys staging and the load ledger. */
  executionId: string;
  /** `flow:vN`. */
  flowVersion: string;
  sourcePath: string;
}

export interface StagedFileRef {
  /** Path relative to the staging root. */
  path: string;
  rows: number;
}

export type SyncSourceInput = RunRef;
export interface SyncSourceOutput {
  files: StagedFileRef[];
  rows: number;
  columns: string[];
  format: string;
}

export interface TransformInput extends RunRef {
  staged: SyncSourceOutput;
}
export interface TransformOutput {
  mappedFiles: string[];
  rejectedFiles: string[];
  rowsMapped: number;
  rowsRejected: number;
  /** Reject counts by `field:rule` (or `rule` for flow-level checks and dedupe). */
  byRule: Record<string, number>;
  chunks: number;
  /** The flow's `max_reject_ratio`, for the workflow's decision. */
  maxRejectRatio: number;
  /** Where the rejected rows sit in staging (`file://…`) until they are loaded. */
  rejectsStagingLocation: string;
}

export interface SyncTargetInput extends RunRef {
  mappedFiles: string[];
  rejectedFiles: string[];
}
export interface SyncTargetOutput {
  rowsWritten: number;
  rowsRejected: number;
  alreadyLoaded: boolean;
  location: string;
  rejectsLocation: string;
}

/** One slice of a staged file that the transform maps as a unit. */
interface ChunkPlan {
  file: string;
  offset: number;
  rows: number;
  /** 1-based source row number of the slice's first row. */
  firstRow: number;
}

/** Splits staged files into slices of at most `chunkRows` rows, numbering source rows from 1. */
export function planChunks(files: StagedFileRef[], chunkRows: number): ChunkPlan[] {
  const plan: ChunkPlan[] = [];
  let firstRow = 1;
  for (const file of files) {
    for (let offset = 0; offset < file.rows || (offset === 0 && file.rows === 0 && plan.length === 0); offset += chunkRows) {
      const rows = Math.min(chunkRows, file.rows - offset);
      plan.push({ file: file.path, offset, rows, firstRow });
      firstRow += rows;
      if (rows === 0) break;
    }
  }
  return plan;
}

const part = (i: number) => `part-${String(i).padStart(5, '0')}.parquet`;

type Beat = (details: Record<string, unknown>) => void;

/**
 * Runs `body` while heartbeating every 5 s with the last progress details, so a long native call
 * (a Polars sink, a COPY) keeps the activity alive; a dead worker stops heartbeating and Temporal
 * retries the activity elsewhere after the heartbeat timeout.
 */
async function withKeepAlive<T>(body: (beat: Beat) => Promise<T>): Promise<T> {
  const context = Context.current();
  let lastDetails: Record<string, unknown> = {};
  const beat: Beat = (details) => {
    lastDetails = details;
    context.heartbeat(details);
  };
  const timer = setInterval(() => context.heartbeat(lastDetails), 5_000);
  try {
    return await body(beat);
  } finally {
    clearInterval(timer);
  }
}

export function createRunActivities(deps: RunActivityDeps) {
  const { config, connectors, flowVersions, staging, logger } = deps;

  const readSlice = (chunk: ChunkPlan): pl.DataFrame =>
    pl.scanParquet(staging.resolve(chunk.file)).slice(chunk.offset, chunk.rows).collectSync();

  return {
    /** Streams the source into staged Parquet files. Heartbeats `{ rows, chunk }`. */
    async syncSource(input: SyncSourceInput): Promise<SyncSourceOutput> {
      return atActivityBoundary(logger, 'syncSource', () => withKeepAlive(async (beat) => {
        const { spec } = await flowVersions.get(input.flowVersion);
        const runKey = staging.runKey(input.runId, input.executionId);
        const stagingDir = await staging.folder(runKey, 'source', true);
        const source = connectors.source(spec.source.connector);
        const staged = await source.stage({
          sourcePath: input.sourcePath,
          spec,
          stagingDir,
          chunkRows: config.staging.chunkRows,
          onProgress: (progress) => beat(progress),
          signal: Context.current().cancellationSignal,
        });
        logger.info({ runId: input.runId, rows: staged.rows, files: staged.files.length }, 'source staged');
        return {
          files: staged.files.map((f) => ({ path: staging.relative(f.path), rows: f.rows })),
          rows: staged.rows,
          columns: staged.columns,
          format: staged.format,
        };
      }));
    },

    /**
     * Maps every chunk (declarative mapping and rules), then applies `dedupe` across all chunks.
     * Resumable: chunks whose outputs exist are skipped on retry. Heartbeats `{ chunk, rowsDone }`.
     */
    async transform(input: TransformInput): Promise<TransformOutput> {
      return atActivityBoundary(logger, 'transform', () => withKeepAlive(async (beat) => {
        const { spec } = await flowVersions.get(input.flowVersion);
        assertSourceColumns(spec, input.staged.columns);
        const runKey = staging.runKey(input.runId, input.executionId);
        const plan = planChunks(input.staged.files, config.staging.chunkRows);
        const mappedFiles: string[] = [];
        const rejectedFiles: string[] = [];
        let rowsDone = 0;
        for (const [i, chunk] of plan.entries()) {
          const mappedPath = `${runKey}/mapped/${part(i)}`;
          const rejectedPath = `${runKey}/rejected/${part(i)}`;
          mappedFiles.push(mappedPath);
          rejectedFiles.push(rejectedPath);
          if (!(staging.exists(mappedPath) && staging.exists(rejectedPath))) {
            const { mapped, rejected } = mapChunk(spec, readSlice(chunk), chunk.firstRow);
            await staging.writeParquet(rejected, rejectedPath);
            await staging.writeParquet(mapped, mappedPath);
          }
          rowsDone += chunk.rows;
          beat({ chunk: i, rowsDone });
          if (Context.current().cancellationSignal.aborted) throw new Error('transform cancelled');
        }

        let finalMapped = mappedFiles;
        if (spec.dedupe) {
          const keys = spec.dedupe;
          const keyFrame = pl.concat(mappedFiles.map((f) => pl.readParquet(staging.resolve(f), { columns: [ROW_COLUMN, ...keys] } as never)));
          const duplicates = findDuplicates(keyFrame, keys);
          finalMapped = [];
          for (const [i, file] of mappedFiles.entries()) {
            const mapped = pl.readParquet(staging.resolve(file));
            const dupRows = (mapped.getColumn(ROW_COLUMN).toArray() as unknown[]).map(Number).filter((row) => duplicates.has(row));
            if (dupRows.length === 0) {
              finalMapped.push(file);
              continue;
            }
            const dedupedPath = `${runKey}/deduped/${part(i)}`;
            const rejectedPath = `${runKey}/rejected-dedupe/${part(i)}`;
            finalMapped.push(dedupedPath);
            rejectedFiles.push(rejectedPath);
            const originals = readSlice(plan[i]!)
              .withRowIndex(ROW_COLUMN, plan[i]!.firstRow)
              .withColumns(pl.col(ROW_COLUMN).cast(pl.Int64))
              .filter(pl.col(ROW_COLUMN).isIn(dupRows));
            const records = originals.drop(ROW_COLUMN).toRecords() as Record<string, unknown>[];
            const rowNumbers = originals.getColumn(ROW_COLUMN).toArray().map(Number);
            const errors = rowNumbers.map((row) =>
              toJson([{ field: null, rule: 'dedupe', message: `duplicate of row ${duplicates.get(row)} on (${keys.join(', ')})` } satisfies RejectError]),
            );
            await staging.writeParquet(
              pl.DataFrame({
                [ROW_COLUMN]: pl.Series(ROW_COLUMN, rowNumbers, pl.Int64),
                record: pl.Series('record', records.map((r) => toJson(r)), pl.Utf8),
                errors: pl.Series('errors', errors, pl.Utf8),
              }),
              rejectedPath,
            );
            await staging.writeParquet(mapped.filter(pl.col(ROW_COLUMN).isIn(dupRows).not()), dedupedPath);
          }
          beat({ chunk: plan.length, rowsDone, dedupe: duplicates.size });
        }

        let rowsMapped = 0;
        for (const file of finalMapped) rowsMapped += pl.scanParquet(staging.resolve(file)).select(pl.len().alias('n')).collectSync().getColumn('n').get(0) as number;
        const byRule: Record<string, number> = {};
        let rowsRejected = 0;
        for (const file of rejectedFiles) {
          const errors = pl.readParquet(staging.resolve(file), { columns: ['errors'] } as never).getColumn('errors').toArray() as string[];
          rowsRejected += errors.length;
          for (const text of errors) {
            for (const error of JSON.parse(text) as RejectError[]) byRule[ruleKey(error)] = (byRule[ruleKey(error)] ?? 0) + 1;
          }
        }
        logger.info({ runId: input.runId, rowsMapped, rowsRejected, chunks: plan.length }, 'transform done');
        return {
          mappedFiles: finalMapped,
          rejectedFiles,
          rowsMapped: Number(rowsMapped),
          rowsRejected,
          byRule,
          chunks: plan.length,
          maxRejectRatio: spec.max_reject_ratio,
          rejectsStagingLocation: pathToFileURL(staging.resolve(`${runKey}/rejected`)).href,
        };
      }));
    },

    /** Loads mapped and rejected rows with a ledger row in one target transaction. Heartbeats `{ chunk, rows }`. */
    async syncTarget(input: SyncTargetInput): Promise<SyncTargetOutput> {
      return atActivityBoundary(logger, 'syncTarget', () => withKeepAlive(async (beat) => {
        const { spec } = await flowVersions.get(input.flowVersion);
        const target = connectors.target(spec.target.connector);
        const result = await target.load({
          runId: input.runId,
          executionId: input.executionId,
          flowVersion: input.flowVersion,
          sourcePath: input.sourcePath,
          spec,
          mappedFiles: input.mappedFiles.map((f) => staging.resolve(f)),
          rejectedFiles: input.rejectedFiles.map((f) => staging.resolve(f)),
          onProgress: (progress) => beat(progress),
          signal: Context.current().cancellationSignal,
        });
        logger.info({ runId: input.runId, ...result }, result.alreadyLoaded ? 'target already loaded (ledger hit)' : 'target loaded');
        return result;
      }));
    },

    /** Deletes a run execution's staged files. */
    async purgeStaging(input: Pick<RunRef, 'runId' | 'executionId'>): Promise<void> {
      await staging.purge(staging.runKey(input.runId, input.executionId));
    },
  };
}

export type RunActivities = ReturnType<typeof createRunActivities>;
