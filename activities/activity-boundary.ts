/**
 * The one place where Sluice errors become Temporal failures.
 *
 * A {@link UserError} becomes a non-retryable `ApplicationFailure` whose `type` is the error's
 * stable code (the run ends FAILED with that code). Anything else is rethrown as is: Temporal
 * retries it per the activity's retry policy and, if it never succeeds, the run ends CRASHED.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Logger } from 'pino';
import { coerceError, UserError } from '../common/errors';

export async function atActivityBoundary<T>(logger: Logger, activity: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (caught) {
    const error = coerceError(caught);
    if (error instanceof UserError) {
      logger.warn({ activity, code: error.code }, error.message);
      throw ApplicationFailure.create({
        type: error.code,
        message: error.message,
        nonRetryable: true,
        details: error.details ? [error.details] : [],
      });
    }
    logger.error({ activity, err: error }, 'activity failed; Temporal will retry it');
    throw error;
  }
}
