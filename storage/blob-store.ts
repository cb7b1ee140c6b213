/**
 * The blob layer under staging and the data store: objects addressed by `/`-separated keys below
 * one root, on local disk (`LocalBlobStore`, storage/local-blob-store.ts) or S3
 * (`S3BlobStore`, storage/s3-blob-store.ts). Staging (`storage/staging.ts`) and the data
 * store (`storage/data-store.ts`) are thin layers over it: they choose the keys, the blob store
 * moves the bytes.
 *
 * The same rules on both backends:
 * - An object appears whole or not at all: local writes go to a temporary file that is renamed into
 *   place; S3 uploads are one PutObject or a multipart upload completed at the end.
 * - Folders are not objects: they exist only while objects are under them (a local store removes a
 *   folder when its last object is deleted), so a name is never both an object and a folder.
 * - A missing object is an answer (`undefined` / `false`), not an error; every other failure throws.
 *
 * @example
 * ```ts
 * const blobs: BlobStore = new LocalBlobStore('/srv/sluice/.sluice/data');
 * await blobs.putBytes('user/notes/hello.txt', Buffer.from('hello'));   // 5
 * await blobs.read('user/notes/hello.txt', [0, 4]);                      // <Buffer 68 65 6c 6c>
 * for await (const { key, size } of blobs.list('user/')) console.log(key, size);
 * await blobs.deleteUnder('user/notes/');                                // 1
 * ```
 */

/** One stored object, as a listing reports it. */
export interface BlobInfo {
  /** Its key, relative to the store's root. */
  key: string;
  /** Its size in bytes. */
  size: number;
  /** When it was last written, in ms since the epoch (a file's mtime, an object's LastModified). */
  lastModifiedMs: number;
}

/** What both backends implement. Keys are relative, `/`-separated, never start with `/`; the caller validates them. */
export interface BlobStore {
  /** Where objects live, for messages: `file:///…` or `s3://bucket/prefix/`. */
  readonly location: string;
  /** A URI a person can open for `key` (a folder key is fine): `file:///…/key` or `s3://bucket/prefix/key`. */
  uri(key: string): string;
  /**
   * The file on this machine that holds `key` when the store is a local folder (read it in place; write it only
   * through `putFile`), or undefined when the store is remote. It need not exist.
   */
  localPath(key: string): string | undefined;
  /**
   * Stores a local file (streamed, never read whole) under `key`, atomically, replacing any object there; missing
   * folders are created.
   * @param options.move the store may take the file instead of copying it: a local store renames it into place
   *   (it is gone afterwards; it must be on the store's file system), a remote store uploads it and leaves it.
   *   @default false
   * @returns the bytes stored.
   */
  putFile(key: string, file: string, options?: { move?: boolean }): Promise<number>;
  /** Stores bytes under `key`, atomically, replacing any object there. @returns the bytes stored. */
  putBytes(key: string, bytes: Uint8Array): Promise<number>;
  /**
   * Streams the object `key` into the local file `file` (written beside it, then renamed over it; missing parent
   * folders are created).
   * @returns the bytes written, or undefined when there is no object `key` (and `file` is left untouched).
   */
  getToFile(key: string, file: string): Promise<number | undefined>;
  /**
   * The object's bytes, all of them or the half-open byte range `[begin, end)` (the caller checks
   * `0 <= begin < end <= size`); undefined when there is no object `key`.
   */
  read(key: string, range?: readonly [begin: number, end: number]): Promise<Buffer | undefined>;
  /** The object's size and time, or undefined when there is no object `key` (a folder is not an object). */
  stat(key: string): Promise<Omit<BlobInfo, 'key'> | undefined>;
  /**
   * Every object whose key starts with `prefix` (a plain string prefix: `a/` is one folder, `a` also matches
   * `ab.csv`), in no particular order. Objects written or deleted during the listing may or may not appear.
   */
  list(prefix: string): AsyncIterable<BlobInfo>;
  /** Whether any object's key starts with `prefix` (which ends with `/`). */
  hasAny(prefix: string): Promise<boolean>;
  /** Deletes the object `key`. @returns false when there was none. */
  deleteOne(key: string): Promise<boolean>;
  /** Deletes every object whose key starts with `prefix` (which ends with `/`). @returns how many (0 when none). */
  deleteUnder(prefix: string): Promise<number>;
  /** Releases connections (an S3 client); the store is unusable afterwards. */
  close(): Promise<void>;
}

/** Collects a listing's keys. */
export async function listKeys(blobs: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of blobs.list(prefix)) keys.push(key);
  return keys;
}
