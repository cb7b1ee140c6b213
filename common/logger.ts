/**
 * The process logger (pino, JSON on stderr). `SLUICE_LOG_LEVEL` sets the level (@default info;
 * `warn` under tests). Credentials are never logged: connector configs are not passed to it, and as a
 * second line of defence any property named like a credential (the secret fields of sluice.config.yaml,
 * see config/secrets.ts, and their camelCase forms) is replaced by `[Redacted]`, at the top level of a
 * log object or one level down.
 */
import pino, { type Logger } from 'pino';
import { readEnv } from './env';

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

export function createLogger(name = 'sluice', level = readEnv('SLUICE_LOG_LEVEL') ?? 'info'): Logger {
  const paths = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`]);
  return pino({ name, level, redact: paths }, pino.destination(2));
}
