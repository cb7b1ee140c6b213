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
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import pl from 'nodejs-polars';
import type { Logger } from 'pino';
import type { SluiceConfig } from '../config/sluice-config';
import type { ConnectorRegistry } from '../connectors/registry';
import type { FlowVersionStore } from '../flow-spec/flow-versions';
import type { ChunkPlan, StagedFileRef } from '../common/chunk-plan';
import type { Staging } from '../staging/staging';
import { findDuplicates } from '../transform/dedupe';
import { mapChunk, ROW_COLUMN, ruleKey, toJson, type RejectError } from '../transform/map-chunk';
import { atActivityBoundary } from './activity-boundary';

export interface RunActivityDeps {
  config: SluiceConfig;
  connectors: ConnectorRegistry;
  flowVersions: FlowVersionStore;
  staging: Staging;
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

export { planChunks, type ChunkPlan, type StagedFileRef } from '../common/chunk-plan';

export type SyncSourceInput = RunRef;
export interface SyncSourceOutput {
  files: StagedFileRef[];
  rows: number;
  columns: string[];
  format: string;
  /** Rows per transform chunk (the worker's `staging.chunk_rows`). */
  chunkRows: number;
}

export interface TransformChunkInput extends RunRef {
  index: number;
  chunk: ChunkPlan;
}
export interface TransformChunkOutput {
  index: number;
  mappedKey: string;
  rejectedKey: string;
  rowsMapped: number;
  rowsRejected: number;
  /** This chunk's reject errors by `field:rule`. */
  byRule: Record<string, number>;
  /** `host:pid` of the worker that did it (or found it done). */
  worker: string;
}

export interface FinishTransformInput extends RunRef {
  chunks: TransformChunkOutput[];
  plan: ChunkPlan[];
}
export interface TransformOutput {
  /** Chunks done by each worker (`host:pid` → count). */
  workers: Record<string, number>;
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

/** `host:pid` of this worker process, reported by each chunk so a run shows who did the work. */
export const WORKER_IDENTITY = `${os.hostname()}:${process.pid}`;

const countRows = (file: string): number =>
  Number(pl.scanParquet(file).select(pl.len().alias('n')).collectSync().getColumn('n').get(0));

/** Rows and reject errors by rule of a stored rejected part (for a chunk a retry finds done). */
function countRejects(file: string): { rowsRejected: number; byRule: Record<string, number> } {
  const errors = pl.readParquet(file, { columns: ['errors'] } as never).getColumn('errors').toArray() as string[];
  const byRule: Record<string, number> = {};
  for (const text of errors) for (const error of JSON.parse(text) as RejectError[]) byRule[ruleKey(error)] = (byRule[ruleKey(error)] ?? 0) + 1;
  return { rowsRejected: errors.length, byRule };
}

export function createRunActivities(deps: RunActivityDeps) {
  const { config, connectors, flowVersions, staging, logger } = deps;

  const readSlice = async (chunk: ChunkPlan): Promise<pl.DataFrame> =>
    pl.scanParquet(await staging.fetch(chunk.file)).slice(chunk.offset, chunk.rows).collectSync();

  return {
    /** Streams the source into staged Parquet files. Heartbeats `{ rows, chunk }`. */
    async syncSource(input: SyncSourceInput): Promise<SyncSourceOutput> {
      return atActivityBoundary(logger, 'syncSource', () => withKeepAlive(async (beat) => {
        const { spec } = await flowVersions.get(input.flowVersion);
        const runKey = staging.runKey(input.runId, input.executionId);
        const scratch = await staging.scratch(runKey, 'source');
        const source = connectors.source(spec.source.connector);
        const staged = await source.stage({
          sourcePath: input.sourcePath,
          spec,
          stagingDir: scratch,
          chunkRows: config.staging.chunkRows,
          onProgress: (progress) => beat(progress),
          signal: Context.current().cancellationSignal,
        });
        const files: StagedFileRef[] = [];
        for (const file of staged.files) {
          const key = `${runKey}/source/${path.basename(file.path)}`;
          await staging.store(file.path, key);
          files.push({ path: key, rows: file.rows });
        }
        logger.info({ runId: input.runId, rows: staged.rows, files: files.length, staging: staging.location }, 'source staged');
        return { files, rows: staged.rows, columns: staged.columns, format: staged.format, chunkRows: config.staging.chunkRows };
      }));
    },

    /**
     * Maps one chunk (declarative mapping and rules) into a mapped and a rejected part. Idempotent:
     * a chunk whose parts exist is not mapped again. Runs on any worker of the task queue.
     */
    async transformChunk(input: TransformChunkInput): Promise<TransformChunkOutput> {
      return atActivityBoundary(logger, 'transformChunk', () => withKeepAlive(async (beat) => {
        const { spec } = await flowVersions.get(input.flowVersion);
        const runKey = staging.runKey(input.runId, input.executionId);
        const mappedKey = `${runKey}/mapped/${part(input.index)}`;
        const rejectedKey = `${runKey}/rejected/${part(input.index)}`;
        if ((await staging.exists(mappedKey)) && (await staging.exists(rejectedKey))) {
          return {
            index: input.index,
            mappedKey,
            rejectedKey,
            rowsMapped: countRows(await staging.fetch(mappedKey)),
            ...countRejects(await staging.fetch(rejectedKey)),
            worker: WORKER_IDENTITY,
          };
        }
        const raw = await readSlice(input.chunk);
        beat({ chunk: input.index, rows: raw.height });
        const { mapped, rejected, byRule } = mapChunk(spec, raw, input.chunk.firstRow);
        await staging.writeParquet(rejected, rejectedKey);
        await staging.writeParquet(mapped, mappedKey);
        return { index: input.index, mappedKey, rejectedKey, rowsMapped: mapped.height, rowsRejected: rejected.height, byRule, worker: WORKER_IDENTITY };
      }));
    },

    /**
     * After every chunk: applies `dedupe` across all chunks (keeps the lowest row number), then
     * counts rows and rejects by rule.
     */
    async finishTransform(input: FinishTransformInput): Promise<TransformOutput> {
      return atActivityBoundary(logger, 'finishTransform', () => withKeepAlive(async (beat) => {
        const { spec } = await flowVersions.get(input.flowVersion);
        const runKey = staging.runKey(input.runId, input.executionId);
        const chunks = [...input.chunks].sort((a, b) => a.index - b.index);
        const mappedFiles = chunks.map((c) => c.mappedKey);
        const rejectedFiles = chunks.map((c) => c.rejectedKey);
        let finalMapped = mappedFiles;
        let rowsMapped = chunks.reduce((n, c) => n + c.rowsMapped, 0);
        let duplicateCount = 0;
        if (spec.dedupe) {
          const keys = spec.dedupe;
          const local = await Promise.all(mappedFiles.map((f) => staging.fetch(f)));
          const keyFrame = pl.concat(local.map((f) => pl.readParquet(f, { columns: [ROW_COLUMN, ...keys] } as never)));
          const duplicates = findDuplicates(keyFrame, keys);
          const allDuplicates = [...duplicates.keys()];
          finalMapped = [];
          for (const [i, file] of local.entries()) {
            const mapped = pl.readParquet(file);
            const dupRows = (mapped.filter(pl.col(ROW_COLUMN).isIn(allDuplicates)).getColumn(ROW_COLUMN).toArray() as unknown[]).map(Number);
            if (dupRows.length === 0) {
              finalMapped.push(mappedFiles[i]!);
              continue;
            }
            const dedupedKey = `${runKey}/deduped/${part(i)}`;
            const rejectedKey = `${runKey}/rejected-dedupe/${part(i)}`;
            finalMapped.push(dedupedKey);
            rejectedFiles.push(rejectedKey);
            const chunk = input.plan[chunks[i]!.index]!;
            const originals = (await readSlice(chunk))
              .withRowIndex(ROW_COLUMN, chunk.firstRow)
              .withColumns(pl.col(ROW_COLUMN).cast(pl.Int64))
              .filter(pl.col(ROW_COLUMN).isIn(dupRows));
            const sourceColumns = originals.columns.filter((c) => c !== ROW_COLUMN);
            const records = originals.select(pl.struct(sourceColumns.map((c) => pl.col(c))).struct.jsonEncode().alias('record')).getColumn('record').toArray() as string[];
            const rowNumbers = (originals.getColumn(ROW_COLUMN).toArray() as unknown[]).map(Number);
            const errors = rowNumbers.map((row) =>
              toJson([{ field: null, rule: 'dedupe', message: `duplicate of row ${duplicates.get(row)} on (${keys.join(', ')})` } satisfies RejectError]),
            );
            await staging.writeParquet(
              pl.DataFrame({
                [ROW_COLUMN]: pl.Series(ROW_COLUMN, rowNumbers, pl.Int64),
                record: pl.Series('record', records, pl.Utf8),
                errors: pl.Series('errors', errors, pl.Utf8),
              }),
              rejectedKey,
            );
            await staging.writeParquet(mapped.filter(pl.col(ROW_COLUMN).isIn(dupRows).not()), dedupedKey);
            rowsMapped -= dupRows.length;
            duplicateCount += dupRows.length;
            beat({ dedupe: i });
          }
        }
        // Each chunk counted its own rejects; dedupe adds one `dedupe` error per duplicate.
        const byRule: Record<string, number> = {};
        for (const chunk of chunks) for (const [rule, n] of Object.entries(chunk.byRule)) byRule[rule] = (byRule[rule] ?? 0) + n;
        const rowsRejected = chunks.reduce((n, c) => n + c.rowsRejected, 0) + duplicateCount;
        if (duplicateCount > 0) byRule.dedupe = (byRule.dedupe ?? 0) + duplicateCount;
        const workers: Record<string, number> = {};
        for (const chunk of chunks) workers[chunk.worker] = (workers[chunk.worker] ?? 0) + 1;
        logger.info({ runId: input.runId, rowsMapped, rowsRejected, chunks: chunks.length, workers }, 'transform done');
        return {
          mappedFiles: finalMapped,
          rejectedFiles,
          rowsMapped,
          rowsRejected,
          byRule,
          chunks: chunks.length,
          workers,
          maxRejectRatio: spec.max_reject_ratio,
          rejectsStagingLocation: staging.uri(`${runKey}/rejected`),
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
          mappedFiles: await Promise.all(input.mappedFiles.map((f) => staging.fetch(f))),
          rejectedFiles: await Promise.all(input.rejectedFiles.map((f) => staging.fetch(f))),
          onProgress: (progress) => beat(progress),
          signal: Context.current().cancellationSignal,
        });
        logger.info({ runId: input.runId, ...result }, result.alreadyLoaded ? 'target already loaded (ledger hit)' : 'target loaded');
        return result;
      }));
    },

    /**
     * Records that a run ended, so its staged data is deleted after the retention period
     * (`staging.retention_hours`); frees this worker's local copies now.
     */
    async finishRun(input: Pick<RunRef, 'runId' | 'executionId'>): Promise<void> {
      const runKey = staging.runKey(input.runId, input.executionId);
      await staging.markFinished(runKey);
      if (config.staging.s3) await rm(path.join(config.staging.dir, ...runKey.split('/')), { recursive: true, force: true });
    },
  };
}

export type RunActivities = ReturnType<typeof createRunActivities>;
