/**
 * Downloads that file-based sources (s3, sftp) stage through: a local scratch name for the remote file and a
 * pass-through stream that reports the bytes received, so a long download keeps its activity heartbeating.
 */
import path from 'node:path';
import { Transform } from 'node:stream';
import type { StageSourceRequest } from '../connector';

/** Bytes downloaded between two progress callbacks (heartbeats): 8 MiB. */
export const PROGRESS_BYTES = 8 * 1024 * 1024;

/**
 * Where a download of the remote `name` is kept in `dir`: its base name with every character outside
 * `[A-Za-z0-9_.-]` replaced by `_` and no leading dots, or `fallback` when nothing is left.
 * @example downloadPath('/s/download', 'in/Order List.csv', 'object') === '/s/download/Order_List.csv'
 */
export function downloadPath(dir: string, name: string, fallback: string): string {
  return path.join(dir, path.posix.basename(name).replace(/[^\w.-]/g, '_').replace(/^\.+/, '') || fallback);
}

/** A pass-through stream that calls `onProgress({ rows: 0, chunk: 0, bytes })` every {@link PROGRESS_BYTES} bytes. */
export function downloadProgress(onProgress: StageSourceRequest['onProgress']): Transform {
  let bytes = 0;
  let reported = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes - reported >= PROGRESS_BYTES) {
        reported = bytes;
        onProgress({ rows: 0, chunk: 0, bytes } as Parameters<typeof onProgress>[0]);
      }
      callback(null, chunk);
    },
  });
}
