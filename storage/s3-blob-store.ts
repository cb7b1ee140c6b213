/**
 * The blob store on S3 (or any S3-compatible store): key `a/b.csv` is the object `s3://<bucket>/<prefix>a/b.csv`. A
 * non-empty `prefix` without a trailing `/` gets one (`runs` → `runs/`).
 *
 * Uploads go through `@aws-sdk/lib-storage`'s `Upload` (one PutObject up to a part, else a multipart upload
 * completed at the end, files streamed), which publishes an object only when complete; downloads stream
 * GetObject's body to a file; listings use the SDK's paginator (`paginateListObjectsV2`).
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { accessError } from '../connectors/access-errors';
import { s3ErrorCode } from '../connectors/s3/s3-client';
import { listKeys, type BlobInfo, type BlobStore } from './blob-store';

/** Where an {@link S3BlobStore} keeps its objects, and how. */
export interface S3BlobStoreOptions {
  /** A client for the bucket's connector; {@link S3BlobStore.close} destroys it. */
  client: S3Client;
  bucket: string;
  /** Key prefix of the whole store: `''`, or a prefix that gets a trailing `/` when it lacks one. */
  prefix: string;
  /** Upload part size in bytes (at least 5 MiB); smaller objects go up in one PutObject. @default 8 MiB */
  partBytes?: number;
  /** Keys asked for per ListObjectsV2 page (S3 returns at most 1000). @default 1000 */
  listPageSize?: number;
  /**
   * The error to throw when the bucket does not exist (S3 `NoSuchBucket`), given S3's error.
   * @default S3's error itself
   */
  bucketNotFound?: (error: unknown) => Error;
  /**
   * The s3 connector the client is for: when given, refused credentials or permissions become
   * AccessErrors (`AUTH_FAILED`, `PERMISSION_DENIED`) naming it, instead of S3's error (retried).
   */
  connector?: string;
}

/** Objects deleted per DeleteObjects request (S3's limit). */
const DELETE_BATCH = 1000;

const isNotFound = (error: unknown) =>
  ['NoSuchKey', 'NotFound'].includes(s3ErrorCode(error) ?? '') || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404;

export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  /** Key prefix of the whole store: "" or ending with "/". */
  private readonly prefix: string;
  private readonly partBytes: number;
  private readonly listPageSize: number | undefined;
  private readonly bucketNotFound: ((error: unknown) => Error) | undefined;
  private readonly connector: string | undefined;

  constructor(options: S3BlobStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix === '' || options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/`;
    this.partBytes = options.partBytes ?? 8 * 1024 * 1024;
    this.listPageSize = options.listPageSize;
    this.bucketNotFound = options.bucketNotFound;
    this.connector = options.connector;
  }

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${this.prefix}${key}`;
  }

  localPath(): undefined {
    return undefined;
  }

  /** Rethrows a missing bucket as the configured error, refused credentials or permissions as AccessErrors; returns any other error. */
  private failure(error: unknown): unknown {
    if (this.bucketNotFound && s3ErrorCode(error) === 'NoSuchBucket') throw this.bucketNotFound(error);
    const refused = this.connector === undefined ? undefined : accessError(error, { kind: 's3', connector: this.connector, what: this.location });
    if (refused) throw refused;
    return error;
  }

  /** A missing object → undefined; a missing bucket → its error; refused access → its AccessError; anything else is rethrown. */
  private missing(error: unknown): undefined {
    if (s3ErrorCode(error) === 'NoSuchBucket') throw this.failure(error);
    if (this.connector !== undefined && accessError(error, { kind: 's3', connector: this.connector, what: this.location })) throw this.failure(error);
    if (isNotFound(error)) return undefined;
    throw error;
  }

  private async upload(key: string, body: Readable | Uint8Array): Promise<void> {
    try {
      await new Upload({ client: this.client, params: { Bucket: this.bucket, Key: this.prefix + key, Body: body }, queueSize: 4, partSize: this.partBytes }).done();
    } catch (error) {
      throw this.failure(error);
    }
  }

  async putFile(key: string, file: string): Promise<number> {
    // A remote store cannot take the file: `move` changes nothing, the file stays.
    const { size } = await stat(file);
    await this.upload(key, createReadStream(file));
    return size;
  }

  async putBytes(key: string, bytes: Uint8Array): Promise<number> {
    await this.upload(key, bytes);
    return bytes.byteLength;
  }

  async getToFile(key: string, file: string): Promise<number | undefined> {
    let body: Readable;
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      body = object.Body as Readable;
    } catch (error) {
      return this.missing(error);
    }
    const target = path.resolve(file);
    await mkdir(path.dirname(target), { recursive: true });
    const temporary = `${target}.${randomUUID().slice(0, 8)}.part`;
    try {
      await pipeline(body, createWriteStream(temporary));
      const { size } = await stat(temporary);
      await rename(temporary, target);
      return size;
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async read(key: string, range?: readonly [number, number]): Promise<Buffer | undefined> {
    try {
      const object = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, ...(range ? { Range: `bytes=${range[0]}-${range[1] - 1}` } : {}) }),
      );
      return Buffer.from(await object.Body!.transformToByteArray());
    } catch (error) {
      return this.missing(error);
    }
  }

  async stat(key: string): Promise<Omit<BlobInfo, 'key'> | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      return { size: head.ContentLength ?? 0, lastModifiedMs: head.LastModified?.getTime() ?? 0 };
    } catch (error) {
      return this.missing(error);
    }
  }

  async *list(prefix: string): AsyncGenerator<BlobInfo> {
    try {
      for await (const page of paginateListObjectsV2({ client: this.client, pageSize: this.listPageSize }, { Bucket: this.bucket, Prefix: this.prefix + prefix })) {
        for (const object of page.Contents ?? []) {
          if (object.Key) yield { key: object.Key.slice(this.prefix.length), size: object.Size ?? 0, lastModifiedMs: object.LastModified?.getTime() ?? 0 };
        }
      }
    } catch (error) {
      throw this.failure(error);
    }
  }

  async hasAny(prefix: string): Promise<boolean> {
    try {
      for await (const page of paginateListObjectsV2({ client: this.client, pageSize: 1 }, { Bucket: this.bucket, Prefix: this.prefix + prefix })) {
        return (page.Contents ?? []).length > 0;
      }
      return false;
    } catch (error) {
      throw this.failure(error);
    }
  }

  async deleteOne(key: string): Promise<boolean> {
    // DeleteObject succeeds for a missing key: look first, so the caller can tell.
    if ((await this.stat(key)) === undefined) return false;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
    return true;
  }

  async deleteUnder(prefix: string): Promise<number> {
    // Collect first: deleting while paginating could skip keys.
    const keys = await listKeys(this, prefix);
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      const result = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((key) => ({ Key: this.prefix + key })), Quiet: true } }),
      );
      const failed = result.Errors ?? [];
      if (failed.length > 0) throw new Error(`could not delete ${failed.length} of ${batch.length} objects under ${this.location}${prefix}: ${failed[0]!.Key}: ${failed[0]!.Code} ${failed[0]!.Message}`);
    }
    return keys.length;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
