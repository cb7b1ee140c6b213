/**
 * The production build (`tsconfig.build.json`: `npm run build`, the Docker images) holds the project's own code
 * only: no test, test helper or benchmark file, and none reached through an import either (the compiler follows
 * imports, so production code importing `tests/helpers/…` would pull it in and fail here).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { it } from 'node:test';

/** Compiled to dist/tests/, so the project root is two folders up. */
const PROJECT_DIR = path.resolve(__dirname, '..', '..');

it('the production build lists no test, test helper or benchmark file', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const listed = execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--listFilesOnly'], { cwd: PROJECT_DIR, encoding: 'utf8' })
    .split('\n')
    .filter((file) => file.trim() !== '' && !file.includes(`${path.sep}node_modules${path.sep}`))
    .map((file) => path.relative(PROJECT_DIR, file));
  assert.ok(listed.includes(path.join('cli', 'main.ts')), `cli/main.ts is built (listed: ${listed.length} files)`);
  assert.ok(listed.includes(path.join('worker', 'sluice-worker.ts')), 'worker/sluice-worker.ts is built');
  const outOfPlace = listed.filter((file) => /\.test\.ts$/.test(file) || file.startsWith(`tests${path.sep}`) || file.startsWith(`bench${path.sep}`));
  assert.deepEqual(outOfPlace, [], 'production code imports no test, test helper or benchmark');
});
