/**
 * S3 staging: keys are objects under `s3://<bucket>/<prefix>`, so the activities of one run can
 * execute on different worker processes or machines. Each worker keeps a local cache of what it
 * wrote or downloaded (under its local staging dir), deleted with the run.
 *
 * An object appears whole or not at all (single PUT, or a multipart upload completed at the end),
 * so `exists` means complete.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type pl from 'nodejs-polars';
import { s3ErrorCode } from '../connectors/s3/s3-client';
import { FINISHED_MARKER, runKeyOf, type Staging } from './staging';

/** Upload part size: smaller files go up in a single PutObject. */
const PART_BYTES = 16 * 1024 * 1024;

export class S3Staging implements Staging {
  private readonly prefix: string;
  /** Downloads in flight, so concurrent activities on this worker fetch each object once. */
  private readonly downloads = new Map<string, Promise<string>>();

  /**
   * @param client an S3 client for the staging connector.
   * @param cacheDir worker-local folder for scratch files and downloaded objects.
   */
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    prefix: string,
    private readonly cacheDir: string,
  ) {
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  runKey(runId: string, executionId: string): string {
    return runKeyOf(runId, executionId);
  }

  private objectKey(key: string): string {
    return `${this.prefix}${key}`;
  }

  private cachePath(key: string): string {
    return path.join(this.cacheDir, ...key.split('/'));
  }

  async scratch(runKey: string, name: string): Promise<string> {
    const dir = path.join(this.cacheDir, '.scratch', ...runKey.split('/'), name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async store(localFile: string, key: string): Promise<void> {
    // One PutObject when the file fits in a part, else a multipart upload completed at the end.
    await new Upload({ client: this.client, params: { Bucket: this.bucket, Key: this.objectKey(key), Body: createReadStream(localFile) }, partSize: PART_BYTES }).done();
    // Keep it in this worker's cache: the next step often runs here.
    const cached = this.cachePath(key);
    await mkdir(path.dirname(cached), { recursive: true });
    await rename(localFile, cached);
  }

  async writeParquet(frame: pl.DataFrame, key: string): Promise<void> {
    const temporary = `${this.cachePath(key)}.${process.pid}.${randomUUID()}.tmp`;
    await mkdir(path.dirname(temporary), { recursive: true });
    frame.writeParquet(temporary);
    await this.store(temporary, key);
  }

  async fetch(key: string): Promise<string> {
    const cached = this.cachePath(key);
    if (existsSync(cached)) return cached;
    let download = this.downloads.get(key);
    if (!download) {
      download = (async () => {
        await mkdir(path.dirname(cached), { recursive: true });
        const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
        const temporary = `${cached}.${process.pid}.${randomUUID()}.download`;
        await pipeline(response.Body as Readable, createWriteStream(temporary));
        await rename(temporary, cached);
        return cached;
      })().finally(() => this.downloads.delete(key));
      this.downloads.set(key, download);
    }
    return download;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (error) {
      const code = s3ErrorCode(error);
      if (code === 'NotFound' || code === 'NoSuchKey' || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw error;
    }
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async markFinished(runKey: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.objectKey(`${runKey}/${FINISHED_MARKER}`),
        Body: JSON.stringify({ finished_at: new Date().toISOString() }),
        ContentType: 'application/json',
      }),
    );
  }

  private async *listKeys(prefix: string): AsyncGenerator<{ key: string; lastModified: Date | undefined }> {
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key) yield { key: object.Key, lastModified: object.LastModified };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async sweep(retentionMs: number): Promise<string[]> {
    const cutoff = Date.now() - retentionMs;
    const expired: string[] = [];
    for await (const { key, lastModified } of this.listKeys(this.prefix)) {
      if (!key.endsWith(`/${FINISHED_MARKER}`) || !lastModified || lastModified.getTime() >= cutoff) continue;
      const runKey = key.slice(this.prefix.length, -(FINISHED_MARKER.length + 1));
      if (runKey.split('/').length === 2) expired.push(runKey);
    }
    for (const runKey of expired) await this.purge(runKey);
    return expired;
  }

  async purge(runKey: string): Promise<void> {
    let batch: { Key: string }[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }));
      batch = [];
    };
    for await (const { key } of this.listKeys(this.objectKey(`${runKey}/`))) {
      batch.push({ Key: key });
      if (batch.length === 1000) await flush();
    }
    await flush();
    await rm(this.cachePath(runKey), { recursive: true, force: true });
    await rm(path.join(this.cacheDir, '.scratch', ...runKey.split('/')), { recursive: true, force: true });
  }
}
