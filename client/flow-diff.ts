/**
 * `Sluice.diffFlowVersions`: starts the `diffFlowVersions` workflow (two versions of one flow on one staged copy of
 * a source_path, nothing written to the target) and waits for its report (common/version-diff-report.ts).
 *
 * @example
 * ```ts
 * const report = await sluice.diffFlowVersions({ versionA: 'orders:v1', versionB: 'orders:v2', sourcePath: 'drop/orders.csv' });
 * report.newly_rejected.count;   // rows v1 accepts and v2 rejects
 * ```
 */
import { randomBytes } from 'node:crypto';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, ActivityFailure } from '@temporalio/common';
import { ERROR_CATALOGUE, type ErrorCode, type UserErrorCode } from '../common/error-codes';
import { InvalidRequestError, UserError } from '../common/errors';
import { sourcePathSchema } from '../common/run-inputs';
import { SEARCH_ATTRIBUTES } from '../common/run-model';
import type { VersionDiffReport } from '../common/version-diff-report';
import { DIFF_WORKFLOW_TYPE } from '../common/workflow-types';
import type { FlowVersionStore } from '../flows/flow-versions';
import { assertComparableVersions } from '../transform/version-diff';
import type { diffFlowVersions } from '../workflows/diff-flow-versions';

export type { VersionDiffReport } from '../common/version-diff-report';

export interface FlowDiffRequest {
  /** `flow:vN`: compared from. */
  versionA: string;
  /** `flow:vM` of the same flow, with the same source section: compared to. */
  versionB: string;
  /** The source_path both versions read (once). */
  sourcePath: string;
}

/** What the client lends the diff. */
export interface FlowDiffContext {
  client: Client;
  taskQueue: string;
  environment: string;
  store: FlowVersionStore;
}

/** The user error a failed diff ended with (its activity's code and message), else the failure itself. */
function diffFailure(error: unknown): unknown {
  if (!(error instanceof WorkflowFailedError)) return error;
  let cause: unknown = error.cause;
  while (cause instanceof ActivityFailure) cause = cause.cause;
  if (cause instanceof ApplicationFailure && cause.nonRetryable && cause.type && cause.type in ERROR_CATALOGUE && ERROR_CATALOGUE[cause.type as ErrorCode].kind === 'user') {
    return new UserError(cause.type as UserErrorCode, `flows diff failed: ${cause.message}`);
  }
  return error;
}

/**
 * Runs a diff and returns its report.
 * @throws InvalidRequestError `INVALID_FLOW_VERSION`, `UNKNOWN_FLOW_VERSION`, `INVALID_SOURCE_PATH`;
 *   UserError `DIFF_FLOWS_DIFFER`, `DIFF_SOURCES_DIFFER`, or the code a version's transform failed with (`MISSING_COLUMN`, …).
 */
export async function runFlowDiff(context: FlowDiffContext, request: FlowDiffRequest): Promise<VersionDiffReport> {
  const [a, b] = await Promise.all([context.store.get(request.versionA), context.store.get(request.versionB)]);
  if (!sourcePathSchema.safeParse(request.sourcePath).success) {
    throw new InvalidRequestError('INVALID_SOURCE_PATH', 'source_path must be a non-empty string of at most 2,048 characters without control characters');
  }
  assertComparableVersions(a, b);
  const id = `diff-${a.flow}-v${a.version}-v${b.version}-${randomBytes(4).toString('hex')}`;
  const handle = await context.client.workflow.start<typeof diffFlowVersions>(DIFF_WORKFLOW_TYPE, {
    workflowId: id,
    taskQueue: context.taskQueue,
    args: [{ versionA: a.id, versionB: b.id, sourcePath: request.sourcePath, environment: context.environment }],
    typedSearchAttributes: [
      { key: SEARCH_ATTRIBUTES.flow, value: a.flow },
      { key: SEARCH_ATTRIBUTES.flowVersion, value: b.id },
    ],
  });
  try {
    return await handle.result();
  } catch (error) {
    throw diffFailure(error);
  }
}
