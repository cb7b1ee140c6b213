// ESLint for Sluice: typescript-eslint's recommended rules, and the house's layers as lint rules.
//
// Layers, top to bottom (a folder may import its own files and any folder below it, never one above,
// not even types; folders on the same layer do not import each other). Lower layers that start a
// workflow (schedules, deliveries) type the start with the workflow's signature declared beside its
// input (`RunPipelineWorkflow`, `HousekeepingWorkflow`, `DeliverWebhookWorkflow`), not with the workflow:
//   cli > local-stack > webhook-gateway > client > worker > workflows > activities
//   > pipelines, webhooks > ops > storage > connectors > transform > flows > db, config > common
// Workflow code is bundled by webpack and must be deterministic: workflows/*.ts import values only
// from `@temporalio/workflow` and the workflow-safe shared modules (WORKFLOW_SAFE below), everything
// else only with `import type`; the workflow-safe modules import values only from
// `@temporalio/workflow`, `@temporalio/common` and each other. tests/, bench/ and *.test.ts files may
// import anything; production code never imports them. `import-x/no-cycle` forbids runtime cycles.
// The console (console/, browser code built by Vite) imports only its own files and npm packages.
//
// Run: `npm run lint`. The rules themselves are tested in workflows/import-rules.test.ts.
import { builtinModules } from 'node:module';
import path from 'node:path';
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/** Production folders by layer, top first; folders in one inner array are on the same layer. */
export const LAYERS = [
  ['cli'],
  ['local-stack'],
  ['webhook-gateway'],
  ['client'],
  ['worker'],
  ['workflows'],
  ['activities'],
  ['pipelines', 'webhooks'],
  ['ops'],
  ['storage'],
  ['connectors'],
  ['transform'],
  ['flows'],
  ['db', 'config'],
  ['common'],
];

/** Modules both workflow code and activity/client code import at runtime (no I/O, no Node built-ins). */
export const WORKFLOW_SAFE = [
  'common/run-model.ts',
  'common/chunk-plan.ts',
  'common/workflow-types.ts',
  'pipelines/pipeline-model.ts',
];

/** Packages workflow code may import values from, and the extra ones the workflow-safe modules may. */
const WORKFLOW_PACKAGES = ['@temporalio/workflow'];
const WORKFLOW_SAFE_PACKAGES = ['@temporalio/workflow', '@temporalio/common', '@temporalio/common/**'];

const NON_PRODUCTION = ['tests', 'bench'];
const ROOT = import.meta.dirname;
const TSCONFIG = path.join(ROOT, 'tsconfig.json');
const element = (types) => ({ element: { types } });
const anyFile = element('*');
const anyDependency = [anyFile, { module: { origin: ['external', 'core'] } }];

/** One allow policy per folder: itself and every folder on a lower layer. */
const layerPolicies = LAYERS.flatMap((layer, index) => {
  const below = LAYERS.slice(index + 1).flat();
  return layer.map((folder) => ({
    from: element(folder),
    allow: { to: element([folder, ...below]) },
  }));
});

const workflowFiles = element('workflows');
const workflowSafeFiles = { file: { categories: 'workflow-safe' } };

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', '.tools/', '.sluice/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { boundaries, 'import-x': importX },
    settings: {
      'boundaries/elements': [...LAYERS.flat(), ...NON_PRODUCTION].map((folder) => ({
        type: folder,
        pattern: folder,
        partialMatch: false,
      })),
      'boundaries/files': [
        { category: 'workflow-safe', pattern: WORKFLOW_SAFE },
        { category: 'test', pattern: ['**/*.test.ts'] },
      ],
      'boundaries/dependency-nodes': ['import', 'export', 'dynamic-import', 'require'],
      'boundaries/root-path': ROOT,
      'import/resolver': { typescript: { project: TSCONFIG } },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: TSCONFIG })],
      'import-x/extensions': ['.ts'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          checkAllOrigins: true,
          checkInternals: true,
          // Later policies override earlier ones.
          policies: [
            // Packages and Node built-ins: anywhere (workflow code is narrowed below).
            { from: anyFile, allow: { to: { module: { origin: ['external', 'core'] } } } },
            ...layerPolicies,
            // Workflow code: values only from @temporalio/workflow, workflow files, workflow-safe modules.
            {
              from: [workflowFiles, workflowSafeFiles],
              disallow: { dependency: { kind: 'value' } },
              message: 'Workflow code imports values only from @temporalio/workflow and the workflow-safe modules; use `import type` for anything else',
            },
            {
              from: workflowFiles,
              allow: {
                to: [workflowSafeFiles, workflowFiles, { module: { source: WORKFLOW_PACKAGES } }],
                dependency: { kind: 'value' },
              },
            },
            {
              from: workflowSafeFiles,
              allow: {
                to: [workflowSafeFiles, { module: { source: WORKFLOW_SAFE_PACKAGES } }],
                dependency: { kind: 'value' },
              },
            },
            // Production code never imports tests, benchmarks or test files.
            {
              from: anyFile,
              disallow: { to: [element(NON_PRODUCTION), { file: { categories: 'test' } }] },
              message: 'Production code does not import tests/, bench/ or *.test.ts files',
            },
            // Tests and benchmarks import anything.
            { from: [element(NON_PRODUCTION), { file: { categories: 'test' } }], allow: { to: anyDependency } },
          ],
        },
      ],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // House choices over the recommended sets:
      // `_name` marks a parameter kept for a signature (Express's 4-argument error handler) and
      // `{ drop: _drop, ...rest }` drops a key, so neither is "unused".
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // A `let` read by a callback declared before its one assignment (a timer cleared by `settle`) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Names, paths and source_path are validated against control characters on purpose.
      'no-control-regex': 'off',
      // Tests match the CLI's column output, where literal runs of spaces are the point.
      'no-regex-spaces': 'off',
    },
  },
  {
    // Every environment variable is read in one module, with its doc and default (common/env.ts). Passing the
    // whole environment on (`loadConfig({ env: process.env })`) is fine; reading one variable elsewhere is not.
    files: ['**/*.ts'],
    ignores: ['common/env.ts', 'tests/**', 'bench/**', '**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.type='MemberExpression'][object.object.name='process'][object.property.name='env']",
          message: 'Read environment variables through common/env.ts (readEnv), where each is declared with its doc',
        },
      ],
    },
  },
  {
    // The console (console/) runs in the browser and talks to the gateway only over HTTP: it imports its own
    // files and npm packages, never Node built-ins or the server's folders (not even types, so the API's JSON
    // shapes it reads are written down in console/src/api.ts).
    files: ['console/**/*.ts', 'console/**/*.tsx'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [...builtinModules, ...builtinModules.map((name) => `node:${name}`)].map((name) => ({ name, message: 'The console runs in the browser: no Node built-ins' })),
          patterns: [{ regex: `^(\\.\\./)+(${[...LAYERS.flat(), ...NON_PRODUCTION].join('|')})(/|$)`, message: 'The console imports only console/ files and npm packages; it reaches the server over the /v1 API' }],
        },
      ],
    },
  },
  {
    // Node built-ins break the workflow bundle (as in temporalio/samples-typescript's ESLint override).
    files: ['workflows/**/*.ts', ...WORKFLOW_SAFE],
    ignores: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [...builtinModules, ...builtinModules.map((name) => `node:${name}`)].map((name) => ({
            name,
            message: 'Node built-ins are not available in workflow code',
            allowTypeImports: true,
          })),
        },
      ],
    },
  },
);
