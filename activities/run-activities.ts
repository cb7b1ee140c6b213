/**
 * The activities of a run: `syncSource`, `transformChunk`, `finishTransform`, `syncTarget`, `finishRun`.
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
import { setImmediate } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import pl from 'nodejs-polars';
import type { Logger } from 'pino';
import type { SluiceConfig } from '../config/sluice-config';
import type { ConnectorRegistry } from '../connectors/registry';
import { SourceError, TransformError } from '../common/errors';
import type { CustomMapMetadata, RejectsOfRef } from '../common/run-model';
import type { FlowVersion, FlowVersionStore } from '../flows/flow-versions';
import { chunkRowsFor, type ChunkPlan, type StagedFileRef } from '../common/chunk-plan';
import type { Staging } from '../storage/staging';
import type { HeldSource, LinkStepResult, StagedSource } from '../connectors/connector';
import { applyCustomMap, mapInput } from '../transform/custom-map';
import { findDuplicates, RunDedupe } from '../transform/dedupe';
import { escapeNulForPostgres, mapChunkAsync, ROW_COLUMN, ruleKey, toJson, type RejectError } from '../transform/map-chunk';
import { loadMap, readMapFile, type MapFile } from '../flows/map-module';
import { numberedSlice, splitSourceRows } from '../transform/lineage';
import { withActivityBoundary } from './activity-boundary';
import { createCellBudget, type CellBudget } from './cell-budget';
import { createHeldSources, type HeldSources } from './held-sources';

export interface RunActivityDeps {
  config: SluiceConfig;
  connectors: ConnectorRegistry;
  flowVersions: FlowVersionStore;
  staging: Staging;
  logger: Logger;
  /** Cells this worker maps at once (@default a new `createCellBudget()`: 5,000,000 cells). */
  cellBudget?: CellBudget;
  /** Sources this worker holds in memory between syncSource and the pass (@default a new `createHeldSources()`). */
  heldSources?: HeldSources;
}

export interface RunRef {
  /** Run (workflow) id. */
  runId: string;
  /** Temporal run id of this execution; keys staging and the load ledger. */
  executionId: string;
  /** `flow:vN`. */
  flowVersion: string;
  sourcePath: string;
  /** The run's environment; a worker of another environment refuses the activity (`WRONG_ENVIRONMENT`). */
  environment?: string;
  /** The user who started the run: whose `${secret:NAME}` the connectors resolve (@default local). */
  startedBy?: string;
  /** A reprocess: the earlier run whose rejects are the source (staged by `stageRejectsOf`, resolved by the load). */
  rejectsOf?: RejectsOfRef;
}

export { planChunks, type ChunkPlan, type StagedFileRef } from '../common/chunk-plan';

export interface SyncSourceInput extends RunRef {
  /**
   * The run may hold its source in memory (it is not a dry run): a one-pass run whose local source file is at most
   * `staging.hold_max_bytes` is then read whole and kept on this worker instead of staged ({@link HeldSourceRef}).
   */
  hold?: boolean;
}

/**
 * A source held in a worker's memory by `syncSource` instead of staged (activities/held-sources.ts): the staged
 * file ref's `path` is a key no file has; the pass slices the held frame, or reads the file again where it is not
 * held, refusing a file whose size, modification time or row count (the run's rows read) changed (`SOURCE_CHANGED`).
 */
export interface HeldSourceRef {
  bytes: number;
  mtimeMs: number;
}

export interface SyncSourceOutput {
  files: StagedFileRef[];
  rows: number;
  columns: string[];
  format: string;
  /** True when the source connector moves a source_path once it is loaded (sftp `after_load`): the workflow then calls `afterSourceLoaded`. */
  afterLoad?: boolean;
  /** Rows per transform chunk: the worker's `staging.chunk_rows`, lowered for wide rows ({@link chunkRowsFor}). */
  chunkRows: number;
  /**
   * True when the run can take the one-pass path ({@link TransformAndLoadInput}): a postgres target,
   * no custom map, local staging. Absent or false: the staged path (transformChunk fan-out,
   * finishTransform, syncTarget).
   */
  onePass?: boolean;
  /** Present when the source is held in memory, not staged: `files` then has one ref, the held key. */
  held?: HeldSourceRef;
}

export interface TransformAndLoadInput extends RunRef {
  plan: ChunkPlan[];
  /** Rows read from the source (for `max_reject_ratio`). */
  rowsRead: number;
  /** The source is held in memory ({@link SyncSourceOutput.held}), not staged. */
  held?: HeldSourceRef;
}
export interface TransformAndLoadOutput {
  rowsMapped: number;
  rowsRejected: number;
  byRule: Record<string, number>;
  chunks: number;
  workers: Record<string, number>;
  maxRejectRatio: number;
  rejectsStagingLocation: string;
  /** True when the rejects crossed `max_reject_ratio`: the transaction was rolled back, nothing written. */
  rolledBack: boolean;
  /** Real times (ISO-8601) of the two overlapped steps; `load` is null when no row reached the target. */
  transform: { started_at: string; ended_at: string };
  load: { started_at: string | null; ended_at: string };
  /** The target's result (absent when rolled back). */
  loaded?: SyncTargetOutput;
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
  /** The run's `run_metadata`, handed to a custom map as `ctx.runMetadata`. */
  runMetadata?: Record<string, unknown>;
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
  /** The custom map's path, sha256 and row counts, when the flow has one. */
  map?: CustomMapMetadata;
}

export interface AfterSourceLoadedInput extends RunRef {
  /** YYYY-MM-DD (UTC): the run's start day, for `{date}` in `after_load.move_to`. */
  date: string;
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
  /** Row counts of the target's link steps, in order (database targets with `target.link`). */
  links?: LinkStepResult[];
}

/** Whether a run of `spec` on this worker can overlap the transform and the load in one activity. */
export function canRunOnePass(config: SluiceConfig, spec: FlowVersion['spec']): boolean {
  return spec.transform === undefined && !config.staging.s3 && config.connectors[spec.target.connector]?.kind === 'postgres';
}

const part = (i: number) => `part-${String(i).padStart(5, '0')}.parquet`;
/** The key of a run's held source (activities/held-sources.ts): where its staged file would be; no file has it. */
const heldKey = (runKey: string) => `${runKey}/source/held`;

type Beat = (details: Record<string, unknown>) => void;

/**
 * Runs `body` while heartbeating every 5 s with the last progress details, so a long native call
 * (a Polars sink, a COPY) keeps the activity alive; a dead worker stops heartbeating and Temporal
 * retries the activity elsewhere after the heartbeat timeout. A local activity runs `body` without heartbeats.
 */
async function withKeepAlive<T>(body: (beat: Beat) => Promise<T>): Promise<T> {
  const context = Context.current();
  // A local activity (a small run's transformAndLoad) cannot heartbeat: Temporal's core logs a warning for each try.
  if (context.info.isLocal) return body(() => undefined);
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

/**
 * Reads a version's custom map on this worker and checks it is the file the version was published with.
 * @throws TransformError `MAP_NOT_FOUND`, `MAP_OUTSIDE_PROJECT`, or `MAP_CHANGED` (the bytes differ from the recorded sha256).
 */
export function verifiedMapFile(projectDir: string, version: FlowVersion): MapFile {
  const ref = version.spec.map;
  if (!ref) throw new Error(`${version.id} names a custom map (${version.spec.transform}) but has no recorded map hash`);
  const file = readMapFile(projectDir, ref.path, version.id);
  if (file.sha256 !== ref.sha256) {
    throw new TransformError(
      'MAP_CHANGED',
      `${ref.path} changed since ${version.id} was published (sha256 ${ref.sha256.slice(0, 12)}… recorded, ${file.sha256.slice(0, 12)}… on this worker); ` +
        `publish a new version with \`sluice flows publish ${version.sourceFile ?? `flows/${version.flow}.yaml`}\``,
      { details: { path: ref.path, recorded: ref.sha256, found: file.sha256 } },
    );
  }
  return file;
}

export function createRunActivities(deps: RunActivityDeps) {
  const { config, connectors, flowVersions, staging, logger } = deps;
  // One budget per worker: every chunk this worker maps at once shares it.
  const cellBudget = deps.cellBudget ?? createCellBudget();
  const heldSources = deps.heldSources ?? createHeldSources();

  const readSlice = async (chunk: ChunkPlan): Promise<pl.DataFrame> =>
    pl.scanParquet(await staging.fetch(chunk.file)).slice(chunk.offset, chunk.rows).collect();

  /**
   * The frame of a run's held source: taken from this worker's memory, else read again from the connector and checked
   * against what syncSource read (`rows`: the run's rows read).
   * @throws SourceError `SOURCE_CHANGED` when the file's size, modification time or row count differs (or it cannot be
   *   held any more); the connector's errors when it cannot be read.
   */
  const heldSource = async (input: RunRef, ref: HeldSourceRef, rows: number, spec: FlowVersion['spec']): Promise<pl.DataFrame> => {
    const frame = heldSources.take(heldKey(staging.runKey(input.runId, input.executionId)));
    if (frame) return frame;
    const source = await connectors.sourceFor(spec.source.connector, input.startedBy);
    const again = await source.hold?.({
      sourcePath: input.sourcePath,
      spec,
      maxBytes: Number.POSITIVE_INFINITY,
      onProgress: () => undefined,
      signal: Context.current().cancellationSignal,
    });
    if (again && again.bytes === ref.bytes && again.mtimeMs === ref.mtimeMs && again.rows === rows) return again.frame;
    const was = `${ref.bytes} bytes, ${rows} rows, modified ${new Date(ref.mtimeMs).toISOString()}`;
    const now = again ? `${again.bytes} bytes, ${again.rows} rows, modified ${new Date(again.mtimeMs).toISOString()}` : 'not readable whole';
    throw new SourceError(
      'SOURCE_CHANGED',
      `source_path "${input.sourcePath}" changed while the run was loading it (${was} when it was read; now ${now}), and this ` +
        'worker had to read it again; nothing was written to the target. Start a new run once the file is complete and no longer written to',
      { details: { read: { ...ref, rows }, now: again ? { bytes: again.bytes, mtimeMs: again.mtimeMs, rows: again.rows } : null } },
    );
  };

  /**
   * The original source values (JSON text) of some source rows, read back from staging: what a
   * reject keeps. `rows` are 1-based source row numbers; the result is in source order.
   */
  const originalRecords = async (plan: ChunkPlan[], rows: number[], reprocess = false): Promise<{ rows: number[]; records: string[] }> => {
    const out = { rows: [] as number[], records: [] as string[] };
    const sorted = [...rows].sort((a, b) => a - b);
    for (const chunk of plan) {
      // A reprocess's chunks hold scattered original row numbers: every chunk is looked at.
      const inChunk = reprocess ? sorted : sorted.filter((row) => row >= chunk.firstRow && row < chunk.firstRow + chunk.rows);
      if (inChunk.length === 0) continue;
      // A reprocess's staged rows carry their original row numbers (transform/lineage.ts).
      const originals = numberedSlice(await readSlice(chunk), chunk.firstRow).filter(pl.col(ROW_COLUMN).isIn(inChunk));
      const sourceColumns = originals.columns.filter((c) => c !== ROW_COLUMN);
      out.records.push(...(originals.select(pl.struct(sourceColumns.map((c) => pl.col(c))).struct.jsonEncode().alias('record')).getColumn('record').toArray() as string[]));
      out.rows.push(...(originals.getColumn(ROW_COLUMN).toArray() as unknown[]).map(Number));
    }
    return out;
  };

  /** A rejected part: row numbers, original records and one list of errors per row. */
  const rejectedFrame = (rows: number[], records: string[], errors: RejectError[][]): pl.DataFrame =>
    pl.DataFrame({
      [ROW_COLUMN]: pl.Series(ROW_COLUMN, rows, pl.Int64),
      record: pl.Series('record', records, pl.Utf8),
      errors: pl.Series('errors', errors.map((e) => toJson(e)), pl.Utf8),
    });

  return withActivityBoundary(logger, {
    /**
     * Streams the source into staged Parquet files, or, for a one-pass run (`input.hold`) of a local file up to
     * `staging.hold_max_bytes`, reads it whole into this worker's memory ({@link HeldSourceRef}). Heartbeats `{ rows, chunk }`.
     */
    async syncSource(input: SyncSourceInput): Promise<SyncSourceOutput> {
      return withKeepAlive(async (beat) => {
        const version = await flowVersions.get(input.flowVersion);
        const { spec } = version;
        // Fail fast, before staging anything, when this worker's custom map is not the published one.
        if (spec.transform !== undefined) verifiedMapFile(config.projectDir, version);
        const runKey = staging.runKey(input.runId, input.executionId);
        const source = await connectors.sourceFor(spec.source.connector, input.startedBy);
        const onePass = canRunOnePass(config, spec);
        const progress = { onProgress: (progress: { rows: number; chunk: number }) => beat(progress), signal: Context.current().cancellationSignal };
        // A one-pass run's local file up to staging.hold_max_bytes is held in memory, not staged (activities/held-sources.ts).
        let held: HeldSource | undefined;
        if (input.hold && onePass && source.hold && config.staging.holdMaxBytes > 0) {
          held = await source.hold({ sourcePath: input.sourcePath, spec, maxBytes: config.staging.holdMaxBytes, ...progress });
          // An empty source is staged: its one empty chunk checks the columns on the staged path.
          if (held && !(held.rows > 0 && heldSources.put(heldKey(runKey), held.frame))) held = undefined;
        }
        const files: StagedFileRef[] = [];
        let staged: Omit<StagedSource, 'files'>;
        if (held) {
          files.push({ path: heldKey(runKey), rows: held.rows });
          staged = held;
          logger.info({ runId: input.runId, rows: held.rows, bytes: held.bytes }, 'source held in memory');
        } else {
          const scratch = await staging.scratch(runKey, 'source');
          // A chunk's memory is budgeted in cells: a wide flow stages and maps fewer rows per chunk.
          const stagedFiles = await source.stage({
            sourcePath: input.sourcePath,
            spec,
            stagingDir: scratch,
            chunkRows: chunkRowsFor(config.staging.chunkRows, spec.fields.length),
            ...progress,
          });
          for (const file of stagedFiles.files) {
            const key = `${runKey}/source/${path.basename(file.path)}`;
            await staging.store(file.path, key);
            files.push({ path: key, rows: file.rows });
          }
          staged = stagedFiles;
          logger.info({ runId: input.runId, rows: staged.rows, files: files.length, staging: staging.location }, 'source staged');
        }
        if (staged.rows === 0 && spec.on_empty === 'fail') {
          throw new SourceError(
            'EMPTY_SOURCE',
            `source_path "${input.sourcePath}" read 0 rows and flow ${spec.name} has on_empty: fail; check the source_path ` +
              `(or the connector's query for it), or remove on_empty: fail to let an empty batch succeed with a warning`,
          );
        }
        const chunkRows = chunkRowsFor(config.staging.chunkRows, Math.max(spec.fields.length, staged.columns.length));
        return {
          files,
          rows: staged.rows,
          columns: staged.columns,
          format: staged.format,
          chunkRows,
          onePass,
          ...(held ? { held: { bytes: held.bytes, mtimeMs: held.mtimeMs } } : {}),
          ...(source.afterLoad ? { afterLoad: true } : {}),
        };
      });
    },

    /**
     * Maps one chunk (declarative mapping and rules) into a mapped and a rejected part. Idempotent:
     * a chunk whose parts exist is not mapped again. Runs on any worker of the task queue.
     */
    async transformChunk(input: TransformChunkInput): Promise<TransformChunkOutput> {
      return withKeepAlive(async (beat) => {
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
        // The worker's memory budget: this chunk's cells are taken before it is read, freed once its parts are written.
        return cellBudget.withCells(input.chunk.rows * Math.max(1, spec.fields.length), async () => {
          // A reprocess's slice carries the original row numbers: mapped and rejected rows get them back.
          const { raw, restore } = splitSourceRows(await readSlice(input.chunk), input.chunk.firstRow);
          beat({ chunk: input.index, rows: raw.height });
          // Rules that depend on what the target can store (a NUL byte in PostgreSQL text) read its kind.
          const targetKind = config.connectors[spec.target.connector]?.kind;
          const result = await mapChunkAsync(spec, raw, input.chunk.firstRow, { targetKind });
          const { byRule } = result;
          const mapped = restore(result.mapped);
          const rejected = restore(result.rejected);
          await staging.writeParquet(rejected, rejectedKey);
          await staging.writeParquet(mapped, mappedKey);
          return { index: input.index, mappedKey, rejectedKey, rowsMapped: mapped.height, rowsRejected: rejected.height, byRule, worker: WORKER_IDENTITY };
        });
      });
    },

    /**
     * After every chunk: applies `dedupe` across all chunks (keeps the lowest row number), then the
     * flow's custom map over every mapped row of the run, then counts rows and rejects by rule.
     */
    async finishTransform(input: FinishTransformInput): Promise<TransformOutput> {
      return withKeepAlive(async (beat) => {
        const version = await flowVersions.get(input.flowVersion);
        const { spec } = version;
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
          const keyFrames = local.map((f) => pl.readParquet(f, { columns: [ROW_COLUMN, ...keys] } as never));
          const duplicates = findDuplicates(pl.concat(keyFrames), keys);
          const allDuplicates = [...duplicates.keys()];
          finalMapped = [];
          for (const [i, file] of local.entries()) {
            // Only a part holding duplicates is read whole and rewritten.
            const dupRows = (keyFrames[i]!.filter(pl.col(ROW_COLUMN).isIn(allDuplicates)).getColumn(ROW_COLUMN).toArray() as unknown[]).map(Number);
            if (dupRows.length === 0) {
              finalMapped.push(mappedFiles[i]!);
              continue;
            }
            const mapped = pl.readParquet(file);
            const dedupedKey = `${runKey}/deduped/${part(i)}`;
            const rejectedKey = `${runKey}/rejected-dedupe/${part(i)}`;
            finalMapped.push(dedupedKey);
            rejectedFiles.push(rejectedKey);
            const originals = await originalRecords([input.plan[chunks[i]!.index]!], dupRows, input.rejectsOf !== undefined);
            const errors = originals.rows.map((row): RejectError[] => [
              { field: null, rule: 'dedupe', message: `duplicate of row ${duplicates.get(row)} on (${keys.join(', ')})` },
            ]);
            await staging.writeParquet(rejectedFrame(originals.rows, originals.records, errors), rejectedKey);
            await staging.writeParquet(mapped.filter(pl.col(ROW_COLUMN).isIn(dupRows).not()), dedupedKey);
            rowsMapped -= dupRows.length;
            duplicateCount += dupRows.length;
            beat({ dedupe: i });
          }
        }
        // The custom map sees every mapped row of the run at once (it may join or group across chunks).
        let map: CustomMapMetadata | undefined;
        let mapRejectedRows = 0;
        let mapErrors = 0;
        if (spec.transform !== undefined) {
          const loaded = loadMap(verifiedMapFile(config.projectDir, version));
          const local = await Promise.all(finalMapped.map((f) => staging.fetch(f)));
          const rows = mapInput(spec, local.map((f) => pl.readParquet(f)));
          beat({ map: loaded.file.path, rows: rows.height });
          const log = logger.child({ runId: input.runId, flowVersion: input.flowVersion, map: loaded.file.path });
          const output = await applyCustomMap(spec, loaded, rows, {
            runId: input.runId,
            flowVersion: input.flowVersion,
            sourcePath: input.sourcePath,
            runMetadata: input.runMetadata ?? {},
            // Only the secrets the flow version declares, resolved here for the user who started the run.
            secrets: Object.freeze(await connectors.resolveSecrets(spec.secrets ?? [], input.startedBy)),
            log,
          });
          beat({ map: loaded.file.path, rows: output.mapped.height });
          // Written back in parts of chunk_rows, so the load stays chunked.
          finalMapped = [];
          for (let offset = 0, i = 0; offset < output.mapped.height || i === 0; offset += config.staging.chunkRows, i++) {
            const key = `${runKey}/custom-map/${part(i)}`;
            await staging.writeParquet(output.mapped.slice(offset, config.staging.chunkRows), key);
            finalMapped.push(key);
          }
          if (output.rejected.length > 0) {
            const messages = new Map(output.rejected.map((r) => [r.row, r.messages]));
            const originals = await originalRecords(input.plan, [...messages.keys()], input.rejectsOf !== undefined);
            const errors = originals.rows.map((row) => messages.get(row)!.map((message): RejectError => ({ field: null, rule: 'map', message })));
            const key = `${runKey}/rejected/map.parquet`;
            await staging.writeParquet(rejectedFrame(originals.rows, originals.records, errors), key);
            rejectedFiles.push(key);
            mapErrors = errors.reduce((n, e) => n + e.length, 0);
          }
          mapRejectedRows = output.rejected.length;
          map = { path: loaded.file.path, sha256: loaded.file.sha256, rows_in: rows.height, rows_out: output.mapped.height, rejected: mapRejectedRows };
          rowsMapped = output.mapped.height;
          log.info({ ...map }, 'custom map applied');
        }
        // Each chunk counted its own rejects; dedupe adds one `dedupe` error per duplicate, the map one `map` error per reason.
        const byRule: Record<string, number> = {};
        for (const chunk of chunks) for (const [rule, n] of Object.entries(chunk.byRule)) byRule[rule] = (byRule[rule] ?? 0) + n;
        const rowsRejected = chunks.reduce((n, c) => n + c.rowsRejected, 0) + duplicateCount + mapRejectedRows;
        if (duplicateCount > 0) byRule.dedupe = (byRule.dedupe ?? 0) + duplicateCount;
        if (mapErrors > 0) byRule.map = (byRule.map ?? 0) + mapErrors;
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
          ...(map ? { map } : {}),
        };
      });
    },

    /**
     * The one-pass path: maps the chunks in source order and streams each mapped chunk into the
     * target's COPY while the next one is mapped, all in ONE target transaction with the ledger row.
     * Rejects are staged per chunk and COPYed after the mapped rows. `dedupe` keeps the first row of
     * each key across the run (chunks run in order, so a later duplicate is rejected against the keys
     * already loaded). Above `max_reject_ratio` the transaction is rolled back and nothing is written.
     * A retry (killed worker) starts over: the uncommitted transaction died with its connection.
     */
    async transformAndLoad(input: TransformAndLoadInput): Promise<TransformAndLoadOutput> {
      return withKeepAlive(async (beat) => {
        const { spec } = await flowVersions.get(input.flowVersion);
        const target = await connectors.targetFor(spec.target.connector, input.startedBy);
        if (!target.loadStream) throw new Error(`connector ${spec.target.connector} (${target.kind}) cannot stream a load`);
        const runKey = staging.runKey(input.runId, input.executionId);
        const targetKind = config.connectors[spec.target.connector]?.kind;
        const transformStarted = new Date().toISOString();
        let transformEnded = transformStarted;
        let loadStarted: string | null = null;
        const rejectedFiles: string[] = [];
        const rejectedWrites: Promise<void>[] = [];
        const byRule: Record<string, number> = {};
        let rowsMapped = 0;
        let rowsRejected = 0;
        let exceeded = false;
        const dedupe = spec.dedupe ? new RunDedupe(spec.dedupe) : undefined;
        const plan = input.plan;
        // A held source is taken from this worker's memory, or read again where syncSource ran elsewhere; only once a
        // chunk is read (a ledger hit reads nothing).
        let heldFrame: Promise<pl.DataFrame> | undefined;
        const readChunk = (chunk: ChunkPlan): Promise<pl.DataFrame> => {
          if (!input.held) return readSlice(chunk);
          heldFrame ??= heldSource(input, input.held, input.rowsRead, spec);
          return heldFrame.then((frame) => frame.slice(chunk.offset, chunk.rows));
        };
        // The worker's memory budget covers the mapping (the chunk being encoded and COPYed is outside it).
        const mapOne = (chunk: ChunkPlan) =>
          cellBudget.withCells(chunk.rows * Math.max(1, spec.fields.length), async () => {
            // A reprocess's slice carries the original row numbers: mapped and rejected rows get them back below.
            const slice = splitSourceRows(await readChunk(chunk), chunk.firstRow);
            return { ...slice, result: await mapChunkAsync(spec, slice.raw, chunk.firstRow, { targetKind }) };
          });
        async function* mapped(): AsyncGenerator<pl.DataFrame> {
          let next = plan.length > 0 ? mapOne(plan[0]!) : undefined;
          for (const [index, chunk] of plan.entries()) {
            const { raw, restore, result } = await next!;
            let { mapped: rows, rejected } = result;
            for (const [rule, n] of Object.entries(result.byRule)) byRule[rule] = (byRule[rule] ?? 0) + n;
            if (dedupe) {
              const found = dedupe.apply(rows, raw, chunk.firstRow, targetKind === 'postgres' ? escapeNulForPostgres : undefined);
              if (found) {
                rows = found.kept;
                rejected = pl.concat([rejected, found.rejected]);
                byRule.dedupe = (byRule.dedupe ?? 0) + found.rejected.height;
              }
            }
            rows = restore(rows);
            rejected = restore(rejected);
            rowsMapped += rows.height;
            rowsRejected += rejected.height;
            if (rejected.height > 0 || index === 0) {
              const key = `${runKey}/rejected/${part(index)}`;
              // Written while the chunk is COPYed; every write is awaited before the rejects are loaded (below).
              const written = staging.writeParquet(rejected, key);
              written.catch(() => undefined);
              rejectedWrites.push(written);
              rejectedFiles.push(key);
            }
            // The client's live line reads this from the pending activity (common/run-reader.ts onePassProgress).
            beat({ chunk: index, chunks: plan.length, mapped: rowsMapped, rejected: rowsRejected });
            // Rejects only grow: once above the ratio, the run writes nothing; keep mapping only to count.
            // A reprocess ignores the ratio: its source is known rejects, and the rows it recovers load anyway.
            if (!input.rejectsOf && input.rowsRead > 0 && rowsRejected / input.rowsRead > spec.max_reject_ratio) exceeded = true;
            // Chunk k+1 is mapped (by Polars, off the event loop) while chunk k is encoded and COPYed: one mapping at a
            // time still, one more mapped chunk in memory. Its failure, if any, is thrown when it is awaited above.
            // It starts on the next turn of the event loop: the synchronous Polars calls on chunk k before its first
            // COPY bytes (dedupe above; the target's lineage columns and Arrow hand-over after the yield) then find
            // Polars' threads free instead of waiting behind the next chunk's mapping.
            next = index + 1 < plan.length ? setImmediate().then(() => mapOne(plan[index + 1]!)) : undefined;
            next?.catch(() => undefined);
            if (!exceeded) yield rows;
          }
          transformEnded = new Date().toISOString();
        }
        const result = await target.loadStream({
          runId: input.runId,
          executionId: input.executionId,
          flowVersion: input.flowVersion,
          sourcePath: input.sourcePath,
          spec,
          ...(input.rejectsOf ? { rejectsOf: input.rejectsOf } : {}),
          mapped: mapped(),
          rejected: async () => {
            await Promise.all(rejectedWrites);
            return exceeded ? null : Promise.all(rejectedFiles.map((f) => staging.fetch(f)));
          },
          onFirstWrite: () => {
            loadStarted ??= new Date().toISOString();
          },
          onProgress: () => undefined,
          signal: Context.current().cancellationSignal,
        });
        const loadEnded = new Date().toISOString();
        const workers = { [WORKER_IDENTITY]: plan.length };
        const common = {
          byRule,
          chunks: plan.length,
          workers,
          maxRejectRatio: spec.max_reject_ratio,
          rejectsStagingLocation: staging.uri(`${runKey}/rejected`),
          load: { started_at: loadStarted, ended_at: loadEnded },
        };
        if (result === null) {
          logger.info({ runId: input.runId, rowsMapped, rowsRejected }, 'above max_reject_ratio: target transaction rolled back');
          return { ...common, rowsMapped, rowsRejected, rolledBack: true, transform: { started_at: transformStarted, ended_at: transformEnded } };
        }
        logger.info({ runId: input.runId, ...result }, result.alreadyLoaded ? 'target already loaded (ledger hit)' : 'mapped and loaded in one pass');
        // A ledger hit maps nothing: the counts come from the ledger, the rules from the staged rejects.
        const counts = result.alreadyLoaded ? { rowsMapped: result.rowsWritten, rowsRejected: result.rowsRejected } : { rowsMapped, rowsRejected };
        if (result.alreadyLoaded) {
          for (const index of plan.keys()) {
            const key = `${runKey}/rejected/${part(index)}`;
            if (!(await staging.exists(key))) continue;
            for (const [rule, n] of Object.entries(countRejects(await staging.fetch(key)).byRule)) byRule[rule] = (byRule[rule] ?? 0) + n;
          }
        }
        return { ...common, ...counts, rolledBack: false, transform: { started_at: transformStarted, ended_at: transformEnded }, loaded: result };
      });
    },

    /** Loads mapped and rejected rows with a ledger row in one target transaction. Heartbeats `{ chunk, rows }`. */
    async syncTarget(input: SyncTargetInput): Promise<SyncTargetOutput> {
      return withKeepAlive(async (beat) => {
        const { spec } = await flowVersions.get(input.flowVersion);
        const target = await connectors.targetFor(spec.target.connector, input.startedBy);
        const result = await target.load({
          runId: input.runId,
          executionId: input.executionId,
          flowVersion: input.flowVersion,
          sourcePath: input.sourcePath,
          spec,
          mappedFiles: await Promise.all(input.mappedFiles.map((f) => staging.fetch(f))),
          rejectedFiles: await Promise.all(input.rejectedFiles.map((f) => staging.fetch(f))),
          ...(input.rejectsOf ? { rejectsOf: input.rejectsOf } : {}),
          onProgress: (progress) => beat(progress),
          signal: Context.current().cancellationSignal,
        });
        logger.info({ runId: input.runId, ...result }, result.alreadyLoaded ? 'target already loaded (ledger hit)' : 'target loaded');
        return result;
      });
    },

    /**
     * After a run loaded its source_path, lets the source connector act on it (sftp `after_load.move_to`
     * moves the remote file). Idempotent; `movedTo` is relative to the connector's root, null when the
     * connector has nothing to do.
     */
    async afterSourceLoaded(input: AfterSourceLoadedInput): Promise<{ movedTo: string | null }> {
      const { spec } = await flowVersions.get(input.flowVersion);
      const source = await connectors.sourceFor(spec.source.connector, input.startedBy);
      if (!source.afterLoad) return { movedTo: null };
      const { movedTo } = await source.afterLoad({ sourcePath: input.sourcePath, date: input.date });
      logger.info({ runId: input.runId, sourcePath: input.sourcePath, movedTo }, 'source moved after load');
      return { movedTo };
    },

    /**
     * Records that a run ended, so its staged data is deleted after the retention period
     * (`staging.retention_hours`); frees this worker's local copies now.
     */
    async finishRun(input: Pick<RunRef, 'runId' | 'executionId' | 'environment'>): Promise<void> {
      const runKey = staging.runKey(input.runId, input.executionId);
      await staging.markFinished(runKey);
      if (config.staging.s3) await rm(path.join(config.staging.dir, ...runKey.split('/')), { recursive: true, force: true });
    },
  });
}

export type RunActivities = ReturnType<typeof createRunActivities>;
