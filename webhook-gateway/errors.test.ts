/**
 * Unit tests of the gateway's error mapping: the status of every code comes from the error catalogue and
 * is the status the gateway answered with before the catalogue (its own map, else 400 for `INVALID_*`,
 * else 500), so clients see no change.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_CATALOGUE, type ErrorCode, type UserErrorCode } from '../common/error-codes';
import { InvalidRequestError, TransientError, UserError } from '../common/errors';
import { HttpError, httpErrorOf } from './errors';

/** The gateway's statuses before the catalogue: HttpError's explicit ones, its map for domain codes, then the prefix rule. */
const EXPLICIT: Partial<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  INSUFFICIENT_SCOPE: 403,
  NOT_FOUND: 404,
  EVENT_NOT_FOUND: 404,
  INVALID_JSON: 400,
  PAYLOAD_TOO_LARGE: 413,
  INVALID_REQUEST: 400,
  NOT_READY: 503,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
  RUN_NOT_FOUND: 404,
  WEBHOOK_NOT_FOUND: 404,
  DELIVERY_NOT_FOUND: 404,
  WEBHOOK_DISABLED: 409,
  UNSAFE_WEBHOOK_URL: 422,
  REPEATED_SOURCE_PATH: 409,
  RUN_IN_PROGRESS: 409,
  RUN_NOT_RUNNING: 409,
  UNKNOWN_FLOW_VERSION: 422,
  // POST /v1/flows/diff (came with the catalogue).
  DIFF_FLOWS_DIFFER: 422,
  DIFF_SOURCES_DIFFER: 422,
  DIFF_ROWS_UNMATCHED: 422,
  // Came with the rejects routes (GET /v1/runs/:id/rejects), each with its own status from the start.
  REJECTS_NOT_READY: 409,
  REJECTS_GONE: 410,
  REJECTS_NOT_SUPPORTED: 422,
  // Came with the secrets routes (/v1/secrets), each with its own status from the start.
  ADMIN_REQUIRED: 403,
  SECRET_NOT_FOUND: 404,
  // Came with reprocessing (POST /v1/runs `rejects_of`).
  REJECTS_OF_CONFLICT: 409,
  REJECTS_OF_REPROCESSED: 409,
  REJECTS_OF_INVALID: 422,
  REJECTS_OF_UNSUPPORTED: 422,
  // Came with the console (GET /ui), with its own status from the start.
  CONSOLE_NOT_BUILT: 503,
};
const previousStatus = (code: ErrorCode) => EXPLICIT[code] ?? (code.startsWith('INVALID_') ? 400 : 500);

describe('httpErrorOf', () => {
  it('answers every user code with the status the gateway gave it before the catalogue, with code, message and details', () => {
    const codes = (Object.keys(ERROR_CATALOGUE) as ErrorCode[]).filter((code): code is UserErrorCode => ERROR_CATALOGUE[code].kind === 'user');
    assert.ok(codes.length > 90);
    for (const code of codes) {
      const { status, body, headers, internal } = httpErrorOf(new UserError(code, `message of ${code}`, { details: { code } }), 'req-1');
      assert.equal(status, previousStatus(code), code);
      assert.deepEqual(body, { error: { code, message: `message of ${code}`, details: { code } } });
      assert.deepEqual(headers, {});
      assert.equal(internal, false);
    }
  });

  it('gives every other code its previous status in the catalogue', () => {
    // UNREACHABLE is the CLI's and CONNECTION_LOST came after the catalogue (neither was a gateway answer before): transient, so 503.
    const newTransient: ErrorCode[] = ['UNREACHABLE', 'CONNECTION_LOST'];
    for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCode[]) assert.equal(ERROR_CATALOGUE[code].status, newTransient.includes(code) ? 503 : previousStatus(code), code);
  });

  it('keeps an HttpError\'s headers and details, and a subclass of UserError its code', () => {
    const challenge = { 'WWW-Authenticate': 'Bearer' };
    assert.deepEqual(httpErrorOf(new HttpError(401, 'UNAUTHENTICATED', 'the bearer token is not valid', {}, challenge), 'req-1'), {
      status: 401,
      body: { error: { code: 'UNAUTHENTICATED', message: 'the bearer token is not valid', details: {} } },
      headers: challenge,
      internal: false,
    });
    assert.equal(httpErrorOf(new InvalidRequestError('UNKNOWN_FLOW_VERSION', 'unknown flow version "movies:v9"'), 'req-1').status, 422);
    assert.equal(httpErrorOf(new TransientError('SERVICE_UNAVAILABLE', 'try again'), 'req-1').status, 503);
  });

  it('answers body-parser errors, unreachable services and anything else as before', () => {
    const parse = Object.assign(new Error('Unexpected token'), { type: 'entity.parse.failed', status: 400 });
    assert.equal(httpErrorOf(parse, 'req-1').status, 400);
    assert.equal(httpErrorOf(parse, 'req-1').body.error.code, 'INVALID_JSON');
    const large = Object.assign(new Error('too large'), { type: 'entity.too.large', status: 413, limit: 1024 });
    assert.deepEqual(httpErrorOf(large, 'req-1').body.error, { code: 'PAYLOAD_TOO_LARGE', message: 'request body is larger than 1024 bytes', details: {} });
    assert.equal(httpErrorOf(large, 'req-1').status, 413);
    const charset = Object.assign(new Error('unsupported charset "LATIN-9"'), { type: 'charset.unsupported', status: 415 });
    assert.deepEqual({ status: httpErrorOf(charset, 'req-1').status, code: httpErrorOf(charset, 'req-1').body.error.code }, { status: 415, code: 'INVALID_REQUEST' });
    const down = httpErrorOf(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7233'), { code: 'ECONNREFUSED' }), 'req-1');
    assert.deepEqual({ status: down.status, code: down.body.error.code, headers: down.headers, internal: down.internal }, { status: 503, code: 'SERVICE_UNAVAILABLE', headers: { 'Retry-After': '5' }, internal: true });
    const bug = httpErrorOf(new TypeError('x is undefined'), 'req-1');
    assert.deepEqual({ status: bug.status, code: bug.body.error.code, internal: bug.internal }, { status: 500, code: 'INTERNAL_ERROR', internal: true });
  });
});
