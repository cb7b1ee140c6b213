/**
 * Local-disk staging: each run execution gets `<root>/<run id>/<execution id>/`, holding the staged
 * source (`source/`), mapped and rejected chunks (`mapped/`, `rejected/`) and, with `dedupe`,
 * `deduped/` and `rejected-dedupe/`. Only paths relative to the root travel through Temporal.
 *
 * Files are written to a temporary name and renamed, so a file that exists is complete: a retried
 * activity can skip the chunks it already finished.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type pl from 'nodejs-polars';

export class LocalStaging {
  constructor(readonly root: string) {}

  /** Folder of one execution of a run (relative to the root). */
  runKey(runId: string, executionId: string): string {
    return path.join(runId.replace(/[^A-Za-z0-9_.-]/g, '_'), executionId);
  }

  /** Absolute path of a staging-relative path. */
  resolve(relative: string): string {
    return path.join(this.root, relative);
  }

  /** Staging-relative path of an absolute path under the root. */
  relative(absolute: string): string {
    return path.relative(this.root, absolute);
  }

  /** Creates (emptying first when `fresh`) a folder under the run's key; returns its absolute path. */
  async folder(runKey: string, name: string, fresh = false): Promise<string> {
    const dir = this.resolve(path.join(runKey, name));
    if (fresh) await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** True when a complete file exists at the staging-relative path. */
  exists(relative: string): boolean {
    return existsSync(this.resolve(relative));
  }

  /** Writes a frame as Parquet atomically (temporary name, then rename). */
  async writeParquet(frame: pl.DataFrame, relative: string): Promise<void> {
    const target = this.resolve(relative);
    await mkdir(path.dirname(target), { recursive: true });
    const temporary = `${target}.${process.pid}.tmp`;
    frame.writeParquet(temporary);
    await rename(temporary, target);
  }

  /** Deletes everything staged for a run execution. */
  async purge(runKey: string): Promise<void> {
    await rm(this.resolve(runKey), { recursive: true, force: true });
  }
}
