/**
 * Local-disk staging (the embedded default): keys are files under one root folder. Several workers
 * can share it when they see the same folder (one machine, or a shared volume).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type pl from 'nodejs-polars';
import { FINISHED_MARKER, runKeyOf, type Staging } from './staging';

export class LocalStaging implements Staging {
  constructor(readonly root: string) {}

  get location(): string {
    return pathToFileURL(this.root).href;
  }

  runKey(runId: string, executionId: string): string {
    return runKeyOf(runId, executionId);
  }

  private resolve(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  async scratch(runKey: string, name: string): Promise<string> {
    // Local staging writes in place: the scratch folder is the staged folder itself.
    const dir = this.resolve(`${runKey}/${name}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async store(localFile: string, key: string): Promise<void> {
    const target = this.resolve(key);
    if (path.resolve(localFile) === target) return;
    await mkdir(path.dirname(target), { recursive: true });
    await rename(localFile, target);
  }

  async writeParquet(frame: pl.DataFrame, key: string): Promise<void> {
    const target = this.resolve(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temporary = `${target}.${process.pid}.tmp`;
    frame.writeParquet(temporary);
    await rename(temporary, target);
  }

  async fetch(key: string): Promise<string> {
    const file = this.resolve(key);
    if (!existsSync(file)) throw new Error(`staged file ${key} is missing from ${this.root}; was staging purged, or do the workers not share this folder?`);
    return file;
  }

  async exists(key: string): Promise<boolean> {
    return existsSync(this.resolve(key));
  }

  uri(key: string): string {
    return pathToFileURL(this.resolve(key)).href;
  }

  async markFinished(runKey: string): Promise<void> {
    const file = this.resolve(`${runKey}/${FINISHED_MARKER}`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify({ finished_at: new Date().toISOString() }));
  }

  async sweep(retentionMs: number): Promise<string[]> {
    const deleted: string[] = [];
    const cutoff = Date.now() - retentionMs;
    const runs = existsSync(this.root) ? await readdir(this.root, { withFileTypes: true }) : [];
    for (const run of runs.filter((d) => d.isDirectory())) {
      for (const execution of await readdir(path.join(this.root, run.name), { withFileTypes: true })) {
        if (!execution.isDirectory()) continue;
        const runKey = `${run.name}/${execution.name}`;
        const marker = this.resolve(`${runKey}/${FINISHED_MARKER}`);
        if (!existsSync(marker)) continue;
        const finishedAt = Date.parse((JSON.parse(await readFile(marker, 'utf8')) as { finished_at: string }).finished_at);
        if ((Number.isNaN(finishedAt) ? (await stat(marker)).mtimeMs : finishedAt) < cutoff) {
          await this.purge(runKey);
          deleted.push(runKey);
        }
      }
      const left = await readdir(path.join(this.root, run.name)).catch(() => ['x']);
      if (left.length === 0) await rm(path.join(this.root, run.name), { recursive: true, force: true });
    }
    return deleted;
  }

  async purge(runKey: string): Promise<void> {
    await rm(this.resolve(runKey), { recursive: true, force: true });
  }
}
