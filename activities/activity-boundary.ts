/**
 * The one place where Sluice errors become Temporal failures. Every activity set (run, pipeline, event,
 * delivery, housekeeping) returns its functions through {@link withActivityBoundary}.
 *
 * What an activity throws, classified by the error catalogue (common/error-codes.ts):
 * - a `UserError` (code of kind `user`): a non-retryable `ApplicationFailure` whose `type` is the
 *   error's stable code and whose details are the error's `details` (the run ends FAILED with that code);
 * - a `TransientError` (kind `transient`): a retryable `ApplicationFailure` with the code as `type`;
 *   Temporal retries it per the activity's retry policy;
 * - anything else, including an `ApplicationFailure` the activity made itself, is rethrown as is:
 *   Temporal retries it (unless it says otherwise) and, if it never succeeds, the run ends CRASHED.
 *
 * @example
 * ```ts
 * export function createEventActivities(deps: EventDeps) {
 *   return withActivityBoundary(deps.logger, { async publishRunEvent(input) { … } });
 * }
 * ```
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Logger } from 'pino';
import { ERROR_CATALOGUE } from '../common/error-codes';
import { coerceError, SluiceError, UserError } from '../common/errors';
import { redactSecretValues } from '../common/redaction';

/**
 * Runs one activity's body and converts what it throws, as the module doc says.
 * @throws ApplicationFailure (non-retryable, `type` = code) for a UserError; ApplicationFailure (retryable,
 *   `type` = code) for a TransientError; anything else unchanged.
 */
export async function atActivityBoundary<T>(logger: Logger, activity: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (caught) {
    const error = coerceError(caught);
    // A secret resolved in this process never travels in a failure message (into Temporal history).
    const redacted = redactSecretValues(error.message);
    if (redacted !== error.message) error.message = redacted;
    if (error instanceof SluiceError) {
      const nonRetryable = ERROR_CATALOGUE[error.code].kind === 'user';
      if (nonRetryable) logger.warn({ activity, code: error.code }, error.message);
      else logger.warn({ activity, code: error.code, err: error }, 'activity failed transiently; Temporal will retry it');
      throw ApplicationFailure.create({
        type: error.code,
        message: error.message,
        nonRetryable,
        details: error.details ? [error.details] : [],
        ...(nonRetryable ? {} : { cause: error }),
      });
    }
    logger.error({ activity, err: error }, 'activity failed; Temporal will retry it');
    throw error;
  }
}

/** An object of activity functions, as a `create…Activities` factory returns it. */
type ActivityFunctions = Record<string, (...args: never[]) => Promise<unknown>>;

/**
 * Wraps every function of an activity set in {@link atActivityBoundary}, named by its key; the result has
 * the same type, so workflows keep `proxyActivities<ReturnType<typeof create…Activities>>`.
 */
export function withActivityBoundary<A extends ActivityFunctions>(logger: Logger, activities: A): A {
  const bounded: Record<string, unknown> = {};
  for (const [name, activity] of Object.entries(activities)) {
    bounded[name] = (...args: never[]) => atActivityBoundary(logger, name, () => activity(...args));
  }
  return bounded as A;
}

/**
 * Makes every activity of `activities` refuse work stamped for another environment: an input whose `environment`
 * field (common/run-model.ts `EnvironmentStamp`) is set and differs from `environment` fails at once, before the
 * activity's body runs, with the non-retryable `WRONG_ENVIRONMENT` naming both environments and the fix. Inputs
 * without a stamp (work started before environments were stamped, webhook deliveries) are not checked.
 */
export function withEnvironmentGuard<A extends ActivityFunctions>(logger: Logger, environment: string, activities: A): A {
  const guarded: Record<string, unknown> = {};
  for (const [name, activity] of Object.entries(activities)) {
    guarded[name] = (...args: never[]) => {
      const stamped = (args[0] as { environment?: unknown } | undefined)?.environment;
      if (typeof stamped !== 'string' || stamped === environment) return activity(...args);
      return atActivityBoundary(logger, name, () => Promise.reject(wrongEnvironment(stamped, environment)));
    };
  }
  return guarded as A;
}

/** UserError `WRONG_ENVIRONMENT`: work of `stamped` reached a worker of `served`. */
export function wrongEnvironment(stamped: string, served: string): UserError {
  return new UserError(
    'WRONG_ENVIRONMENT',
    `this work belongs to environment "${stamped}" but reached a worker of environment "${served}" (they share a task queue); nothing was executed. ` +
      `Give each environment its own task queue (remove the shared temporal.task_queue / SLUICE_TASK_QUEUE, or set environments.<name>.temporal.task_queue) ` +
      `and run a worker for "${stamped}": sluice worker -e ${stamped}`,
    { details: { environment: stamped, worker_environment: served } },
  );
}
