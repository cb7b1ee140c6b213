/**
 * Where a pipeline run's email stands while the `runPipeline` workflow is still delivering it: the pending
 * `sendPipelineEmail` activity as Temporal describes it (attempt, last error, next attempt). The workflow's
 * state only says `email: pending`; this says what the wait is for, so `pipeline run --wait` and
 * `pipeline status` never wait silently on an SMTP server that does not answer.
 *
 * ```ts
 * const delivery = await pendingEmailDelivery(client, workflowId);
 * if (delivery) console.error(emailWaitText(delivery));
 * // waiting for email delivery (attempt 3 of 8, last error: connection refused at 127.0.0.1:1025; next attempt in 18 s)
 * ```
 */
import type { Client } from '@temporalio/client';

/** The pending email activity of a pipeline run. */
export interface PendingEmailDelivery {
  /** 1 for the first try. */
  attempt: number;
  /** The retry policy's limit (0: unlimited). */
  maximumAttempts: number;
  /** The last attempt's error, in plain words (`connection refused at 127.0.0.1:1025`). */
  lastError?: string;
  /** When the next attempt starts (absent while one runs). */
  nextAttemptAt?: Date;
}

/** The activity type that sends the pipeline email (activities/pipeline-activities.ts). */
const SEND_EMAIL_ACTIVITY = 'sendPipelineEmail';

/** A socket error as people say it: `connect ECONNREFUSED 127.0.0.1:1025` → `connection refused at 127.0.0.1:1025`. */
export function plainSocketError(message: string): string {
  const refused = /ECONNREFUSED\s+(\S+)/.exec(message);
  if (refused) return `connection refused at ${refused[1]}`;
  const notFound = /ENOTFOUND\s+(\S+)/.exec(message);
  if (notFound) return `host ${notFound[1]} not found`;
  if (/ETIMEDOUT|timeout/i.test(message)) return `timed out (${message})`;
  return message;
}

const toDate = (ts: { seconds?: unknown; nanos?: number | null } | null | undefined): Date | undefined =>
  ts?.seconds === undefined || ts.seconds === null ? undefined : new Date(Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));

/**
 * The pipeline run's email delivery in progress, or undefined when the email is not being sent now (not yet,
 * or already done).
 * @throws what `WorkflowHandle.describe` throws (WorkflowNotFoundError, connection errors).
 */
export async function pendingEmailDelivery(client: Client, workflowId: string): Promise<PendingEmailDelivery | undefined> {
  const description = await client.workflow.getHandle(workflowId).describe();
  const pending = description.raw.pendingActivities?.find((a) => a.activityType?.name === SEND_EMAIL_ACTIVITY);
  if (!pending) return undefined;
  const lastError = pending.lastFailure?.message ? plainSocketError(pending.lastFailure.message) : undefined;
  const nextAttemptAt = toDate(pending.nextAttemptScheduleTime);
  return { attempt: pending.attempt ?? 1, maximumAttempts: pending.maximumAttempts ?? 0, ...(lastError ? { lastError } : {}), ...(nextAttemptAt ? { nextAttemptAt } : {}) };
}

/** One line for people: `waiting for email delivery (attempt 3 of 8, last error: …; next attempt in 18 s)`. */
export function emailWaitText(delivery: PendingEmailDelivery, now: Date = new Date()): string {
  const parts = [`attempt ${delivery.attempt}${delivery.maximumAttempts > 0 ? ` of ${delivery.maximumAttempts}` : ''}`];
  if (delivery.lastError) parts.push(`last error: ${delivery.lastError}`);
  const detail = parts.join(', ');
  const next = delivery.nextAttemptAt ? `; next attempt in ${Math.max(0, Math.round((delivery.nextAttemptAt.getTime() - now.getTime()) / 1000))} s` : '';
  return `waiting for email delivery (${detail}${next})`;
}
