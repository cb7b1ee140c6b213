/**
 * Sluice's error hierarchy. The class says whether retrying can help:
 * a {@link UserError} (and its subclasses) is something the user must fix — bad spec, missing file,
 * missing column — and becomes a non-retryable Temporal failure (run FAILED); anything else is
 * retried and, if it never succeeds, ends the run CRASHED.
 *
 * Conversion to Temporal failures happens in exactly one place: `activities/activity-boundary.ts`.
 */

/** Base of every error a user can fix. `code` is stable and documented in docs/errors.md. */
export class UserError extends Error {
  override readonly name: string = 'UserError';
  readonly code: string;
  readonly details?: Record<string, unknown>;
  constructor(code: string, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
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
