/**
 * The `local` connector as a source: files under a root folder.
 *
 * `source_path` is a path relative to the root, an absolute path under it, or a `file://` URI;
 * anything that resolves (symlinks included) outside the root is refused.
 *
 * Staging streams with Polars' lazy engine (`scan* → sinkParquet`), so CSV, NDJSON and Parquet
 * sources never sit whole in memory. A JSON array cannot be streamed by Polars: it is read whole
 * (schema inferred over every row — movies.json's later rows differ from its first ones);
 * use NDJSON for large sources. A run that maps and loads in one pass may instead hold a file up to
 * `staging.hold_max_bytes` whole in the worker's memory (`hold`, {@link holdFile}): the same reader and errors,
 * without the Parquet write and read-back.
 *
 * Values are never silently changed at staging: a nested value (a JSON object or array, a Parquet
 * struct or list) is staged as its JSON text; a CSV header naming a column twice is refused
 * (`DUPLICATE_COLUMN`), and quoted header names are unescaped (`"my ""quoted"" col"` → `my "quoted" col`).
 */
import { randomUUID } from 'node:crypto';
import { constants, existsSync, realpathSync, statSync } from 'node:fs';
import { access, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pl, { type DataType } from 'nodejs-polars';
import { SourceError } from '../../common/errors';
import type { SourceFormat } from '../../flows/flow-spec';
import { isNested, nestedAsJsonText } from '../../transform/field-types';
import { CheckFailure, errorCode, messageOf, probe } from '../check';
import type { CheckOptions, CheckResult, HeldSource, HoldSourceRequest, SourceConnector, StagedSource, StageSourceRequest } from '../connector';
import { explainReadError } from './read-errors';

/**
 * The largest JSON-array source a worker reads: 32 MiB. A JSON array is parsed whole (Polars cannot stream
 * one), at about ten times its size in memory (a 104 MB array peaked at 1,020 MiB) and on the event loop
 * (~9 s for 30 MB on a loaded 2-core machine), so this limit keeps a worker within its 1 GiB budget and its
 * heartbeats within their 30 s timeout (docs/operations.md "Limits"). NDJSON has no such limit: it is
 * read in a stream (the same 104 MB as NDJSON peaked at 195 MiB).
 */
export const JSON_ARRAY_MAX_BYTES = 32 * 1024 * 1024;

const EXTENSIONS: Record<string, SourceFormat> = {
  '.csv': 'csv',
  '.json': 'json',
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
  '.parquet': 'parquet',
};

/**
 * Resolves a source_path under `root`.
 * @returns the absolute, symlink-free path.
 * @throws SourceError `PATH_OUTSIDE_ROOT` (escapes the root), `SOURCE_NOT_FOUND` (missing), `SOURCE_NOT_A_FILE`.
 */
export function resolveUnderRoot(root: string, sourcePath: string): string {
  const realRoot = realpathSync(root);
  let candidate: string;
  try {
    candidate = sourcePath.startsWith('file:') ? fileURLToPath(sourcePath) : path.resolve(realRoot, sourcePath);
  } catch (error) {
    throw new SourceError('INVALID_SOURCE_PATH', `source_path "${sourcePath}" is not a valid path or file:// URI`, { cause: error });
  }
  const inside = (p: string) => {
    const rel = path.relative(realRoot, p);
    return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
  };
  if (!inside(candidate)) {
    throw new SourceError('PATH_OUTSIDE_ROOT', `source_path "${sourcePath}" is outside the connector's root ${realRoot}; use a path under it`);
  }
  if (!existsSync(candidate)) {
    throw new SourceError('SOURCE_NOT_FOUND', `source file "${sourcePath}" does not exist under the connector's root ${realRoot}`);
  }
  const real = realpathSync(candidate);
  if (!inside(real)) {
    throw new SourceError('PATH_OUTSIDE_ROOT', `source_path "${sourcePath}" links to ${real}, outside the connector's root ${realRoot}`);
  }
  if (!statSync(real).isFile()) throw new SourceError('SOURCE_NOT_A_FILE', `source_path "${sourcePath}" is not a file`);
  return real;
}

/**
 * Picks the format: the flow's `source.format`, else the file extension.
 * @throws SourceError `UNKNOWN_FORMAT` when neither says.
 */
export function detectFormat(file: string, declared: SourceFormat | undefined): SourceFormat {
  if (declared) return declared;
  const format = EXTENSIONS[path.extname(file).toLowerCase()];
  if (!format) {
    throw new SourceError('UNKNOWN_FORMAT', `cannot tell the format of ${path.basename(file)}; set source.format to one of csv, json, ndjson, parquet in the flow`);
  }
  return format;
}

/** The staged form of every nested column: its JSON text (keys kept), other columns as read. */
function nestedColumnsAsJson(schema: Record<string, DataType>): pl.Expr[] {
  return Object.entries(schema)
    .filter(([, dtype]) => isNested(dtype))
    .map(([name]) => nestedAsJsonText(pl.col(name)).alias(name));
}

/**
 * The header of a CSV file as the CSV parser reads a data row: quotes unescaped
 * (`"my ""quoted"" col"` → `my "quoted" col`), duplicates kept (Polars' own header reading keeps
 * `""` escaped and renames a duplicate `name` to `name_duplicated_0`).
 * @throws SourceError `DUPLICATE_COLUMN` naming each duplicated name and its 1-based positions.
 */
function readCsvHeader(file: string, name: string, options: Record<string, unknown>): string[] {
  const first = pl.scanCSV(file, { ...options, hasHeader: false } as never).limit(1).collectSync();
  const header = first.height === 0 ? [] : (first.row(0) as unknown[]).map((name) => (name === null ? '' : String(name)));
  const positions = new Map<string, number[]>();
  header.forEach((name, i) => positions.set(name, [...(positions.get(name) ?? []), i + 1]));
  const duplicates = [...positions.entries()].filter(([, at]) => at.length > 1);
  if (duplicates.length > 0) {
    const list = duplicates.map(([name, at]) => `"${name}" (columns ${at.join(', ')})`).join(', ');
    throw new SourceError(
      'DUPLICATE_COLUMN',
      `${name} has more than one column named ${list}; a field could map either of them. Rename the columns in the file so that each header name is unique.`,
      { details: { duplicates: Object.fromEntries(duplicates) } },
    );
  }
  return header;
}

/**
 * The source file as Polars reads it, every check of staging included: a lazy scan (csv, ndjson, parquet; nested
 * columns as JSON text, CSV header names unescaped), or the whole frame for a JSON array.
 * @throws SourceError `SOURCE_TOO_LARGE` (a JSON array above {@link JSON_ARRAY_MAX_BYTES}), `DUPLICATE_COLUMN`;
 *   Polars' own errors (a JSON array that does not parse) as they are: {@link readSource} words them.
 */
function scanSource(file: string, format: SourceFormat, request: Pick<StageSourceRequest, 'spec'>, name: string): { frame: pl.DataFrame } | { lazy: pl.LazyDataFrame } {
  const csv = request.spec.source.csv ?? {};
  if (format === 'json') {
    const bytes = statSync(file).size;
    if (bytes > JSON_ARRAY_MAX_BYTES) {
      throw new SourceError(
        'SOURCE_TOO_LARGE',
        `${name} is a JSON array of ${mib(bytes)}, above the ${mib(JSON_ARRAY_MAX_BYTES)} a worker reads whole; ` +
          "write it as NDJSON (one object per line, read in a stream, no size limit), e.g. jq -c '.[]' in.json > out.ndjson, and set source.format: ndjson",
        { details: { bytes, limitBytes: JSON_ARRAY_MAX_BYTES } },
      );
    }
    const frame = pl.readJSON(file, { format: 'json', inferSchemaLength: null } as never);
    const nested = nestedColumnsAsJson(frame.schema);
    return { frame: nested.length > 0 ? frame.withColumns(...nested) : frame };
  }
  let lazy: pl.LazyDataFrame;
  if (format === 'csv') {
    const options = {
      // Every CSV column is read as text; the flow's field types do the casting, row by row.
      inferSchemaLength: 0,
      hasHeader: csv.has_header ?? true,
      sep: csv.delimiter ?? ',',
      quoteChar: csv.quote ?? '"',
      encoding: csv.encoding ?? 'utf8',
    };
    lazy = pl.scanCSV(file, options as never);
    if (options.hasHeader) {
      const header = readCsvHeader(file, name, options);
      const columns = lazy.columns;
      if (header.length === columns.length && header.some((name, i) => name !== columns[i])) {
        lazy = lazy.rename(Object.fromEntries(columns.map((name, i) => [name, header[i]!])));
      }
    }
  } else {
    lazy = format === 'ndjson' ? pl.scanJson(file, { inferSchemaLength: null } as never) : pl.scanParquet(file);
    const nested = nestedColumnsAsJson(lazy.limit(0).collectSync().schema);
    if (nested.length > 0) lazy = lazy.withColumns(...nested);
  }
  return { lazy };
}

/**
 * Hands the source as {@link scanSource} reads it to `read` (which collects or sinks it) and words a failure of
 * either in Sluice's terms.
 * @throws SourceError as thrown by `scanSource` or `read`; else SourceError `UNREADABLE_SOURCE` from ./read-errors.ts
 *   (file, line, byte offset and the fix; Polars' message in `details.polars`).
 */
async function readSource<T>(
  file: string,
  format: SourceFormat,
  request: Pick<StageSourceRequest, 'spec'>,
  name: string,
  read: (source: ReturnType<typeof scanSource>) => Promise<T>,
): Promise<T> {
  try {
    return await read(scanSource(file, format, request, name));
  } catch (error) {
    if (error instanceof SourceError) throw error;
    const csv = request.spec.source.csv ?? {};
    const options = { delimiter: csv.delimiter ?? ',', quote: csv.quote ?? '"', hasHeader: csv.has_header ?? true };
    throw await explainReadError(error, { file, name, format, csv: options });
  }
}

/**
 * Stages one local (or already downloaded) file as a single Parquet file in `stagingDir`.
 * Shared by every file-based source connector. Nested values become their JSON text.
 * @param name the file's name in messages: its path relative to the connector's root, or the object's URI.
 * Honours `request.signal` before and right after the Parquet sink (which itself cannot be interrupted).
 * @throws the signal's reason (an AbortError) when cancelled; SourceError `UNREADABLE_SOURCE` when the file is not valid `format`, in Sluice's words (see
 *   ./read-errors.ts: file, line, byte offset and the fix; Polars' message in `details.polars`);
 *   `DUPLICATE_COLUMN` when a CSV header names a column twice.
 */
export async function stageFile(file: string, format: SourceFormat, request: StageSourceRequest, name = path.basename(file)): Promise<StagedSource> {
  const out = path.join(request.stagingDir, 'source-00000.parquet');
  // Polars' sink cannot be interrupted: a cancelled staging stops before it, or right after it (its output deleted).
  request.signal.throwIfAborted();
  await readSource(file, format, request, name, async (source) => {
    if ('frame' in source) source.frame.writeParquet(out);
    // LZ4 without column statistics: staged files are read back by row position only, and this costs ~20% less
    // CPU to write and read than Polars' default (zstd with statistics), for files ~1.7× as large
    // (docs/decisions.md, "Less garbage on the load path").
    else await source.lazy.sinkParquet(out, { maintainOrder: true, rowGroupSize: 65_536, compression: 'lz4', statistics: false }).collect();
  });
  if (request.signal.aborted) {
    await rm(out, { force: true });
    request.signal.throwIfAborted();
  }
  const meta = pl.scanParquet(out);
  const columns = meta.columns;
  const rows = Number(meta.select(pl.len().alias('n')).collectSync().getColumn('n').get(0));
  request.onProgress({ rows, chunk: 0 });
  return { files: [{ path: out, rows }], rows, columns, format };
}

/**
 * Reads one local file whole into memory, exactly as {@link stageFile} would stage it (the same reader, checks and
 * errors), for a run that maps and loads it in one pass on this worker (docs/decisions.md, "The source held in
 * memory"). The frame takes ~2.5× the file's bytes (a CSV of 51 MiB, 1,000,000 rows of six columns: ~130 MiB).
 * @returns the frame and the file's size (bytes) and modification time (ms since the epoch), by which a later
 *   re-read tells whether the file changed.
 * @throws as {@link stageFile}; the signal's reason when cancelled.
 */
export async function holdFile(file: string, format: SourceFormat, request: HoldSourceRequest, name = path.basename(file)): Promise<HeldSource> {
  request.signal.throwIfAborted();
  const { size: bytes, mtimeMs } = statSync(file);
  const frame = await readSource(file, format, request, name, async (source) =>
    'frame' in source ? source.frame : await source.lazy.collect(),
  );
  request.signal.throwIfAborted();
  request.onProgress({ rows: frame.height, chunk: 0 });
  return { frame, rows: frame.height, columns: frame.columns, format, bytes, mtimeMs };
}

/** `bytes` in MiB, one decimal: `32.0 MiB`. */
function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export class LocalSource implements SourceConnector {
  readonly kind = 'local';
  /** @param root the absolute root folder; @param connectorName for check() reasons (`connectors.<name>.root`). */
  constructor(
    private readonly root: string,
    private readonly connectorName = 'local',
  ) {}

  /**
   * The root exists, is a folder, can be listed, and a temporary file can be written and deleted in it (Sluice
   * moves processed files out of it). Never rejects.
   */
  async check(options: CheckOptions = {}): Promise<CheckResult> {
    const root = this.root;
    const fix = `connectors.${this.connectorName}.root`;
    return probe(options, {
      body: async () => {
        let info;
        try {
          info = await stat(root);
        } catch (error) {
          if (errorCode(error) === 'ENOENT') throw new CheckFailure(`${root} does not exist — create it, or fix ${fix}`, 'SOURCE_NOT_FOUND');
          throw error;
        }
        if (!info.isDirectory()) throw new CheckFailure(`${root} is not a directory — fix ${fix}`);
        try {
          await access(root, constants.R_OK | constants.X_OK);
          await readdir(root);
        } catch (error) {
          throw new CheckFailure(`${root} cannot be listed by this user (${errorCode(error) ?? messageOf(error)}) — fix its permissions`, 'PERMISSION_DENIED');
        }
        const scratch = path.join(root, `.sluice-test-connections-${process.pid}-${randomUUID().slice(0, 8)}`);
        try {
          await writeFile(scratch, 'sluice test-connections\n', { flag: 'wx' });
        } catch (error) {
          throw new CheckFailure(`${root} is not writable by this user (${errorCode(error) ?? messageOf(error)}) — fix its permissions (Sluice moves processed files out of it)`, 'PERMISSION_DENIED');
        }
        await rm(scratch, { force: true });
        return { reason: `${root} is a readable and writable directory`, detail: { root } };
      },
      explain: (error) => `${messageOf(error)} — check ${fix}`,
      onTimeout: `is ${root} on a hung network mount?`,
    });
  }

  async stage(request: StageSourceRequest): Promise<StagedSource> {
    const file = resolveUnderRoot(this.root, request.sourcePath);
    return stageFile(file, detectFormat(file, request.spec.source.format), request, path.relative(realpathSync(this.root), file));
  }

  async hold(request: HoldSourceRequest): Promise<HeldSource | undefined> {
    const file = resolveUnderRoot(this.root, request.sourcePath);
    if (statSync(file).size > request.maxBytes) return undefined;
    return holdFile(file, detectFormat(file, request.spec.source.format), request, path.relative(realpathSync(this.root), file));
  }
}
