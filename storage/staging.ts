/**
 * Staging: where a run keeps its intermediate Parquet files. Only keys (paths relative to the
 * staging root, `/`-separated) travel through Temporal, never rows.
 *
 * Layout of one execution of a run, under `<run id>/<execution id>/`: `source/` (the staged
 * source), `mapped/` and `rejected/` (one part per chunk), `deduped/` and `rejected-dedupe/` (with
 * `dedupe`), and `finished.json` once the run has ended (its age drives retention).
 *
 * Two backends: local disk (the embedded default; every worker must see the same folder) and S3
 * (workers on several machines). A stored file is complete: writes go to a temporary name (or a
 * single S3 PUT/multipart upload, which is atomic), so a retried activity can skip finished parts.
 */
import type pl from 'nodejs-polars';

export interface Staging {
  /** `file:///…` or `s3://bucket/prefix`, for messages. */
  readonly location: string;
  /** The key folder of one execution of a run. */
  runKey(runId: string, executionId: string): string;
  /** A fresh, empty worker-local folder for `<runKey>/<name>` work (files written there are then `store`d). */
  scratch(runKey: string, name: string): Promise<string>;
  /** Stores a local file under `key` (the local file may be moved). */
  store(localFile: string, key: string): Promise<void>;
  /** Writes a frame as Parquet under `key`, atomically. */
  writeParquet(frame: pl.DataFrame, key: string): Promise<void>;
  /** A local path holding the file at `key` (downloaded into a worker-local cache for S3). */
  fetch(key: string): Promise<string>;
  exists(key: string): Promise<boolean>;
  /** A URI a person can open for `key` (a folder key is fine). */
  uri(key: string): string;
  /** Records that a run ended now; `sweep` deletes it once older than the retention period. */
  markFinished(runKey: string): Promise<void>;
  /**
   * Deletes every run whose `finished.json` is older than `retentionMs` milliseconds.
   * @returns the run keys deleted.
   */
  sweep(retentionMs: number): Promise<string[]>;
  /** Deletes everything staged for a run execution (and its worker-local cache). */
  purge(runKey: string): Promise<void>;
}

/** Run keys are `<run id>/<execution id>`, with anything unusual in the run id replaced. */
export function runKeyOf(runId: string, executionId: string): string {
  return `${runId.replace(/[^A-Za-z0-9_.-]/g, '_')}/${executionId.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

export const FINISHED_MARKER = 'finished.json';
