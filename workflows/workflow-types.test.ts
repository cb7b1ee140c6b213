/**
 * The workflow type names in `common/workflow-types.ts` are what Temporal registers for each workflow:
 * the exported function's name. A renamed function without its constant would start nothing.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DELIVERY_WORKFLOW_TYPE, HOUSEKEEPING_WORKFLOW_TYPE, PIPELINE_WORKFLOW_TYPE, RUN_WORKFLOW_TYPE } from '../common/workflow-types';
import { deliverWebhook, housekeeping, runFlow, runPipeline } from './index';

it('each workflow type name is its workflow function\'s name', () => {
  assert.equal(runFlow.name, RUN_WORKFLOW_TYPE);
  assert.equal(runPipeline.name, PIPELINE_WORKFLOW_TYPE);
  assert.equal(housekeeping.name, HOUSEKEEPING_WORKFLOW_TYPE);
  assert.equal(deliverWebhook.name, DELIVERY_WORKFLOW_TYPE);
});
