/**
 * HTTP errors of the gateway: every error response is `{ "error": { "code", "message", "details" } }`.
 *
 * Errors are mapped to status codes in exactly one place, {@link httpErrorOf}, which reads each code's
 * status from the error catalogue (common/error-codes.ts; the table is docs/errors.md):
 *
 * | error | status |
 * |---|---|
 * | request body or query string fails validation (`VALIDATION_FAILED`, `INVALID_JSON`) | 400 |
 * | `InvalidRequestError` `INVALID_*` (`INVALID_FLOW_VERSION`, `INVALID_SOURCE_PATH`, `INVALID_RUN_METADATA`, `INVALID_STATUS`, `INVALID_CURSOR`) — the request itself is malformed | 400 |
 * | no or unknown bearer token (`UNAUTHENTICATED`) | 401 |
 * | token lacks the route's scope (`INSUFFICIENT_SCOPE`); a member writing an org-level secret (`ADMIN_REQUIRED`) | 403 |
 * | `RUN_NOT_FOUND`, `EVENT_NOT_FOUND`, `WEBHOOK_NOT_FOUND`, `DELIVERY_NOT_FOUND`, `SECRET_NOT_FOUND`, no such route (`NOT_FOUND`) | 404 |
 * | `REPEATED_SOURCE_PATH`, `RUN_IN_PROGRESS`, `RUN_NOT_RUNNING`, `WEBHOOK_DISABLED`, `REJECTS_NOT_READY`, `REJECTS_OF_REPROCESSED`, `REJECTS_OF_CONFLICT` — conflicts with the current state | 409 |
 * | `REJECTS_GONE` — the run's rejects table or object was dropped or overwritten | 410 |
 * | body too large (`PAYLOAD_TOO_LARGE`) | 413 |
 * | `UNKNOWN_FLOW_VERSION` — well-formed, but names a version that does not exist; `UNSAFE_WEBHOOK_URL` — a URL the SSRF guard refuses; `REJECTS_NOT_SUPPORTED` — a target kind whose rejects cannot be read back; `REJECTS_OF_INVALID` / `REJECTS_OF_UNSUPPORTED` — a run whose rejects cannot be reprocessed | 422 |
 * | any other `UserError` (e.g. `NO_DATABASE`: the gateway is misconfigured) | 500, with its code and message |
 * | Temporal or Postgres unreachable (`SERVICE_UNAVAILABLE`) | 503 with `Retry-After`; the cause is only logged |
 * | anything unexpected (`INTERNAL_ERROR`) | 500, a generic message and the request id; the cause is only logged |
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { ERROR_CATALOGUE, type ErrorCode, type HttpStatusOf, type UserErrorCode } from '../common/error-codes';
import { SluiceError, UserError } from '../common/errors';

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

/**
 * Thrown by gateway code for a request the client must fix (bad token, no route, invalid body); `code` is
 * stable, and `status` must be the catalogue's status of `code` (the type checks it: `new HttpError(401,
 * 'UNAUTHENTICATED', …)` compiles, `new HttpError(400, 'UNAUTHENTICATED', …)` does not).
 */
export class HttpError<C extends UserErrorCode = UserErrorCode> extends UserError {
  override readonly name = 'HttpError';
  declare readonly code: C;
  declare readonly details: Record<string, unknown>;
  constructor(
    readonly status: HttpStatusOf<C>,
    code: C,
    message: string,
    details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message, { details });
  }
}

/** One validation problem: where (`run_metadata.ticket`, `(body)`) and what. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** A 400 `VALIDATION_FAILED` listing every problem of the request body, query string or path, each with its path. */
export function validationError(where: 'body' | 'query' | 'path', error: z.ZodError): HttpError {
  const issues: ValidationIssue[] = error.issues.map((issue) => ({
    path: issue.path.length > 0 ? issue.path.map(String).join('.') : `(${where})`,
    message: issue.message,
  }));
  const what = { body: 'request body', query: 'query string', path: 'path parameters' }[where];
  return new HttpError(400, 'VALIDATION_FAILED', `invalid ${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
}

/** The status and body for anything a handler threw; `internal` is true when the cause must only be logged. */
export function httpErrorOf(caught: unknown, requestId: string): { status: number; body: ErrorBody; headers: Record<string, string>; internal: boolean } {
  if (caught instanceof SluiceError) {
    const headers = caught instanceof HttpError ? caught.headers : {};
    return { status: ERROR_CATALOGUE[caught.code].status, body: errorBody(caught.code, caught.message, caught.details ?? {}), headers, internal: false };
  }
  if (isBodyParserError(caught)) {
    if (caught.type === 'entity.parse.failed') return { status: ERROR_CATALOGUE.INVALID_JSON.status, body: errorBody('INVALID_JSON', `request body is not valid JSON: ${caught.message}`), headers: {}, internal: false };
    if (caught.type === 'entity.too.large') return { status: ERROR_CATALOGUE.PAYLOAD_TOO_LARGE.status, body: errorBody('PAYLOAD_TOO_LARGE', `request body is larger than ${caught.limit} bytes`), headers: {}, internal: false };
    // INVALID_REQUEST keeps the parser's own 4xx status (415 for an unsupported encoding, …).
    if (caught.status >= 400 && caught.status < 500) return { status: caught.status, body: errorBody('INVALID_REQUEST', caught.message), headers: {}, internal: false };
  }
  if (isUnavailable(caught)) {
    return {
      status: ERROR_CATALOGUE.SERVICE_UNAVAILABLE.status,
      body: errorBody('SERVICE_UNAVAILABLE', `Temporal or the metadata database is unreachable; try again later (GET /readyz says which; request id ${requestId})`, { request_id: requestId }),
      headers: { 'Retry-After': '5' },
      internal: true,
    };
  }
  return {
    status: ERROR_CATALOGUE.INTERNAL_ERROR.status,
    body: errorBody('INTERNAL_ERROR', `the gateway failed unexpectedly; the log has the cause under request id ${requestId}`, { request_id: requestId }),
    headers: {},
    internal: true,
  };
}

/** The JSON body of an error response. */
export function errorBody(code: ErrorCode, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { code, message, details } };
}

/** True when the error (or a cause) says a service could not be reached: gRPC UNAVAILABLE / DEADLINE_EXCEEDED, a refused or failed connection. */
function isUnavailable(caught: unknown): boolean {
  for (let error = caught, depth = 0; error instanceof Error && depth < 5; error = error.cause, depth += 1) {
    const code = (error as { code?: unknown }).code;
    if (code === 14 || code === 4 || (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|57P01|57P03)$/.test(code))) return true;
    if (/\b(14 UNAVAILABLE|4 DEADLINE_EXCEEDED|ECONNREFUSED)\b/.test(error.message)) return true;
  }
  return false;
}

interface BodyParserError extends Error {
  type: string;
  status: number;
  limit?: number;
}

function isBodyParserError(caught: unknown): caught is BodyParserError {
  return caught instanceof Error && typeof (caught as Partial<BodyParserError>).type === 'string' && typeof (caught as Partial<BodyParserError>).status === 'number';
}

/** The last middleware: writes the error body; unexpected errors are logged with their stack and never sent. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (caught, req, res, _next) => {
    const requestId = String(res.locals.requestId ?? '');
    const { status, body, headers, internal } = httpErrorOf(caught, requestId);
    if (internal) logger.error({ err: caught, requestId, method: req.method, path: req.path }, 'unexpected error in a gateway request');
    if (res.headersSent) return;
    res.status(status).set(headers).json(body);
  };
}

/** 404 for any path no route matched. */
export const notFound: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'NOT_FOUND', `no route ${req.method} ${req.path}; see GET /v1/openapi.json`));
};
