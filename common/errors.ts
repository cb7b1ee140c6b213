/**
 * Sluice's error hierarchy. The class says whether retrying can help:
 *
 * - {@link SluiceError}: the root; `code` is a declared {@link ErrorCode} (common/error-codes.ts, listed in
 *   docs/errors.md), `details` is JSON for API bodies and Temporal failures.
 * - {@link UserError} (and its subclasses): something the user must fix — bad spec, missing file, missing
 *   column — so retrying cannot help; it becomes a non-retryable Temporal failure (run FAILED).
 * - {@link TransientError}: a service that did not answer or was not ready; retrying can help, so it stays
 *   retryable.
 *
 * Anything else (a plain `Error`) is unexpected: Temporal retries it and, if it never succeeds, the run
 * ends CRASHED. Conversion to Temporal failures happens in exactly one place: `activities/activity-boundary.ts`.
 */
import type { ErrorCode, TransientErrorCode, UserErrorCode } from './error-codes';

/** Options of every Sluice error: the error that caused it, and JSON details for API bodies and failures. */
export interface SluiceErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

/** Root of Sluice's errors; never thrown itself: throw a {@link UserError} or a {@link TransientError}. */
export abstract class SluiceError extends Error {
  override readonly name: string = 'SluiceError';
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, options?: SluiceErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }
}

/** Base of every error a user can fix; thrown for bad input, config, specs or data. Never retried. */
export class UserError extends SluiceError {
  override readonly name: string = 'UserError';
  declare readonly code: UserErrorCode;
  constructor(code: UserErrorCode, message: string, options?: SluiceErrorOptions) {
    super(code, message, options);
  }
}

/** Thrown when a service Sluice needs is unreachable or not ready, so the same work can succeed later. Retried. */
export class TransientError extends SluiceError {
  override readonly name: string = 'TransientError';
  declare readonly code: TransientErrorCode;
  constructor(code: TransientErrorCode, message: string, options?: SluiceErrorOptions) {
    super(code, message, options);
  }
}

/** Thrown when config (sluice.config.yaml, env vars) is invalid or names an unknown connector. */
export class ConfigError extends UserError {
  override readonly name = 'ConfigError';
}

/** Thrown when a flow spec is invalid; `issues` lists every problem with its path. */
export class FlowSpecError extends UserError {
  override readonly name = 'FlowSpecError';
  readonly issues: string[];
  constructor(message: string, issues: string[]) {
    super('INVALID_FLOW_SPEC', [message, ...issues.map((issue) => `  - ${issue}`)].join('\n'), { details: { issues } });
    this.issues = issues;
  }
}

/** Thrown when a source cannot be read for a reason the user can fix (missing file, bad format, escaping path). */
export class SourceError extends UserError {
  override readonly name = 'SourceError';
}

/** Thrown when the transform cannot run for a reason the user can fix (missing column, invalid SQL expression). */
export class TransformError extends UserError {
  override readonly name = 'TransformError';
}

/** Thrown when a target rejects the load for a reason the user can fix (incompatible table, missing constraint). */
export class TargetError extends UserError {
  override readonly name = 'TargetError';
}

/**
 * Thrown when a connector's server, or the metadata database, refuses the configured credentials
 * (`AUTH_FAILED`) or the operation they were used for (`PERMISSION_DENIED`). Built in one place,
 * connectors/access-errors.ts; its message names the connector and never holds a secret.
 */
export class AccessError extends UserError {
  override readonly name = 'AccessError';
  declare readonly code: 'AUTH_FAILED' | 'PERMISSION_DENIED';
  constructor(code: 'AUTH_FAILED' | 'PERMISSION_DENIED', message: string, options?: SluiceErrorOptions) {
    super(code, message, options);
  }
}

/** Thrown when a request to start or find a run is refused (unknown version, repeated source_path). */
export class InvalidRequestError extends UserError {
  override readonly name = 'InvalidRequestError';
}

/** Turns anything caught into an Error, keeping the original as `cause` when it was not one. */
export function coerceError(caught: unknown): Error {
  if (caught instanceof Error) return caught;
  return new Error(typeof caught === 'string' ? caught : `non-error thrown: ${JSON.stringify(caught)}`, {
    cause: caught,
  });
}
