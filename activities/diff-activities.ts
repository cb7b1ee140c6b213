/**
 * The activities of a flow version diff (workflows/diff-flow-versions.ts) beyond the run activities it reuses
 * (`syncSource` once, then `transformChunk` / `finishTransform` once per version into its own staging folder):
 * `checkVersionDiff` refuses versions that cannot be compared, `compareFlowVersions` builds the report from the
 * two versions' staged parts with Polars joins (transform/version-diff.ts). Nothing is written to the target.
 *
 * ```ts
 * const activities = createDiffActivities({ flowVersions, staging, logger });
 * ```
 */
import type { Logger } from 'pino';
import type { VersionDiffReport } from '../common/version-diff-report';
import type { FlowVersionStore } from '../flows/flow-versions';
import type { Staging } from '../storage/staging';
import { assertComparableVersions, compareVersionOutputs, specChanges } from '../transform/version-diff';
import { withActivityBoundary } from './activity-boundary';

export interface DiffDeps {
  flowVersions: FlowVersionStore;
  staging: Staging;
  logger: Logger;
}

/** Which two versions a diff compares. */
export interface CheckVersionDiffInput {
  versionA: string;
  versionB: string;
  environment?: string;
}

/** One version's transform output, as `finishTransform` returned it (staging keys). */
export interface DiffSideOutput {
  mappedFiles: string[];
  rejectedFiles: string[];
}

export interface CompareFlowVersionsInput extends CheckVersionDiffInput {
  /** The diff's workflow id (in the report). */
  diffId: string;
  sourcePath: string;
  rowsRead: number;
  a: DiffSideOutput;
  b: DiffSideOutput;
}

export function createDiffActivities(deps: DiffDeps) {
  const { flowVersions, staging, logger } = deps;
  return withActivityBoundary(logger, {
    /**
     * Checks the two versions exist, belong to one flow and read the same source.
     * @throws UserError `UNKNOWN_FLOW_VERSION`, `DIFF_FLOWS_DIFFER`, `DIFF_SOURCES_DIFFER`.
     */
    async checkVersionDiff(input: CheckVersionDiffInput): Promise<{ flow: string }> {
      const [a, b] = await Promise.all([flowVersions.get(input.versionA), flowVersions.get(input.versionB)]);
      assertComparableVersions(a, b);
      return { flow: a.flow };
    },

    /** Compares the two versions' staged parts; returns the report (counts and bounded samples only). */
    async compareFlowVersions(input: CompareFlowVersionsInput): Promise<VersionDiffReport> {
      const [a, b] = await Promise.all([flowVersions.get(input.versionA), flowVersions.get(input.versionB)]);
      const local = (files: string[]) => Promise.all(files.map((f) => staging.fetch(f)));
      const compared = compareVersionOutputs({
        specA: a.spec,
        specB: b.spec,
        a: { mapped: await local(input.a.mappedFiles), rejected: await local(input.a.rejectedFiles) },
        b: { mapped: await local(input.b.mappedFiles), rejected: await local(input.b.rejectedFiles) },
      });
      const report: VersionDiffReport = {
        flow: a.flow,
        version_a: a.id,
        version_b: b.id,
        source_path: input.sourcePath,
        diff_id: input.diffId,
        rows: { read: input.rowsRead, a: compared.rows[0]!, b: compared.rows[1]! },
        newly_rejected: compared.newly_rejected,
        newly_accepted: compared.newly_accepted,
        changed: compared.changed,
        spec: specChanges(a.spec, b.spec),
      };
      logger.info(
        { diffId: input.diffId, newlyRejected: report.newly_rejected.count, newlyAccepted: report.newly_accepted.count, rowsChanged: report.changed.rows_changed },
        'flow versions compared',
      );
      return report;
    },
  });
}

export type DiffActivities = ReturnType<typeof createDiffActivities>;
