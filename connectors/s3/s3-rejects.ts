/**
 * Reading a run's rejects back from an s3 target: the rejects object the load published (`metadata.rejects.location`,
 * columns `run_id, execution_id, flow_version, source_path, row_number, record, errors` in the target's format, csv,
 * parquet or ndjson; see s3-target.ts), queried with Polars.
 *
 * The object is downloaded once to a local cache file (keyed by its ETag, so a replaced object is fetched again) and
 * scanned lazily: a page is `row_number > cursor`, sorted, `limit + 1` rows; `rule` / `field` filter on the decoded
 * `errors` list; the summary explodes the errors and groups them. Only the rows of the requested execution count: an
 * object path without `{run_id}` is overwritten by later runs, and then this run's rejects are gone (`REJECTS_GONE`).
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pl from 'nodejs-polars';
import { TargetError } from '../../common/errors';
import { afterRowNumber, errorsOf, pageOf, recordOf, sortSummary, TOP_MESSAGES, type ListRejectsRequest, type RejectsPage, type RejectsSummary, type RejectsTarget } from '../rejects';
import { mapS3Error, parseS3Uri, s3ErrorCode, type S3Uri } from './s3-client';
import type { TargetFormat } from '../../flows/flow-spec';

/** The decoded `errors` column: a list of `{field, rule, message}`. */
const ERRORS_TYPE = pl.List(pl.Struct([new pl.Field('field', pl.Utf8), new pl.Field('rule', pl.Utf8), new pl.Field('message', pl.Utf8)]));

/** Reads rejects objects of one s3 connector; keeps downloaded objects in a temporary folder until {@link close}. */
export class S3RejectsReader {
  private cacheDir: Promise<string> | undefined;
  private readonly cached = new Map<string, { etag: string; file: string }>();
  private downloads = 0;

  /** @param formatOf an object's format from its key and the flow's `target.format` (s3-target.ts `targetFormat`, which imports this file). */
  constructor(
    private readonly client: S3Client,
    private readonly connectorName: string,
    private readonly formatOf: (key: string, declared: TargetFormat | undefined) => TargetFormat,
  ) {}

  /**
   * One page of the execution's rejects, in row order.
   * @throws InvalidRequestError `INVALID_CURSOR`; TargetError `REJECTS_NOT_READY`, `REJECTS_GONE`; the S3 errors of mapS3Error.
   */
  async list(request: ListRejectsRequest): Promise<RejectsPage> {
    const after = afterRowNumber(request.cursor);
    let frame = (await this.executionRejects(request)).filter(pl.col('row_number').gt(pl.lit(after)));
    if (request.rule !== undefined || request.field !== undefined) {
      let match = pl.lit(true);
      if (request.rule !== undefined) match = match.and(pl.element().struct.field('rule').eq(pl.lit(request.rule)));
      if (request.field !== undefined) match = match.and(pl.element().struct.field('field').eq(pl.lit(request.field)));
      frame = frame.filter(pl.col('errors').str.jsonDecode(ERRORS_TYPE).lst.eval(match).lst.max().eq(pl.lit(true)));
    }
    const page = await frame.sort('row_number').head(request.limit + 1).select('row_number', 'execution_id', 'record', 'errors').collect();
    const rows = (page.toRecords() as { row_number: number | bigint; execution_id: string; record: string; errors: string }[]).map((r) => ({
      rowNumber: Number(r.row_number),
      executionId: r.execution_id,
      record: recordOf(r.record),
      errors: errorsOf(r.errors),
    }));
    return pageOf(rows, request.limit);
  }

  /**
   * Rows rejected, errors by (field, rule) and the most frequent messages of the execution's rejects.
   * @throws TargetError `REJECTS_NOT_READY`, `REJECTS_GONE`; the S3 errors of mapS3Error.
   */
  async summarize(target: RejectsTarget): Promise<RejectsSummary> {
    const frame = await this.executionRejects(target);
    const errors = frame.select(pl.col('errors').str.jsonDecode(ERRORS_TYPE).alias('e')).explode('e').unnest('e').filter(pl.col('rule').isNotNull());
    const [count, byFieldRule, messages] = await Promise.all([
      frame.select(pl.len().alias('n')).collect(),
      errors.groupBy(['field', 'rule']).agg(pl.len().alias('n')).collect(),
      errors.groupBy('message').agg(pl.len().alias('n')).sort(['n', 'message'], [true, false]).head(TOP_MESSAGES).collect(),
    ]);
    return sortSummary({
      rowsRejected: Number(count.getColumn('n').get(0)),
      byFieldRule: (byFieldRule.toRecords() as { field: string | null; rule: string; n: number }[]).map((r) => ({ field: r.field ?? null, rule: r.rule, count: Number(r.n) })),
      topMessages: (messages.toRecords() as { message: string; n: number }[]).map((r) => ({ message: r.message, count: Number(r.n) })),
    });
  }

  /** Deletes the downloaded objects. */
  async close(): Promise<void> {
    const dir = await this.cacheDir?.catch(() => undefined);
    this.cacheDir = undefined;
    this.cached.clear();
    if (dir) await rm(dir, { recursive: true, force: true });
  }

  /**
   * The rejects of `target`'s execution, lazily: `row_number` (Int64), `execution_id`, `record`, `errors` (JSON text).
   * @throws TargetError `REJECTS_NOT_READY` without a location; `REJECTS_GONE` when the object is missing or holds
   *   only other executions' rejects.
   */
  private async executionRejects(target: RejectsTarget): Promise<pl.LazyDataFrame> {
    if (!target.location) {
      throw new TargetError('REJECTS_NOT_READY', `run ${target.runId} has not written its rejects object yet`, { details: { run_id: target.runId } });
    }
    const uri = parseS3Uri(target.location, 'target');
    const file = await this.download(uri, target);
    const format = this.formatOf(uri.key, target.spec.target.format);
    const scanned =
      format === 'parquet' ? pl.scanParquet(file) : format === 'csv' ? pl.scanCSV(file, { inferSchemaLength: 0 }) : pl.scanJson(file, { inferSchemaLength: null } as never);
    const all = scanned.select(
      pl.col('run_id').cast(pl.Utf8),
      pl.col('execution_id').cast(pl.Utf8),
      pl.col('row_number').cast(pl.Int64),
      pl.col('record').cast(pl.Utf8),
      pl.col('errors').cast(pl.Utf8),
    );
    const mine = all.filter(pl.col('run_id').eq(pl.lit(target.runId)).and(pl.col('execution_id').eq(pl.lit(target.executionId))));
    const counts = await all
      .select(pl.len().alias('all'), pl.col('run_id').eq(pl.lit(target.runId)).and(pl.col('execution_id').eq(pl.lit(target.executionId))).sum().alias('mine'))
      .collect();
    if (Number(counts.getColumn('all').get(0)) > 0 && Number(counts.getColumn('mine').get(0) ?? 0) === 0) {
      throw new TargetError('REJECTS_GONE', `${target.location} no longer holds the rejects of run ${target.runId}: a later run overwrote it (put {run_id} in target.rejects.path to keep one object per run)`, {
        details: { run_id: target.runId, location: target.location },
      });
    }
    return mine;
  }

  /** The object as a local file, downloaded again only when its ETag changed. */
  private async download(uri: S3Uri, target: RejectsTarget): Promise<string> {
    const where = `s3://${uri.bucket}/${uri.key}`;
    try {
      let etag: string;
      try {
        etag = (await this.client.send(new HeadObjectCommand({ Bucket: uri.bucket, Key: uri.key }))).ETag ?? '';
      } catch (error) {
        const code = s3ErrorCode(error);
        if (code === 'NotFound' || code === 'NoSuchKey') {
          throw new TargetError('REJECTS_GONE', `the rejects object ${where} of run ${target.runId} no longer exists`, { details: { run_id: target.runId, location: where } });
        }
        throw error;
      }
      const known = this.cached.get(where);
      if (known && known.etag === etag) return known.file;
      this.cacheDir ??= mkdtemp(path.join(os.tmpdir(), 'sluice-rejects-'));
      const file = path.join(await this.cacheDir, `${(this.downloads += 1)}${path.extname(uri.key) || '.data'}`);
      const object = await this.client.send(new GetObjectCommand({ Bucket: uri.bucket, Key: uri.key, ...(etag ? { IfMatch: etag } : {}) }));
      await pipeline(object.Body as Readable, createWriteStream(file));
      this.cached.set(where, { etag, file });
      return file;
    } catch (error) {
      if (error instanceof TargetError) throw error;
      throw mapS3Error(error, 'target', where, this.connectorName);
    }
  }
}
