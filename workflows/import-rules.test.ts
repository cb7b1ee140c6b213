/**
 * The layer rules of `eslint.config.mjs`, tested through ESLint's Node API: small snippets placed at
 * workflow, workflow-safe, activity, connector and test paths must be reported (or pass) exactly as the
 * layering says, and the real workflow code must pass. Workflow code is bundled by webpack and must be
 * deterministic, so it imports values only from `@temporalio/workflow` and the workflow-safe modules.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { ESLint } from 'eslint';

const ROOT = path.resolve(__dirname, '..', '..');
const WORKFLOW_VALUES = 'Workflow code imports values only from @temporalio/workflow and the workflow-safe modules; use `import type` for anything else';
const NO_TEST_IMPORTS = 'Production code does not import tests/, bench/ or *.test.ts files';
const upward = (from: string, to: string) => `There is no policy allowing dependencies from elements of type "${from}" to elements of type "${to}"`;

let eslint: ESLint;
before(() => {
  eslint = new ESLint({ cwd: ROOT });
});

/** The `ruleId: message` of every problem ESLint reports for `code` placed at `file` (relative to the root). */
async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('workflow code', () => {
  it('may import values from @temporalio/workflow and the workflow-safe modules, and types from below', async () => {
    const code = [
      "import { proxyActivities } from '@temporalio/workflow';",
      "import type { RunActivities } from '../activities/run-activities';",
      "import { planChunks } from '../common/chunk-plan';",
      "import { RUN_STATUSES } from '../common/run-model';",
      "import { RUN_WORKFLOW_TYPE } from '../common/workflow-types';",
      "import { PIPELINE_STATUSES } from '../pipelines/pipeline-model';",
      "import type { HousekeepingInput } from '../ops/housekeeping';",
      "import type { Pool } from 'pg';",
      "import { runFlow } from './run-flow';",
      'export const used = [proxyActivities, planChunks, RUN_STATUSES, RUN_WORKFLOW_TYPE, PIPELINE_STATUSES, runFlow];',
      'export type Used = [RunActivities, HousekeepingInput, Pool];',
      '',
    ].join('\n');
    assert.deepEqual(await problems('workflows/probe.ts', code), []);
  });

  it('may not import a package value (pg)', async () => {
    assert.deepEqual(await problems('workflows/probe.ts', "import { Pool } from 'pg';\nexport const used = Pool;\n"), [
      `boundaries/dependencies: ${WORKFLOW_VALUES}`,
    ]);
  });

  it('may not import a Node built-in', async () => {
    assert.deepEqual(await problems('workflows/probe.ts', "import { readFileSync } from 'node:fs';\nexport const used = readFileSync;\n"), [
      "@typescript-eslint/no-restricted-imports: 'node:fs' import is restricted from being used. Node built-ins are not available in workflow code",
      `boundaries/dependencies: ${WORKFLOW_VALUES}`,
    ]);
  });

  it('may not import activity values, nor values of shared modules that are not workflow-safe, by import, export or import()', async () => {
    for (const code of [
      "import { createRunActivities } from '../activities/run-activities';\nexport const used = createRunActivities;\n",
      "import { createLogger } from '../common/logger';\nexport const used = createLogger;\n",
      "export { createLogger } from '../common/logger';\n",
      "export const load = () => import('../common/logger');\n",
      "import { ApplicationFailure } from '@temporalio/common';\nexport const used = ApplicationFailure;\n",
    ]) {
      assert.deepEqual(await problems('workflows/probe.ts', code), [`boundaries/dependencies: ${WORKFLOW_VALUES}`], code);
    }
  });

  it('may not import even types from layers above it', async () => {
    assert.deepEqual(await problems('workflows/probe.ts', "import type { Sluice } from '../client/sluice';\nexport type Used = Sluice;\n"), [
      `boundaries/dependencies: ${upward('workflows', 'client')}`,
    ]);
  });

  it('passes as it is in the repository', async () => {
    const results = await eslint.lintFiles(['workflows/', 'common/run-model.ts', 'common/chunk-plan.ts', 'common/workflow-types.ts', 'pipelines/pipeline-model.ts']);
    assert.ok(results.some((r) => r.filePath.endsWith(path.join('workflows', 'run-flow.ts'))), 'linted the workflows');
    assert.deepEqual(results.flatMap((r) => r.messages.map((m) => `${path.relative(ROOT, r.filePath)}: ${m.ruleId}: ${m.message}`)), []);
  });
});

describe('workflow-safe modules', () => {
  it('import values only from @temporalio/workflow, @temporalio/common and each other', async () => {
    const ok = "import { defineQuery } from '@temporalio/workflow';\nimport { ApplicationFailure } from '@temporalio/common';\nimport { planChunks } from './chunk-plan';\nexport const used = [defineQuery, ApplicationFailure, planChunks];\n";
    assert.deepEqual(await problems('common/run-model.ts', ok), []);
    for (const code of [
      "import { InvalidRequestError } from './errors';\nexport const used = InvalidRequestError;\n",
      "import pino from 'pino';\nexport const used = pino;\n",
    ]) {
      assert.deepEqual(await problems('common/run-model.ts', code), [`boundaries/dependencies: ${WORKFLOW_VALUES}`], code);
    }
    assert.deepEqual(await problems('common/run-model.ts', "import type { InvalidRequestError } from './errors';\nexport type Used = InvalidRequestError;\n"), []);
  });
});

describe('layers', () => {
  it('activities import neither client/ nor workflows/, not even types', async () => {
    assert.deepEqual(await problems('activities/probe.ts', "import { Sluice } from '../client/sluice';\nexport const used = Sluice;\n"), [
      `boundaries/dependencies: ${upward('activities', 'client')}`,
    ]);
    assert.deepEqual(await problems('activities/probe.ts', "import type { Sluice } from '../client/sluice';\nexport type Used = Sluice;\n"), [
      `boundaries/dependencies: ${upward('activities', 'client')}`,
    ]);
    assert.deepEqual(await problems('activities/probe.ts', "import { runFlow } from '../workflows/run-flow';\nexport const used = runFlow;\n"), [
      `boundaries/dependencies: ${upward('activities', 'workflows')}`,
    ]);
  });

  it('activities import packages and any layer below', async () => {
    const code = "import { Pool } from 'pg';\nimport { createLogger } from '../common/logger';\nimport { createStaging } from '../storage/create-staging';\nexport const used = [Pool, createLogger, createStaging];\n";
    assert.deepEqual(await problems('activities/probe.ts', code), []);
  });

  it('lower layers do not import activities, and folders on one layer do not import each other', async () => {
    assert.deepEqual(await problems('connectors/probe.ts', "import { createRunActivities } from '../activities/run-activities';\nexport const used = createRunActivities;\n"), [
      `boundaries/dependencies: ${upward('connectors', 'activities')}`,
    ]);
    assert.deepEqual(await problems('pipelines/probe.ts', "import { EVENT_TYPES } from '../webhooks/events';\nexport const used = EVENT_TYPES;\n"), [
      `boundaries/dependencies: ${upward('pipelines', 'webhooks')}`,
    ]);
  });

  it('lower layers do not import workflows, not even the type of one they start (they use its declared signature)', async () => {
    const typed = "import type { runPipeline } from '../workflows/run-pipeline';\nexport type Used = typeof runPipeline;\n";
    assert.deepEqual(await problems('pipelines/probe.ts', typed), [`boundaries/dependencies: ${upward('pipelines', 'workflows')}`]);
    assert.deepEqual(await problems('webhooks/probe.ts', typed), [`boundaries/dependencies: ${upward('webhooks', 'workflows')}`]);
    assert.deepEqual(await problems('storage/probe.ts', typed), [`boundaries/dependencies: ${upward('storage', 'workflows')}`]);
    const signature = "import type { RunPipelineWorkflow } from './pipeline-model';\nimport type { HousekeepingWorkflow } from '../ops/housekeeping';\nexport type Used = [RunPipelineWorkflow, HousekeepingWorkflow];\n";
    assert.deepEqual(await problems('pipelines/probe.ts', signature), []);
  });

  it('production code does not import tests, benchmarks or test files; tests import anything', async () => {
    assert.deepEqual(await problems('common/probe.ts', "import { logger } from '../tests/helpers/services';\nexport const used = logger;\n"), [
      `boundaries/dependencies: ${NO_TEST_IMPORTS}`,
    ]);
    assert.deepEqual(await problems('common/probe.ts', "import './logger.test';\n"), [
      `boundaries/dependencies: ${NO_TEST_IMPORTS}`,
    ]);
    const anything = "import { Sluice } from '../client/sluice';\nimport { logger } from '../tests/helpers/services';\nexport const used = [Sluice, logger];\n";
    assert.deepEqual(await problems('activities/probe.test.ts', anything), []);
    assert.deepEqual(await problems('bench/probe.ts', anything), []);
  });
});

describe('cycles', () => {
  it('a value import that closes a cycle is reported; a type-only one is not', async () => {
    // common/run-reader.ts imports ./errors, so errors importing run-reader closes a cycle.
    assert.deepEqual(await problems('common/errors.ts', "import { describeRun } from './run-reader';\nexport const used = describeRun;\n"), [
      'import-x/no-cycle: Dependency cycle detected',
    ]);
    assert.deepEqual(await problems('common/errors.ts', "import type { RunState } from './run-reader';\nexport type Used = RunState;\n"), []);
  });
});

describe('environment variables', () => {
  const ENV_MESSAGE = 'no-restricted-syntax: Read environment variables through common/env.ts (readEnv), where each is declared with its doc';
  it('are read in common/env.ts only; production code elsewhere may pass the whole environment on', async () => {
    assert.deepEqual(await problems('connectors/probe.ts', 'export const rows = process.env.SLUICE_CHUNK_ROWS;\n'), [ENV_MESSAGE]);
    assert.deepEqual(await problems('connectors/probe.ts', "export const rows = process.env['SLUICE_CHUNK_ROWS'];\n"), [ENV_MESSAGE]);
    assert.deepEqual(await problems('config/probe.ts', 'export const env = process.env;\n'), []);
    assert.deepEqual(await problems('common/env.ts', 'export const rows = process.env.SLUICE_CHUNK_ROWS;\n'), []);
    assert.deepEqual(await problems('tests/probe.ts', 'export const url = process.env.DATABASE_URL;\n'), []);
  });
});

describe('console code (browser)', () => {
  const CONSOLE_ONLY = 'The console imports only console/ files and npm packages; it reaches the server over the /v1 API';

  it('may import its own files and npm packages', async () => {
    const code = "import { h } from 'preact';\nimport { api } from '../api';\nexport const used = [h, api];\n";
    assert.deepEqual(await problems('console/src/pages/probe.tsx', code), []);
  });

  it("may not import the server's folders, not even types, nor Node built-ins", async () => {
    const code = "import type { Sluice } from '../../../client/sluice';\nimport { readFileSync } from 'node:fs';\nexport const used = readFileSync;\nexport type Used = Sluice;\n";
    assert.deepEqual(await problems('console/src/pages/probe.tsx', code), [
      `@typescript-eslint/no-restricted-imports: '../../../client/sluice' import is restricted from being used by a pattern. ${CONSOLE_ONLY}`,
      "@typescript-eslint/no-restricted-imports: 'node:fs' import is restricted from being used. The console runs in the browser: no Node built-ins",
    ]);
  });
});
