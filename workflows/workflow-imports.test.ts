/**
 * Guard: workflow code is bundled by webpack and must be deterministic, so workflow files (and the
 * local modules they import at runtime) may import only `@temporalio/workflow` — everything else
 * (activities, pg, nodejs-polars, Node built-ins) only as `import type`.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';

const SOURCE_DIR = path.resolve(__dirname, '..', '..', 'workflows');

/** Runtime (non-type) import specifiers of a TypeScript source file. */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  for (const match of text.matchAll(/^\s*(import|export)\s+(type\s+)?([^;]*?)\s+from\s+'([^']+)'/gms)) {
    if (match[2]) continue; // import type / export type
    specifiers.push(match[4]!);
  }
  for (const match of text.matchAll(/\brequire\(\s*'([^']+)'\s*\)|\bimport\(\s*'([^']+)'\s*\)/g)) specifiers.push((match[1] ?? match[2])!);
  return specifiers;
}

it('workflow files import only @temporalio/workflow at runtime (transitively)', () => {
  const queue = readdirSync(SOURCE_DIR)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => path.join(SOURCE_DIR, f));
  assert.ok(queue.length >= 2, 'found the workflow sources');
  const seen = new Set<string>();
  const offending: string[] = [];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of runtimeImports(file)) {
      if (specifier === '@temporalio/workflow') continue;
      if (specifier.startsWith('.')) {
        const target = path.resolve(path.dirname(file), specifier);
        const candidate = [`${target}.ts`, path.join(target, 'index.ts')].find((c) => existsSync(c));
        if (candidate) queue.push(candidate);
        else offending.push(`${path.relative(SOURCE_DIR, file)}: unresolved ${specifier}`);
        continue;
      }
      offending.push(`${path.relative(path.dirname(SOURCE_DIR), file)} imports "${specifier}"`);
    }
  }
  assert.deepEqual(offending, []);
  assert.ok([...seen].some((f) => f.endsWith(path.join('common', 'run-model.ts'))), 'followed the shared run model');
});
