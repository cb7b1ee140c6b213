/**
 * The `local` connector as a source: files under a root folder.
 *
 * `source_path` is a path relative to the root, an absolute path under it, or a `file://` URI;
 * anything that resolves (symlinks included) outside the root is refused.
 *
 * Staging streams with Polars' lazy engine (`scan* → sinkParquet`), so CSV, NDJSON and Parquet
 * sources never sit whole in memory. A JSON array cannot be streamed by Polars: it is read whole
 * (schema inferred over every row — movies.json's later rows differ from its first ones);
 * use NDJSON for large sources.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pl from 'nodejs-polars';
import { SourceError } from '../../common/errors';
import type { SourceFormat } from '../../flows/flow-spec';
import type { SourceConnector, StagedSource, StageSourceRequest } from '../connector';

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

/**
 * Stages one local (or already downloaded) file as a single Parquet file in `stagingDir`.
 * Shared by every file-based source connector.
 * @throws SourceError `UNREADABLE_SOURCE` with Polars' message when the file is not valid `format`.
 */
export async function stageFile(file: string, format: SourceFormat, request: StageSourceRequest): Promise<StagedSource> {
  const out = path.join(request.stagingDir, 'source-00000.parquet');
  const csv = request.spec.source.csv ?? {};
  try {
    if (format === 'json') {
      pl.readJSON(file, { format: 'json', inferSchemaLength: null } as never).writeParquet(out);
    } else {
      let lazy: pl.LazyDataFrame;
      if (format === 'csv') {
        lazy = pl.scanCSV(file, {
          // Every CSV column is read as text; the flow's field types do the casting, row by row.
          inferSchemaLength: 0,
          hasHeader: csv.has_header ?? true,
          sep: csv.delimiter ?? ',',
          quoteChar: csv.quote ?? '"',
          encoding: csv.encoding ?? 'utf8',
        } as never);
      } else if (format === 'ndjson') {
        lazy = pl.scanJson(file, { inferSchemaLength: null } as never);
      } else {
        lazy = pl.scanParquet(file);
      }
      await lazy.sinkParquet(out, { maintainOrder: true, rowGroupSize: 65_536 }).collect();
    }
  } catch (error) {
    const message = (error as Error).message.split('\n').slice(0, 3).join(' ');
    throw new SourceError('UNREADABLE_SOURCE', `cannot read ${path.basename(file)} as ${format}: ${message}`, { cause: error });
  }
  const meta = pl.scanParquet(out);
  const columns = meta.columns;
  const rows = Number(meta.select(pl.len().alias('n')).collectSync().getColumn('n').get(0));
  request.onProgress({ rows, chunk: 0 });
  return { files: [{ path: out, rows }], rows, columns, format };
}

export class LocalSource implements SourceConnector {
  readonly kind = 'local';
  constructor(private readonly root: string) {}

  async check(): Promise<void> {
    if (!existsSync(this.root) || !statSync(this.root).isDirectory()) throw new Error(`root ${this.root} is not a folder`);
  }

  async stage(request: StageSourceRequest): Promise<StagedSource> {
    const file = resolveUnderRoot(this.root, request.sourcePath);
    return stageFile(file, detectFormat(file, request.spec.source.format), request);
  }
}
