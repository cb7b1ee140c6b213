/**
 * Names in the data store, and the run ids that scope pipeline data.
 *
 * A name is a relative, `/`-separated path inside its scope: `reports/2024-06.csv`. Refused (with a
 * {@link DataStoreError} `INVALID_DATA_NAME` saying what is wrong and how to fix it): an empty name,
 * a name over 1024 bytes (UTF-8), an absolute path (`/a`), a backslash, a control character
 * (U+0000–U+001F, U+007F–U+009F), an empty segment (`a//b`, a trailing `/`), a `.` or `..`
 * segment, and a segment over 255 bytes (a file name on disk). Because no name can leave its scope, one scope can never address another's objects.
 */
import { DataStoreError } from './data-store-error';

/** Longest name, in UTF-8 bytes (S3's key limit is 1024 bytes, and the scope root is added to it). */
export const MAX_NAME_BYTES = 1024;

/** Longest segment between two `/`, in UTF-8 bytes (a file name on most file systems). */
export const MAX_SEGMENT_BYTES = 255;

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;

function controlCharOf(text: string): string | undefined {
  const found = CONTROL.exec(text)?.[0];
  return found === undefined ? undefined : `U+${found.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The problem with a name or prefix, or undefined when it is valid. */
function problemOf(text: string, kind: 'name' | 'prefix'): string | undefined {
  const shown = JSON.stringify(text);
  if (kind === 'name' && text.length === 0) return 'data name must not be empty; give a relative name such as "reports/2024-06.csv"';
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_NAME_BYTES) {
    return `data ${kind} ${JSON.stringify(`${text.slice(0, 40)}…`)} is ${bytes} bytes long; the limit is ${MAX_NAME_BYTES} bytes (UTF-8): use a shorter ${kind}`;
  }
  const control = controlCharOf(text);
  if (control) return `data ${kind} ${shown} contains a control character (${control}); use printable characters only`;
  if (text.includes('\\')) return `data ${kind} ${shown} contains a backslash; separate folders with "/"`;
  if (text.startsWith('/')) {
    return `data ${kind} ${shown} is an absolute path; names are relative to their scope: use ${JSON.stringify(text.replace(/^\/+/, ''))}`;
  }
  const segments = text.split('/');
  // A prefix may end with "/" (everything in a folder); a name may not.
  if (kind === 'prefix' && segments.length > 1 && segments[segments.length - 1] === '') segments.pop();
  if (kind === 'prefix' && text.length === 0) return undefined;
  if (segments.some((s) => s === '..')) return `data ${kind} ${shown} contains a ".." segment; names cannot leave their scope: remove the ".." segment`;
  if (segments.some((s) => s === '.')) return `data ${kind} ${shown} contains a "." segment; remove the "./"`;
  if (segments.some((s) => s === '')) return `data ${kind} ${shown} contains an empty segment ("//" or a trailing "/"); remove the extra "/"`;
  const long = segments.find((s) => Buffer.byteLength(s, 'utf8') > MAX_SEGMENT_BYTES);
  if (long !== undefined) return `data ${kind} ${shown} has a segment of ${Buffer.byteLength(long, 'utf8')} bytes; the limit is ${MAX_SEGMENT_BYTES} bytes between two "/" (a file name on disk): split it into folders`;
  return undefined;
}

/**
 * Checks a data name.
 * @throws DataStoreError `INVALID_DATA_NAME` saying what is wrong and how to fix it.
 */
export function validateDataName(name: string): string {
  if (typeof name !== 'string') throw new DataStoreError('INVALID_DATA_NAME', `data name must be a string, not ${typeof name}`);
  const problem = problemOf(name, 'name');
  if (problem) throw new DataStoreError('INVALID_DATA_NAME', problem, { details: { name } });
  return name;
}

/**
 * Checks a listing prefix: like a name, but it may be empty (everything) or end with `/`.
 * @throws DataStoreError `INVALID_DATA_NAME`.
 */
export function validateDataPrefix(prefix: string): string {
  if (typeof prefix !== 'string') throw new DataStoreError('INVALID_DATA_NAME', `data prefix must be a string, not ${typeof prefix}`);
  const problem = problemOf(prefix, 'prefix');
  if (problem) throw new DataStoreError('INVALID_DATA_NAME', problem, { details: { prefix } });
  return prefix;
}

/**
 * Checks a run id used to scope pipeline data: one path segment of at most 255 bytes, no `/`,
 * backslash or control character, not `.` or `..`.
 * @throws DataStoreError `INVALID_RUN_ID`.
 */
export function validateRunId(runId: string): string {
  const shown = JSON.stringify(runId);
  const problem =
    typeof runId !== 'string' || runId.length === 0
      ? 'must not be empty'
      : Buffer.byteLength(runId, 'utf8') > 255
        ? 'is longer than 255 bytes'
        : controlCharOf(runId)
          ? `contains a control character (${controlCharOf(runId)})`
          : /[/\\]/.test(runId)
            ? 'contains "/" or a backslash'
            : runId === '.' || runId === '..'
              ? 'is "." or ".."'
              : undefined;
  if (problem) {
    throw new DataStoreError('INVALID_RUN_ID', `run id ${typeof runId === 'string' ? shown : String(runId)} ${problem}; pipeline data is scoped by a run id such as "movies-v1-2d8005a1aaecf9bb"`, {
      details: { runId },
    });
  }
  return runId;
}

/** Orders names by their UTF-8 bytes, as S3 lists keys. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
