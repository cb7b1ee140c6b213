/**
 * The `s3` connector as a target: a run's mapped rows become one object at the rendered
 * `target.path`, its rejected rows one object at `target.rejects.path`, in `target.format`
 * (csv, parquet or ndjson; default from the path's extension, else csv).
 *
 * How a load goes, so that it is effectively once and atomic:
 * 1. HeadObject the final mapped key: when its metadata says `sluice-execution-id: <this execution>`,
 *    the load already happened (the object is the ledger) and its counts are returned; nothing is written.
 * 2. Leftovers of an interrupted attempt of this execution are removed: the temporary keys
 *    `<final key>.sluice-tmp-<executionId>` and any unfinished multipart upload to them.
 * 3. The staged Parquet chunks are concatenated lazily by Polars and sunk to a local file
 *    (streaming, never whole in memory), then uploaded with lib-storage's multipart `Upload` to the
 *    temporary key.
 * 4. Each temporary object is copied server-side to its final key (rejects first, mapped rows
 *    last, carrying the execution id and counts as object metadata), then deleted. A copy is
 *    atomic: a reader sees the old object or the whole new one, never a partial one.
 *
 * `write: append` and `write: replace` both write (overwrite) the object at the path — use
 * `{run_id}` or `{date}` in it to keep one object per run; `upsert` is refused (`S3_UPSERT_NOT_SUPPORTED`).
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Context } from '@temporalio/activity';
import pl from 'nodejs-polars';
import { TargetError } from '../../common/errors';
import type { FlowSpec, TargetFormat } from '../../flows/flow-spec';
import { emptyRejected, ROW_COLUMN } from '../../transform/map-chunk';
import { LINEAGE_COLUMNS, lineageWanted } from '../../transform/lineage';
import type { CheckOptions, CheckResult, LoadRequest, LoadResult, TargetConnector } from '../connector';
import { checkS3, type S3CheckSettings } from './s3-check';
import type { ListRejectsRequest, RejectsPage, RejectsSummary, RejectsTarget } from '../rejects';
import { S3RejectsReader } from './s3-rejects';
import { formatS3Uri, mapS3Error, parseS3Uri, renderPathTemplate, s3ErrorCode, type S3Uri } from './s3-client';

/** Object metadata keys (sent as `x-amz-meta-…`) on a published mapped object. */
export const S3_METADATA = {
  executionId: 'sluice-execution-id',
  runId: 'sluice-run-id',
  flowVersion: 'sluice-flow-version',
  rows: 'sluice-rows',
  rejectedRows: 'sluice-rejected-rows',
} as const;

/** The suffix of a temporary key: `<final key>.sluice-tmp-<executionId>`. */
const TEMP_MARKER = '.sluice-tmp-';

const EXTENSIONS: Record<string, TargetFormat> = { '.csv': 'csv', '.parquet': 'parquet', '.ndjson': 'ndjson', '.jsonl': 'ndjson' };
const CONTENT_TYPES: Record<TargetFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  parquet: 'application/vnd.apache.parquet',
  ndjson: 'application/x-ndjson',
};

/** Largest object a single CopyObject may copy (5 GiB); larger ones are copied in parts. */
const SINGLE_COPY_LIMIT = 5 * 1024 ** 3;

export interface S3TargetOptions {
  /** Multipart upload part size in bytes. @default 16 MiB */
  partSize?: number;
  /** Objects above this size are published with a multipart copy (UploadPartCopy). @default 5 GiB */
  singleCopyLimit?: number;
  /** Part size of a multipart copy. @default 512 MiB */
  copyPartSize?: number;
  /**
   * The load's date, for `{date}`. @default the time the syncTarget activity was first scheduled
   * (the same for every retry, so a retry renders the same key), or now outside an activity.
   */
  loadDate?: () => Date;
  /** Where the connector points and the buckets its check() heads (connectors/s3/s3-check.ts). */
  check?: S3CheckSettings;
}

/**
 * The format of one object: the flow's `target.format`, else the key's extension, else csv.
 */
export function targetFormat(key: string, declared: TargetFormat | undefined): TargetFormat {
  return declared ?? EXTENSIONS[path.extname(key).toLowerCase()] ?? 'csv';
}

function defaultLoadDate(): Date {
  try {
    return new Date(Context.current().info.scheduledTimestampMs);
  } catch {
    return new Date();
  }
}

/** `s3://bucket/key` objects a flow's load writes, rendered for one run. */
export function targetObjects(spec: FlowSpec, values: { runId: string; flowVersion: string; date: Date }): { mapped: S3Uri; rejects: S3Uri } {
  if (!spec.target.path) {
    throw new TargetError('TARGET_NEEDS_PATH', `flow ${spec.name} targets an s3 connector, so target.path must be an s3://bucket/key template, not a table`);
  }
  const render = (template: string) => parseS3Uri(renderPathTemplate(template, { flow: spec.name, ...values }), 'target');
  const mapped = render(spec.target.path);
  const rejects = render(spec.target.rejects.path ?? `${spec.target.path}_rejects`);
  if (mapped.bucket === rejects.bucket && mapped.key === rejects.key) {
    throw new TargetError('INVALID_TARGET_PATH', `target.path and target.rejects.path both render to ${formatS3Uri(mapped)}; give the rejects another path`);
  }
  return { mapped, rejects };
}

/** S3 wants CopySource URL-encoded, `bucket/key` with the slashes kept. */
function copySource(uri: S3Uri): string {
  return `${uri.bucket}/${uri.key.split('/').map(encodeURIComponent).join('/')}`;
}

export class S3Target implements TargetConnector {
  readonly kind = 's3';
  private readonly partSize: number;
  private readonly singleCopyLimit: number;
  private readonly copyPartSize: number;
  private readonly loadDate: () => Date;
  private readonly checkSettings: S3CheckSettings;
  private readonly rejects: S3RejectsReader;

  constructor(
    private readonly client: S3Client,
    private readonly connectorName: string,
    options: S3TargetOptions = {},
  ) {
    this.partSize = options.partSize ?? 16 * 1024 * 1024;
    this.singleCopyLimit = options.singleCopyLimit ?? SINGLE_COPY_LIMIT;
    this.copyPartSize = options.copyPartSize ?? 512 * 1024 * 1024;
    this.loadDate = options.loadDate ?? defaultLoadDate;
    this.checkSettings = options.check ?? { endpoint: 'the S3 endpoint', region: '', buckets: [] };
    this.rejects = new S3RejectsReader(client, connectorName, targetFormat);
  }

  /** HeadBucket on the configured buckets, else ListBuckets (connectors/s3/s3-check.ts). Never rejects. */
  async check(options: CheckOptions = {}): Promise<CheckResult> {
    return checkS3(this.client, this.connectorName, this.checkSettings, options);
  }

  /** One page of an execution's rejects, from its rejects object (s3-rejects.ts). */
  listRejects(request: ListRejectsRequest): Promise<RejectsPage> {
    return this.rejects.list(request);
  }

  /** The summary of an execution's rejects, from its rejects object (s3-rejects.ts). */
  summarizeRejects(target: RejectsTarget): Promise<RejectsSummary> {
    return this.rejects.summarize(target);
  }

  /** Deletes rejects objects downloaded by {@link listRejects}; the registry owns the S3 client (shared with the connector's source). */
  async close(): Promise<void> {
    await this.rejects.close();
  }

  async load(request: LoadRequest): Promise<LoadResult> {
    const { spec } = request;
    if (spec.target.write === 'upsert') {
      throw new TargetError(
        'S3_UPSERT_NOT_SUPPORTED',
        `flow ${spec.name}: write: upsert is not supported for object-store targets (an object cannot be updated row by row); use write: append or replace, or a postgres target`,
      );
    }
    const objects = targetObjects(spec, { runId: request.runId, flowVersion: request.flowVersion, date: this.loadDate() });
    const location = formatS3Uri(objects.mapped);
    const rejectsLocation = formatS3Uri(objects.rejects);
    const temp = (uri: S3Uri): S3Uri => ({ bucket: uri.bucket, key: `${uri.key}${TEMP_MARKER}${request.executionId}` });
    const outputs = [
      { final: objects.rejects, temp: temp(objects.rejects), format: targetFormat(objects.rejects.key, spec.target.format), kind: 'rejects' as const },
      { final: objects.mapped, temp: temp(objects.mapped), format: targetFormat(objects.mapped.key, spec.target.format), kind: 'mapped' as const },
    ];

    // Mapped first: a missing bucket is reported against the rows' object.
    const temps = [outputs[1]!.temp, outputs[0]!.temp];
    // The object being worked on, for error messages (the rejects may live in another bucket).
    let current = location;
    try {
      // 1. The ledger: the published mapped object names the execution that wrote it.
      const published = await this.publishedBy(objects.mapped);
      if (published && published[S3_METADATA.executionId] === request.executionId) {
        await this.removeLeftovers(temps);
        return {
          rowsWritten: Number(published[S3_METADATA.rows] ?? 0),
          rowsRejected: Number(published[S3_METADATA.rejectedRows] ?? 0),
          alreadyLoaded: true,
          location,
          rejectsLocation,
        };
      }
      // 2. An interrupted attempt of this execution may have left temporary objects or uploads.
      await this.removeLeftovers(temps);

      // 3. Local files, then multipart uploads to the temporary keys.
      // Beside the run's staged chunks (same disk, purged with them), named for this execution.
      const firstChunk = request.mappedFiles[0] ?? request.rejectedFiles[0];
      const exportName = `sluice-s3-export-${request.executionId.replace(/[^\w.-]/g, '_')}`;
      const exportDir = path.join(firstChunk ? path.dirname(path.dirname(firstChunk)) : os.tmpdir(), exportName);
      await rm(exportDir, { recursive: true, force: true });
      await mkdir(exportDir, { recursive: true });
      try {
        const counts = { mapped: 0, rejects: 0 };
        for (const [i, output] of outputs.entries()) {
          if (request.signal.aborted) throw new Error('load cancelled');
          current = formatS3Uri(output.final);
          const file = path.join(exportDir, `${output.kind}.${output.format}`);
          const frame = output.kind === 'mapped' ? this.mappedFrame(spec, request.mappedFiles, request.runId) : this.rejectsFrame(request);
          counts[output.kind] = await this.sink(frame, file, output.format);
          request.onProgress({ rows: counts.mapped + counts.rejects, chunk: i });
          await this.upload(file, output.temp, output.format, request);
        }

        // 4. Publish: rejects first, mapped rows last (its metadata marks the load as done).
        for (const output of outputs) {
          const metadata: Record<string, string> = {
            [S3_METADATA.executionId]: request.executionId,
            [S3_METADATA.runId]: request.runId,
            [S3_METADATA.flowVersion]: request.flowVersion,
            [S3_METADATA.rows]: String(counts[output.kind]),
          };
          if (output.kind === 'mapped') metadata[S3_METADATA.rejectedRows] = String(counts.rejects);
          const { size } = await stat(path.join(exportDir, `${output.kind}.${output.format}`));
          current = formatS3Uri(output.final);
          await this.copy(output.temp, output.final, size, metadata, CONTENT_TYPES[output.format], request.signal);
        }
        await this.removeLeftovers(temps);
        request.onProgress({ rows: counts.mapped + counts.rejects, chunk: outputs.length });
        return { rowsWritten: counts.mapped, rowsRejected: counts.rejects, alreadyLoaded: false, location, rejectsLocation };
      } finally {
        await rm(exportDir, { recursive: true, force: true });
      }
    } catch (error) {
      throw mapS3Error(error, 'target', current, this.connectorName);
    }
  }

  /** The metadata of the object at `uri`, or null when there is none. */
  private async publishedBy(uri: S3Uri): Promise<Record<string, string> | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: uri.bucket, Key: uri.key }));
      return head.Metadata ?? {};
    } catch (error) {
      const code = s3ErrorCode(error);
      if (code === 'NotFound' || code === 'NoSuchKey') return null;
      throw error;
    }
  }

  /** Deletes temporary objects and aborts unfinished multipart uploads to them. */
  private async removeLeftovers(temps: S3Uri[]): Promise<void> {
    for (const uri of temps) {
      const final = formatS3Uri({ bucket: uri.bucket, key: uri.key.slice(0, uri.key.lastIndexOf(TEMP_MARKER)) });
      try {
        await this.abortUploads(uri);
        await this.client.send(new DeleteObjectCommand({ Bucket: uri.bucket, Key: uri.key }));
      } catch (error) {
        throw mapS3Error(error, 'target', final, this.connectorName);
      }
    }
  }

  /** Aborts unfinished multipart uploads to `uri`. */
  private async abortUploads(uri: S3Uri): Promise<void> {
    try {
      const uploads = await this.client.send(new ListMultipartUploadsCommand({ Bucket: uri.bucket, Prefix: uri.key }));
      for (const upload of uploads.Uploads ?? []) {
        if (upload.Key !== uri.key || !upload.UploadId) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: uri.bucket, Key: uri.key, UploadId: upload.UploadId }));
      }
    } catch (error) {
      // A store without ListMultipartUploads keeps unfinished parts until its lifecycle rules drop them.
      if (s3ErrorCode(error) !== 'NotImplemented') throw error;
    }
  }

  /**
   * The mapped chunks, concatenated lazily: the fields, then (unless `target.lineage: false`) `_sluice_run_id` and
   * `_sluice_source_row` (the row-number column, renamed; transform/lineage.ts).
   */
  private mappedFrame(spec: FlowSpec, files: string[], runId: string): pl.LazyDataFrame {
    const lineage = lineageWanted(spec);
    if (files.length === 0) {
      const empty = Object.fromEntries(spec.fields.map((f) => [f.name, pl.Series(f.name, [], pl.Utf8)]));
      if (lineage) Object.assign(empty, { [LINEAGE_COLUMNS[0]]: pl.Series(LINEAGE_COLUMNS[0], [], pl.Utf8), [LINEAGE_COLUMNS[1]]: pl.Series(LINEAGE_COLUMNS[1], [], pl.Int64) });
      return pl.DataFrame(empty).lazy();
    }
    const mapped = pl.concat(files.map((f) => pl.scanParquet(f)), { how: 'vertical' });
    if (!lineage) return mapped.drop(ROW_COLUMN);
    return mapped.select(
      ...spec.fields.map((f) => pl.col(f.name)),
      pl.lit(runId).cast(pl.Utf8).alias(LINEAGE_COLUMNS[0]),
      (mapped.columns.includes(ROW_COLUMN) ? pl.col(ROW_COLUMN) : pl.lit(null)).cast(pl.Int64).alias(LINEAGE_COLUMNS[1]),
    );
  }

  /** The rejected chunks with the run's columns, like the Postgres rejects table, in source row order. */
  private rejectsFrame(request: LoadRequest): pl.LazyDataFrame {
    const rejected = request.rejectedFiles.length === 0
      ? emptyRejected().lazy()
      : pl.concat(request.rejectedFiles.map((f) => pl.scanParquet(f)), { how: 'vertical' });
    return rejected
      .select(
        pl.lit(request.runId).alias('run_id'),
        pl.lit(request.executionId).alias('execution_id'),
        pl.lit(request.flowVersion).alias('flow_version'),
        pl.lit(request.sourcePath).alias('source_path'),
        pl.col(ROW_COLUMN).cast(pl.Int64).alias('row_number'),
        pl.col('record'),
        pl.col('errors'),
      )
      .sort('row_number');
  }

  /** Streams `frame` into `file` in `format`; returns its row count. */
  private async sink(frame: pl.LazyDataFrame, file: string, format: TargetFormat): Promise<number> {
    if (format === 'csv') await frame.sinkCSV(file, { includeHeader: true, maintainOrder: true }).collect();
    else if (format === 'parquet') await frame.sinkParquet(file, { maintainOrder: true, rowGroupSize: 65_536 }).collect();
    else await frame.sinkNdJson(file, { maintainOrder: true }).collect();
    return Number(frame.select(pl.len().alias('n')).collectSync().getColumn('n').get(0));
  }

  /** Multipart upload of a local file; aborted (and its parts dropped) when the load is cancelled. */
  private async upload(file: string, to: S3Uri, format: TargetFormat, request: LoadRequest): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: to.bucket, Key: to.key, Body: createReadStream(file), ContentType: CONTENT_TYPES[format] },
      partSize: this.partSize,
      queueSize: 4,
      leavePartsOnError: false,
    });
    let last = 0;
    upload.on('httpUploadProgress', (progress) => {
      const bytes = progress.loaded ?? 0;
      if (bytes - last >= this.partSize) {
        last = bytes;
        const details = { rows: 0, chunk: 0, bytes, key: to.key };
        request.onProgress(details);
      }
    });
    const abort = () => void upload.abort().catch(() => undefined);
    request.signal.addEventListener('abort', abort, { once: true });
    try {
      await upload.done();
    } finally {
      request.signal.removeEventListener('abort', abort);
    }
  }

  /** Server-side copy with new metadata: one CopyObject, or a multipart copy above 5 GiB. Both are atomic. */
  private async copy(from: S3Uri, to: S3Uri, size: number, metadata: Record<string, string>, contentType: string, signal: AbortSignal): Promise<void> {
    if (size <= this.singleCopyLimit) {
      await this.client.send(
        new CopyObjectCommand({ Bucket: to.bucket, Key: to.key, CopySource: copySource(from), MetadataDirective: 'REPLACE', Metadata: metadata, ContentType: contentType }),
        { abortSignal: signal },
      );
      return;
    }
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, Metadata: metadata, ContentType: contentType }));
    try {
      const parts: { ETag: string; PartNumber: number }[] = [];
      for (let start = 0, part = 1; start < size; start += this.copyPartSize, part++) {
        const end = Math.min(start + this.copyPartSize, size) - 1;
        const copied = await this.client.send(
          new UploadPartCopyCommand({ Bucket: to.bucket, Key: to.key, UploadId, PartNumber: part, CopySource: copySource(from), CopySourceRange: `bytes=${start}-${end}` }),
          { abortSignal: signal },
        );
        parts.push({ ETag: copied.CopyPartResult!.ETag!, PartNumber: part });
      }
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (error) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId })).catch(() => undefined);
      throw error;
    }
  }
}
