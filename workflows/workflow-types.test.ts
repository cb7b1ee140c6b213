/**
 * Each workflow type name in `common/workflow-types.ts` is the name of the workflow function it
 * names, which is the name the worker registers it under (the exported name in `workflows/index.ts`).
 * A renamed function would otherwise leave every start by that name failing at run time.
 *
 * Lower layers that start a workflow type the start with its signature declared beside its input
 * (`RunPipelineWorkflow`, `HousekeepingWorkflow`, `DeliverWebhookWorkflow`); the assignments below make
 * this file, and so `npm test`, fail to compile when a workflow's parameters drift from its signature.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as workflowTypes from '../common/workflow-types';
import { deliverWebhook } from './deliver-webhook';
import { diffFlowVersions } from './diff-flow-versions';
import { housekeeping } from './housekeeping';
import * as workflows from './index';
import { runFlow } from './run-flow';
import { runPipeline } from './run-pipeline';
import type { HousekeepingWorkflow } from '../ops/housekeeping';
import type { RunPipelineWorkflow } from '../pipelines/pipeline-model';
import type { DeliverWebhookWorkflow } from '../webhooks/event-publisher';

/** Compiles only when `Workflow` is assignable to `Signature`. */
type Conforms<Signature, Workflow extends Signature> = Workflow;
export type SignaturesHold = [
  Conforms<RunPipelineWorkflow, typeof runPipeline>,
  Conforms<HousekeepingWorkflow, typeof housekeeping>,
  Conforms<DeliverWebhookWorkflow, typeof deliverWebhook>,
];

it('each workflow type constant is the name of its workflow function', () => {
  assert.equal(runFlow.name, workflowTypes.RUN_WORKFLOW_TYPE);
  assert.equal(runPipeline.name, workflowTypes.PIPELINE_WORKFLOW_TYPE);
  assert.equal(housekeeping.name, workflowTypes.HOUSEKEEPING_WORKFLOW_TYPE);
  assert.equal(deliverWebhook.name, workflowTypes.DELIVERY_WORKFLOW_TYPE);
  assert.equal(diffFlowVersions.name, workflowTypes.DIFF_WORKFLOW_TYPE);
});

it('the worker registers exactly the named workflows, each under its type name', () => {
  const typeNames = Object.entries(workflowTypes).filter(([constant]) => constant.endsWith('_WORKFLOW_TYPE')).map(([, name]) => name);
  assert.deepEqual(Object.keys(workflows).sort(), [...typeNames].sort());
  for (const [exported, fn] of Object.entries(workflows)) assert.equal(fn.name, exported);
});
