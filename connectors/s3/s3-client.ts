/**
 * Shared pieces of the `s3` connector: building an `S3Client` from an `s3` connector's config,
 * parsing `s3://bucket/key` URIs, rendering a target path template, and turning AWS errors into
 * Sluice errors (user-fixable ones become {@link SourceError} / {@link TargetError}; network and
 * server errors stay plain `Error`s, so Temporal retries them).
 *
 * @example
 * ```ts
 * const client = createS3Client({ kind: 's3', endpoint: 'http://127.0.0.1:7070', region: 'us-east-1', force_path_style: true });
 * const { bucket, key } = parseS3Uri('s3://lake/in/orders.csv', 'source'); // { bucket: 'lake', key: 'in/orders.csv' }
 * ```
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { UserErrorCode } from '../../common/error-codes';
import { ConfigError, SourceError, TargetError, UserError } from '../../common/errors';
import type { S3ConnectorConfig } from '../../config/sluice-config';
import { accessError } from '../access-errors';

/** Which side of a run an S3 call serves: decides whether a user error is a SourceError or a TargetError. */
export type S3Side = 'source' | 'target';

/** A parsed `s3://bucket/key` URI. */
export interface S3Uri {
  bucket: string;
  key: string;
}

/** S3 bucket names: 3–63 lower-case letters, digits, `.` and `-`, starting and ending with a letter or digit. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function userError(side: S3Side, code: UserErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }): UserError {
  return side === 'source' ? new SourceError(code, message, options) : new TargetError(code, message, options);
}

/**
 * Builds an S3 client for one connector. Credentials are used when the config gives them, else the
 * AWS SDK's default chain (environment, profile, instance role) applies.
 * @throws ConfigError `INVALID_CONFIG` when only one of `access_key_id` / `secret_access_key` is given.
 */
export function createS3Client(config: S3ConnectorConfig, connectorName = 's3'): S3Client {
  if ((config.access_key_id === undefined) !== (config.secret_access_key === undefined)) {
    throw new ConfigError('INVALID_CONFIG', `connector "${connectorName}": give both access_key_id and secret_access_key, or neither (to use the AWS default credential chain)`);
  }
  const options: S3ClientConfig = {
    region: config.region,
    forcePathStyle: config.force_path_style,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.access_key_id && config.secret_access_key
      ? {
          credentials: {
            accessKeyId: config.access_key_id,
            secretAccessKey: config.secret_access_key,
            ...(config.session_token ? { sessionToken: config.session_token } : {}),
          },
        }
      : {}),
    // S3-compatible stores do not all accept the SDK's default CRC checksums on every request.
    ...(config.endpoint ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
  };
  return new S3Client(options);
}

/**
 * Parses `s3://bucket/key`.
 * @throws SourceError / TargetError (by `side`) `INVALID_S3_URI` when the scheme, bucket or key is wrong.
 */
export function parseS3Uri(uri: string, side: S3Side): S3Uri {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) {
    throw userError(side, 'INVALID_S3_URI', `"${uri}" is not an S3 object URI; expected s3://bucket/key`);
  }
  const [, bucket, key] = match as unknown as [string, string, string];
  if (!BUCKET.test(bucket)) {
    throw userError(side, 'INVALID_S3_URI', `"${uri}": "${bucket}" is not a valid bucket name (3-63 lower-case letters, digits, "." or "-")`);
  }
  if (key.endsWith('/')) {
    throw userError(side, 'INVALID_S3_URI', `"${uri}" names a folder, not an object; give the object's full key`);
  }
  return { bucket, key };
}

/** `s3://bucket/key` of a parsed URI. */
export function formatS3Uri(uri: S3Uri): string {
  return `s3://${uri.bucket}/${uri.key}`;
}

/** Values for a target path template. */
export interface PathTemplateValues {
  /** The flow's name. */
  flow: string;
  /** The flow version, `flow:vN`; `{version}` renders as `vN`. */
  flowVersion: string;
  /** The run (workflow) id. */
  runId: string;
  /** The load's date; `{date}` renders as `YYYY-MM-DD` in UTC. */
  date: Date;
}

/**
 * Renders `{flow}`, `{version}` (`vN`), `{run_id}` and `{date}` (`YYYY-MM-DD`, UTC) in a target path.
 * @throws TargetError `INVALID_TARGET_PATH` for any other `{placeholder}`.
 */
export function renderPathTemplate(template: string, values: PathTemplateValues): string {
  const colon = values.flowVersion.lastIndexOf(':');
  const replacements: Record<string, string> = {
    flow: values.flow,
    version: colon >= 0 ? values.flowVersion.slice(colon + 1) : values.flowVersion,
    run_id: values.runId,
    date: values.date.toISOString().slice(0, 10),
  };
  const unknown = [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]!).filter((name) => !(name in replacements));
  if (unknown.length > 0) {
    throw new TargetError(
      'INVALID_TARGET_PATH',
      `target path "${template}" uses unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `{${n}}`).join(', ')}; use {flow}, {version}, {run_id}, {date}`,
    );
  }
  return template.replace(/\{(flow|version|run_id|date)\}/g, (_, name: string) => replacements[name]!);
}

/** The fields of an AWS SDK error Sluice looks at. */
interface AwsErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The S3 error code of a caught error (`NoSuchKey`, `AccessDenied`, …), or undefined for non-S3 errors. */
export function s3ErrorCode(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const shape = error as AwsErrorShape;
  if (!shape.$metadata) return undefined;
  return shape.Code ?? shape.name;
}

/**
 * Maps an error from an S3 call to a Sluice error: `NoSuchBucket` → `S3_BUCKET_NOT_FOUND`;
 * `InvalidBucketName` → `INVALID_S3_URI` — each a SourceError or TargetError by `side`; for a
 * source, `NoSuchKey` / `NotFound` → SourceError `SOURCE_NOT_FOUND`; refused credentials
 * (`InvalidAccessKeyId`, `SignatureDoesNotMatch`, …) → AccessError `AUTH_FAILED` and refused
 * permissions (`AccessDenied`, any other 403) → AccessError `PERMISSION_DENIED` (connectors/access-errors.ts).
 * Anything else (network errors, 5xx, throttling, a target's temporary key gone because a concurrent
 * attempt published it) is returned unchanged, to be retried.
 *
 * @param what the object or bucket the call was about, for the message (`s3://bucket/key`).
 * @param connector the s3 connector's name in the config, for AUTH_FAILED / PERMISSION_DENIED messages.
 */
export function mapS3Error(error: unknown, side: S3Side, what: string, connector: string): unknown {
  if (error instanceof UserError) return error;
  const code = s3ErrorCode(error);
  if (!code) return error;
  const bucket = /^s3:\/\/([^/]+)/.exec(what)?.[1] ?? what;
  if (code === 'NoSuchBucket') {
    return userError(side, 'S3_BUCKET_NOT_FOUND', `bucket "${bucket}" does not exist (${what}); create it or fix the ${side === 'source' ? 'source_path' : 'target path'}`, {
      cause: error,
      details: { bucket },
    });
  }
  if (code === 'InvalidBucketName') {
    return userError(side, 'INVALID_S3_URI', `"${bucket}" is not a valid bucket name for this store (${what})`, { cause: error });
  }
  if (side === 'source' && (code === 'NoSuchKey' || code === 'NotFound')) {
    return new SourceError('SOURCE_NOT_FOUND', `source object ${what} does not exist`, { cause: error });
  }
  return accessError(error, { kind: 's3', connector, what }) ?? error;
}
