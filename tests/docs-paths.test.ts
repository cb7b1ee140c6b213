/**
 * Docs say only what is true about the tree: every file or folder path and every link that README.md,
 * docs/*.md and the folder READMEs name must exist (rules in `tests/helpers/docs-paths.ts`).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { checkDocument, documentsOf, folderMap, githubSlug, headingSlugs, readRepository, topLevelFolders, type PathReference } from './helpers/docs-paths';

/** Compiled to dist/tests/, so the repository root is two folders up. */
const ROOT = path.resolve(__dirname, '..', '..');

const describeProblems = (references: PathReference[]): string[] =>
  references.filter((reference) => reference.problem).map((r) => `${r.file}:${r.line}: ${r.kind} ${r.target}: ${r.problem}`);

describe('docs name only paths that exist', () => {
  const repo = readRepository(ROOT);
  const documents = documentsOf(repo);
  const references = documents.flatMap((file) => checkDocument(file, readFileSync(path.join(ROOT, file), 'utf8'), repo));

  it('reads README.md, every docs/*.md and the folder READMEs', () => {
    for (const file of ['README.md', 'docs/decisions.md', 'docs/webhooks.md', 'docker/README.md', 'webhook-gateway/README.md']) {
      assert.ok(documents.includes(file), `${file} is checked`);
    }
  });

  it('finds the links and inline paths the README names', () => {
    const readme = references.filter((reference) => reference.file === 'README.md');
    assert.ok(readme.some((r) => r.kind === 'link' && r.target === 'docs/webhooks.md'), 'the docs/webhooks.md link is seen');
    assert.ok(readme.some((r) => r.kind === 'link' && r.target === 'docs/flow-spec.md#s3-connector'), 'a link with an anchor is seen');
    assert.ok(readme.some((r) => r.kind === 'code' && r.target === 'common/run-model.ts'), 'an inline-code path is seen');
  });

  it('every linked file, heading anchor and inline-code path exists', () => {
    assert.deepEqual(describeProblems(references), []);
  });

  it("the README's folder map names every top-level folder once, and no other", () => {
    const map = folderMap(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    assert.deepEqual(map.map((entry) => entry.folder).sort(), topLevelFolders(repo));
  });
});

describe('the docs path checker', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sluice-docs-paths-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'docs'));
  mkdirSync(path.join(root, 'storage'));
  writeFileSync(path.join(root, 'storage', 'staging.ts'), '');
  writeFileSync(path.join(root, 'docs', 'guide.md'), '# Guide\n\n## The S3 connector\n\n## Names\n\n## Names\n');
  const repo = readRepository(root);
  const check = (text: string, file = 'README.md'): string[] =>
    describeProblems(checkDocument(file, text, repo)).map((line) => line.replace(/^[^:]+:/, ''));

  it('reports a missing file, folder, link or anchor with its line', () => {
    const text = [
      'See `storage/staging.ts` and `storage/gone.ts`, the folder `tests/`,',
      'a retired room `data-store/data-store.ts`, a bare `run-bench.ts`,',
      '[the guide](docs/guide.md#the-s3-connector), [old](docs/errors.md), [bad anchor](docs/guide.md#s3)',
      '[here](#top) and [names](docs/guide.md#names-1)',
    ].join('\n');
    assert.deepEqual(check(text), [
      '1: code storage/gone.ts: no such file or folder',
      '2: code data-store/data-store.ts: no such file or folder',
      '2: code run-bench.ts: no such file or folder',
      '3: link docs/errors.md: no such file or folder',
      '3: link docs/guide.md#s3: no heading with anchor #s3',
      '4: link #top: no heading with anchor #top',
    ]);
  });

  it('skips URLs, templates, runtime paths, project paths and fenced code', () => {
    const text = [
      '[Temporal](https://temporal.io), `s3://bucket/new.csv`, `pipelines/<name>.yaml`, `data/backup/2026-11-21/`,',
      '`.sluice/staging/`, `/usr/bin/chromium`, `logs/`, `maps/accounts.ts`, `flow:vN`, `{date}/x.ts`',
      '```sh',
      'node dist/gone/main.js storage/gone.ts',
      '```',
      '`[x](docs/missing.md)` in code is not a link',
    ].join('\n');
    assert.deepEqual(check(text), []);
  });

  it('resolves links from the markdown file and inline paths from the root', () => {
    assert.deepEqual(check('[readme](../README.md) and `storage/staging.ts` and [guide](guide.md)', 'docs/x.md'), ['1: link ../README.md: no such file or folder']);
  });

  it("reads the folder map from the README's \"Where things are\" table only", () => {
    const readme = ['## Setup', '| `cli/` | not the map |', '## Where things are', '| folder | what |', '|---|---|', '| `storage/` | staging |', '| `docs/` | docs |', '## Tests', '| `bench/` | no |'].join('\n');
    assert.deepEqual(folderMap(readme), [{ folder: 'storage', line: 6 }, { folder: 'docs', line: 7 }]);
    assert.deepEqual(topLevelFolders(repo), ['docs', 'storage']);
  });

  it('makes GitHub anchors from headings', () => {
    assert.equal(githubSlug('Scaling out: several workers, S3 staging'), 'scaling-out-several-workers-s3-staging');
    assert.equal(githubSlug('`sluice init` and [the API](x.md)'), 'sluice-init-and-the-api');
    assert.equal(githubSlug('Idempotent starts and crash safety'), 'idempotent-starts-and-crash-safety');
    assert.deepEqual([...headingSlugs('# A\n```\n# not a heading\n```\n## A\n')], ['a', 'a-1']);
  });
});
