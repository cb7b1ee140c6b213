/**
 * What a data store backend (local disk, S3) implements. Keys are full keys below the store's root:
 * `user/<name>` or `pipeline/<run id>/<name>`; the scope ({@link ScopedData}) validates names and
 * forms keys, so a backend never sees a key that leaves its scope. Missing objects are reported
 * as `undefined` / `false`, and the scope turns them into `DATA_NOT_FOUND` with the user's name.
 */
export interface DataBackend {
  /** Where objects live, for messages: `file:///…/data` or `s3://bucket/prefix`. */
  readonly location: string;
  /** Streams a local file to `key`, atomically (readers never see part of it). Returns bytes stored. */
  putFile(key: string, file: string): Promise<number>;
  /** Stores bytes at `key`, atomically. Returns bytes stored. */
  putBytes(key: string, bytes: Uint8Array): Promise<number>;
  /** Streams `key` into a local file (written beside it, then renamed); bytes written, or undefined when missing. */
  getToFile(key: string, file: string): Promise<number | undefined>;
  /** Bytes `[begin, end)` of `key` (checked by the caller; `begin < end`), or all of it; undefined when missing. */
  read(key: string, range?: readonly [number, number]): Promise<Buffer | undefined>;
  /** Size in bytes, or undefined when there is no object `key`. */
  size(key: string): Promise<number | undefined>;
  /** Every key starting with `keyPrefix` (plain string prefix), in any order. */
  list(keyPrefix: string): Promise<string[]>;
  /** Whether any key starts with `keyPrefix` (which ends with "/"). */
  hasAny(keyPrefix: string): Promise<boolean>;
  /** Deletes one object; false when it did not exist. */
  deleteOne(key: string): Promise<boolean>;
  /** Deletes every key starting with `keyPrefix` (which ends with "/"); returns how many. */
  deleteUnder(keyPrefix: string): Promise<number>;
  /** Releases connections. */
  close(): Promise<void>;
}
