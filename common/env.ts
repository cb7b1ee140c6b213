/**
 * Every environment variable Sluice reads, declared once with what it does, its unit and its default, and read
 * only through this module ({@link readEnv}; numbers through {@link readEnvCount}, validated with zod). The
 * README's "Environment:" line lists every variable declared here (`common/env.test.ts` checks it).
 *
 * Not declared here: variables Sluice looks up or passes on for other programs (`PATH` to find binaries, Go's
 * `CGO_ENABLED` for `go install`, the AWS SDK's own), and the `${env:NAME}` references a config file writes.
 *
 * @example
 * ```ts
 * const address = readEnv('TEMPORAL_ADDRESS') ?? '127.0.0.1:7233';
 * const activities = readEnvCount('SLUICE_MAX_CONCURRENT_ACTIVITIES') ?? DEFAULT_MAX_CONCURRENT_ACTIVITIES;
 * readEnvCount('SLUICE_CHUNK_ROWS', { SLUICE_CHUNK_ROWS: 'many' });
 * // throws ConfigError INVALID_CONFIG: SLUICE_CHUNK_ROWS must be a whole number of rows above 0, not "many"
 * ```
 */
import { z } from 'zod';
import { ConfigError } from './errors';

/** Where variables are read: `process.env`, or an object of the caller's (tests, a config loaded for another environment). */
export type EnvSource = Readonly<Record<string, string | undefined>>;

/** Rows per transform chunk when neither `SLUICE_CHUNK_ROWS` nor `staging.chunk_rows` sets it. */
export const DEFAULT_CHUNK_ROWS = 250_000;
/** Activities a run worker executes at once unless `SLUICE_MAX_CONCURRENT_ACTIVITIES` says otherwise. */
export const DEFAULT_MAX_CONCURRENT_ACTIVITIES = 2;
/** Webhook delivery attempts the gateway's delivery worker makes at once unless `SLUICE_MAX_CONCURRENT_DELIVERIES` says otherwise. */
export const DEFAULT_MAX_CONCURRENT_DELIVERIES = 100;

/** One variable: what it does, and its default (as a person reads it) when it is unset. */
interface EnvDeclaration {
  description: string;
  default?: string;
  /** For numbers: what is counted, e.g. `rows`. */
  unit?: string;
}

/** Every variable Sluice reads, by name. */
export const ENV_VARIABLES = {
  DATABASE_URL: {
    description: 'PostgreSQL URL of the metadata database, also the default `warehouse` connector; unset under `sluice dev`, the embedded PostgreSQL',
    default: 'the config file\'s `database_url`, else the one `sluice dev` started',
  },
  TEMPORAL_ADDRESS: { description: 'Temporal frontend, host:port; set under `sluice dev`, no dev server is started', default: '`temporal.address`, else 127.0.0.1:7233' },
  TEMPORAL_NAMESPACE: { description: 'Temporal namespace', default: '`temporal.namespace`, else default' },
  TEMPORAL_UI_URL: { description: 'Temporal UI base URL, for the links the CLI prints', default: '`temporal.ui_url`, else http://127.0.0.1:8233' },
  SLUICE_TASK_QUEUE: { description: 'the task queue of runs (deliveries use `<it>-webhooks`)', default: '`temporal.task_queue`, else sluice in dev and sluice-<env> elsewhere' },
  SLUICE_ENV: { description: 'the environment, when `--env/-e` does not name one', default: 'dev' },
  SLUICE_USER: { description: 'the user the CLI acts as (starts runs, owns user-level secrets and `data.user`), when `--user <name>` does not name one', default: 'the config\'s `user:`, else local' },
  SLUICE_CONFIG: { description: 'the config file, relative to the project dir', default: 'sluice.config.yaml when present' },
  SLUICE_STATE_DIR: { description: 'the state dir (staging, data store, stack file, master key), relative to the project dir', default: '.sluice' },
  SLUICE_STAGING_DIR: { description: 'where runs stage their chunks', default: '`staging.dir`, else <state dir>/staging' },
  SLUICE_CHUNK_ROWS: { description: 'rows per transform chunk', unit: 'rows', default: `\`staging.chunk_rows\`, else ${DEFAULT_CHUNK_ROWS}` },
  SLUICE_MASTER_KEY: { description: 'the master key(s) of encrypted secrets: 64 hex digits or base64, several separated by commas (the first encrypts)' },
  SLUICE_MASTER_KEY_FILE: { description: 'the master key file, relative to the project dir', default: '<state dir>/master.key' },
  SLUICE_LOG_LEVEL: { description: 'the log level (pino: trace, debug, info, warn, error, fatal, silent)', default: 'info; warn for `sluice dev`' },
  SLUICE_LOG_FORMAT: { description: 'log lines as `pretty` (human-readable, pino-pretty) or `json` (one JSON object a line)', default: 'pretty when stderr is a terminal, else json' },
  SLUICE_DEBUG: { description: 'when set (not empty), the CLI prints the stack trace of an unexpected error' },
  SLUICE_MAX_CONCURRENT_ACTIVITIES: { description: 'activities a run worker executes at once', unit: 'activities', default: String(DEFAULT_MAX_CONCURRENT_ACTIVITIES) },
  SLUICE_MAX_CONCURRENT_DELIVERIES: { description: 'webhook delivery attempts the gateway makes at once', unit: 'deliveries', default: String(DEFAULT_MAX_CONCURRENT_DELIVERIES) },
  SLUICE_WORKFLOW_BUNDLE: {
    description: 'a prebuilt workflow bundle (`npm run build:bundle`) for workers to load instead of bundling the workflows when they start',
    default: 'dist/workflow-bundle.js when NODE_ENV is production, else none',
  },
  NODE_ENV: { description: 'production (as in the Docker images) makes workers load the prebuilt workflow bundle' },
  TEMPORAL_CLI: { description: 'path of the Temporal CLI binary `sluice dev` starts', default: '`temporal` on PATH, else .tools/bin/temporal, else built with Go' },
} as const satisfies Record<string, EnvDeclaration>;

/** The name of a declared variable. */
export type EnvName = keyof typeof ENV_VARIABLES;

/** The declared variables that hold a count (a whole number above 0). */
export type EnvCountName = 'SLUICE_CHUNK_ROWS' | 'SLUICE_MAX_CONCURRENT_ACTIVITIES' | 'SLUICE_MAX_CONCURRENT_DELIVERIES';

/**
 * The text of `name`, or undefined when it is unset. An empty value is returned as `''` (callers that treat it
 * as unset say so with `||`).
 */
export function readEnv(name: EnvName, env: EnvSource = process.env): string | undefined {
  return env[name];
}

/** Whole numbers above 0, written as JavaScript's `Number` reads them (`' 20 '`, `'2e3'`). */
const count = z.coerce.number().int().min(1);

/**
 * The count `name` holds, or undefined when it is unset.
 * @throws ConfigError `INVALID_CONFIG` naming the variable when it is not a whole number above 0 (also when empty).
 */
export function readEnvCount(name: EnvCountName, env: EnvSource = process.env): number | undefined {
  const text = env[name];
  if (text === undefined) return undefined;
  const parsed = count.safeParse(text.trim() === '' ? Number.NaN : text);
  if (!parsed.success) throw new ConfigError('INVALID_CONFIG', `${name} must be a whole number of ${ENV_VARIABLES[name].unit} above 0, not "${text}"`);
  return parsed.data;
}
