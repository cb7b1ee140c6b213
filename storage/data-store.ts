/**
 * The data store: a small object store for users' own code and for Sluice itself, on local disk
 * (the embedded default) or S3, chosen by `data_store` in sluice.config.yaml.
 *
 * Two kinds of scope, each a {@link DataScope}:
 * - `data.user` — persistent, and private to one user (the acting user: `options.user`, else `SLUICE_USER`, else the
 *   config's `user:`, else `local`); objects stay until deleted. User A's objects are invisible to user B, whatever
 *   B's role: there is no admin view. The `local` user's objects are those of the single shared scope of earlier
 *   versions (`user/…`, kept in place); every other user's live under `users/<name>/…`.
 * - `data.pipeline` — scoped to ONE run (the run id); deleted with that run's staging
 *   ({@link purgePipelineData}).
 *
 * Names are relative `/`-separated paths (`reports/2024-06.csv`), validated by
 * {@link validateDataName}; no name can leave its scope, so one scope never reads, lists or
 * deletes another's objects.
 *
 * @example
 * ```ts
 * const data = createDataStore(config, 'movies-v1-2d8005a1aaecf9bb');
 * try {
 *   await data.pipeline.put('lookup/rates.csv', '/tmp/rates.csv');           // a local file, streamed
 *   await data.user.put('notes/hello.txt', Buffer.from('hello'));            // bytes
 *   const head = await data.user.gets('notes/hello.txt', { byteRange: [0, 4] }); // <Buffer 68 65 6c 6c>
 *   await data.pipeline.get('lookup/rates.csv', '/tmp/copy.csv');            // streamed to a file
 *   await data.user.list('notes/');                                          // ['notes/hello.txt']
 * } finally {
 *   await data.close();
 * }
 * ```
 */
import { stat } from 'node:fs/promises';
import type { SluiceConfig } from '../config/sluice-config';
import { ConfigError } from '../common/errors';
import { readEnv } from '../common/env';
import { LOCAL_USER, parseUserName } from '../common/users';
import { createS3Client } from '../connectors/s3/s3-client';
import { listKeys, type BlobStore } from './blob-store';
import { compareNames, validateDataName, validateDataPrefix, validateRunId } from './data-names';
import { DataStoreError } from './data-store-error';
import { LocalBlobStore } from './local-blob-store';
import { S3BlobStore } from './s3-blob-store';

/** `[begin, end)`: a half-open range of byte offsets, `0 <= begin <= end <= size`. */
export type ByteRange = readonly [begin: number, end: number];

/** One scope of the data store: `data.user` or `data.pipeline` (one run). */
export interface DataScope {
  /** `user`, or `pipeline` for one run's data. */
  readonly scope: 'user' | 'pipeline';
  /** The owning user of a user scope; undefined for a pipeline scope. */
  readonly user?: string | undefined;
  /** The run id of a pipeline scope. */
  readonly runId: string | undefined;
  /**
   * Stores an object, replacing any object of that name. `source` is a local file path (a string;
   * streamed, never read whole) or bytes (Buffer / Uint8Array); to store text, pass
   * `Buffer.from(text)`. Atomic: readers see the old object or the new one, never part of one.
   * @returns the object's size in bytes.
   * @throws DataStoreError `INVALID_DATA_NAME`, `LOCAL_FILE_NOT_FOUND`, `DATA_NAME_CONFLICT` (the
   *   name is a folder of other objects, or one of its folders is an object).
   */
  put(name: string, source: string | Uint8Array): Promise<number>;
  /**
   * Downloads an object to a local file (streamed; written beside `file`, then renamed over it;
   * missing parent folders are created).
   * @returns the number of bytes written.
   * @throws DataStoreError `INVALID_DATA_NAME`, `DATA_NOT_FOUND` (and `file` is left untouched).
   */
  get(name: string, file: string): Promise<number>;
  /**
   * Returns an object's bytes, or with `byteRange: [begin, end)` only those (half-open, offsets in
   * bytes: `[0, 1)` is the first byte, `[size - 1, size)` the last, `[n, n)` is empty).
   * Without a range the whole object is read into memory: use `get` for large objects.
   * @throws DataStoreError `INVALID_DATA_NAME`, `DATA_NOT_FOUND`, `INVALID_BYTE_RANGE` (not whole
   *   numbers, `begin > end`, or `end > size`).
   */
  gets(name: string, options?: { byteRange?: ByteRange }): Promise<Buffer>;
  /**
   * Names of the objects whose name starts with `prefix` (a plain string prefix: `reports/` is
   * one folder, `rep` matches `reports/…` and `reps.csv`), sorted by their UTF-8 bytes.
   * @default prefix '' (every object in the scope)
   * @throws DataStoreError `INVALID_DATA_NAME`.
   */
  list(prefix?: string): Promise<string[]>;
  /** Whether an object of that name exists (a folder of objects is not an object). */
  exists(name: string): Promise<boolean>;
  /**
   * An object's size in bytes.
   * @throws DataStoreError `INVALID_DATA_NAME`, `DATA_NOT_FOUND`.
   */
  size(name: string): Promise<number>;
  /**
   * Deletes the object `name`; with `recursive: true`, deletes the object `name` or every object
   * under `name/` (a name is never both).
   * @returns how many objects were deleted (at least 1).
   * @throws DataStoreError `INVALID_DATA_NAME`, `DATA_NOT_FOUND` (nothing to delete; without
   *   `recursive`, also when `name` is a folder, with a hint to use it).
   */
  delete(name: string, options?: { recursive?: boolean }): Promise<number>;
}

/** The data store of one config: the user scope, and the pipeline scope of one run when given. */
export interface DataStore {
  /** Persistent data of the acting user, private to them. */
  readonly user: DataScope;
  /** The data of the run given to {@link createDataStore}, or undefined without one. */
  readonly pipeline: DataScope | undefined;
  /** `file:///…/data` or `s3://bucket/prefix/`. */
  readonly location: string;
  /** Deletes every object of one run's pipeline scope; returns how many (0 when there were none). */
  purgePipelineData(runId: string): Promise<number>;
  /** Releases the backend's connections (an S3 client); the store is unusable afterwards. */
  close(): Promise<void>;
}

/** Options of {@link createDataStore}. */
export interface DataStoreOptions {
  /** Whose `data.user` this is. @default `SLUICE_USER`, else the config's `user:`, else `local` */
  user?: string;
}

/** A {@link DataStore} created with a run id: `pipeline` is defined. */
export type PipelineDataStore = DataStore & { readonly pipeline: DataScope };

const describeScope = (scope: 'user' | 'pipeline', runId: string | undefined, user?: string) =>
  scope === 'user' ? `the user data store${user === undefined || user === LOCAL_USER ? '' : ` of user "${user}"`}` : `the pipeline data of run ${runId}`;

/** The key prefix of one user's `data.user`: `user/` for `local` (the earlier shared scope, unmoved), else `users/<name>/`. */
export const userDataRoot = (user: string): string => (user === LOCAL_USER ? 'user/' : `users/${parseUserName(user, 'the data store user')}/`);

/**
 * One scope over the data store's blob store: validates names and forms keys under its root (`user/<name>` or
 * `pipeline/<run id>/<name>`), so it never leaves it; turns missing objects into `DATA_NOT_FOUND` with the user's name.
 */
export class ScopedData implements DataScope {
  /** `user/`, `users/<name>/` or `pipeline/<run id>/`. */
  private readonly root: string;

  /** @param user the owner of a user scope. @default local */
  constructor(
    private readonly backend: BlobStore,
    readonly scope: 'user' | 'pipeline',
    readonly runId: string | undefined,
    readonly user: string | undefined = scope === 'user' ? LOCAL_USER : undefined,
  ) {
    this.root = scope === 'user' ? userDataRoot(user ?? LOCAL_USER) : `pipeline/${validateRunId(runId ?? '')}/`;
  }

  private notFound(name: string, extra = ''): DataStoreError {
    return new DataStoreError('DATA_NOT_FOUND', `no data named ${JSON.stringify(name)} in ${describeScope(this.scope, this.runId, this.user)}${extra}; list what is there with list() or \`sluice data ls\``, {
      details: { name, scope: this.scope, runId: this.runId, ...(this.user !== undefined ? { user: this.user } : {}) },
    });
  }

  private async checkNoConflict(name: string): Promise<void> {
    const segments = name.split('/');
    for (let i = 1; i < segments.length; i++) {
      const folder = segments.slice(0, i).join('/');
      if ((await this.backend.stat(this.root + folder)) !== undefined) {
        throw new DataStoreError('DATA_NAME_CONFLICT', `cannot store ${JSON.stringify(name)}: ${JSON.stringify(folder)} is an object, so it cannot also be a folder; delete it or choose another name`, {
          details: { name, object: folder },
        });
      }
    }
    if (await this.backend.hasAny(`${this.root}${name}/`)) {
      throw new DataStoreError('DATA_NAME_CONFLICT', `cannot store ${JSON.stringify(name)}: it is a folder of other objects; delete them (delete with recursive) or choose another name`, {
        details: { name },
      });
    }
  }

  async put(name: string, source: string | Uint8Array): Promise<number> {
    validateDataName(name);
    if (typeof source === 'string') {
      const info = await stat(source).catch(() => undefined);
      if (!info?.isFile()) throw new DataStoreError('LOCAL_FILE_NOT_FOUND', `cannot store ${JSON.stringify(name)}: local file ${source} ${info ? 'is not a file' : 'does not exist'}`, { details: { file: source } });
    } else if (!(source instanceof Uint8Array)) {
      throw new TypeError('put(name, source): source must be a local file path (string) or bytes (Buffer / Uint8Array)');
    }
    await this.checkNoConflict(name);
    const key = this.root + name;
    return typeof source === 'string' ? this.backend.putFile(key, source) : this.backend.putBytes(key, source);
  }

  async get(name: string, file: string): Promise<number> {
    validateDataName(name);
    const written = await this.backend.getToFile(this.root + name, file);
    if (written === undefined) throw this.notFound(name);
    return written;
  }

  async gets(name: string, options: { byteRange?: ByteRange } = {}): Promise<Buffer> {
    validateDataName(name);
    const key = this.root + name;
    const range = options.byteRange;
    if (range === undefined) {
      const bytes = await this.backend.read(key);
      if (bytes === undefined) throw this.notFound(name);
      return bytes;
    }
    const [begin, end] = range;
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
      throw new DataStoreError('INVALID_BYTE_RANGE', `byte range [${begin}, ${end}) of ${JSON.stringify(name)} is invalid: give whole numbers with 0 <= begin <= end (the range is half-open: [0, 1) is the first byte)`, {
        details: { name, begin, end },
      });
    }
    const size = (await this.backend.stat(key))?.size;
    if (size === undefined) throw this.notFound(name);
    if (end > size) {
      throw new DataStoreError('INVALID_BYTE_RANGE', `byte range [${begin}, ${end}) is outside ${JSON.stringify(name)}, which is ${size} bytes long; the range must end at or before ${size}`, {
        details: { name, begin, end, size },
      });
    }
    if (begin === end) return Buffer.alloc(0);
    const bytes = await this.backend.read(key, [begin, end]);
    if (bytes === undefined) throw this.notFound(name);
    return bytes;
  }

  async list(prefix = ''): Promise<string[]> {
    validateDataPrefix(prefix);
    const keys = await listKeys(this.backend, this.root + prefix);
    return keys.map((key) => key.slice(this.root.length)).sort(compareNames);
  }

  async exists(name: string): Promise<boolean> {
    validateDataName(name);
    return (await this.backend.stat(this.root + name)) !== undefined;
  }

  async size(name: string): Promise<number> {
    validateDataName(name);
    const size = (await this.backend.stat(this.root + name))?.size;
    if (size === undefined) throw this.notFound(name);
    return size;
  }

  async delete(name: string, options: { recursive?: boolean } = {}): Promise<number> {
    validateDataName(name);
    const key = this.root + name;
    if (await this.backend.deleteOne(key)) return 1;
    if (options.recursive) {
      const deleted = await this.backend.deleteUnder(`${key}/`);
      if (deleted === 0) throw this.notFound(name);
      return deleted;
    }
    if (await this.backend.hasAny(`${key}/`)) throw this.notFound(name, ` (it is a folder of objects: delete it with recursive: true, or \`sluice data rm --recursive\`)`);
    throw this.notFound(name);
  }
}

/**
 * The blob store a config names: local disk under `dataStore.dir`, or S3 under `s3://<bucket>/<prefix>`, where a
 * missing bucket is a `DATA_STORE_BUCKET_NOT_FOUND`.
 */
function createDataBackend(config: SluiceConfig): BlobStore {
  const { dataStore } = config;
  if (dataStore.backend === 'local') return new LocalBlobStore(dataStore.dir);
  const location = dataStore.s3;
  if (!location) throw new ConfigError('INVALID_CONFIG', 'data_store.s3: backend s3 needs s3: { connector, bucket, prefix }');
  const connector = config.connectors[location.connector];
  if (!connector) throw new ConfigError('INVALID_CONFIG', `data_store.s3.connector: no connector named "${location.connector}"`);
  if (connector.kind !== 's3') throw new ConfigError('INVALID_CONFIG', `data_store.s3.connector: "${location.connector}" is a ${connector.kind} connector, not s3`);
  const { bucket } = location;
  return new S3BlobStore({
    client: createS3Client(connector, location.connector),
    bucket,
    prefix: location.prefix,
    connector: location.connector,
    bucketNotFound: (error) =>
      new DataStoreError('DATA_STORE_BUCKET_NOT_FOUND', `the data store's bucket "${bucket}" does not exist; create it, or fix data_store.s3.bucket in sluice.config.yaml`, {
        cause: error,
        details: { bucket },
      }),
  });
}

/**
 * Opens the data store a config names (`config.dataStore`): local disk under `dataStore.dir`
 * (`user/…`, `pipeline/<run id>/…`) or S3 under `s3://<bucket>/<prefix>user/…` and
 * `…pipeline/<run id>/…` through the named s3 connector. With a run id, `pipeline` is that run's
 * scope. `user` is the acting user's own (`options.user`, else `SLUICE_USER`, else the config's `user:`, else
 * `local`): `…user/…` for `local`, `…users/<name>/…` for anyone else. Call `close()` when done.
 * @throws DataStoreError `INVALID_RUN_ID`; InvalidRequestError `INVALID_USER`; ConfigError for an s3 backend without a usable connector.
 */
export function createDataStore(config: SluiceConfig, runId: string, options?: DataStoreOptions): PipelineDataStore;
export function createDataStore(config: SluiceConfig, runId?: string, options?: DataStoreOptions): DataStore;
export function createDataStore(config: SluiceConfig, runId?: string, options: DataStoreOptions = {}): DataStore {
  if (runId !== undefined) validateRunId(runId);
  const user = parseUserName(options.user ?? (readEnv('SLUICE_USER') || config.user || LOCAL_USER), options.user !== undefined ? 'user' : 'SLUICE_USER');
  const backend = createDataBackend(config);
  return {
    user: new ScopedData(backend, 'user', undefined, user),
    pipeline: runId === undefined ? undefined : new ScopedData(backend, 'pipeline', runId),
    location: backend.location,
    purgePipelineData: (id: string) => backend.deleteUnder(`pipeline/${validateRunId(id)}/`),
    close: () => backend.close(),
  };
}

/**
 * Deletes every object of one run's pipeline data (`data.pipeline`); the staging sweep
 * (ops/housekeeping.ts) calls it for each run it sweeps, unless that run id is in flight again. Idempotent: returns how many objects were deleted, 0 when none.
 * @throws DataStoreError `INVALID_RUN_ID`.
 */
export async function purgePipelineData(config: SluiceConfig, runId: string): Promise<number> {
  validateRunId(runId);
  const backend = createDataBackend(config);
  try {
    return await backend.deleteUnder(`pipeline/${runId}/`);
  } finally {
    await backend.close();
  }
}
