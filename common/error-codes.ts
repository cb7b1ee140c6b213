/**
 * The error catalogue: every stable error code Sluice gives a user — in an error it throws, in a run's
 * `metadata.error.code`, in a gateway error body, in the CLI's `--json` output — declared once, with
 * whether retrying can help, the HTTP status the gateway answers with, and one line saying what it means.
 *
 * `docs/errors.md` is generated from this table (`npm run docs:errors`; `common/error-docs.ts`), and a
 * unit test fails when the committed file is stale. Error constructors take {@link ErrorCode} (or the
 * codes of their branch), so a typo or an undeclared code does not compile.
 *
 * Kinds:
 * - `user`: the user must change something (spec, config, request, data); retrying cannot help. Thrown as
 *   a `UserError` (common/errors.ts), it becomes a non-retryable Temporal failure and the run ends FAILED.
 * - `transient`: a service did not answer or was not ready; the same request can succeed later. Thrown as
 *   a `TransientError`, it stays retryable.
 * - `internal`: an unexpected failure, or a retryable one that outlived its retries; the run ends CRASHED.
 *   Never thrown as a Sluice error class: these codes name what happened to a plain `Error`.
 *
 * HTTP status: what the gateway answers when a request fails with the code. User errors that no
 * request can cause (a run's, the CLI's) keep the gateway's rule for them: 400 for `INVALID_*`, else 500.
 *
 * This module is pure data (no imports), so workflow code may use it.
 *
 * @example
 * ```ts
 * ERROR_CATALOGUE.RUN_NOT_FOUND; // { kind: 'user', status: 404, description: 'no run with that id' }
 * const code: ErrorCode = 'RUN_NOT_FUOND'; // does not compile
 * ```
 */

/** Whether retrying can help: see the module doc. */
export type ErrorKind = 'user' | 'transient' | 'internal';

/** One catalogue entry. */
export interface ErrorSpec {
  readonly kind: ErrorKind;
  /** The gateway's HTTP status for the code. */
  readonly status: number;
  /** One line: what went wrong (and where, when the code is specific to one part). */
  readonly description: string;
}

/** Every error code, alphabetically. Keep each code string exactly: users and tests match on it. */
export const ERROR_CATALOGUE = {
  ADMIN_REQUIRED: { kind: 'user', status: 403, description: 'only a user with role admin may do this (write or delete an org-level secret)' },
  AUTH_FAILED: { kind: 'user', status: 500, description: "a connector's server (or the metadata database) refused its credentials: wrong user, password or key (SQLSTATE class 28, S3 InvalidAccessKeyId / SignatureDoesNotMatch, SMTP 535)" },
  CANCELLED: { kind: 'user', status: 500, description: 'the run or pipeline run was cancelled (run FAILED), or a CLI prompt was cancelled' },
  CONFIG_NOT_FOUND: { kind: 'user', status: 500, description: 'the config file named by --config or SLUICE_CONFIG (or sluice.config.yaml, for sluice secret rotate) does not exist' },
  CONSOLE_NOT_BUILT: { kind: 'user', status: 503, description: 'GET /ui: the console\'s assets are not built; run npm run build:console (npm start, npm test and npm run build do it)' },
  CONNECTION_LOST: { kind: 'transient', status: 503, description: 'a database (or sftp) connection dropped while Sluice held it, or could not be made (server restart, network); the activity is retried' },
  CONNECTOR_NOT_A_SOURCE: { kind: 'user', status: 500, description: 'the flow reads from a connector that cannot be a source (smtp)' },
  CONNECTOR_NOT_A_TARGET: { kind: 'user', status: 500, description: 'the flow writes to a connector that cannot be a target (local, smtp)' },
  DATA_NAME_CONFLICT: { kind: 'user', status: 500, description: 'data store: the name is both an object and a folder of objects' },
  DATA_NOT_FOUND: { kind: 'user', status: 500, description: 'data store: no object with that name in the scope' },
  DATA_STORE_BUCKET_NOT_FOUND: { kind: 'user', status: 500, description: "data store: the configured S3 bucket (data_store.s3.bucket) does not exist" },
  DELIVERY_NOT_FOUND: { kind: 'user', status: 404, description: 'the webhook has no delivery with that id' },
  DIFF_FLOWS_DIFFER: { kind: 'user', status: 422, description: 'flows diff: the two flow versions belong to different flows; diff two versions of one flow' },
  DIFF_ROWS_UNMATCHED: { kind: 'user', status: 422, description: "flows diff: a custom map dropped the source row numbers and the flow has no key, so the versions' rows cannot be matched" },
  DIFF_SOURCES_DIFFER: { kind: 'user', status: 422, description: 'flows diff: the two flow versions read their source differently (connector, format, query or CSV options), so one staged copy cannot serve both' },
  DUPLICATE_COLUMN: { kind: 'user', status: 500, description: 'the CSV source has two or more columns with the same header name; rename them in the file' },
  EMAIL_CONNECTOR_INVALID: { kind: 'user', status: 500, description: 'notifications.email.connector is not a configured smtp connector' },
  EMAIL_REFUSED: { kind: 'user', status: 500, description: 'the SMTP server refused the pipeline email (a 5xx answer)' },
  EMPTY_SECRET: { kind: 'user', status: 500, description: 'sluice secret encrypt was given no secret' },
  EMPTY_SOURCE: { kind: 'user', status: 500, description: 'the source_path read 0 rows: with on_empty: fail the run is FAILED; by default it is a warning (run SUCCEEDED, nothing written, source_path not marked loaded)' },
  EMPTY_TOKEN: { kind: 'user', status: 500, description: 'sluice token hash was given no token on stdin' },
  EVENT_NOT_FOUND: { kind: 'user', status: 404, description: 'the run has no event with the id given as `after`' },
  EXAMPLE_DATA_MISSING: { kind: 'user', status: 500, description: "the example's data file is missing (run npm install first)" },
  FAILED: { kind: 'user', status: 500, description: 'a non-retryable failure that carried no code of its own (run FAILED)' },
  FLOW_FILE_NOT_FOUND: { kind: 'user', status: 500, description: 'the flow file given to the CLI does not exist' },
  FLOW_FILE_EXISTS: { kind: 'user', status: 500, description: 'flows init --out names a file that exists; it is never overwritten' },
  GO_BUILD_FAILED: { kind: 'user', status: 500, description: 'building a tool from its Go module (go install) failed' },
  INSECURE_MASTER_KEY_FILE: { kind: 'user', status: 500, description: 'the master key file can be read by other users (make it mode 0600)' },
  INSUFFICIENT_SCOPE: { kind: 'user', status: 403, description: "the API token lacks the route's scope" },
  INTERNAL_ERROR: { kind: 'internal', status: 500, description: 'an unexpected error (run CRASHED; the gateway logs the cause under the request id)' },
  INVALID_BYTE_RANGE: { kind: 'user', status: 400, description: 'data store: a byte range that is malformed or outside the object' },
  INVALID_CONFIG: { kind: 'user', status: 400, description: 'the config (sluice.config.yaml, an environment file, a SLUICE_* variable) is invalid; the message lists every problem' },
  INVALID_CURSOR: { kind: 'user', status: 400, description: 'the page cursor is invalid, expired, or was made for other filters' },
  INVALID_DATA_NAME: { kind: 'user', status: 400, description: 'data store: a refused object name or prefix' },
  INVALID_DATA_SCOPE: { kind: 'user', status: 400, description: 'sluice data was not given exactly one of --user / --pipeline <run id>' },
  INVALID_DATE: { kind: 'user', status: 400, description: 'a pipeline date that is not written YYYY-MM-DD' },
  INVALID_EMAIL: { kind: 'user', status: 400, description: 'an email address that is not valid (sluice test-connections --to)' },
  INVALID_EVENT_TYPE: { kind: 'user', status: 400, description: 'an unknown webhook event type' },
  INVALID_FLOW_SPEC: { kind: 'user', status: 400, description: 'the flow spec is invalid; the message lists every problem with its path' },
  INVALID_FLOW_VERSION: { kind: 'user', status: 400, description: 'not a flow version id (expected flow:vN, e.g. movies:v1)' },
  INVALID_JSON: { kind: 'user', status: 400, description: 'the request body is not valid JSON' },
  INVALID_LIMIT: { kind: 'user', status: 400, description: 'a page size (limit) outside its allowed range' },
  INVALID_MASTER_KEY: { kind: 'user', status: 400, description: 'a master key (SLUICE_MASTER_KEY, or its file) that is not a valid key' },
  INVALID_OUT_FILE: { kind: 'user', status: 400, description: 'sluice rejects --out names a file that is not .csv or .parquet' },
  INVALID_PIPELINE_NAME: { kind: 'user', status: 400, description: 'not a pipeline name (lower-case letters, digits, "-" or "_", starting with a letter)' },
  INVALID_PIPELINE_SPEC: { kind: 'user', status: 400, description: 'the pipeline file is invalid; the message lists every problem with its path and line' },
  INVALID_QUERY: { kind: 'user', status: 400, description: 'a database source query without :source_path, missing, or refused by the database' },
  INVALID_REQUEST: { kind: 'user', status: 400, description: "the request body cannot be read (the answer has the body parser's 4xx status, 400 unless it says otherwise)" },
  INVALID_RUN_ID: { kind: 'user', status: 400, description: 'data store: a run id that cannot scope pipeline data' },
  INVALID_RUN_METADATA: { kind: 'user', status: 400, description: 'run_metadata is not a JSON object of at most 16 KiB' },
  INVALID_S3_URI: { kind: 'user', status: 400, description: 'not an s3://bucket/key object URI, or an invalid bucket name' },
  INVALID_SECRET_NAME: { kind: 'user', status: 400, description: 'a secret name is not a letter or "_" followed by letters, digits or "_" (at most 128 characters)' },
  INVALID_SECRET_SCOPE: { kind: 'user', status: 400, description: 'sluice secrets set/rm needs exactly one scope: --org or --user' },
  INVALID_SINCE: { kind: 'user', status: 400, description: 'a --since that is not an ISO 8601 time' },
  INVALID_SOURCE_PATH: { kind: 'user', status: 400, description: 'source_path is empty, too long, has control characters, or is not a path or file:// URI' },
  INVALID_SQL: { kind: 'user', status: 400, description: 'an expr, check or checks[].sql that Polars cannot run, or a check that is not boolean' },
  INVALID_STATUS: { kind: 'user', status: 400, description: 'an unknown status filter' },
  INVALID_TARGET_PATH: { kind: 'user', status: 400, description: 'an object-store target path with an unknown {placeholder}, or rejects rendering to the rows\' key' },
  INVALID_TIME: { kind: 'user', status: 400, description: 'a time that is not ISO 8601, or a --to not after --from' },
  INVALID_TOKEN: { kind: 'user', status: 400, description: 'a bearer token that contains whitespace' },
  INVALID_USER: { kind: 'user', status: 400, description: 'a user name (--user, SLUICE_USER, config user:, a token\'s user) is not 1-64 letters, digits, ".", "_", "@" or "-"' },
  LINK_FAILED: { kind: 'user', status: 500, description: 'a target.link statement failed; the load was rolled back, nothing was written' },
  LOCAL_STACK_NOT_RUNNING: { kind: 'user', status: 500, description: "CLI: .sluice/stack.json was left by a `sluice dev` that has exited; start the local stack again" },
  LOCAL_STACK_RUNNING: { kind: 'user', status: 500, description: 'CLI: a `sluice dev` already runs for this project (its pid is named); stop it first' },
  LOCAL_FILE_NOT_FOUND: { kind: 'user', status: 500, description: 'data store: put of a local file that does not exist' },
  MAIL_NOT_FOUND: { kind: 'user', status: 500, description: 'CLI: no message with that id in the local mail sink (.sluice/mail/)' },
  MAP_CHANGED: { kind: 'user', status: 500, description: "the worker's copy of the custom map differs from the one the flow version published" },
  MAP_FAILED: { kind: 'user', status: 500, description: 'the custom map threw (its message, and its file:line:column when known)' },
  MAP_INVALID: { kind: 'user', status: 500, description: 'the custom map does not compile, throws while loading, or exports no function' },
  MAP_NOT_FOUND: { kind: 'user', status: 500, description: 'the custom map file is missing or not a file' },
  MAP_OUTPUT_INVALID: { kind: 'user', status: 500, description: 'the custom map returned something other than the target fields as a DataFrame (or { mapped, rejected })' },
  MAP_OUTSIDE_PROJECT: { kind: 'user', status: 500, description: 'the custom map is, or links to, a file outside the project dir' },
  MASTER_KEY_FILE_EXISTS: { kind: 'user', status: 500, description: 'sluice secret keygen would overwrite an existing master key file' },
  MASTER_KEY_FILE_NOT_FOUND: { kind: 'user', status: 500, description: 'the master key file (SLUICE_MASTER_KEY_FILE) does not exist' },
  MISSING_COLUMN: { kind: 'user', status: 500, description: "a field's from column is not in the source (the message lists the available columns)" },
  NO_DATABASE: { kind: 'user', status: 500, description: 'no metadata database is configured (DATABASE_URL, database_url, or sluice dev)' },
  NO_MASTER_KEY: { kind: 'user', status: 500, description: 'no master key is configured (SLUICE_MASTER_KEY, SLUICE_MASTER_KEY_FILE, or .sluice/master.key)' },
  NOT_FOUND: { kind: 'user', status: 404, description: 'no gateway route for this method and path' },
  NOT_READY: { kind: 'transient', status: 503, description: 'GET /readyz: Temporal or the metadata database is unreachable (details.checks says which)' },
  PATH_OUTSIDE_ROOT: { kind: 'user', status: 500, description: "source_path is, or links to, a file outside the local (or sftp) connector's root" },
  PAYLOAD_TOO_LARGE: { kind: 'user', status: 413, description: 'the request body is larger than the gateway accepts' },
  PERMISSION_DENIED: { kind: 'user', status: 500, description: "a connector's server accepted its credentials but refused the operation (SQLSTATE 42501, S3 AccessDenied or a bare 403)" },
  PIPELINE_NOT_SCHEDULED: { kind: 'user', status: 500, description: 'the pipeline has no schedule' },
  PIPELINE_RUN_NOT_FOUND: { kind: 'user', status: 500, description: 'no pipeline run with that id, or it has no state yet' },
  PORT_IN_USE: { kind: 'user', status: 500, description: 'CLI: a port `sluice dev` needs is held by another process (the message names the port and the option that changes it)' },
  PROJECT_EXISTS: { kind: 'user', status: 500, description: 'sluice init would overwrite files of an existing project' },
  REJECTS_GONE: { kind: 'user', status: 410, description: "the run's rejects are no longer where its load wrote them (the rejects table or object was dropped, or a later run overwrote the object)" },
  REJECTS_NOT_READY: { kind: 'user', status: 409, description: 'the run has no rejects to read yet: it is still running, or it ended FAILED/CRASHED before its load' },
  REJECTS_NOT_SUPPORTED: { kind: 'user', status: 422, description: "reading rejects back is not supported for the run's target kind (only postgres, s3 and mysql targets)" },
  REJECTS_OF_CONFLICT: { kind: 'user', status: 409, description: "a reprocess (--rejects-of) of the same run is already in progress, or another reprocess resolved some of the same rejects first; nothing was written" },
  REJECTS_OF_INVALID: { kind: 'user', status: 422, description: 'the run named by --rejects-of / rejects_of cannot be reprocessed: it does not exist, belongs to another flow or target connector, is a dry run, or has no (unresolved) rejects' },
  REJECTS_OF_REPROCESSED: { kind: 'user', status: 409, description: "this flow version already reprocessed that run's rejects (SUCCEEDED or PARTIAL_FAILED); pass force_rerun to reprocess its still-unresolved rejects again" },
  REJECTS_OF_UNSUPPORTED: { kind: 'user', status: 422, description: "reprocessing rejects needs a target that can read its rejects back and resolve them in the load's transaction (postgres, mysql); not s3" },
  REJECT_RATIO_EXCEEDED: { kind: 'user', status: 500, description: 'rejected / read rows above max_reject_ratio; nothing was written to the target (run FAILED)' },
  REPEATED_SOURCE_PATH: { kind: 'user', status: 409, description: 'the flow version already loaded this source_path (SUCCEEDED or PARTIAL_FAILED); pass force_rerun to load it again' },
  RESERVED_PIPELINE_NAME: { kind: 'user', status: 500, description: "a pipeline named like housekeeping's schedule" },
  RETRIES_EXHAUSTED: { kind: 'internal', status: 500, description: 'a retryable error outlived its retries (run CRASHED)' },
  RUN_IN_PROGRESS: { kind: 'user', status: 409, description: 'a run of the flow version on this source_path is already in progress' },
  RUN_NOT_FOUND: { kind: 'user', status: 404, description: 'no run with that id' },
  RUN_NOT_RUNNING: { kind: 'user', status: 409, description: 'the run has already ended, so it cannot be cancelled' },
  S3_BUCKET_NOT_FOUND: { kind: 'user', status: 500, description: 'the S3 bucket of a source or target does not exist' },
  S3_SERVER_NOT_FOUND: { kind: 'user', status: 500, description: 'tests and benchmarks: no S3-compatible server is configured or on PATH, and it cannot be built' },
  S3_UPSERT_NOT_SUPPORTED: { kind: 'user', status: 500, description: 'write: upsert on an object-store target' },
  SCHEDULE_NOT_FOUND: { kind: 'user', status: 500, description: 'the pipeline has no schedule in this environment' },
  SECRET_DECRYPT_FAILED: { kind: 'user', status: 500, description: 'an enc: value cannot be decrypted (malformed, unknown key id, or a different key)' },
  SECRET_MISMATCH: { kind: 'user', status: 500, description: 'the two entries of a secret prompt differ' },
  SECRET_NOT_FOUND: { kind: 'user', status: 404, description: 'no secret of that name for the user who started the run (their user-level one), nor at org level; or none to delete' },
  SERVICE_UNAVAILABLE: { kind: 'transient', status: 503, description: 'Temporal or the metadata database is unreachable; try again later (Retry-After)' },
  SOURCE_CHANGED: { kind: 'user', status: 500, description: 'the source file changed while a run that held it in memory was loading it (another worker had to read it again); nothing was written' },
  SOURCE_NOT_A_FILE: { kind: 'user', status: 500, description: 'source_path names something that is not a file' },
  SOURCE_NOT_FOUND: { kind: 'user', status: 500, description: 'no file or object at source_path' },
  SOURCE_NOT_LOCAL: { kind: 'user', status: 500, description: 'a source backup for a flow version that does not read from a local connector' },
  TARGET_DDL_FAILED: { kind: 'user', status: 500, description: 'the target table could not be created' },
  TARGET_NEEDS_PATH: { kind: 'user', status: 500, description: 'an object-store target given a table instead of a path' },
  TARGET_NEEDS_TABLE: { kind: 'user', status: 500, description: 'a database target given a path instead of a table' },
  TARGET_REJECTED_LOAD: { kind: 'user', status: 500, description: 'the target database refused the data; nothing was written' },
  TARGET_SCHEMA_MISMATCH: { kind: 'user', status: 500, description: "the target table exists but lacks the flow's columns" },
  TEMPORAL_CLI_NOT_FOUND: { kind: 'user', status: 500, description: 'no Temporal CLI (TEMPORAL_CLI, PATH, or the project cache), and it cannot be built' },
  TEMPORAL_SERVER_NOT_FOUND: { kind: 'user', status: 500, description: 'tests and benchmarks: no Temporal server or temporal-sql-tool (env var, PATH, or the project cache), and it cannot be built' },
  UNAUTHENTICATED: { kind: 'user', status: 401, description: 'no or unknown bearer token' },
  UNKNOWN_CONNECTOR: { kind: 'user', status: 500, description: 'no connector with that name (or not one of the kind needed) in the config' },
  UNKNOWN_ENVIRONMENT: { kind: 'user', status: 500, description: 'an environment that has no config (--env / SLUICE_ENV)' },
  UNKNOWN_FLOW_VERSION: { kind: 'user', status: 422, description: 'a well-formed flow version id that names no published version' },
  UNKNOWN_FORMAT: { kind: 'user', status: 500, description: "the source file's format cannot be told from its name; set source.format" },
  UNKNOWN_PIPELINE: { kind: 'user', status: 500, description: 'no pipeline file with that name' },
  UNREACHABLE: { kind: 'transient', status: 503, description: 'CLI: Temporal or the metadata database cannot be reached (is the local stack running?)' },
  SOURCE_TOO_LARGE: { kind: 'user', status: 500, description: 'the source is larger than a worker can read in its format (a JSON array above 32 MiB); the message says which format streams instead' },
  UNREADABLE_SOURCE: { kind: 'user', status: 500, description: "the source file is not valid in its format; the message names the file, the line (and byte) and what to change; details.polars has the reader's own text" },
  UNSAFE_WEBHOOK_URL: { kind: 'user', status: 422, description: 'a webhook URL the SSRF guard refuses (details.reason says why)' },
  VALIDATION_FAILED: { kind: 'user', status: 400, description: 'the request body, query string or path fails validation; details.issues lists every problem' },
  WEBHOOK_DISABLED: { kind: 'user', status: 409, description: 'the webhook endpoint is disabled; enable it first' },
  WEBHOOK_NOT_FOUND: { kind: 'user', status: 404, description: 'no webhook with that id' },
  WORKER_CONFIG_STALE: { kind: 'user', status: 500, description: 'a run names a connector that the config file on disk has but the worker has not loaded yet; restart the worker (or wait for its reload)' },
  WORKFLOW_FAILED: { kind: 'internal', status: 500, description: "client: the run's workflow failed without run metadata (status CRASHED)" },
  WRONG_ENVIRONMENT: { kind: 'user', status: 500, description: "work stamped for one environment reached a worker of another (they share a task queue); nothing was executed" },
  HOST_KEY_MISMATCH: { kind: 'user', status: 500, description: "an sftp server's host key is not the one pinned in the connector's host_key (the message names both fingerprints)" },
  AFTER_LOAD_FAILED: { kind: 'user', status: 500, description: "a run's source file was loaded but the connector's after_load (move_to) could not move it; a warning, the run's outcome stands" },
} as const satisfies Record<string, ErrorSpec>;

/** Every declared error code. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The codes of one kind. */
export type ErrorCodeOf<K extends ErrorKind> = { [C in ErrorCode]: (typeof ERROR_CATALOGUE)[C]['kind'] extends K ? C : never }[ErrorCode];

/** The codes a `UserError` may carry. */
export type UserErrorCode = ErrorCodeOf<'user'>;

/** The codes a `TransientError` may carry. */
export type TransientErrorCode = ErrorCodeOf<'transient'>;

/** The gateway's HTTP status of a code, as a literal type. */
export type HttpStatusOf<C extends ErrorCode> = (typeof ERROR_CATALOGUE)[C]['status'];

/** True when `value` is a declared code (e.g. an `ApplicationFailure.type` read back from Temporal). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CATALOGUE, value);
}

/** The catalogue entry of a code. */
export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERROR_CATALOGUE[code];
}
