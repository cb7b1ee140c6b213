/**
 * The `s3` connector as a source: one object of an S3 (or S3-compatible) bucket per run.
 *
 * `source_path` is `s3://bucket/key`. The object is streamed (GetObject's body piped to a file in
 * the run's staging folder, never buffered whole), then staged to Parquet by the same
 * {@link stageFile} as local files; the downloaded copy is deleted afterwards. The format is the
 * flow's `source.format`, else the key's extension.
 *
 * Errors: `INVALID_S3_URI`, `SOURCE_NOT_FOUND` (no such key), `S3_BUCKET_NOT_FOUND`,
 * `UNKNOWN_FORMAT`, `UNREADABLE_SOURCE` are SourceErrors, `AUTH_FAILED` / `PERMISSION_DENIED`
 * AccessErrors (run FAILED); network errors are retried.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { CheckOptions, CheckResult, SourceConnector, StagedSource, StageSourceRequest } from '../connector';
import { downloadPath, downloadProgress } from '../local/download';
import { detectFormat, stageFile } from '../local/local-source';
import { checkS3, type S3CheckSettings } from './s3-check';
import { mapS3Error, parseS3Uri } from './s3-client';

export class S3Source implements SourceConnector {
  readonly kind = 's3';
  /** @param checkSettings where the connector points and the buckets its check() heads (connectors/s3/s3-check.ts). */
  constructor(
    private readonly client: S3Client,
    private readonly connectorName: string,
    private readonly checkSettings: S3CheckSettings = { endpoint: 'the S3 endpoint', region: '', buckets: [] },
  ) {}

  /** HeadBucket on the configured buckets, else ListBuckets (connectors/s3/s3-check.ts). Never rejects. */
  async check(options: CheckOptions = {}): Promise<CheckResult> {
    return checkS3(this.client, this.connectorName, this.checkSettings, options);
  }

  async stage(request: StageSourceRequest): Promise<StagedSource> {
    const uri = request.sourcePath;
    const { bucket, key } = parseS3Uri(uri, 'source');
    // Decide the format before downloading, so an unknown one fails fast.
    const format = detectFormat(key, request.spec.source.format);
    // Downloaded under its own name, in a folder of its own; messages name the object's URI.
    const downloadDir = path.join(request.stagingDir, 'download');
    await mkdir(downloadDir, { recursive: true });
    const raw = downloadPath(downloadDir, key, 'object');
    try {
      let body: Readable;
      try {
        const object = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: request.signal });
        body = object.Body as Readable;
      } catch (error) {
        throw mapS3Error(error, 'source', uri, this.connectorName);
      }
      const progress = downloadProgress(request.onProgress);
      try {
        await pipeline(body, progress, createWriteStream(raw), { signal: request.signal });
      } catch (error) {
        throw mapS3Error(error, 'source', uri, this.connectorName);
      }
      return await stageFile(raw, format, request, uri);
    } finally {
      await rm(downloadDir, { recursive: true, force: true });
    }
  }
}
