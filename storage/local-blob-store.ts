/**
 * The blob store on local disk: key `a/b.csv` is the file `<root>/a/b.csv`. Copies go to a temporary file under
 * `<root>/.tmp/` (never listed) and are renamed into place, so readers never see half an object; a moved file is
 * renamed into place directly. Empty folders are removed when their last object is deleted (up to, not including,
 * the root). Several processes can share the folder (one machine, or a shared volume).
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import type { BlobInfo, BlobStore } from './blob-store';

/** The folder under the root that holds temporary files; it is never listed. */
const TEMPORARY_DIR = '.tmp';

const isMissing = (error: unknown) => ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '');

export class LocalBlobStore implements BlobStore {
  /** The absolute root folder. */
  readonly root: string;

  /** @param root the folder holding the objects (created on the first write). */
  constructor(root: string) {
    this.root = path.resolve(root);
  }

  get location(): string {
    return pathToFileURL(this.root).href;
  }

  private resolve(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  localPath(key: string): string {
    return this.resolve(key);
  }

  uri(key: string): string {
    return pathToFileURL(this.resolve(key)).href;
  }

  /** Renames `file` to `target`, creating its folder; a concurrent delete may prune the folder in between: try again. */
  private async renameInto(file: string, target: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await mkdir(path.dirname(target), { recursive: true });
      try {
        await rename(file, target);
        return;
      } catch (error) {
        if (attempt >= 3 || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }

  /** Writes through a temporary file under `<root>/.tmp/`, then renames it to `key`. */
  private async putVia(key: string, write: (temporary: string) => Promise<void>): Promise<number> {
    const tmpDir = path.join(this.root, TEMPORARY_DIR);
    await mkdir(tmpDir, { recursive: true });
    const temporary = path.join(tmpDir, randomUUID());
    try {
      await write(temporary);
      const { size } = await stat(temporary);
      await this.renameInto(temporary, this.resolve(key));
      return size;
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async putFile(key: string, file: string, options: { move?: boolean } = {}): Promise<number> {
    if (!options.move) return this.putVia(key, (temporary) => pipeline(createReadStream(file), createWriteStream(temporary)));
    const { size } = await stat(file);
    const target = this.resolve(key);
    if (path.resolve(file) !== target) await this.renameInto(file, target);
    return size;
  }

  putBytes(key: string, bytes: Uint8Array): Promise<number> {
    return this.putVia(key, (temporary) => writeFile(temporary, bytes));
  }

  /** The open file of `key`, or undefined when there is no such file. */
  private async openFile(key: string) {
    const handle = await open(this.resolve(key), 'r').catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    if (handle && !(await handle.stat()).isFile()) {
      await handle.close();
      return undefined;
    }
    return handle;
  }

  async getToFile(key: string, file: string): Promise<number | undefined> {
    const handle = await this.openFile(key);
    if (!handle) return undefined;
    try {
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
    const handle = await this.openFile(key);
    if (!handle) return undefined;
    try {
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

  async stat(key: string): Promise<Omit<BlobInfo, 'key'> | undefined> {
    try {
      const info = await stat(this.resolve(key));
      return info.isFile() ? { size: info.size, lastModifiedMs: info.mtimeMs } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** Keys of the files under folder `dirKey` ("" or ending with "/") that start with `prefix`; never `.tmp/`. */
  private async *walk(dirKey: string, prefix: string): AsyncGenerator<string> {
    let entries;
    try {
      entries = await readdir(this.resolve(dirKey), { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for (const entry of entries) {
      if (dirKey === '' && entry.name === TEMPORARY_DIR) continue;
      const key = dirKey + entry.name;
      if (entry.isDirectory()) {
        const folder = `${key}/`;
        if (folder.startsWith(prefix) || prefix.startsWith(folder)) yield* this.walk(folder, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        yield key;
      }
    }
  }

  async *list(prefix: string): AsyncGenerator<BlobInfo> {
    for await (const key of this.walk(prefix.slice(0, prefix.lastIndexOf('/') + 1), prefix)) {
      const info = await this.stat(key); // undefined when deleted (or renamed away) since the folder was read
      if (info) yield { key, ...info };
    }
  }

  async hasAny(prefix: string): Promise<boolean> {
    const walk = this.walk(prefix, prefix);
    const first = await walk.next();
    await walk.return(undefined);
    return first.done !== true;
  }

  /** Removes empty folders from `dir` upwards, stopping below the root. */
  private async prune(dir: string): Promise<void> {
    let current = dir;
    while (current.startsWith(this.root + path.sep)) {
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

  async deleteUnder(prefix: string): Promise<number> {
    if (!prefix.endsWith('/')) throw new Error(`deleteUnder needs a folder prefix ending with "/", not ${JSON.stringify(prefix)}`);
    const keys: string[] = [];
    for await (const key of this.walk(prefix, prefix)) keys.push(key);
    const dir = this.resolve(prefix.slice(0, -1));
    await rm(dir, { recursive: true, force: true });
    await this.prune(path.dirname(dir));
    return keys.length;
  }

  async close(): Promise<void> {
    // nothing to release
  }
}
