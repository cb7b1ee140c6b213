/**
 * Unit tests of the local source: resolving source_path under the root (escapes and symlinks
 * refused), format detection, and staging CSV / NDJSON / JSON files to Parquet.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { SourceError } from '../../common/errors';
import { validateFlowSpec } from '../../flows/flow-spec';
import type { StagedSource, StageSourceRequest } from '../connector';
import { detectFormat, JSON_ARRAY_MAX_BYTES, LocalSource, resolveUnderRoot } from './local-source';

function sourceError(fn: () => unknown, code: string, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SourceError, `expected SourceError, got ${String(error)}`);
    assert.equal(error.name, 'SourceError');
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    return true;
  });
}

let root: string;
let outside: string;
const temps: string[] = [];

function tempDir(prefix: string): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix)));
  temps.push(dir);
  return dir;
}

before(() => {
  root = tempDir('sluice-local-root-');
  outside = tempDir('sluice-local-outside-');
  mkdirSync(path.join(root, 'sub'));
  writeFileSync(path.join(root, 'sub', 'orders.csv'), 'id,name,note\n1,"Smith, J","line one\nline two"\n2,bob,plain\n3,"say ""hi""",\n');
  writeFileSync(path.join(root, 'events.ndjson'), '{"id":1,"v":"a"}\n{"id":2,"v":null,"extra":true}\n{"id":3,"v":"c"}\n');
  writeFileSync(path.join(root, 'movies.json'), '[{"Title":"A","Budget":1},{"Title":"B","Budget":null,"Rating":"PG"}]');
  writeFileSync(path.join(root, 'semi.txt'), 'a;b\n1;"x;y"\n');
  writeFileSync(path.join(root, 'dup.csv'), 'id,name,note,name,id\n1,a,x,b,9\n');
  writeFileSync(path.join(root, 'quoted-header.csv'), 'id,"my ""quoted"" col"\n1,q\n');
  writeFileSync(path.join(root, 'nested.ndjson'), '{"id":1,"o":{"a":1,"b":"x\\"y"},"l":[1,2]}\n{"id":2,"o":null,"l":null}\n{"id":3,"o":{"a":2,"b":null},"l":[]}\n');
  writeFileSync(path.join(root, 'nested.json'), '[{"id":1,"o":{"a":1,"b":"x"},"l":[[1],[2,3]]},{"id":2,"o":null,"l":[]}]');
  pl.DataFrame({ id: pl.Series('id', [1, 2], pl.Int64) })
    .select(pl.col('id'), pl.struct([pl.col('id').alias('k'), pl.lit('v').alias('s')]).alias('o'))
    .writeParquet(path.join(root, 'nested.parquet'));
  writeFileSync(path.join(outside, 'secret.csv'), 'a\n1\n');
  symlinkSync(path.join(outside, 'secret.csv'), path.join(root, 'link.csv'));
  symlinkSync(path.join(root, 'sub', 'orders.csv'), path.join(root, 'inner-link.csv'));
});

after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs `stage` and `LocalSource.hold` on the same request and asserts they agree: a held frame equal to the staged
 * Parquet file (rows, columns, dtypes, values), or the same error (class, code, message). Returns or throws `stage`'s.
 */
async function sameAsHeld(request: StageSourceRequest, stage: () => Promise<StagedSource>): Promise<StagedSource> {
  const hold = new LocalSource(root).hold({ ...request, onProgress: () => undefined, maxBytes: Number.POSITIVE_INFINITY });
  const [staged, held] = await Promise.allSettled([stage(), hold]);
  if (staged.status === 'rejected') {
    assert.equal(held.status, 'rejected', `staging failed (${String(staged.reason)}) but holding did not`);
    const [a, b] = [staged.reason as SourceError, (held as PromiseRejectedResult).reason as SourceError];
    assert.deepEqual([b.name, b.code, b.message], [a.name, a.code, a.message]);
    throw a;
  }
  if (held.status === 'rejected') throw held.reason;
  const frame = held.value!.frame;
  assert.deepEqual([held.value!.rows, held.value!.columns, held.value!.bytes], [staged.value.rows, staged.value.columns, statSync(resolveUnderRoot(root, request.sourcePath)).size]);
  assert.ok(frame.frameEqual(pl.readParquet(staged.value.files[0]!.path), true), 'the held frame equals the staged file');
  return staged.value;
}

describe('resolveUnderRoot', () => {
  it('resolves a relative path, an absolute path under the root and a file:// URI to the same real path', () => {
    const expected = path.join(root, 'sub', 'orders.csv');
    assert.equal(resolveUnderRoot(root, 'sub/orders.csv'), expected);
    assert.equal(resolveUnderRoot(root, './sub/../sub/orders.csv'), expected);
    assert.equal(resolveUnderRoot(root, expected), expected);
    assert.equal(resolveUnderRoot(root, pathToFileURL(expected).href), expected);
  });

  it('follows a symlink that stays under the root', () => {
    assert.equal(resolveUnderRoot(root, 'inner-link.csv'), path.join(root, 'sub', 'orders.csv'));
  });

  it('accepts a file whose name starts with ".." inside the root', () => {
    writeFileSync(path.join(root, '..data.csv'), 'a\n1\n');
    assert.equal(resolveUnderRoot(root, '..data.csv'), path.join(root, '..data.csv'));
  });

  it('refuses ../ escapes with PATH_OUTSIDE_ROOT', () => {
    const escape = `../${path.basename(outside)}/secret.csv`;
    sourceError(() => resolveUnderRoot(root, escape), 'PATH_OUTSIDE_ROOT', `source_path "${escape}" is outside the connector's root ${root}; use a path under it`);
    sourceError(() => resolveUnderRoot(root, 'sub/../../x.csv'), 'PATH_OUTSIDE_ROOT', `source_path "sub/../../x.csv" is outside the connector's root ${root}; use a path under it`);
  });

  it('refuses absolute paths and file:// URIs outside the root with PATH_OUTSIDE_ROOT, even when they exist', () => {
    const secret = path.join(outside, 'secret.csv');
    sourceError(() => resolveUnderRoot(root, secret), 'PATH_OUTSIDE_ROOT', `source_path "${secret}" is outside the connector's root ${root}; use a path under it`);
    const uri = pathToFileURL(secret).href;
    sourceError(() => resolveUnderRoot(root, uri), 'PATH_OUTSIDE_ROOT', `source_path "${uri}" is outside the connector's root ${root}; use a path under it`);
  });

  it('refuses a symlink pointing outside the root with PATH_OUTSIDE_ROOT', () => {
    sourceError(
      () => resolveUnderRoot(root, 'link.csv'),
      'PATH_OUTSIDE_ROOT',
      `source_path "link.csv" links to ${path.join(outside, 'secret.csv')}, outside the connector's root ${root}`,
    );
  });

  it('refuses a missing file with SOURCE_NOT_FOUND and a folder with SOURCE_NOT_A_FILE', () => {
    sourceError(() => resolveUnderRoot(root, 'nope.csv'), 'SOURCE_NOT_FOUND', `source file "nope.csv" does not exist under the connector's root ${root}`);
    sourceError(() => resolveUnderRoot(root, 'sub'), 'SOURCE_NOT_A_FILE', 'source_path "sub" is not a file');
  });

  it('refuses a file:// URI with a host with INVALID_SOURCE_PATH', () => {
    sourceError(() => resolveUnderRoot(root, 'file://host/x.csv'), 'INVALID_SOURCE_PATH', 'source_path "file://host/x.csv" is not a valid path or file:// URI');
  });
});

describe('detectFormat', () => {
  it('takes the declared format first, else the extension (any case)', () => {
    assert.equal(detectFormat('data/a.txt', 'csv'), 'csv');
    assert.equal(detectFormat('data/a.csv', 'ndjson'), 'ndjson');
    assert.equal(detectFormat('data/a.CSV', undefined), 'csv');
    assert.equal(detectFormat('data/a.json', undefined), 'json');
    assert.equal(detectFormat('data/a.ndjson', undefined), 'ndjson');
    assert.equal(detectFormat('data/a.jsonl', undefined), 'ndjson');
    assert.equal(detectFormat('data/a.parquet', undefined), 'parquet');
  });

  it('refuses an unknown extension with UNKNOWN_FORMAT', () => {
    sourceError(
      () => detectFormat('/data/a.txt', undefined),
      'UNKNOWN_FORMAT',
      'cannot tell the format of a.txt; set source.format to one of csv, json, ndjson, parquet in the flow',
    );
    sourceError(() => detectFormat('/data/noext', undefined), 'UNKNOWN_FORMAT', 'cannot tell the format of noext; set source.format to one of csv, json, ndjson, parquet in the flow');
  });
});

describe('LocalSource.stage', () => {
  const stage = async (sourcePath: string, source: Record<string, unknown> = {}) => {
    const spec = validateFlowSpec({
      name: 'local',
      source: { connector: 'files', ...source },
      target: { connector: 'warehouse', table: 't' },
      fields: { id: { from: 'id', type: 'int64' } },
    });
    const stagingDir = tempDir('sluice-local-staging-');
    const progress: { rows: number; chunk: number }[] = [];
    const request: StageSourceRequest = {
      sourcePath,
      spec,
      stagingDir,
      chunkRows: 1000,
      onProgress: (p) => progress.push(p),
      signal: new AbortController().signal,
    };
    const staged = await sameAsHeld(request, () => new LocalSource(root).stage(request));
    return { staged, progress, stagingDir };
  };

  it('a JSON array above the 32 MiB a worker reads whole: SOURCE_TOO_LARGE naming NDJSON; the same rows as NDJSON stage', async () => {
    assert.equal(JSON_ARRAY_MAX_BYTES, 33_554_432);
    const row = (i: number) => JSON.stringify({ id: i, pad: 'x'.repeat(100) });
    const count = Math.ceil(JSON_ARRAY_MAX_BYTES / row(0).length) + 1;
    const rows = Array.from({ length: count }, (_, i) => row(i));
    writeFileSync(path.join(root, 'big.json'), `[${rows.join(',')}]`);
    const bytes = statSync(path.join(root, 'big.json')).size;
    assert.ok(bytes > JSON_ARRAY_MAX_BYTES);
    await assert.rejects(stage('big.json'), (error: unknown) => {
      assert.ok(error instanceof SourceError, `expected SourceError, got ${String(error)}`);
      assert.equal(error.code, 'SOURCE_TOO_LARGE');
      assert.equal(
        error.message,
        `big.json is a JSON array of ${(bytes / 1024 / 1024).toFixed(1)} MiB, above the 32.0 MiB a worker reads whole; ` +
          "write it as NDJSON (one object per line, read in a stream, no size limit), e.g. jq -c '.[]' in.json > out.ndjson, and set source.format: ndjson",
      );
      assert.deepEqual(error.details, { bytes, limitBytes: JSON_ARRAY_MAX_BYTES });
      return true;
    });
    writeFileSync(path.join(root, 'big.ndjson'), `${rows.join('\n')}\n`);
    const { staged } = await stage('big.ndjson');
    assert.equal(staged.rows, count);
  });

  it('stages a CSV with a quoted comma, an embedded newline and escaped quotes, every column as text', async () => {
    const { staged, progress, stagingDir } = await stage('sub/orders.csv');
    const file = path.join(stagingDir, 'source-00000.parquet');
    assert.deepEqual(staged, { files: [{ path: file, rows: 3 }], rows: 3, columns: ['id', 'name', 'note'], format: 'csv' });
    assert.deepEqual(progress, [{ rows: 3, chunk: 0 }]);
    assert.deepEqual(readdirSync(stagingDir), ['source-00000.parquet']);
    const frame = pl.readParquet(file);
    assert.deepEqual(frame.dtypes.map(String), ['DataType(String)', 'DataType(String)', 'DataType(String)']);
    assert.deepEqual(frame.toRecords(), [
      { id: '1', name: 'Smith, J', note: 'line one\nline two' },
      { id: '2', name: 'bob', note: 'plain' },
      { id: '3', name: 'say "hi"', note: null },
    ]);
  });

  it('stages a CSV with the flow\'s delimiter and declared format', async () => {
    const { staged } = await stage('semi.txt', { format: 'csv', csv: { delimiter: ';' } });
    assert.equal(staged.rows, 1);
    assert.deepEqual(staged.columns, ['a', 'b']);
    assert.deepEqual(pl.readParquet(staged.files[0]!.path).toRecords(), [{ a: '1', b: 'x;y' }]);
  });

  it('stages NDJSON with the schema inferred over every row', async () => {
    const { staged } = await stage('events.ndjson');
    assert.equal(staged.format, 'ndjson');
    assert.equal(staged.rows, 3);
    assert.deepEqual(staged.columns, ['id', 'v', 'extra']);
    assert.deepEqual(pl.readParquet(staged.files[0]!.path).toRecords(), [
      { id: 1, v: 'a', extra: null },
      { id: 2, v: null, extra: true },
      { id: 3, v: 'c', extra: null },
    ]);
  });

  it('stages a JSON array with columns from every record', async () => {
    const { staged } = await stage('movies.json');
    assert.equal(staged.format, 'json');
    assert.equal(staged.rows, 2);
    assert.deepEqual(staged.columns, ['Title', 'Budget', 'Rating']);
  });

  it('refuses a CSV whose header names a column twice with DUPLICATE_COLUMN naming the names and positions', async () => {
    await assert.rejects(stage('dup.csv'), (error: unknown) => {
      assert.ok(error instanceof SourceError);
      assert.equal(error.code, 'DUPLICATE_COLUMN');
      assert.equal(
        error.message,
        'dup.csv has more than one column named "id" (columns 1, 5), "name" (columns 2, 4); a field could map either of them. Rename the columns in the file so that each header name is unique.',
      );
      assert.deepEqual(error.details, { duplicates: { id: [1, 5], name: [2, 4] } });
      return true;
    });
  });

  it('unescapes a quoted CSV header name, so it is mapped by its real name', async () => {
    const { staged } = await stage('quoted-header.csv');
    assert.deepEqual(staged.columns, ['id', 'my "quoted" col']);
    assert.deepEqual(pl.readParquet(staged.files[0]!.path).toRecords(), [{ id: '1', 'my "quoted" col': 'q' }]);
  });

  it('stages nested NDJSON objects and arrays as their JSON text, keys kept', async () => {
    const { staged } = await stage('nested.ndjson');
    assert.deepEqual(pl.readParquet(staged.files[0]!.path).toRecords(), [
      { id: 1, o: '{"a":1,"b":"x\\"y"}', l: '[1,2]' },
      { id: 2, o: null, l: null },
      { id: 3, o: '{"a":2,"b":null}', l: '[]' },
    ]);
  });

  it('stages nested values of a JSON array and Parquet structs as their JSON text', async () => {
    const json = await stage('nested.json');
    assert.deepEqual(pl.readParquet(json.staged.files[0]!.path).toRecords(), [
      { id: 1, o: '{"a":1,"b":"x"}', l: '[[1],[2,3]]' },
      { id: 2, o: null, l: '[]' },
    ]);
    const parquet = await stage('nested.parquet');
    assert.deepEqual(pl.readParquet(parquet.staged.files[0]!.path).toRecords(), [
      { id: 1, o: '{"k":1,"s":"v"}' },
      { id: 2, o: '{"k":2,"s":"v"}' },
    ]);
  });

  it('refuses a source_path outside the root before reading anything', async () => {
    await assert.rejects(stage('link.csv'), { name: 'SourceError', code: 'PATH_OUTSIDE_ROOT' });
  });

  it('stages a CSV with only a header as zero rows with its columns', async () => {
    writeFileSync(path.join(root, 'header-only.csv'), 'id,name\n');
    const { staged } = await stage('header-only.csv');
    assert.deepEqual([staged.rows, staged.columns], [0, ['id', 'name']]);
  });

  it('stages a CSV row with fewer fields than the header with nulls in the missing ones', async () => {
    writeFileSync(path.join(root, 'short-row.csv'), 'a,b,c\n1,2,3\n4,5\n');
    const { staged } = await stage('short-row.csv');
    assert.deepEqual(pl.readParquet(staged.files[0]!.path).toRecords(), [
      { a: '1', b: '2', c: '3' },
      { a: '4', b: '5', c: null },
    ]);
  });
});

describe('LocalSource.hold', () => {
  const spec = validateFlowSpec({
    name: 'local',
    source: { connector: 'files' },
    target: { connector: 'warehouse', table: 't' },
    fields: { id: { from: 'id', type: 'int64' } },
  });
  const request = (sourcePath: string, maxBytes: number) => ({ sourcePath, spec, maxBytes, onProgress: () => undefined, signal: new AbortController().signal });

  it('holds a file up to maxBytes with its size and modification time, and none above it', async () => {
    const file = path.join(root, 'sub', 'orders.csv');
    const { size, mtimeMs } = statSync(file);
    const held = await new LocalSource(root).hold(request('sub/orders.csv', size));
    assert.ok(held);
    assert.deepEqual([held.rows, held.columns, held.bytes, held.mtimeMs, held.format], [3, ['id', 'name', 'note'], size, mtimeMs, 'csv']);
    assert.deepEqual(held.frame.getColumn('note').toArray(), ['line one\nline two', 'plain', null]);
    assert.equal(await new LocalSource(root).hold(request('sub/orders.csv', size - 1)), undefined);
  });

  it('refuses a path outside the root like stage does, before reading', async () => {
    await assert.rejects(new LocalSource(root).hold(request('../secret.csv', Number.POSITIVE_INFINITY)), (error: unknown) => error instanceof SourceError && error.code === 'PATH_OUTSIDE_ROOT');
  });
});

describe('LocalSource.stage: unreadable files in Sluice\'s words', () => {
  /** Writes `content` at `sourcePath` under the root, stages it, and checks the UNREADABLE_SOURCE message. */
  const unreadable = async (sourcePath: string, content: string | Buffer, message: string, source: Record<string, unknown> = {}) => {
    writeFileSync(path.join(root, sourcePath), content);
    const spec = validateFlowSpec({
      name: 'local',
      source: { connector: 'files', ...source },
      target: { connector: 'warehouse', table: 't' },
      fields: { id: { from: 'id', type: 'int64' } },
    });
    const request: StageSourceRequest = {
      sourcePath,
      spec,
      stagingDir: tempDir('sluice-local-staging-'),
      chunkRows: 1000,
      onProgress: () => undefined,
      signal: new AbortController().signal,
    };
    await assert.rejects(sameAsHeld(request, () => new LocalSource(root).stage(request)), (error: unknown) => {
      assert.ok(error instanceof SourceError, `expected SourceError, got ${String(error)}`);
      assert.equal(error.code, 'UNREADABLE_SOURCE');
      assert.equal(error.message, message);
      assert.equal(typeof error.details?.polars, 'string');
      assert.ok(error.cause instanceof Error);
      return true;
    });
  };

  it('a CSV row with more fields than the header: its line and byte, never a Polars option', async () => {
    await unreadable(
      'sub/ragged.csv',
      'a,b,c\n1,2,3\n4,"5,5",6\n7,8,9,10\n',
      'sub/ragged.csv line 4 (byte 22) has 4 fields but the header has 3; fix the row, or quote the field that contains a comma',
    );
  });

  it('a ragged row far into a large CSV, found by a streamed scan', async () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => (i === 99_999 ? `${i},x,"y, z",extra` : `${i},"n ${i}","a\nb"`));
    await unreadable(
      'large-ragged.csv',
      `id,name,note\n${rows.join('\n')}\n`,
      `large-ragged.csv line 200000 (byte ${Buffer.byteLength(`id,name,note\n${rows.slice(0, -1).join('\n')}\n`)}) has 4 fields but the header has 3; fix the row, or quote the field that contains a comma`,
    );
  });

  it('a ragged row without a header, with the flow\'s delimiter', async () => {
    await unreadable(
      'ragged.txt',
      '1;2\n3;4;5\n',
      'ragged.txt line 2 (byte 4) has 3 fields but the first row has 2; fix the row, or quote the field that contains the delimiter ";"',
      { format: 'csv', csv: { delimiter: ';', has_header: false } },
    );
  });

  it('a CSV quote that is never closed: the quote, its line, column and byte', async () => {
    await unreadable(
      'unclosed.csv',
      'a,b,c\n1,2,3\n4,"5,6\n8,9,10\n11,12,13\n',
      'unclosed.csv: the quote (") that opens a field at line 3, column 3 (byte 14) is never closed; close it, or write a quote inside a quoted field as two ("")',
    );
  });

  it('a CSV quoted field followed by more text', async () => {
    await unreadable(
      'after-quote.csv',
      'id,b\n1,x\n2,"y"z\n',
      'after-quote.csv: the field quoted at line 3, column 3 (byte 11) has text after its closing quote, at line 3, column 6 (byte 14); quote the whole field and write each quote inside it as two ("")',
    );
  });

  it('a CSV that is not UTF-8: its line, and the flow option that reads it anyway', async () => {
    await unreadable(
      'latin1.csv',
      Buffer.concat([Buffer.from('id,name\n1,ok\n2,caf'), Buffer.from([0xe9]), Buffer.from('\n')]),
      'latin1.csv is not valid UTF-8 at line 3 (byte 13); save the file as UTF-8, or set source.csv.encoding to utf8-lossy to read invalid bytes as \uFFFD',
    );
  });

  it('empty files of each format', async () => {
    await unreadable('empty.csv', '', 'empty.csv is empty (0 bytes); a CSV source needs at least a header line: check that the file was written completely');
    await unreadable('empty.json', '', 'empty.json is empty (0 bytes); a JSON source needs an array of objects: check that the file was written completely');
    await unreadable('empty.ndjson', '', 'empty.ndjson is empty (0 bytes); an NDJSON source needs at least one JSON object: check that the file was written completely');
    await unreadable('empty.parquet', '', 'empty.parquet is empty (0 bytes); a Parquet source needs a complete Parquet file: check that the file was written completely');
  });

  it('JSON that does not start with a value (Polars: ExpectedTrue at character 0)', async () => {
    await unreadable(
      'not-json.json',
      'test,1\n',
      'not-json.json is not valid JSON at line 1, column 1 (byte 0): expected a value (true/false/null, a number, a string, an object or an array)',
    );
  });

  it('JSON with a missing comma, at its line and column', async () => {
    await unreadable('comma.json', '[\n  {"id":1}\n  {"id":2}\n]', 'comma.json is not valid JSON at line 3, column 3 (byte 15): expected \',\' or \']\' after an array element');
  });

  it('a truncated JSON document', async () => {
    await unreadable(
      'truncated.json',
      '[{"id":1},\n{"id":2',
      'truncated.json is not valid JSON: the document ends at line 2, column 7 (byte 17) before all its arrays and objects are closed; is the file truncated?',
    );
  });

  it('JSON with text after the document', async () => {
    await unreadable(
      'trailing.json',
      '[{"id":1}]\n\n{"id":2}\n',
      'trailing.json is not valid JSON at line 3, column 1 (byte 12): text after the end of the document; a JSON source holds one array (or object) and nothing after it',
    );
  });

  it('a JSON array of numbers', async () => {
    await unreadable(
      'numbers.json',
      '[1,2]',
      'numbers.json is not a JSON array of objects: each element must be an object ({"column": value, …}); for one object per line, set source.format to ndjson',
    );
  });

  it('an NDJSON line that is not valid JSON, or not an object', async () => {
    await unreadable(
      'bad.ndjson',
      '{"id":1}\n\n{"id":2,\n"v":3}\n',
      'bad.ndjson line 3 is not valid JSON; NDJSON needs one complete JSON object on each line (is an object split over lines, or the line cut short?)',
    );
    await unreadable('list.ndjson', '{"id":1}\n{"id":2} x\n', 'list.ndjson line 2 is not valid JSON; NDJSON needs one complete JSON object on each line (is an object split over lines, or the line cut short?)');
  });

  it('a key holding an object in one NDJSON line and an array in another', async () => {
    await unreadable(
      'shapes.ndjson',
      '{"id":1,"o":{"a":1}}\n{"id":2,"o":[1]}\n',
      'shapes.ndjson: a column holds values of incompatible kinds in different rows (e.g. an object in one, an array or a number in another); make each key hold one kind of value',
    );
  });

  it('a file that is not Parquet, and a truncated Parquet file', async () => {
    const message = (name: string) =>
      `${name} is not a Parquet file, or is truncated (it does not end with a Parquet footer); check that the file was copied completely, and source.format (or the file's extension)`;
    await unreadable('text.parquet', 'id,name\n1,a\n', message('text.parquet'));
    const whole = path.join(tempDir('sluice-parquet-'), 'whole.parquet');
    pl.DataFrame({ id: [1, 2, 3] }).writeParquet(whole);
    const bytes = readFileSync(whole);
    await unreadable('cut.parquet', bytes.subarray(0, bytes.length - 10), message('cut.parquet'));
  });
});
