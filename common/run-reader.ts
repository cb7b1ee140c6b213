/**
 * Reads the state of one run from Temporal, for the client SDK (`SluiceRun.refresh`) and for the pipeline
 * activities that inspect a child run (activities do not import the client).
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter, WorkflowNotFoundError } from '@temporalio/common';
import { InvalidRequestError } from './errors';
import { metadataQuery, RUN_STATUSES, SEARCH_ATTRIBUTES, type RunMetadata, type RunStatus } from './run-model';

/** The final metadata a FAILED or CRASHED run carries in its failure details, if `error` is one. */
export function failureMetadata(error: unknown): RunMetadata | undefined {
  const failure = error instanceof WorkflowFailedError ? error.cause : undefined;
  const details = failure instanceof ApplicationFailure ? (failure.details?.[0] as RunMetadata | undefined) : undefined;
  return details?.run && details.status ? details : undefined;
}

/**
 * Describes a run's workflow.
 * @throws InvalidRequestError `RUN_NOT_FOUND`.
 */
export async function describeRun(handle: WorkflowHandle, id: string): Promise<Awaited<ReturnType<WorkflowHandle['describe']>>> {
  try {
    return await handle.describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new InvalidRequestError('RUN_NOT_FOUND', `no run with id "${id}"`);
    throw error;
  }
}

/** What {@link readRunState} found. */
export interface RunState {
  /** Whether the workflow is still open. */
  open: boolean;
  /** `undefined` when neither the workflow nor the `SluiceStatus` search attribute answered. */
  status: RunStatus | undefined;
  /** `undefined` when no worker answered the query of a running run. */
  metadata: RunMetadata | undefined;
}

/**
 * A run's status and metadata. A finished run's come from its result (or its failure details), which needs no
 * worker; a running one's from the `metadata` query (which holds the status), with a 5 s deadline. When neither
 * answers (no worker is polling), the status comes from the `SluiceStatus` search attribute and the metadata is
 * `undefined`.
 * @throws InvalidRequestError `RUN_NOT_FOUND`.
 */
export async function readRunState(handle: WorkflowHandle, id: string): Promise<RunState> {
  const description = await describeRun(handle, id);
  const open = description.status.name === 'RUNNING';
  if (!open) {
    const final = await handle.result().then(
      (metadata) => metadata as RunMetadata,
      (error: unknown) => failureMetadata(error),
    );
    if (final) return { open, status: final.status, metadata: final };
  }
  try {
    const deadline = Date.now() + 5_000;
    // One query: the metadata carries the status, so both come from the same moment of the run.
    const metadata = await handle.client.connection.withDeadline(deadline, () => handle.query(metadataQuery));
    if (open) withOnePassProgress(metadata, description);
    return { open, status: metadata.status, metadata };
  } catch {
    const status = description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.status);
    return { open, status: status && (RUN_STATUSES as readonly string[]).includes(status) ? (status as RunStatus) : undefined, metadata: undefined };
  }
}

/** The activity of a one-pass run that maps and loads (activities/run-activities.ts). */
const ONE_PASS_ACTIVITY = 'transformAndLoad';

/**
 * A one-pass run maps and loads in one activity, so its workflow learns the counts only at the end; the
 * activity's last heartbeat (`{ chunk, chunks, mapped, rejected }`, sent at most every 2 s) has them while it
 * runs. Copies them into `metadata.progress` and `metadata.rows`, never lowering a count the workflow holds.
 */
export function withOnePassProgress(metadata: RunMetadata, description: Awaited<ReturnType<WorkflowHandle['describe']>>): RunMetadata {
  const pending = description.raw.pendingActivities?.find((a) => a.activityType?.name === ONE_PASS_ACTIVITY);
  const payload = pending?.heartbeatDetails?.payloads?.[0];
  if (!payload) return metadata;
  let beat: { chunk?: number; chunks?: number; mapped?: number; rejected?: number };
  try {
    beat = defaultPayloadConverter.fromPayload(payload);
  } catch {
    return metadata;
  }
  if (typeof beat.chunk === 'number' && typeof beat.chunks === 'number') metadata.progress = { chunks_done: beat.chunk + 1, chunks_total: beat.chunks };
  if (typeof beat.mapped === 'number') metadata.rows.mapped = Math.max(metadata.rows.mapped, beat.mapped);
  if (typeof beat.rejected === 'number') metadata.rows.rejected = Math.max(metadata.rows.rejected, beat.rejected);
  return metadata;
}
