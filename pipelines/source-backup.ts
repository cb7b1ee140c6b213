/**
 * Source backups: after a pipeline job loaded a local file, the file moves to
 * `data/backup/<date>/<relative path>`, so `data/import/` holds only what has not been loaded yet.
 *
 * The relative path is taken from `data/import/` when the file is under it, else from the connector's
 * root. A file already there is never overwritten: the new one gets a suffix (`companies.1.csv`,
 * `companies.2.csv`, …). Moving is a hard link then an unlink of the source (a rename that cannot
 * overwrite, even in a race); across file systems, a copy (refusing to overwrite) then the unlink.
 *
 * @example
 * ```ts
 * await moveToBackup({ file: '/p/data/import/companies_2026-11-21.csv', root: '/p', importDir: '/p/data/import', backupDir: '/p/data/backup', date: '2026-11-21' });
 * // → '/p/data/backup/2026-11-21/companies_2026-11-21.csv'
 * ```
 */
import { constants, existsSync, realpathSync } from 'node:fs';
import { copyFile, link, mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';

/** Options of {@link moveToBackup}. */
export interface MoveToBackupOptions {
  /** The source file, absolute and resolved (no symlinks). */
  file: string;
  /** The connector's root, absolute. */
  root: string;
  /** The project's `data/import/` folder, absolute. */
  importDir: string;
  /** The project's `data/backup/` folder, absolute. */
  backupDir: string;
  /** YYYY-MM-DD: the pipeline run's date. */
  date: string;
}

const isInside = (parent: string, child: string) => {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
};

const real = (dir: string) => (existsSync(dir) ? realpathSync(dir) : path.resolve(dir));

/** Where a file goes in the backup folder, before any suffix. */
export function backupTarget(options: MoveToBackupOptions): string {
  const importDir = real(options.importDir);
  const base = isInside(importDir, options.file) ? importDir : real(options.root);
  const relative = isInside(base, options.file) ? path.relative(base, options.file) : path.basename(options.file);
  return path.join(options.backupDir, options.date, relative);
}

/** `name.ext`, `name.1.ext`, `name.2.ext`, … */
function candidate(target: string, n: number): string {
  if (n === 0) return target;
  const ext = path.extname(target);
  return `${target.slice(0, target.length - ext.length)}.${n}${ext}`;
}

/** The last existing `target`, `target.1`, … (where an earlier attempt moved the file), or null. */
export function lastBackup(target: string): string | null {
  let found: string | null = null;
  for (let n = 0; existsSync(candidate(target, n)); n++) found = candidate(target, n);
  return found;
}

/**
 * Moves `file` into the backup folder, never overwriting.
 * @returns the new absolute path.
 */
export async function moveToBackup(options: MoveToBackupOptions): Promise<string> {
  const target = backupTarget(options);
  await mkdir(path.dirname(target), { recursive: true });
  for (let n = 0; ; n++) {
    const destination = candidate(target, n);
    if (existsSync(destination)) continue;
    try {
      // A hard link fails if the destination appeared meanwhile, so nothing is overwritten even in a race.
      await copyOrLink(options.file, destination);
      await unlink(options.file);
      return destination;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw error;
    }
  }
}

/** Links `from` at `to` (same file system), else copies it; both refuse an existing `to` (EEXIST). */
async function copyOrLink(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw error;
    // Another file system (or no hard links there): copy, refusing to overwrite, then the caller unlinks.
    await copyFile(from, to, constants.COPYFILE_EXCL);
  }
}
