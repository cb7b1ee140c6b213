/**
 * The Temporal workflow type names of Sluice's workflows, in one module that the workflows, the
 * client, the CLI, schedules and activities all import. Each equals the exported workflow
 * function's name (checked by `workflows/workflow-types.test.ts`); starts pair the name with the
 * function's type, e.g. `client.workflow.start<typeof runFlow>(RUN_WORKFLOW_TYPE, …)` with
 * `import type { runFlow }`, so the arguments are type-checked.
 *
 * Imported by workflow code: no imports.
 */

/** A run: `workflows/run-flow.ts`. */
export const RUN_WORKFLOW_TYPE = 'runFlow';
/** A pipeline run: `workflows/run-pipeline.ts`. */
export const PIPELINE_WORKFLOW_TYPE = 'runPipeline';
/** Retention housekeeping: `workflows/housekeeping.ts`. */
export const HOUSEKEEPING_WORKFLOW_TYPE = 'housekeeping';
/** One webhook delivery: `workflows/deliver-webhook.ts`. */
export const DELIVERY_WORKFLOW_TYPE = 'deliverWebhook';

/** Two flow versions on one staged source (`sluice flows diff`): `workflows/diff-flow-versions.ts`. */
export const DIFF_WORKFLOW_TYPE = 'diffFlowVersions';

/** The failure type of a housekeeping run that could not sweep some kind; its details hold the report. */
export const HOUSEKEEPING_INCOMPLETE_TYPE = 'HousekeepingIncomplete';
