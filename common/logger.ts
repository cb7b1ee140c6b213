/**
 * The process logger (pino, JSON on stderr). `SLUICE_LOG_LEVEL` sets the level (@default info;
 * `warn` under tests). Credentials are never logged: connector configs are not passed to it.
 */
import pino, { type Logger } from 'pino';

export function createLogger(name = 'sluice', level = process.env.SLUICE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: ['*.password', '*.url', '*.databaseUrl', '*.connectionString'] }, pino.destination(2));
}
