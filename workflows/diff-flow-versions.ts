/**
 * The `diffFlowVersions` workflow: two versions of one flow on ONE staged copy of a source_path
 * (`sluice flows diff`, `POST /v1/flows/diff`). The source is staged once (`syncSource`, read with version A's
 * spec, which equals B's source section), each version maps every chunk into its own staging folder
 * (`transformChunk`, `finishTransform` under `<diff id>-a` / `<diff id>-b`), then `compareFlowVersions` joins the
 * two outputs with Polars. Nothing is written to the target; staging is marked finished for the sweeper.
 *
 * Deterministic: imports only `@temporalio/workflow`, shared pure modules and activity *types*.
 */
import { CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DiffActivities } from '../activities/diff-activities';
import type { RunActivities, TransformChunkOutput } from '../activities/run-activities';
import { planChunks, type ChunkPlan } from '../common/chunk-plan';
import type { VersionDiffReport } from '../common/version-diff-report';

/** Input of the `diffFlowVersions` workflow: names only. */
export interface DiffFlowVersionsInput {
  /** `flow:vN`: the version compared from. */
  versionA: string;
  /** `flow:vM` of the same flow: the version compared to. */
  versionB: string;
  sourcePath: string;
  /** The environment the diff belongs to (as a run's). */
  environment?: string;
}

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s', maximumAttempts: 10 };
const { syncSource, transformChunk, finishTransform } = proxyActivities<RunActivities>({ startToCloseTimeout: '6h', heartbeatTimeout: '30s', retry });
const { finishRun } = proxyActivities<RunActivities>({ startToCloseTimeout: '10m', retry: { ...retry, maximumAttempts: 3 } });
const { checkVersionDiff, compareFlowVersions } = proxyActivities<DiffActivities>({ startToCloseTimeout: '2h', retry });

/** Chunks in flight at once per version. */
const LANES_PER_VERSION = 4;

/** Compares two versions of one flow on one source_path; returns the report. */
export async function diffFlowVersions(input: DiffFlowVersionsInput): Promise<VersionDiffReport> {
  const info = workflowInfo();
  const env = input.environment !== undefined ? { environment: input.environment } : {};
  const ref = (suffix: string, flowVersion: string) => ({
    runId: `${info.workflowId}${suffix}`,
    executionId: info.runId,
    flowVersion,
    sourcePath: input.sourcePath,
    ...env,
  });
  const source = ref('', input.versionA);
  const sides = [ref('-a', input.versionA), ref('-b', input.versionB)] as const;
  try {
    await checkVersionDiff({ versionA: input.versionA, versionB: input.versionB, ...env });
    const staged = await syncSource(source);
    const plan: ChunkPlan[] = planChunks(staged.files, staged.chunkRows);
    const transform = async (side: (typeof sides)[number]) => {
      const outputs: TransformChunkOutput[] = [];
      let next = 0;
      const lane = async () => {
        while (next < plan.length) {
          const index = next++;
          outputs.push(await transformChunk({ ...side, index, chunk: plan[index]! }));
        }
      };
      await Promise.all(Array.from({ length: Math.min(LANES_PER_VERSION, plan.length) }, lane));
      return finishTransform({ ...side, chunks: outputs, plan, runMetadata: {} });
    };
    const [a, b] = await Promise.all(sides.map(transform));
    return await compareFlowVersions({
      versionA: input.versionA,
      versionB: input.versionB,
      ...env,
      diffId: info.workflowId,
      sourcePath: input.sourcePath,
      rowsRead: staged.rows,
      a: { mappedFiles: a!.mappedFiles, rejectedFiles: a!.rejectedFiles },
      b: { mappedFiles: b!.mappedFiles, rejectedFiles: b!.rejectedFiles },
    });
  } finally {
    // The staged copies are swept after the retention period, whatever the outcome.
    await CancellationScope.nonCancellable(async () => {
      for (const r of [source, ...sides]) await finishRun({ runId: r.runId, executionId: r.executionId, ...env }).catch(() => undefined);
    });
  }
}
