/**
 * `sluice/client`: the client SDK. See {@link Sluice}.
 */
export { Sluice, SluiceRun, RunFailedError, RunTimeoutError, InvalidRequestError, runIdFor } from './sluice';
export type { SluiceOptions, RunRequest, RunSummary, RunMetadata, RunStatus } from './sluice';
