/**
 * Staging: where a run keeps its intermediate Parquet files. Only keys (paths relative to the
 * staging root, `/`-separated) travel through Temporal, never rows.
 *
 * Layout of one execution of a run, under `<run id>/<execution id>/`: `source/` (the staged
 * source), `mapped/` and `rejected/` (one part per chunk; a one-pass run stages only the rejected parts
 * that hold rows, and part 0), `deduped/` and `rejected-dedupe/` (with
 * `dedupe`), and `finished.json` once the run has ended (its age drives retention).
 *
 * One implementation, {@link BlobStaging}, over the blob layer (storage/blob-store.ts), with two
 * backends: local disk (the embedded default, `LocalStaging`; every worker must see the same folder)
 * and S3 (workers on several machines, `S3Staging`). A stored file is complete: writes go to a
 * temporary name (or a single S3 PUT/multipart upload, which is atomic), so a retried activity can
 * skip finished parts.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type pl from 'nodejs-polars';
import type { BlobStore } from './blob-store';

/** One staged execution of a run, as {@link Staging.executions} lists it. */
export interface StagedExecution {
  /** `<run id>/<execution id>` (see {@link runKeyOf}). */
  runKey: string;
  /** When the run ended, in ms since the epoch (see {@link Staging.executions}); null without `finished.json`. */
  finishedAtMs: number | null;
  /** Files (objects) staged for it, its marker included. */
  files: number;
  /** Their total size in bytes. */
  bytes: number;
}

export interface Staging {
  /** `file:///…` or `s3://bucket/prefix`, for messages. */
  readonly location: string;
  /** The key folder of one execution of a run. */
  runKey(runId: string, executionId: string): string;
  /** A fresh, empty worker-local folder for `<runKey>/<name>` work (files written there are then `store`d). */
  scratch(runKey: string, name: string): Promise<string>;
  /** Stores a local file under `key` (the local file may be moved). */
  store(localFile: string, key: string): Promise<void>;
  /** Writes a frame as Parquet under `key`, atomically, off the event loop. */
  writeParquet(frame: pl.DataFrame, key: string): Promise<void>;
  /**
   * A local path holding the file at `key` (downloaded into a worker-local cache for S3).
   * @throws Error when nothing is staged at `key` (staging was purged, or the workers do not share the folder).
   */
  fetch(key: string): Promise<string>;
  /** Whether a file is staged at `key` (a folder is not a file). */
  exists(key: string): Promise<boolean>;
  /** A URI a person can open for `key` (a folder key is fine). */
  uri(key: string): string;
  /** Records that a run ended now; `sweep` deletes it once older than the retention period. */
  markFinished(runKey: string): Promise<void>;
  /**
   * Every staged run execution (read-only). An execution has ended at the `finished_at` written into its
   * `finished.json`, or, when that does not parse, at the marker's last-modified time; null without a marker.
   */
  executions(): Promise<StagedExecution[]>;
  /**
   * Deletes every run execution whose `finished.json` is older than `retentionMs` milliseconds (by
   * {@link executions}' rule); executions without one are never deleted.
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

/** Markers read at once while listing executions. */
const MARKER_READS = 8;

/**
 * Staging over a blob store. On a local folder it works in place: scratch folders are the staged folders
 * themselves and `fetch` returns the stored file. On a remote store each worker keeps a local cache of what it
 * wrote or downloaded (under `cacheDir`), deleted with the run.
 */
export class BlobStaging implements Staging {
  /** Downloads in flight, so concurrent activities on this worker fetch each object once. */
  private readonly downloads = new Map<string, Promise<string>>();

  /**
   * @param blobs where staged files live.
   * @param cacheDir worker-local folder for scratch files and downloaded objects of a remote store.
   */
  constructor(
    private readonly blobs: BlobStore,
    private readonly cacheDir: string,
  ) {}

  get location(): string {
    return this.blobs.location;
  }

  runKey(runId: string, executionId: string): string {
    return runKeyOf(runId, executionId);
  }

  /** The stored file itself on a local folder, else its place in this worker's cache. */
  private workPath(key: string): string {
    return this.blobs.localPath(key) ?? path.join(this.cacheDir, ...key.split('/'));
  }

  async scratch(runKey: string, name: string): Promise<string> {
    // On a local folder the scratch folder is the staged folder itself: `store` then has nothing to move.
    const dir = this.blobs.localPath(`${runKey}/${name}`) ?? path.join(this.cacheDir, '.scratch', ...runKey.split('/'), name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async store(localFile: string, key: string): Promise<void> {
    await this.blobs.putFile(key, localFile, { move: true });
    if (this.blobs.localPath(key) !== undefined) return;
    // Uploaded: keep it in this worker's cache, the next step often runs here.
    const cached = this.workPath(key);
    await mkdir(path.dirname(cached), { recursive: true });
    await rename(localFile, cached);
  }

  /** Writes a file beside where `key` is worked on, then stores it (a rename on a local folder: atomic). */
  private async writeVia(key: string, write: (temporary: string) => Promise<void> | void): Promise<void> {
    const temporary = `${this.workPath(key)}.${process.pid}.${randomUUID()}.tmp`;
    await mkdir(path.dirname(temporary), { recursive: true });
    try {
      await write(temporary);
      await this.store(temporary, key);
    } finally {
      await rm(temporary, { force: true });
    }
  }

  writeParquet(frame: pl.DataFrame, key: string): Promise<void> {
    // Polars' sink writes on the libuv thread pool: a write that waits for Polars' threads (busy mapping the next
    // chunk) no longer holds up the event loop, as the synchronous writeParquet did.
    return this.writeVia(key, async (temporary) => {
      await frame.lazy().sinkParquet(temporary, { maintainOrder: true }).collect();
    });
  }

  async fetch(key: string): Promise<string> {
    const local = this.blobs.localPath(key);
    if (local !== undefined) {
      if (!existsSync(local)) throw this.missing(key);
      return local;
    }
    const cached = this.workPath(key);
    if (existsSync(cached)) return cached;
    let download = this.downloads.get(key);
    if (!download) {
      download = (async () => {
        if ((await this.blobs.getToFile(key, cached)) === undefined) throw this.missing(key);
        return cached;
      })().finally(() => this.downloads.delete(key));
      this.downloads.set(key, download);
    }
    return download;
  }

  private missing(key: string): Error {
    const shared = this.blobs.localPath(key) !== undefined ? ', or do the workers not share this folder' : '';
    return new Error(`staged file ${key} is missing from ${this.location}; was staging purged${shared}?`);
  }

  async exists(key: string): Promise<boolean> {
    return (await this.blobs.stat(key)) !== undefined;
  }

  uri(key: string): string {
    return this.blobs.uri(key);
  }

  async markFinished(runKey: string): Promise<void> {
    await this.writeVia(`${runKey}/${FINISHED_MARKER}`, (temporary) => writeFile(temporary, JSON.stringify({ finished_at: new Date().toISOString() })));
  }

  async executions(): Promise<StagedExecution[]> {
    const byKey = new Map<string, StagedExecution>();
    const markers: { runKey: string; lastModifiedMs: number }[] = [];
    for await (const { key, size, lastModifiedMs } of this.blobs.list('')) {
      const parts = key.split('/');
      if (parts.length < 3) continue;
      const runKey = `${parts[0]}/${parts[1]}`;
      const execution = byKey.get(runKey) ?? { runKey, finishedAtMs: null, files: 0, bytes: 0 };
      execution.files += 1;
      execution.bytes += size;
      byKey.set(runKey, execution);
      if (parts.length === 3 && parts[2] === FINISHED_MARKER) markers.push({ runKey, lastModifiedMs });
    }
    for (let i = 0; i < markers.length; i += MARKER_READS) {
      await Promise.all(
        markers.slice(i, i + MARKER_READS).map(async ({ runKey, lastModifiedMs }) => {
          byKey.get(runKey)!.finishedAtMs = await this.finishedAt(`${runKey}/${FINISHED_MARKER}`, lastModifiedMs);
        }),
      );
    }
    return [...byKey.values()];
  }

  /** The `finished_at` of a marker, else its last-modified time. */
  private async finishedAt(markerKey: string, lastModifiedMs: number): Promise<number> {
    const content = await this.blobs.read(markerKey);
    let finishedAt = NaN;
    try {
      finishedAt = Date.parse(((JSON.parse(content?.toString('utf8') ?? '{}') ?? {}) as { finished_at?: string }).finished_at ?? '');
    } catch {
      // not JSON: the marker's time stands
    }
    return Number.isNaN(finishedAt) ? lastModifiedMs : finishedAt;
  }

  async sweep(retentionMs: number): Promise<string[]> {
    const cutoff = Date.now() - retentionMs;
    const expired = (await this.executions()).filter((e) => e.finishedAtMs !== null && e.finishedAtMs < cutoff).map((e) => e.runKey);
    for (const runKey of expired) await this.purge(runKey);
    return expired;
  }

  async purge(runKey: string): Promise<void> {
    await this.blobs.deleteUnder(`${runKey}/`);
    if (this.blobs.localPath(runKey) !== undefined) return;
    await rm(this.workPath(runKey), { recursive: true, force: true });
    await rm(path.join(this.cacheDir, '.scratch', ...runKey.split('/')), { recursive: true, force: true });
  }
}
