/**
 * The `deliverWebhook` workflow: one event to one webhook, attempted on the retry schedule until it
 * succeeds, fails for good, or the endpoint goes away. Runs on the webhooks task queue
 * (`<task queue>-webhooks`), served by `sluice gateway`.
 *
 * Durable: the schedule's waits are Temporal timers, so a delivery survives a gateway or worker
 * restart in the middle of it (the next gateway picks it up where it was). The schedule comes from
 * the gateway's config (`gateway.webhooks.retry_schedule`) through `planDelivery` (a local activity),
 * recorded in the history when the delivery starts. Each attempt is one `attemptDelivery` activity, which sends, logs
 * the attempt and decides what comes next (Retry-After, 410 Gone, disabling after a failure streak).
 *
 * Deterministic: imports only `@temporalio/workflow` and activity *types*.
 */
import { proxyActivities, proxyLocalActivities, setCurrentDetails, sleep } from '@temporalio/workflow';
import type { DeliveryActivities, DeliveryOutcome } from '../activities/delivery-activities';
import type { DeliverWebhookInput } from '../webhooks/event-publisher';

/** Retries of a failing activity itself (metadata database or Temporal down), not of the HTTP attempt. */
const ACTIVITY_RETRY = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 20 } as const;

// A local activity: it only reads the worker's config, and saves two Temporal tasks per delivery
// (measured: 15% more deliveries per second on the dev server, docs/benchmarks.md).
const { planDelivery } = proxyLocalActivities<DeliveryActivities>({
  startToCloseTimeout: '10s',
  retry: ACTIVITY_RETRY,
});

/** Attempts one delivery; returns how it ended (`succeeded` or `failed`, with the attempts made). */
export async function deliverWebhook(input: DeliverWebhookInput): Promise<DeliveryOutcome> {
  const plan = await planDelivery(input);
  // Each attempt may take the configured timeout, plus the bookkeeping around it.
  const { attemptDelivery } = proxyActivities<DeliveryActivities>({
    startToCloseTimeout: plan.timeoutMs + 30_000,
    retry: ACTIVITY_RETRY,
  });
  let delayMs = plan.retryScheduleMs[0] ?? 0;
  for (let attempt = 1; ; attempt++) {
    if (delayMs > 0) await sleep(delayMs);
    const result = await attemptDelivery({ deliveryId: input.deliveryId, attempt, scheduledDelayMs: plan.retryScheduleMs[attempt] ?? null });
    // The Temporal UI shows how the delivery stands on its page.
    setCurrentDetails(deliveryDetails(input.deliveryId, result));
    if (result.outcome !== 'retry') return result;
    delayMs = result.nextDelayMs;
  }
}

/** A delivery's current details in the Temporal UI (Markdown): its outcome after the latest attempt. */
export function deliveryDetails(deliveryId: string, result: DeliveryOutcome): string {
  const attempts = `${result.attempts} attempt${result.attempts === 1 ? '' : 's'}`;
  const line =
    result.outcome === 'succeeded'
      ? `**succeeded** after ${attempts} (HTTP ${result.httpStatus})`
      : result.outcome === 'failed'
        ? `**failed** after ${attempts}: ${result.reason}`
        : `**retrying**: ${attempts} so far; next attempt in ${Math.round(result.nextDelayMs / 1000)} s`;
  return `${line}\n\ndelivery ${deliveryId}`;
}
