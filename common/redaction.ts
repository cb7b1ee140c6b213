/**
 * Redaction by value: every secret value resolved in this process (a `${secret:NAME}` of the secrets store, a
 * custom map's `ctx.secrets`) is registered here, and the logger ({@link createLogger}, common/logger.ts) and the
 * activity boundary replace each registered value, wherever it appears in a log line or an error message, by
 * `[Redacted]` — not only under credential-like property names.
 *
 * Values shorter than {@link MIN_REDACTED_LENGTH} characters are not registered (replacing every `a` of a log
 * would garble it and protect nothing); their percent-encoded and JSON-escaped forms are registered too.
 *
 * @example
 * ```ts
 * registerSecretValue('s3cret-pw');
 * redactSecretValues('login with s3cret-pw failed'); // 'login with [Redacted] failed'
 * ```
 */

/** What a redacted value is replaced by (pino's own word for redacted paths). */
export const REDACTED = '[Redacted]';
/** Shorter values are not registered. */
export const MIN_REDACTED_LENGTH = 4;
/** At most this many distinct values are kept (the oldest are forgotten first). */
const MAX_VALUES = 10_000;

const values = new Set<string>();
let pattern: RegExp | null = null;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Registers a resolved secret value (and its encoded forms) so logs and error messages never show it. */
export function registerSecretValue(value: string): void {
  if (value.length < MIN_REDACTED_LENGTH) return;
  const forms = new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]);
  let added = false;
  for (const form of forms) {
    if (values.has(form)) continue;
    values.add(form);
    added = true;
  }
  if (!added) return;
  while (values.size > MAX_VALUES) values.delete(values.values().next().value as string);
  // Longest first, so a value containing another is replaced whole.
  pattern = new RegExp([...values].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g');
}

/** `text` with every registered secret value replaced by {@link REDACTED}. */
export function redactSecretValues(text: string): string {
  if (pattern === null || text.length === 0) return text;
  return text.replace(pattern, REDACTED);
}

/** How many values are registered (for tests and diagnostics; never the values). */
export function registeredSecretCount(): number {
  return values.size;
}
