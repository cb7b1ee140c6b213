/**
 * The data store on local disk (the embedded default): object `user/a/b.csv` is the file
 * `<dir>/user/a/b.csv`, `pipeline/<run id>/x` is `<dir>/pipeline/<run id>/x`. Writes go to a temporary
 * file under `<dir>/.tmp/` and are renamed into place, so readers never see half an object; empty
 * folders are removed when their last object is deleted. Several processes can share the folder.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import type { DataBackend } from './data-backend';

const isMissing = (error: unknown) => ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '');

export class LocalDataBackend implements DataBackend {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  get location(): string {
    return pathToFileURL(this.root).href;
  }

  private resolve(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  /** Writes through a temporary file, then renames it to `key`. */
  private async putVia(key: string, write: (temporary: string) => Promise<void>): Promise<number> {
    const target = this.resolve(key);
    const tmpDir = path.join(this.root, '.tmp');
    await mkdir(tmpDir, { recursive: true });
    const temporary = path.join(tmpDir, randomUUID());
    try {
      await write(temporary);
      const { size } = await stat(temporary);
      // A concurrent delete may prune the folder between mkdir and rename: try again.
      for (let attempt = 1; ; attempt++) {
        await mkdir(path.dirname(target), { recursive: true });
        try {
          await rename(temporary, target);
          return size;
        } catch (error) {
          if (attempt >= 3 || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
    } finally {
      await rm(temporary, { force: true });
    }
  }

  putFile(key: string, file: string): Promise<number> {
    return this.putVia(key, (temporary) => pipeline(createReadStream(file), createWriteStream(temporary)));
  }

  putBytes(key: string, bytes: Uint8Array): Promise<number> {
    return this.putVia(key, (temporary) => writeFile(temporary, bytes));
  }

  async getToFile(key: string, file: string): Promise<number | undefined> {
    const handle = await open(this.resolve(key), 'r').catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    if (!handle) return undefined;
    try {
      const info = await handle.stat();
      if (!info.isFile()) return undefined;
      const target = path.resolve(file);
      await mkdir(path.dirname(target), { recursive: true });
      const temporary = `${target}.${randomUUID().slice(0, 8)}.part`;
      try {
        await pipeline(handle.createReadStream({ autoClose: false }), createWriteStream(temporary));
        const { size } = await stat(temporary);
        await rename(temporary, target);
        return size;
      } finally {
        await rm(temporary, { force: true });
      }
    } finally {
      await handle.close();
    }
  }

  async read(key: string, range?: readonly [number, number]): Promise<Buffer | undefined> {
    const handle = await open(this.resolve(key), 'r').catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    if (!handle) return undefined;
    try {
      if (!(await handle.stat()).isFile()) return undefined;
      if (!range) return await handle.readFile();
      const [begin, end] = range;
      const buffer = Buffer.alloc(end - begin);
      let done = 0;
      while (done < buffer.length) {
        const { bytesRead } = await handle.read(buffer, done, buffer.length - done, begin + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return buffer.subarray(0, done);
    } finally {
      await handle.close();
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const info = await stat(this.resolve(key));
      return info.isFile() ? info.size : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** Keys of the files under folder `dirKey` ("" or ending with "/") that start with `keyPrefix`. */
  private async walk(dirKey: string, keyPrefix: string, out: string[], firstOnly = false): Promise<void> {
    let entries;
    try {
      entries = await readdir(this.resolve(dirKey), { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for (const entry of entries) {
      if (firstOnly && out.length > 0) return;
      const key = dirKey + entry.name;
      if (entry.isDirectory()) {
        const folder = `${key}/`;
        if (folder.startsWith(keyPrefix) || keyPrefix.startsWith(folder)) await this.walk(folder, keyPrefix, out, firstOnly);
      } else if (entry.isFile() && key.startsWith(keyPrefix)) {
        out.push(key);
      }
    }
  }

  async list(keyPrefix: string): Promise<string[]> {
    const keys: string[] = [];
    await this.walk(keyPrefix.slice(0, keyPrefix.lastIndexOf('/') + 1), keyPrefix, keys);
    return keys;
  }

  async hasAny(keyPrefix: string): Promise<boolean> {
    const keys: string[] = [];
    await this.walk(keyPrefix, keyPrefix, keys, true);
    return keys.length > 0;
  }

  /** Removes empty folders from `dir` upwards, stopping at `<root>/user` and `<root>/pipeline`. */
  private async prune(dir: string): Promise<void> {
    let current = dir;
    while (path.relative(this.root, current).includes(path.sep)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (or already gone)
      }
      current = path.dirname(current);
    }
  }

  async deleteOne(key: string): Promise<boolean> {
    const file = this.resolve(key);
    try {
      if (!(await lstat(file)).isFile()) return false;
      await rm(file);
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    await this.prune(path.dirname(file));
    return true;
  }

  async deleteUnder(keyPrefix: string): Promise<number> {
    const keys = await this.list(keyPrefix);
    const dir = this.resolve(keyPrefix.slice(0, -1));
    await rm(dir, { recursive: true, force: true });
    await this.prune(path.dirname(dir));
    return keys.length;
  }

  async close(): Promise<void> {
    // nothing to release
  }
}
