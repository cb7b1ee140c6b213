/**
 * Parsers of the CLI's numeric options, for commander's `.option(flags, description, parser)`. A value that is
 * not a number in range throws commander's `InvalidArgumentError`; commander prints it with the option's name
 * and exits 2, the CLI's code for a refused request (README, cli/main.ts):
 *
 * ```text
 * $ sluice run movies:v1 --source data/movies.json --wait --timeout abc
 * error: option '--timeout <seconds>' argument 'abc' is invalid. expected a number of seconds above 0
 * ```
 *
 * @example
 * ```ts
 * command.option('--limit <n>', 'at most n (1–500)', wholeNumber({ min: 1, max: 500 }), 20);
 * command.option('--port <port>', 'port', portNumber);
 * ```
 */
import { InvalidArgumentError } from 'commander';

/** The exit code of a refused request (a bad option, config or flow spec), the code `main` returns for a UserError. */
export const REFUSED_EXIT_CODE = 2;

/** Commander's error for a bad option value, exiting with {@link REFUSED_EXIT_CODE} instead of commander's 1. */
function refused(message: string): InvalidArgumentError {
  const error = new InvalidArgumentError(message);
  error.exitCode = REFUSED_EXIT_CODE;
  return error;
}

/** The number written in `text`; NaN for anything else, including blank text (which `Number` reads as 0). */
function numberIn(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}

/**
 * A parser of a whole number in `[min, max]`.
 * @param range.max @default Number.MAX_SAFE_INTEGER
 * @throws InvalidArgumentError (exit code 2) from the parser, for anything else.
 */
export function wholeNumber(range: { min: number; max?: number }): (text: string) => number {
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const expected = range.max === undefined ? `expected a whole number, at least ${range.min}` : `expected a whole number from ${range.min} to ${max}`;
  return (text) => {
    const value = numberIn(text);
    if (!Number.isInteger(value) || value < range.min || value > max) throw refused(expected);
    return value;
  };
}

/**
 * Parses a TCP port, 0–65535 (0: any free port, where the server allows it).
 * @throws InvalidArgumentError (exit code 2) for anything else.
 */
export function portNumber(text: string): number {
  const value = numberIn(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw refused('expected a port number 0–65535');
  return value;
}

/**
 * A parser of a duration in seconds (fractions allowed): above `above`, or at least `atLeast`; at most `atMost`.
 * @throws InvalidArgumentError (exit code 2) from the parser, for anything else.
 */
export function seconds(range: { above: number; atMost?: number } | { atLeast: number; atMost?: number }): (text: string) => number {
  const low = 'above' in range ? ` above ${range.above}` : `, at least ${range.atLeast}`;
  const expected = `expected a number of seconds${low}${range.atMost === undefined ? '' : ` and at most ${range.atMost}`}`;
  return (text) => {
    const value = numberIn(text);
    const inRange = 'above' in range ? value > range.above : value >= range.atLeast;
    if (!Number.isFinite(value) || !inRange || (range.atMost !== undefined && value > range.atMost)) throw refused(expected);
    return value;
  };
}
