/**
 * The data store on S3 (or any S3-compatible store): key `user/a.csv` is the object
 * `s3://<bucket>/<prefix>user/a.csv`, `pipeline/<run id>/x` is `…/<prefix>pipeline/<run id>/x`. A
 * non-empty `prefix` without a trailing `/` gets one (`data` → `data/`).
 *
 * Uploads go through `@aws-sdk/lib-storage`'s `Upload` (multipart above 5 MiB, files streamed), which
 * publishes an object only when complete; downloads stream GetObject's body to a file.
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
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3ConnectorConfig, S3Location } from '../config/sluice-config';
import { createS3Client, s3ErrorCode } from '../connectors/s3/s3-client';
import type { DataBackend } from './data-backend';
import { DataStoreError } from './data-store-error';

export class S3DataBackend implements DataBackend {
  private readonly client: S3Client;
  private readonly bucket: string;
  /** Key prefix of the whole store: "" or ending with "/". */
  private readonly prefix: string;

  constructor(connector: S3ConnectorConfig, location: S3Location, client?: S3Client) {
    this.client = client ?? createS3Client(connector, location.connector);
    this.bucket = location.bucket;
    this.prefix = location.prefix === '' || location.prefix.endsWith('/') ? location.prefix : `${location.prefix}/`;
  }

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  /** Missing object → undefined; missing bucket → DataStoreError; anything else is rethrown. */
  private missing(error: unknown): undefined {
    const code = s3ErrorCode(error);
    if (code === 'NoSuchBucket') {
      throw new DataStoreError('DATA_STORE_BUCKET_NOT_FOUND', `the data store's bucket "${this.bucket}" does not exist; create it, or fix data_store.s3.bucket in sluice.config.yaml`, {
        cause: error,
        details: { bucket: this.bucket },
      });
    }
    if (code === 'NoSuchKey' || code === 'NotFound' || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
    throw error;
  }

  private async upload(key: string, body: Readable | Uint8Array): Promise<void> {
    try {
      await new Upload({ client: this.client, params: { Bucket: this.bucket, Key: this.prefix + key, Body: body }, queueSize: 4, partSize: 8 * 1024 * 1024 }).done();
    } catch (error) {
      this.missing(error);
      throw error;
    }
  }

  async putFile(key: string, file: string): Promise<number> {
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

  async size(key: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      return this.missing(error);
    }
  }

  private async *pages(keyPrefix: string, maxKeys?: number): AsyncGenerator<string[]> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + keyPrefix, ContinuationToken: token, MaxKeys: maxKeys }));
      } catch (error) {
        this.missing(error);
        throw error;
      }
      yield (page.Contents ?? []).map((o) => o.Key!.slice(this.prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async list(keyPrefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const page of this.pages(keyPrefix)) keys.push(...page);
    return keys;
  }

  async hasAny(keyPrefix: string): Promise<boolean> {
    for await (const page of this.pages(keyPrefix, 1)) return page.length > 0;
    return false;
  }

  async deleteOne(key: string): Promise<boolean> {
    // DeleteObject succeeds for a missing key: look first, so the caller can report DATA_NOT_FOUND.
    if ((await this.size(key)) === undefined) return false;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
    return true;
  }

  async deleteUnder(keyPrefix: string): Promise<number> {
    let deleted = 0;
    // Collect first: deleting while paginating could skip keys.
    const keys = await this.list(keyPrefix);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const result = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((key) => ({ Key: this.prefix + key })), Quiet: true } }),
      );
      const failed = result.Errors ?? [];
      if (failed.length > 0) throw new Error(`could not delete ${failed.length} of ${batch.length} objects under ${this.location}${keyPrefix}: ${failed[0]!.Key}: ${failed[0]!.Code} ${failed[0]!.Message}`);
      deleted += batch.length;
    }
    return deleted;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
