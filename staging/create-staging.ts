/**
 * Picks the staging backend from config: S3 when `staging.s3` is set (workers on several
 * machines), else local disk under `staging.dir`.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../common/errors';
import type { S3ConnectorConfig, SluiceConfig } from '../config/sluice-config';
import { LocalStaging } from './local-staging';
import { S3Staging } from './s3-staging';
import type { Staging } from './staging';

/** An S3 client for an `s3` connector's config (endpoint, region, path style, credentials). */
export function s3ClientFor(config: S3ConnectorConfig): S3Client {
  return new S3Client({
    region: config.region,
    forcePathStyle: config.force_path_style,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.access_key_id && config.secret_access_key
      ? { credentials: { accessKeyId: config.access_key_id, secretAccessKey: config.secret_access_key, ...(config.session_token ? { sessionToken: config.session_token } : {}) } }
      : {}),
  });
}

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
  return new S3Staging(s3ClientFor(connector), s3.bucket, s3.prefix, config.staging.dir);
}
