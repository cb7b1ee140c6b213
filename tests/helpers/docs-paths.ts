/**
 * Finds the file paths a markdown document names that do not exist in the repository, so docs cite
 * only files that are there (checked by `tests/docs-paths.test.ts`).
 *
 * What is checked, outside fenced code blocks:
 * - **links** `[text](target)` and `[text](target#anchor)` that are not URLs: the target, resolved from
 *   the markdown file's folder, must exist; an `#anchor` into a `.md` file (or `#anchor` alone, into the
 *   same file) must be the GitHub slug of one of its headings;
 * - **inline-code paths**, e.g. `` `storage/staging.ts` ``, `` `tests/helpers/` ``, `` `docs/flow-spec.md` ``,
 *   resolved from the repository root. A span counts as a repository path when it is made of path
 *   characters only (letters, digits, `.`, `_`, `-`, `/`), does not start with `.` or `/`, and either
 *   (a) has a `/` and its first segment is a top-level entry of the repository (`storage/…`, `docs/…`),
 *   (b) has a `/` and ends in `.ts` or `.md` (so a file under a folder that no longer exists fails), or
 *   (c) is a bare `name.ts` / `name.md`, resolved from the markdown file's folder (a folder's README
 *   names its own files by their base name; elsewhere write the path from the root).
 *
 * Not checked: spans with anything else (`<name>`, `{date}`, `*`, `…`, spaces, `:` as in `s3://` or
 * `flow:vN`), so templates, URIs and code are prose; runtime and absolute paths (`.sluice/staging/`,
 * `/usr/bin/chromium`); folders that are not the repository's (`data/backup/`, `logs/`, `maps/`);
 * fenced code blocks; and the few paths of a user's project listed in {@link PROJECT_PATHS}.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Paths the docs name that belong to a user's project or are created by the user, not to this
 * repository, although they look like repository paths by the rules above.
 */
export const PROJECT_PATHS: ReadonlyMap<string, string> = new Map([
  ['pipelines/daily.yaml', 'the pipeline `sluice init` scaffolds in a project'],
  ['maps/accounts.ts', 'a custom map in a project (flow-spec example)'],
  ['docker/.env', 'the git-ignored env file a user writes for Compose'],
  ['docker/compose.local.yaml', 'an override file a user writes for Compose'],
]);

/** Entries of the repository root that are not part of the repository's tree. */
/** Installed and generated folders, git-ignored: `test-output/` holds test artifacts (the console's screenshots). */
const NOT_REPOSITORY = new Set(['node_modules', 'dist', 'test-output']);

/** One path a document names, where, and whether it exists. */
export interface PathReference {
  /** Markdown file, relative to the repository root (`docs/webhooks.md`). */
  file: string;
  /** 1-based line number. */
  line: number;
  /** `link` for `[x](target)`, `code` for an inline-code path. */
  kind: 'link' | 'code';
  /** The target as written (`../docs/webhooks.md#signatures`, `storage/staging.ts`). */
  target: string;
  /** Why it does not resolve; absent when it does. */
  problem?: string;
}

/** The repository a document is checked against. */
export interface Repository {
  /** Absolute path of the repository root. */
  root: string;
  /** Names of the root's entries (files and folders), without `node_modules`, `dist` and dot-entries. */
  topLevel: ReadonlySet<string>;
}

/** Reads the top-level entries of the repository at `root`. */
export function readRepository(root: string): Repository {
  return { root, topLevel: new Set(readdirSync(root).filter((name) => !name.startsWith('.') && !NOT_REPOSITORY.has(name))) };
}

/** The repository's top-level folders (`activities`, `docs`, …), sorted. */
export function topLevelFolders(repo: Repository): string[] {
  return [...repo.topLevel].filter((name) => statSync(path.join(repo.root, name)).isDirectory()).sort();
}

/**
 * The markdown files whose paths are checked: `README.md`, every `docs/*.md`, and the README of each
 * top-level folder (`docker/README.md`, `webhook-gateway/README.md`). Paths relative to the root.
 */
export function documentsOf(repo: Repository): string[] {
  const files = ['README.md'];
  files.push(...readdirSync(path.join(repo.root, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`));
  for (const name of [...repo.topLevel].sort()) {
    if (existsSync(path.join(repo.root, name, 'README.md'))) files.push(`${name}/README.md`);
  }
  return files;
}

/**
 * GitHub's anchor for a heading: the rendered text lower-cased, everything but letters, digits, `_`,
 * `-` and spaces removed, spaces turned into `-` (the rules of `github-slugger`); links count by their
 * text. Repeated headings get `-1`, `-2`… from {@link headingSlugs}.
 */
export function githubSlug(heading: string): string {
  const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '');
  return text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '').replace(/ /g, '-');
}

/** The anchors of every ATX heading (`## Title`) of a markdown text, outside fenced code blocks. */
export function headingSlugs(text: string): Set<string> {
  const slugs = new Set<string>();
  const seen = new Map<string, number>();
  for (const { content } of proseLines(text)) {
    const match = /^ {0,3}#{1,6}\s+(.*)$/.exec(content);
    if (!match) continue;
    const slug = githubSlug(match[1]!.replace(/\s+#+\s*$/, '').trim());
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    slugs.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return slugs;
}

/** The lines of a markdown text outside fenced code blocks (``` or ~~~), with 1-based numbers. */
function proseLines(text: string): Array<{ line: number; content: string }> {
  const lines: Array<{ line: number; content: string }> = [];
  let fence: string | null = null;
  text.split('\n').forEach((content, index) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(content)?.[1];
    if (fence !== null) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = null;
    } else if (marker) {
      fence = marker;
    } else {
      lines.push({ line: index + 1, content });
    }
  });
  return lines;
}

const INLINE_CODE = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g;
const LINK = /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
const URL_SCHEME = /^[a-z][a-z0-9+.-]*:/i;
const PATH_CHARS = /^[A-Za-z0-9_][A-Za-z0-9._/-]*$/;

/** Whether an inline-code span is a repository path by the rules in the module doc. */
export function isRepositoryPath(span: string, repo: Repository): boolean {
  if (!PATH_CHARS.test(span) || PROJECT_PATHS.has(span)) return false;
  const code = /\.(ts|md)$/.test(span);
  if (!span.includes('/')) return code;
  return repo.topLevel.has(span.split('/')[0]!) || code;
}

/**
 * Every link and inline-code path of the markdown file `file` (relative to the repository root), each
 * with a `problem` when it does not resolve.
 */
export function checkDocument(file: string, text: string, repo: Repository): PathReference[] {
  const references: PathReference[] = [];
  const dir = path.dirname(path.join(repo.root, file));
  const slugCache = new Map<string, Set<string>>();
  const slugsOf = (absolute: string): Set<string> => {
    let slugs = slugCache.get(absolute);
    if (!slugs) slugCache.set(absolute, (slugs = headingSlugs(readFileSync(absolute, 'utf8'))));
    return slugs;
  };
  const ownSlugs = headingSlugs(text);

  for (const { line, content } of proseLines(text)) {
    for (const match of content.matchAll(INLINE_CODE)) {
      const span = match[2]!.trim();
      if (!isRepositoryPath(span, repo)) continue;
      const found = existsSync(span.includes('/') ? path.join(repo.root, span) : path.join(dir, span));
      references.push({ file, line, kind: 'code', target: span, ...(found ? {} : { problem: 'no such file or folder' }) });
    }
    const prose = content.replace(INLINE_CODE, (whole) => ' '.repeat(whole.length));
    for (const match of prose.matchAll(LINK)) {
      const target = match[1]!;
      if (URL_SCHEME.test(target)) continue;
      const [targetPath = '', anchor] = target.split('#', 2);
      let problem: string | undefined;
      const absolute = targetPath === '' ? path.join(repo.root, file) : path.resolve(dir, decodeURIComponent(targetPath));
      if (targetPath !== '' && !existsSync(absolute)) problem = 'no such file or folder';
      else if (anchor !== undefined && (targetPath === '' || absolute.endsWith('.md'))) {
        const slugs = targetPath === '' ? ownSlugs : slugsOf(absolute);
        if (!slugs.has(decodeURIComponent(anchor))) problem = `no heading with anchor #${anchor}`;
      }
      references.push({ file, line, kind: 'link', target, ...(problem ? { problem } : {}) });
    }
  }
  return references;
}

/** One row of the README's folder map: the folder it names (without the `/`) and its line. */
export interface FolderMapEntry {
  folder: string;
  line: number;
}

/**
 * The folders of the README's "Where things are" section: the first inline-code span of each table
 * row, `` | `storage/` | … | `` → `storage`. Empty when the section is missing.
 */
export function folderMap(readme: string): FolderMapEntry[] {
  const entries: FolderMapEntry[] = [];
  let inSection = false;
  for (const { line, content } of proseLines(readme)) {
    const heading = /^ {0,3}(#{1,6})\s+(.*)$/.exec(content);
    if (heading) {
      inSection = heading[1] === '##' && heading[2]!.trim() === 'Where things are';
      continue;
    }
    const row = inSection ? /^\|\s*`([^`/]+)\/`\s*\|/.exec(content) : null;
    if (row) entries.push({ folder: row[1]!, line });
  }
  return entries;
}
