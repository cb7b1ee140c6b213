/**
 * The `s3` connector's check (its source's and its target's): `HeadBucket` on every bucket config sends through
 * this connector (`staging.s3`, `data_store.s3`); when none, `ListBuckets` (endpoint reachable, credentials
 * accepted; an `AccessDenied` answer still proves the credentials and is OK, with a note).
 */
import { HeadBucketCommand, ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
import { UserError } from '../../common/errors';
import { accessError } from '../access-errors';
import { CheckFailure, errorCode, messageOf, networkReason, probe } from '../check';
import type { CheckOptions, CheckResult } from '../connector';
import { s3ErrorCode } from './s3-client';

/** A bucket config reaches through an s3 connector, and the setting that names it (`staging.s3`). */
export interface ConfiguredBucket {
  bucket: string;
  usedBy: string;
}

/** What an s3 connector's check needs besides its client: where it points, and the buckets to check. */
export interface S3CheckSettings {
  /** `connectors.<name>.endpoint`, or undefined for AWS. */
  endpoint?: string;
  region: string;
  /** Buckets config reaches through this connector; none: ListBuckets. */
  buckets: ConfiguredBucket[];
  /** The connector's keys, masked in reasons. */
  secrets?: string[];
}

const endpointOf = (settings: S3CheckSettings) => settings.endpoint ?? `https://s3.${settings.region}.amazonaws.com`;

/** Why an S3 call failed, and what to fix. */
export function s3Reason(error: unknown, name: string, settings: S3CheckSettings, bucket?: ConfiguredBucket): string {
  const where = endpointOf(settings);
  const code = errorCode(error);
  const network = networkReason(code, where, 'the S3 server', `connectors.${name}.endpoint`);
  if (network) return network;
  if (error instanceof UserError) return error.message;
  const s3Code = s3ErrorCode(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const message = messageOf(error);
  if ((error as Error).name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return `no credentials found — set connectors.${name}.access_key_id and secret_access_key, or provide AWS credentials (environment, profile, instance role)`;
  }
  if (s3Code === 'InvalidAccessKeyId' || s3Code === 'XAdminUserNotFound') return `the access key is not known to ${where} (${s3Code}) — check connectors.${name}.access_key_id`;
  if (s3Code === 'SignatureDoesNotMatch') return `the secret key does not match the access key (SignatureDoesNotMatch) — check connectors.${name}.secret_access_key`;
  if (s3Code === 'ExpiredToken' || s3Code === 'InvalidToken') return `the session token is expired or invalid (${s3Code}) — refresh connectors.${name}.session_token`;
  if (bucket) {
    if (status === 404 || s3Code === 'NotFound' || s3Code === 'NoSuchBucket') return `bucket "${bucket.bucket}" (${bucket.usedBy}) does not exist at ${where} — create it, or fix ${bucket.usedBy}.bucket`;
    if (status === 403 || s3Code === 'AccessDenied' || s3Code === 'Forbidden') return `access to bucket "${bucket.bucket}" (${bucket.usedBy}) is denied — check the credentials of connectors.${name} and the bucket policy`;
    if (status === 301 || s3Code === 'PermanentRedirect') return `bucket "${bucket.bucket}" is in another region than ${settings.region} — set connectors.${name}.region`;
  }
  return `${message}${s3Code && !message.includes(s3Code) ? ` (${s3Code})` : ''} — check connectors.${name}`;
}

/** The stable code of a failed S3 call: AUTH_FAILED / PERMISSION_DENIED, S3_BUCKET_NOT_FOUND for a missing bucket. */
function failureCode(error: unknown, name: string, bucket?: ConfiguredBucket): CheckFailure['code'] {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const s3Code = s3ErrorCode(error);
  if (bucket && (status === 404 || s3Code === 'NotFound' || s3Code === 'NoSuchBucket')) return 'S3_BUCKET_NOT_FOUND';
  return accessError(error, { kind: 's3', connector: name, what: bucket ? `s3://${bucket.bucket}/` : 'the bucket listing' })?.code;
}

/** Checks an s3 connector (see the module comment). Never rejects. */
export function checkS3(client: S3Client, name: string, settings: S3CheckSettings, options: CheckOptions = {}): Promise<CheckResult> {
  const endpoint = endpointOf(settings);
  return probe(options, {
    secrets: settings.secrets ?? [],
    onTimeout: `is the S3 endpoint ${endpoint} right and reachable? check connectors.${name}.endpoint and region`,
    explain: (error) => s3Reason(error, name, settings),
    body: async (signal) => {
      const { buckets } = settings;
      if (buckets.length > 0) {
        for (const b of buckets) {
          try {
            await client.send(new HeadBucketCommand({ Bucket: b.bucket }), { abortSignal: signal });
          } catch (error) {
            if (signal.aborted) throw error;
            throw new CheckFailure(s3Reason(error, name, settings, b), failureCode(error, name, b));
          }
        }
        const list = buckets.map((b) => `${b.bucket} (${b.usedBy})`).join(', ');
        return { reason: `bucket${buckets.length > 1 ? 's' : ''} ${list} reachable`, detail: { endpoint, buckets: buckets.map((b) => b.bucket) } };
      }
      try {
        const listed = await client.send(new ListBucketsCommand({}), { abortSignal: signal });
        const count = listed.Buckets?.length ?? 0;
        return {
          reason: `endpoint reached, credentials accepted (ListBuckets: ${count} bucket${count === 1 ? '' : 's'}); no bucket is configured through it, so none was checked`,
          detail: { endpoint, buckets: count },
        };
      } catch (error) {
        if (s3ErrorCode(error) === 'AccessDenied') {
          return {
            reason: 'endpoint reached, credentials accepted; listing buckets is not permitted (AccessDenied), and no bucket is configured through it, so none was checked',
            detail: { endpoint },
          };
        }
        if (signal.aborted) throw error;
        throw new CheckFailure(s3Reason(error, name, settings), failureCode(error, name));
      }
    },
  });
}
