/**
 * What `npm pack` puts in the package (package.json `files`): the built CLI and SDK (dist/, with type
 * declarations), the prebuilt workflow bundle, README and package.json — and no tests, benchmarks, test
 * helpers, source maps or TypeScript sources. Listed with `npm pack --dry-run --json --ignore-scripts` over
 * the current dist/; the real pack (its `prepack` builds dist/ and the bundle) and an install from it are in
 * tests/integration/install.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

/** Compiled to dist/tests/, so the repository root is two folders up. */
const ROOT = path.resolve(__dirname, '..', '..');

interface PackListing {
  filename: string;
  files: { path: string }[];
}

describe('npm pack', () => {
  const listing = (JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as PackListing[])[0]!;
  const files = listing.files.map((f) => f.path);
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; scripts: Record<string, string>; main: string };

  it('is named sluice-<version>.tgz', () => {
    assert.equal(listing.filename, `sluice-${pkg.version}.tgz`);
  });

  it('holds the CLI the bin names, the client SDK with its types, every production layer, README and package.json', () => {
    for (const file of [pkg.bin.sluice!, pkg.main, 'dist/client/index.d.ts', 'dist/local-stack/scaffold.js', 'dist/worker/sluice-worker.js', 'dist/workflows/index.js', 'dist/cli/mail-command.js', 'README.md', 'package.json']) {
      assert.ok(files.includes(file), `${file} is packed`);
    }
    assert.match(readFileSync(path.join(ROOT, pkg.bin.sluice!), 'utf8'), /^#!\/usr\/bin\/env /, 'the bin starts with a shebang');
  });

  it('holds the prebuilt workflow bundle, which prepack builds', () => {
    assert.match(pkg.scripts.prepack!, /build:bundle/, 'prepack builds dist/ and the workflow bundle');
    assert.match(pkg.scripts['build:bundle']!, /tsconfig\.build\.json/, 'with the production tsconfig (no tests)');
    // The bundle is in dist/ once `npm run build:bundle` ran (any `npm pack` does); `files` must not drop it.
    if (existsSync(path.join(ROOT, 'dist', 'workflow-bundle.js'))) assert.ok(files.includes('dist/workflow-bundle.js'), 'dist/workflow-bundle.js is packed');
    // The console's build (dist/console/, served at /ui) ships with the package once built (build:bundle builds it).
    assert.match(pkg.scripts['build:bundle']!, /build:console/, 'prepack builds the console');
    if (existsSync(path.join(ROOT, 'dist', 'console', 'index.html'))) assert.ok(files.includes('dist/console/index.html'), 'dist/console/index.html is packed');
  });

  it('holds no tests, test helpers, benchmarks, source maps or sources', () => {
    const unwanted = files.filter(
      (file) =>
        file.startsWith('dist/tests/') ||
        file.startsWith('dist/bench/') ||
        /\.test\.(js|d\.ts)$/.test(file) ||
        file.endsWith('.js.map') ||
        (file.endsWith('.ts') && !file.endsWith('.d.ts')) ||
        !(file.startsWith('dist/') || file === 'README.md' || file === 'package.json' || /^LICENSE/.test(file)),
    );
    assert.deepEqual(unwanted, []);
  });
});
