/**
 * The process logger (pino, on stderr): human-readable lines (pino-pretty, one line each) on a terminal, one
 * JSON object a line otherwise; `SLUICE_LOG_FORMAT=pretty|json` forces either. `SLUICE_LOG_LEVEL` sets the
 * level (@default info; `warn` under tests).
 *
 * A user error (a `UserError`: something the user must fix) logged as `err` becomes its code and message, never a
 * stack trace: `{ "code": "EMPTY_SOURCE", "reason": "source_path … read 0 rows …" }`, one line in either format; any
 * other error keeps pino's standard serialisation (type, message, stack).
 *
 * Credentials are never logged: connector configs are not passed to it, and as a second line of defence any
 * property named like a credential (the secret fields of sluice.config.yaml, see config/secrets.ts, and their
 * camelCase forms) is replaced by `[Redacted]`, at the top level of a log object or one level down; and every
 * secret value resolved in this process (common/redaction.ts) is replaced by `[Redacted]` wherever it appears in
 * a line, by value.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { readEnv } from './env';
import { UserError } from './errors';
import { redactSecretValues } from './redaction';

/** Property names whose values are never logged (not `token`: the gateway logs API token *names* under it). */
export const REDACTED_KEYS = [
  'password',
  'url',
  'databaseUrl',
  'database_url',
  'connectionString',
  'access_key_id',
  'accessKeyId',
  'secret_access_key',
  'secretAccessKey',
  'session_token',
  'sessionToken',
  'secret',
  'authorization',
] as const;

/** How log lines are written. */
export type LogFormat = 'pretty' | 'json';

/**
 * `SLUICE_LOG_FORMAT` when it is `pretty` or `json`, else pretty on a terminal (stderr), else json.
 * @throws ConfigError never: an unknown value falls back to the terminal rule.
 */
export function logFormat(format = readEnv('SLUICE_LOG_FORMAT'), isTerminal = Boolean(process.stderr.isTTY)): LogFormat {
  if (format === 'pretty' || format === 'json') return format;
  return isTerminal ? 'pretty' : 'json';
}

/** A log object whose `err` is a user error, with `code` and `reason` (its message) instead: no stack, no cause. */
export function withoutUserErrorStack(object: Record<string, unknown>): Record<string, unknown> {
  if (!(object.err instanceof UserError)) return object;
  const { err, ...rest } = object;
  return { ...rest, code: err.code, reason: err.message };
}

/**
 * @param destination where JSON lines go instead of stderr (tests capture a worker's or gateway's log with it).
 */
export function createLogger(name = 'sluice', level = readEnv('SLUICE_LOG_LEVEL') ?? 'info', destination?: pino.DestinationStream): Logger {
  const paths = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`]);
  // formatters.log sees the error itself (before pino's `err` serialiser writes its stack).
  // hooks.streamWrite sees each serialised line before any stream (json or pino-pretty) does: redaction by value.
  const options = { name, level, redact: paths, formatters: { log: withoutUserErrorStack }, hooks: { streamWrite: redactSecretValues } };
  if (destination) return pino(options, destination);
  if (logFormat() === 'json') return pino(options, pino.destination(2));
  // Synchronous, like pino.destination(2): a line is written before the process may exit.
  const stream = pretty({ destination: 2, sync: true, singleLine: true, colorize: Boolean(process.stderr.isTTY), ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' });
  return pino(options, stream);
}
