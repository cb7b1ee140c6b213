/**
 * Prebuilds the workflow bundle (`dist/workflow-bundle.js`) so workers start without webpack:
 * `npm run build:bundle`, run by the Docker image build. A worker without it bundles at start.
 */
import { writeWorkflowBundle } from './sluice-worker';

writeWorkflowBundle()
  .then((file) => process.stdout.write(`workflow bundle written to ${file}\n`))
  .catch((error: unknown) => {
    process.stderr.write(`cannot build the workflow bundle: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
