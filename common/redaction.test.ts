/**
 * Unit tests of redaction by value: a registered secret never reaches a log line, in any property or in the message,
 * raw, percent-encoded or JSON-escaped; short values are not registered.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from './logger';
import { MIN_REDACTED_LENGTH, redactSecretValues, registerSecretValue } from './redaction';

describe('redaction by value', () => {
  it('replaces registered values, raw and encoded, anywhere in a text', () => {
    registerSecretValue('p@ss "w0rd"/x');
    assert.equal(redactSecretValues('login p@ss "w0rd"/x failed'), 'login [Redacted] failed');
    assert.equal(redactSecretValues('url postgres://a:p%40ss%20%22w0rd%22%2Fx@h'), 'url postgres://a:[Redacted]@h');
    assert.equal(redactSecretValues('{"v":"p@ss \\"w0rd\\"/x"}'), '{"v":"[Redacted]"}');
    assert.equal(redactSecretValues('nothing secret'), 'nothing secret');
  });

  it('does not register values shorter than the minimum', () => {
    registerSecretValue('a'.repeat(MIN_REDACTED_LENGTH - 1));
    assert.equal(redactSecretValues('banana'), 'banana');
  });

  it("keeps registered values out of the logger's lines, whatever the property", () => {
    registerSecretValue('tok-9f8e7d6c5b4a');
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger('redaction-test', 'info', stream);
    log.info({ note: 'token tok-9f8e7d6c5b4a', nested: { deep: ['tok-9f8e7d6c5b4a'] } }, 'saw tok-9f8e7d6c5b4a');
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as { note: string; nested: { deep: string[] }; msg: string };
    assert.equal(line.note, 'token [Redacted]');
    assert.deepEqual(line.nested.deep, ['[Redacted]']);
    assert.equal(line.msg, 'saw [Redacted]');
    assert.ok(!lines[0]!.includes('tok-9f8e7d6c5b4a'));
  });
});
