/**
 * `sluice/client`: the client SDK. See {@link Sluice}.
 */
export { Sluice, SluiceRun, RunFailedError, RunTimeoutError, InvalidRequestError } from './sluice';
export { runIdFor } from '../flows/flow-versions';
export type { SluiceOptions, RunRequest, RunSummary, RunMetadata, RunStatus } from './sluice';
/** Types for custom maps (`transform: maps/<name>.ts` in a flow): `import type { CustomMap } from 'sluice/client'`. */
export type { CustomMap, MapContext, MapOutput, MapResult } from '../transform/custom-map';
/** The documented snake_case JSON of runs (what the CLI's `--json` and the API print). */
export { runJson, runSummaryJson, type RunJson, type RunSummaryJson } from './run-json';
/** A run's rejects (`sluice.rejects`, `sluice.rejectsSummary`) and their snake_case JSON. */
export { rejectsPageJson, rejectsSummaryJson, rejectRowJson, type RejectsQuery, type RunRejectsSummary, type RejectsPage, type RejectRow, type RejectsSummary } from './rejects';
