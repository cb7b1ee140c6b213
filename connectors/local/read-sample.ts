/**
 * Reads a sample file the way a run stages it (the same code: {@link stageFile}), for the commands
 * that look at data before a flow is a version: `flows check --source`, `flows preview`, `flows init`.
 * The staged copy goes to a private temporary folder that is removed before this returns: no
 * staging store, no connector root, no Temporal.
 *
 * @example
 * ```ts
 * const sample = await readSample('data/cars.csv', spec.source);
 * sample.frame.schema; // { Name: String, Horsepower: String, … } — CSV columns are text, as staged
 * ```
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pl from 'nodejs-polars';
import { SourceError } from '../../common/errors';
import type { FlowSpec, SourceFormat } from '../../flows/flow-spec';
import { detectFormat, stageFile } from './local-source';

export interface Sample {
  /** Every row of the sample, as staged (CSV columns are text; nested values their JSON text). */
  frame: pl.DataFrame;
  format: SourceFormat;
  /** The file as the user named it, for messages. */
  name: string;
}

/**
 * @param file a path (relative to the working directory, or absolute).
 * @param source the flow's `source` (its `format` and `csv` options); without it, the format comes from the extension.
 * @throws SourceError `SOURCE_NOT_FOUND`, `SOURCE_NOT_A_FILE`, `UNKNOWN_FORMAT`, `UNREADABLE_SOURCE`, `DUPLICATE_COLUMN`.
 */
export async function readSample(file: string, source?: FlowSpec['source']): Promise<Sample> {
  if (!existsSync(file)) throw new SourceError('SOURCE_NOT_FOUND', `sample file "${file}" does not exist`);
  if (!statSync(file).isFile()) throw new SourceError('SOURCE_NOT_A_FILE', `sample "${file}" is not a file`);
  const format = detectFormat(file, source?.format);
  const stagingDir = mkdtempSync(path.join(tmpdir(), 'sluice-sample-'));
  try {
    // stageFile reads only `spec.source` (format options) from the flow.
    const spec = { source: source ?? { connector: 'sample' } } as FlowSpec;
    const controller = new AbortController();
    const staged = await stageFile(path.resolve(file), format, { sourcePath: file, spec, stagingDir, chunkRows: Number.MAX_SAFE_INTEGER, onProgress: () => undefined, signal: controller.signal }, file);
    const frames = staged.files.map((f) => pl.readParquet(f.path));
    return { frame: frames.length === 1 ? frames[0]! : pl.concat(frames), format, name: file };
  } finally {
    rmSync(stagingDir, { recursive: true, force: true });
  }
}
