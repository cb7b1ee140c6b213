/**
 * S3 staging: keys are objects under `s3://<bucket>/<prefix>`, so the activities of one run can
 * execute on different worker processes or machines. Each worker keeps a local cache of what it
 * wrote or downloaded (under its local staging dir), deleted with the run.
 *
 * An object appears whole or not at all (single PUT, or a multipart upload completed at the end),
 * so `exists` means complete.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { S3BlobStore } from './s3-blob-store';
import { BlobStaging } from './staging';

/** Upload part size: smaller files go up in a single PutObject. */
const PART_BYTES = 16 * 1024 * 1024;

export class S3Staging extends BlobStaging {
  /**
   * @param client an S3 client for the staging connector (not destroyed by staging).
   * @param cacheDir worker-local folder for scratch files and downloaded objects.
   * @param connector the staging connector's name: refused credentials or permissions become AUTH_FAILED / PERMISSION_DENIED naming it.
   */
  constructor(client: S3Client, bucket: string, prefix: string, cacheDir: string, connector?: string) {
    super(new S3BlobStore({ client, bucket, prefix, partBytes: PART_BYTES, ...(connector === undefined ? {} : { connector }) }), cacheDir);
  }
}
