/** Workflow entry point bundled by the worker (webpack). Workflow files import only `@temporalio/workflow` and types. */
export { runFlow } from './run-flow';
export { deliverWebhook } from './deliver-webhook';
export { runPipeline } from './run-pipeline';
export { housekeeping } from './housekeeping';
export { diffFlowVersions } from './diff-flow-versions';
