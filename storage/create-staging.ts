/**
 * Picks the staging backend from config: S3 when `staging.s3` is set (workers on several
 * machines), else local disk under `staging.dir`.
 */
import { ConfigError } from '../common/errors';
import type { SluiceConfig } from '../config/sluice-config';
import { createS3Client } from '../connectors/s3/s3-client';
import { LocalStaging } from './local-staging';
import { S3Staging } from './s3-staging';
import type { Staging } from './staging';

/**
 * @throws ConfigError `UNKNOWN_CONNECTOR` when `staging.s3.connector` is not an s3 connector.
 */
export function createStaging(config: SluiceConfig): Staging {
  const s3 = config.staging.s3;
  if (!s3) return new LocalStaging(config.staging.dir);
  const connector = config.connectors[s3.connector];
  if (!connector || connector.kind !== 's3') {
    throw new ConfigError('UNKNOWN_CONNECTOR', `staging.s3.connector "${s3.connector}" is not an s3 connector`);
  }
  return new S3Staging(createS3Client(connector, s3.connector), s3.bucket, s3.prefix, config.staging.dir, s3.connector);
}
