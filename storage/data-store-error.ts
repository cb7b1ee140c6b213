/**
 * Errors of the data store. Every one is a {@link UserError}: retrying cannot help, the caller must
 * change the name, the range or the run id (or put the object first).
 *
 * Codes: `INVALID_DATA_NAME` (a refused name or prefix), `INVALID_RUN_ID` (a run id that cannot
 * scope pipeline data), `DATA_NOT_FOUND` (no such object), `INVALID_BYTE_RANGE` (a range outside the
 * object), `DATA_NAME_CONFLICT` (a name that is both an object and a folder of objects),
 * `LOCAL_FILE_NOT_FOUND` (`put` of a local file that does not exist), `DATA_STORE_BUCKET_NOT_FOUND`
 * (the configured S3 bucket does not exist), `INVALID_DATA_SCOPE` (the CLI was not given exactly one of
 * `--user` / `--pipeline <run id>`).
 */
import { UserError } from '../common/errors';

export type DataStoreErrorCode =
  | 'INVALID_DATA_NAME'
  | 'INVALID_RUN_ID'
  | 'DATA_NOT_FOUND'
  | 'INVALID_BYTE_RANGE'
  | 'DATA_NAME_CONFLICT'
  | 'LOCAL_FILE_NOT_FOUND'
  | 'DATA_STORE_BUCKET_NOT_FOUND'
  | 'INVALID_DATA_SCOPE';

/** Thrown by the data store for anything the caller must fix; `code` says what. */
export class DataStoreError extends UserError {
  override readonly name = 'DataStoreError';
  declare readonly code: DataStoreErrorCode;
  constructor(code: DataStoreErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(code, message, options);
  }
}
