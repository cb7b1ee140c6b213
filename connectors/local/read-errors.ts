/**
 * Source read errors in Sluice's words.
 *
 * When Polars cannot read a source file, its message names reader options that are not flow options
 * (`truncate_ragged_lines`, `infer_schema_length`, `ignore_errors`), parser internals
 * (`ExpectedTrue at character 0`, `InternalError(TapeError)`) and rarely a line. {@link explainReadError}
 * turns it into one `UNREADABLE_SOURCE` {@link SourceError} saying what is wrong, where (the file's name as
 * the connector knows it, the 1-based line and column, the 0-based byte offset when known) and what to change
 * in the file or the flow. Where Polars gives no position, the file is scanned (streamed, only on this error
 * path) to find the first offending line. Polars' own text is kept in `details.polars` for debugging.
 */
import { isUtf8 } from 'node:buffer';
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { SourceError } from '../../common/errors';
import type { SourceFormat } from '../../flows/flow-spec';

/** How the CSV was read: the flow's `source.csv` options, resolved. */
export interface CsvReadOptions {
  delimiter: string;
  quote: string;
  hasHeader: boolean;
}

/** What {@link explainReadError} needs to know about the failed read. */
export interface ReadErrorContext {
  /** Absolute path of the file that was read. */
  file: string;
  /** The file's name in messages: relative to the connector's root, or the object's URI. */
  name: string;
  format: SourceFormat;
  /** Only for `csv`. */
  csv?: CsvReadOptions;
}

/** A place in a file: 1-based line and column (in bytes), 0-based byte offset. */
interface Place {
  line: number;
  column: number;
  byte: number;
}

/** The first structural problem of a CSV file, as found by {@link scanCsv}. */
type CsvProblem =
  | { kind: 'more-fields'; at: Place; fields: number; expected: number }
  | { kind: 'unclosed-quote'; at: Place }
  | { kind: 'text-after-quote'; at: Place; quoteAt: Place };

/** Polars' message is cut to this many characters in `details.polars` (it can quote the rest of the file). */
const POLARS_DETAIL_CHARS = 500;

const NEWLINE = 0x0a;
const CR = 0x0d;

/** `line L, column C (byte B)`. */
function where(at: Place): string {
  return `line ${at.line}, column ${at.column} (byte ${at.byte})`;
}

/**
 * Finds the first record with more fields than the first one, the first quote never closed, or the
 * first quoted field followed by other text, with the quoting rules Polars reads CSV with (a quote opens a
 * field only at its start; `""` inside a quoted field is one quote). Streams the file.
 * @returns the first problem, or undefined when the file's structure is sound.
 */
async function scanCsv(file: string, options: CsvReadOptions): Promise<CsvProblem | undefined> {
  const delimiter = Buffer.from(options.delimiter)[0]!;
  const quote = Buffer.from(options.quote)[0]!;
  let byte = 0;
  let line = 1;
  let lineStart = 0;
  let recordStart: Place = { line: 1, column: 1, byte: 0 };
  let fields = 1;
  let empty = true;
  let atFieldStart = true;
  let inQuotes = false;
  let quoteSeen = false; // a quote inside a quoted field: closes it, unless the next byte is a quote too
  let afterQuote = false;
  let quoteAt: Place = recordStart;
  let expected: number | undefined;
  const place = (): Place => ({ line, column: byte - lineStart + 1, byte });
  const endRecord = (): CsvProblem | undefined => {
    let problem: CsvProblem | undefined;
    if (!empty) {
      if (expected === undefined) expected = fields;
      else if (fields > expected) problem = { kind: 'more-fields', at: recordStart, fields, expected };
    }
    fields = 1;
    empty = true;
    atFieldStart = true;
    afterQuote = false;
    return problem;
  };
  for await (const chunk of createReadStream(file)) {
    for (const b of chunk as Buffer) {
      if (empty && b !== NEWLINE && b !== CR) {
        empty = false;
        recordStart = place();
      }
      if (quoteSeen) {
        quoteSeen = false;
        if (b === quote) {
          byte++;
          continue;
        }
        inQuotes = false;
        afterQuote = true;
      }
      if (inQuotes) {
        if (b === quote) quoteSeen = true;
        else if (b === NEWLINE) {
          line++;
          lineStart = byte + 1;
        }
      } else if (b === NEWLINE) {
        const problem = endRecord();
        if (problem) return problem;
        line++;
        lineStart = byte + 1;
      } else if (b === delimiter) {
        fields++;
        atFieldStart = true;
        afterQuote = false;
      } else if (afterQuote && b !== CR) {
        return { kind: 'text-after-quote', at: place(), quoteAt };
      } else if (b === quote && atFieldStart) {
        inQuotes = true;
        quoteAt = place();
        atFieldStart = false;
      } else if (b !== CR) {
        atFieldStart = false;
      }
      byte++;
    }
  }
  if (inQuotes && !quoteSeen) return { kind: 'unclosed-quote', at: quoteAt };
  return endRecord();
}

/** The first line that is not valid UTF-8, streamed. */
async function firstInvalidUtf8Line(file: string): Promise<Place | undefined> {
  let line = 1;
  let byte = 0;
  let carry = Buffer.alloc(0);
  for await (const chunk of createReadStream(file)) {
    let data = Buffer.concat([carry, chunk as Buffer]);
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl !== -1; nl = data.indexOf(NEWLINE, start)) {
      if (!isUtf8(data.subarray(start, nl))) return { line, column: 1, byte: byte + start };
      line++;
      start = nl + 1;
    }
    byte += start;
    data = data.subarray(start);
    carry = data;
  }
  return carry.length > 0 && !isUtf8(carry) ? { line, column: 1, byte } : undefined;
}

/** The place of a byte offset (streamed), and the first non-blank byte at or after `from`, if any. */
async function placeOf(file: string, offset: number, from = offset): Promise<{ at: Place; next?: Place }> {
  let line = 1;
  let lineStart = 0;
  let byte = 0;
  let at: Place | undefined;
  for await (const chunk of createReadStream(file)) {
    for (const b of chunk as Buffer) {
      if (byte === offset) at = { line, column: byte - lineStart + 1, byte };
      if (byte >= from && b !== 0x20 && b !== 0x09 && b !== NEWLINE && b !== CR) {
        return { at: at ?? { line, column: 1, byte: offset }, next: { line, column: byte - lineStart + 1, byte } };
      }
      if (b === NEWLINE) {
        line++;
        lineStart = byte + 1;
      }
      byte++;
    }
  }
  return { at: at ?? { line, column: byte - lineStart + 1, byte } };
}

/** simd-json's error kinds (Polars' JSON reader), in Sluice's words. */
const JSON_EXPECTED: Record<string, string> = {
  ExpectedTrue: 'expected a value (true/false/null, a number, a string, an object or an array)',
  ExpectedFalse: 'expected a value (true/false/null, a number, a string, an object or an array)',
  ExpectedNull: 'expected a value (true/false/null, a number, a string, an object or an array)',
  ExpectedArrayContent: "expected ',' or ']' after an array element",
  ExpectedArrayComma: "expected ',' or ']' after an array element",
  ExpectedObjectContent: "expected ',' or '}' after a value in an object",
  ExpectedObjectComma: "expected ',' or '}' after a value in an object",
  ExpectedObjectKey: 'expected a key in double quotes (is there a comma before a closing brace?)',
  ExpectedObjectColon: "expected ':' after a key",
  InvalidNumber: 'not a valid number',
};

/** A JSON array file's error, from simd-json's kind and byte offset. */
async function explainJson(context: ReadErrorContext, polars: string): Promise<string | undefined> {
  const { name } = context;
  if (polars.includes('can only deserialize json objects')) {
    return `${name} is not a JSON array of objects: each element must be an object ({"column": value, …}); for one object per line, set source.format to ndjson`;
  }
  const match = /^(\w+(?:\(\w+\))?) at character (\d+)/.exec(polars);
  if (!match) return undefined;
  const kind = match[1]!;
  const offset = Number(match[2]);
  if (kind === 'InvalidEscape') return `${name} is not valid JSON: a string has an invalid escape (a backslash must be followed by one of " \\ / b f n r t u)`;
  const { at, next } = await placeOf(context.file, offset, offset + 1);
  const words = JSON_EXPECTED[kind];
  if (words) return `${name} is not valid JSON at ${where(at)}: ${words}`;
  if (kind === 'InternalError(TapeError)' && next) {
    return `${name} is not valid JSON at ${where(next)}: text after the end of the document; a JSON source holds one array (or object) and nothing after it`;
  }
  if (!next && (kind === 'Syntax' || kind === 'Eof')) {
    return `${name} is not valid JSON: the document ends at ${where(at)} before all its arrays and objects are closed; is the file truncated?`;
  }
  return `${name} is not valid JSON at ${where(at)}: check the brackets, commas and quotes up to there (a comma before ']' or '}' is not allowed)`;
}

/** The first NDJSON line that is not one JSON object, found by parsing every line (streamed). */
async function explainNdjson(context: ReadErrorContext): Promise<string | undefined> {
  const lines = createInterface({ input: createReadStream(context.file), crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of lines) {
      line++;
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return `${context.name} line ${line} is not valid JSON; NDJSON needs one complete JSON object on each line (is an object split over lines, or the line cut short?)`;
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        const what = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
        return `${context.name} line ${line} holds ${what}; NDJSON needs one JSON object ({"column": value, …}) on each line`;
      }
    }
  } finally {
    lines.close();
  }
  return undefined;
}

/** A CSV file's error, located by scanning the file. */
async function explainCsv(context: ReadErrorContext, polars: string): Promise<string | undefined> {
  const { name, file } = context;
  const csv = context.csv ?? { delimiter: ',', quote: '"', hasHeader: true };
  if (/utf-?8/i.test(polars)) {
    const at = await firstInvalidUtf8Line(file);
    const place = at ? ` at line ${at.line} (byte ${at.byte})` : '';
    return `${name} is not valid UTF-8${place}; save the file as UTF-8, or set source.csv.encoding to utf8-lossy to read invalid bytes as \uFFFD`;
  }
  const problem = await scanCsv(file, csv);
  if (!problem) return undefined;
  const q = csv.quote;
  switch (problem.kind) {
    case 'more-fields': {
      const delimiter = csv.delimiter === ',' ? 'a comma' : `the delimiter ${JSON.stringify(csv.delimiter)}`;
      const first = csv.hasHeader ? 'the header has' : 'the first row has';
      return `${name} line ${problem.at.line} (byte ${problem.at.byte}) has ${problem.fields} fields but ${first} ${problem.expected}; fix the row, or quote the field that contains ${delimiter}`;
    }
    case 'unclosed-quote':
      return `${name}: the quote (${q}) that opens a field at ${where(problem.at)} is never closed; close it, or write a quote inside a quoted field as two (${q}${q})`;
    case 'text-after-quote':
      return `${name}: the field quoted at ${where(problem.quoteAt)} has text after its closing quote, at ${where(problem.at)}; quote the whole field and write each quote inside it as two (${q}${q})`;
  }
}

/**
 * Rewrites a Polars read error into Sluice's words.
 * @param error what Polars threw while reading `context.file`.
 * @returns a SourceError `UNREADABLE_SOURCE` naming the file, the place when known, and the fix;
 *   `details.polars` holds Polars' message (its first 500 characters).
 */
export async function explainReadError(error: unknown, context: ReadErrorContext): Promise<SourceError> {
  const polars = error instanceof Error ? error.message : String(error);
  const { name, format } = context;
  let message: string | undefined;
  if (statSync(context.file).size === 0) {
    const needs = { csv: 'a CSV source needs at least a header line', json: 'a JSON source needs an array of objects', ndjson: 'an NDJSON source needs at least one JSON object', parquet: 'a Parquet source needs a complete Parquet file' };
    message = `${name} is empty (0 bytes); ${needs[format]}: check that the file was written completely`;
  } else if (/supertype/.test(polars)) {
    message = `${name}: a column holds values of incompatible kinds in different rows (e.g. an object in one, an array or a number in another); make each key hold one kind of value`;
  } else if (format === 'csv') {
    message = await explainCsv(context, polars);
  } else if (format === 'json') {
    message = await explainJson(context, polars);
  } else if (format === 'ndjson') {
    message = await explainNdjson(context);
  } else if (/out of specification|PAR1|footer/i.test(polars)) {
    message = `${name} is not a Parquet file, or is truncated (it does not end with a Parquet footer); check that the file was copied completely, and source.format (or the file's extension)`;
  }
  message ??= `${name} cannot be read as ${format}; check that the file is complete and that source.format (or the file's extension) matches its content`;
  const detail = polars.length > POLARS_DETAIL_CHARS ? `${polars.slice(0, POLARS_DETAIL_CHARS)}…` : polars;
  return new SourceError('UNREADABLE_SOURCE', message, { cause: error, details: { polars: detail } });
}
