/**
 * Unit tests of the error catalogue's shape, and of the classes that carry its codes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CATALOGUE, errorSpec, isErrorCode, type ErrorCode } from './error-codes';
import { ConfigError, FlowSpecError, SluiceError, TransientError, UserError } from './errors';

/** Compiled to dist/common/, so the project root is two folders up. */
const PROJECT_DIR = path.resolve(__dirname, '..', '..');

describe('ERROR_CATALOGUE', () => {
  it('declares only codes the code base uses (thrown or matched outside the catalogue and the tests)', () => {
    const files = execFileSync('git', ['ls-files', '*.ts'], { cwd: PROJECT_DIR, encoding: 'utf8' })
      .split('\n')
      .filter((file) => file !== '' && file !== 'common/error-codes.ts' && !file.endsWith('.test.ts'));
    const source = files.map((file) => readFileSync(path.join(PROJECT_DIR, file), 'utf8')).join('\n');
    const unused = (Object.keys(ERROR_CATALOGUE) as ErrorCode[]).filter((code) => !source.includes(`'${code}'`) && !source.includes(`"${code}"`));
    assert.deepEqual(unused, [], 'codes declared in common/error-codes.ts but used nowhere: remove them, and run npm run docs:errors');
  });

  it('declares each code in SCREAMING_SNAKE_CASE with a kind, an HTTP error status and a one-line description', () => {
    for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCode[]) {
      const { kind, status, description } = ERROR_CATALOGUE[code];
      assert.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      assert.ok(['user', 'transient', 'internal'].includes(kind), code);
      assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, code);
      assert.ok(description.length > 0 && !description.includes('\n') && !description.endsWith('.'), code);
    }
  });

  it('answers transient codes with 503 and internal ones with 500', () => {
    for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCode[]) {
      const { kind, status } = ERROR_CATALOGUE[code];
      if (kind === 'transient') assert.equal(status, 503, code);
      if (kind === 'internal') assert.equal(status, 500, code);
    }
  });

  it('tells declared codes from other strings', () => {
    assert.equal(isErrorCode('RUN_NOT_FOUND'), true);
    assert.equal(isErrorCode('RUN_NOT_FUOND'), false);
    assert.equal(isErrorCode('toString'), false);
    assert.equal(isErrorCode(404), false);
    assert.deepEqual(errorSpec('UNKNOWN_FLOW_VERSION'), { kind: 'user', status: 422, description: 'a well-formed flow version id that names no published version' });
  });
});

describe('SluiceError', () => {
  it('has a user-fixable branch and a transient branch, each with its name, code, details and cause', () => {
    const cause = new Error('ENOENT');
    const config = new ConfigError('CONFIG_NOT_FOUND', 'config file x does not exist', { cause, details: { file: 'x' } });
    assert.ok(config instanceof UserError && config instanceof SluiceError && config instanceof Error);
    assert.deepEqual({ name: config.name, code: config.code, message: config.message, details: config.details, cause: config.cause }, {
      name: 'ConfigError',
      code: 'CONFIG_NOT_FOUND',
      message: 'config file x does not exist',
      details: { file: 'x' },
      cause,
    });
    const transient = new TransientError('SERVICE_UNAVAILABLE', 'the metadata database is unreachable', { cause });
    assert.ok(transient instanceof SluiceError && !(transient instanceof UserError));
    assert.deepEqual({ name: transient.name, code: transient.code, cause: transient.cause, details: transient.details }, { name: 'TransientError', code: 'SERVICE_UNAVAILABLE', cause, details: undefined });
    assert.equal(ERROR_CATALOGUE[config.code].kind, 'user');
    assert.equal(ERROR_CATALOGUE[transient.code].kind, 'transient');
  });

  it('keeps the fixed codes of its subclasses', () => {
    const spec = new FlowSpecError('flow movies is invalid', ['fields.year.type: expected one of …']);
    assert.deepEqual({ name: spec.name, code: spec.code, issues: spec.issues }, { name: 'FlowSpecError', code: 'INVALID_FLOW_SPEC', issues: ['fields.year.type: expected one of …'] });
    assert.equal(spec.message, 'flow movies is invalid\n  - fields.year.type: expected one of …');
  });
});
