/**
 * What every connector's `check()` shares: a timeout, the reading of network errors, and the masking of
 * secrets. A check never throws for a failure: it returns a {@link CheckResult} saying what failed and
 * what to fix (`sluice test-connections` prints it as is).
 *
 * @example
 * ```ts
 * async check(options: CheckOptions = {}): Promise<CheckResult> {
 *   return probe(options, {
 *     body: async (signal) => ({ reason: 'connected, SELECT 1 ok' }),
 *     explain: (error) => networkReason(errorCode(error), 'db:5432', 'PostgreSQL', 'connectors.x.url') ?? messageOf(error),
 *     onTimeout: 'a firewall, or the wrong host or port? check connectors.x.url',
 *   });
 * }
 * ```
 */
import type { ErrorCode } from '../common/error-codes';
import { SluiceError, UserError } from '../common/errors';
import { maskSecret, MASK } from '../config/secrets';
import type { CheckOptions, CheckResult } from './connector';

/** Default time a check may take, in milliseconds. */
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

/** What a check's body verified: one line, and facts found on the way (server version, buckets…). */
export interface Verified {
  reason: string;
  detail?: Record<string, unknown>;
}

/** An error whose message is already the check's reason (what failed, what to fix); `code` is the stable error code, when there is one. */
export class CheckFailure extends Error {
  constructor(
    message: string,
    readonly code?: ErrorCode,
  ) {
    super(message);
    this.name = 'CheckFailure';
  }
}

const NETWORK_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'];

/**
 * The error code of a Node, pg or AWS error (`ECONNREFUSED`, `28P01`, …), looking into `errors[]` and `cause`; a
 * wrapper's code (nodemailer's `ESOCKET`) gives way to the network code its message names.
 */
export function errorCode(error: unknown): string | undefined {
  const code = ownErrorCode(error);
  if (code && NETWORK_CODES.includes(code)) return code;
  const named = NETWORK_CODES.find((c) => new RegExp(`\\b${c}\\b`).test(messageOf(error)));
  return named ?? code;
}

function ownErrorCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const shaped = current as { code?: unknown; errors?: unknown[]; cause?: unknown };
    if (typeof shaped.code === 'string' && shaped.code !== '') return shaped.code;
    const inner = Array.isArray(shaped.errors) ? shaped.errors.find((e) => e && typeof e === 'object' && typeof (e as { code?: unknown }).code === 'string') : undefined;
    current = inner ?? shaped.cause;
  }
  return undefined;
}

/** An error's message; an AggregateError's first inner message when its own is empty. */
export function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (message) return message;
  const inner = (error as { errors?: unknown[] }).errors?.[0];
  return inner instanceof Error ? inner.message : 'unknown error';
}

/**
 * Network errors every kind reads the same way; null for others.
 * @param where `host:port` (or the endpoint URL); @param service what should answer there; @param fix the config field(s) to check.
 */
export function networkReason(code: string | undefined, where: string, service: string, fix: string): string | null {
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused at ${where} — is ${service} running there? check ${fix}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host of ${where} not found (DNS ${code}) — check ${fix}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where} is unreachable (${code}) — check the host in ${fix} and the network`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `${where} closed the connection (${code}) — is it really ${service}, on the right port (TLS vs plain)? check ${fix}`;
    case 'ETIMEDOUT':
      return `no answer from ${where} (ETIMEDOUT) — a firewall, or the wrong host or port? check ${fix}`;
    default:
      return null;
  }
}

/** Replaces every known secret (`secrets`, 3 characters or more) and every URL password in a text with `****`. */
export function scrubSecrets(text: string, secrets: string[]): string {
  let out = text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s/@:]+:[^\s/@]+@[^\s"')]*/gi, (url) => maskSecret(url, 'url'));
  for (const secret of secrets) if (secret.length >= 3) out = out.split(secret).join(MASK);
  return out;
}

/** {@link scrubSecrets} for a check's `detail` (every string in it). */
export function scrubDetail(detail: Record<string, unknown> | undefined, secrets: string[]): Record<string, unknown> | undefined {
  return detail ? (JSON.parse(scrubSecrets(JSON.stringify(detail), secrets)) as Record<string, unknown>) : undefined;
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;

class CheckTimeout extends Error {}

/** How {@link probe} runs a check. */
export interface ProbeSpec {
  /** The check; `signal` is aborted at the timeout (or by the caller), so it closes what it opened. */
  body: (signal: AbortSignal) => Promise<Verified>;
  /** The reason for an error the body threw that is not a {@link CheckFailure} (those are their own reason). */
  explain: (error: unknown) => string;
  /** What to check when there was no answer in time: `a firewall, or the wrong host or port? check connectors.x.url`. */
  onTimeout: string;
  /** Secret values to mask in the reason and detail (URL passwords are always masked). */
  secrets?: string[];
}

/**
 * Runs a check's body under `options.timeoutMs` (@default {@link DEFAULT_CHECK_TIMEOUT_MS}) and `options.signal`.
 * Never rejects: a failure is `{ ok: false, reason }` — the body's {@link CheckFailure} or UserError message, else
 * `explain(error)`; a timeout is `no answer within N s — <onTimeout>`. The error's stable code (a UserError's, a
 * CheckFailure's, a TransientError's) is kept as `code`.
 */
export async function probe(options: CheckOptions, spec: ProbeSpec): Promise<CheckResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const controller = new AbortController();
  const abort = () => controller.abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new CheckTimeout());
      controller.abort();
    }, timeoutMs);
  });
  const secrets = spec.secrets ?? [];
  try {
    const verified = await Promise.race([spec.body(controller.signal), timeout]);
    const detail = scrubDetail(verified.detail, secrets);
    return { ok: true, reason: scrubSecrets(verified.reason, secrets), ...(detail ? { detail } : {}) };
  } catch (error) {
    if (error instanceof CheckTimeout || controller.signal.aborted) {
      return { ok: false, reason: `no answer within ${seconds(timeoutMs)} — ${spec.onTimeout}` };
    }
    const worded = error instanceof CheckFailure || error instanceof UserError;
    const reason = worded ? error.message : spec.explain(error);
    const code = error instanceof CheckFailure || error instanceof SluiceError ? error.code : undefined;
    return { ok: false, reason: scrubSecrets(reason, secrets), ...(code ? { code } : {}) };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', abort);
  }
}
