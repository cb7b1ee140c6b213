/**
 * Unit tests of the numeric option parsers: the numbers they accept, and commander's InvalidArgumentError
 * (exit code 2, exact message) for everything else — also through a commander program, as a user meets it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command, InvalidArgumentError } from 'commander';
import { portNumber, REFUSED_EXIT_CODE, seconds, wholeNumber } from './number-options';

function refused(parse: () => unknown, message: string): void {
  assert.throws(parse, (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(error)}`);
    assert.equal(error.code, 'commander.invalidArgument');
    assert.equal(error.exitCode, 2);
    assert.equal(error.message, message);
    return true;
  });
}

describe('wholeNumber', () => {
  it('accepts whole numbers in range', () => {
    assert.equal(wholeNumber({ min: 1, max: 500 })('1'), 1);
    assert.equal(wholeNumber({ min: 1, max: 500 })('500'), 500);
    assert.equal(wholeNumber({ min: 1 })('123456'), 123456);
  });

  it('refuses text, fractions, blanks and numbers out of range', () => {
    for (const bad of ['abc', '2.5', '', ' ', '0', '501', '1e3', 'NaN']) refused(() => wholeNumber({ min: 1, max: 500 })(bad), 'expected a whole number from 1 to 500');
    refused(() => wholeNumber({ min: 1 })('-3'), 'expected a whole number, at least 1');
  });
});

describe('portNumber', () => {
  it('accepts 0–65535', () => {
    assert.equal(portNumber('0'), 0);
    assert.equal(portNumber('8700'), 8700);
    assert.equal(portNumber('65535'), 65535);
  });

  it('refuses anything else', () => {
    for (const bad of ['65536', '-1', 'http', '80.5', '']) refused(() => portNumber(bad), 'expected a port number 0–65535');
  });
});

describe('seconds', () => {
  it('accepts fractions within the bounds', () => {
    assert.equal(seconds({ above: 0 })('0.5'), 0.5);
    assert.equal(seconds({ atLeast: 1 })('1'), 1);
    assert.equal(seconds({ above: 0, atMost: 600 })('600'), 600);
  });

  it('refuses text, infinities and values outside the bounds', () => {
    for (const bad of ['abc', '0', '-1', 'Infinity', '']) refused(() => seconds({ above: 0 })(bad), 'expected a number of seconds above 0');
    refused(() => seconds({ atLeast: 1 })('0.5'), 'expected a number of seconds, at least 1');
    refused(() => seconds({ above: 0, atMost: 600 })('601'), 'expected a number of seconds above 0 and at most 600');
  });
});

describe('a commander option with a parser', () => {
  it('fails the parse with the option named and exit code 2', () => {
    const program = new Command('sluice').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    program.option('--timeout <seconds>', 'give up after this many seconds', seconds({ above: 0 }));
    assert.throws(
      () => program.parse(['--timeout', 'abc'], { from: 'user' }),
      (error: unknown) => {
        assert.ok(error instanceof Error && 'exitCode' in error);
        assert.equal(error.exitCode, REFUSED_EXIT_CODE);
        assert.equal(error.message, "error: option '--timeout <seconds>' argument 'abc' is invalid. expected a number of seconds above 0");
        return true;
      },
    );
    assert.equal(new Command('sluice').option('--timeout <seconds>', '', seconds({ above: 0 })).parse(['--timeout', '2.5'], { from: 'user' }).opts().timeout, 2.5);
  });
});
