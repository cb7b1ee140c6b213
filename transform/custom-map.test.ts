/**
 * Unit tests of custom maps: finding, compiling and loading map files (TypeScript, Sluice's own
 * nodejs-polars, one cached module per (path, sha256)), and checking what a map returns.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import pl from 'nodejs-polars';
import pino from 'pino';
import { FlowSpecError, TransformError } from '../common/errors';
import { validateFlowSpec, type FlowSpec } from '../flows/flow-spec';
import { contentHash, withMapHash } from '../flows/flow-versions';
import { applyCustomMap, mapInput, type MapContext } from './custom-map';
import { ROW_COLUMN } from './map-chunk';
import { loadMap, readMapFile, sha256Hex } from '../flows/map-module';

const spec: FlowSpec = validateFlowSpec({
  name: 'accounts',
  source: { connector: 'files' },
  target: { connector: 'warehouse', table: 'accounts' },
  fields: {
    code: { from: 'code', type: 'string', required: true },
    balance: { from: 'balance', type: 'int64' },
  },
  transform: 'maps/accounts.ts',
});

const ctx: MapContext = { runId: 'accounts-v1-x', flowVersion: 'accounts:v1', sourcePath: 'a.csv', runMetadata: { ticket: 'T-1' }, secrets: {}, log: pino({ level: 'silent' }) };

/** A project dir with `maps/<name>` holding `source`. */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-maps-'));
  mkdirSync(path.join(dir, 'maps'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

function load(dir: string, file: string) {
  return loadMap(readMapFile(dir, file));
}

/** Asserts `fn` throws a TransformError with `code` and returns it. */
async function transformError(fn: () => unknown, code: string): Promise<TransformError> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof TransformError, `expected TransformError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, nothing was thrown`);
}

const input = () =>
  mapInput(spec, [
    pl.DataFrame({ [ROW_COLUMN]: pl.Series(ROW_COLUMN, [1, 2, 3], pl.Int64), code: ['A', 'B', 'A'], balance: pl.Series('balance', [10, 20, 30], pl.Int64) }),
    pl.DataFrame({ [ROW_COLUMN]: pl.Series(ROW_COLUMN, [5, 6], pl.Int64), code: ['TEST1', 'C'], balance: pl.Series('balance', [1, null], pl.Int64) }),
  ]);

const DEDUPE_MAP = `
import pl from 'nodejs-polars';
import type { CustomMap, MapContext } from 'sluice/client';

interface Options { key: string }
const options: Options = { key: 'code' };

const map: CustomMap = (df: pl.DataFrame, ctx: MapContext) => {
  if (pl !== (globalThis as { expectedPolars?: unknown }).expectedPolars) throw new Error('the map got another nodejs-polars');
  const test = pl.col('code').str.startsWith('TEST');
  return {
    mapped: df.filter(test.not()).unique({ subset: [options.key], keep: 'last', maintainOrder: true }).select('balance', '__sluice_row', 'code'),
    rejected: df.filter(test).select(pl.col('__sluice_row'), pl.lit(\`test account (\${ctx.runMetadata.ticket})\`).alias('reason')),
  };
};
export default map;
`;

describe('custom map files', () => {
  (globalThis as { expectedPolars?: unknown }).expectedPolars = pl;

  it('compiles TypeScript, gives the map Sluice\'s own nodejs-polars, and caches per (path, sha256)', async () => {
    const dir = project({ 'maps/accounts.ts': DEDUPE_MAP });
    const file = readMapFile(dir, 'maps/accounts.ts');
    assert.equal(file.sha256, sha256Hex(DEDUPE_MAP));
    const loaded = loadMap(file);
    assert.equal(loadMap(readMapFile(dir, 'maps/accounts.ts')), loaded, 'same path and sha256: compiled once');
    const out = await applyCustomMap(spec, loaded, input(), ctx);
    assert.deepEqual(out.mapped.columns, [ROW_COLUMN, 'code', 'balance']);
    assert.deepEqual((out.mapped.getColumn(ROW_COLUMN).toArray() as unknown[]).map(Number), [2, 3, 6]);
    assert.deepEqual(out.mapped.getColumn('code').toArray(), ['B', 'A', 'C']);
    assert.deepEqual((out.mapped.getColumn('balance').toArray() as unknown[]).map((v) => (v === null ? null : Number(v))), [20, 30, null]);
    assert.deepEqual(out.rejected, [{ row: 5, messages: ['test account (T-1)'] }]);

    writeFileSync(path.join(dir, 'maps/accounts.ts'), `${DEDUPE_MAP}\n// edited\n`);
    const edited = readMapFile(dir, 'maps/accounts.ts');
    assert.notEqual(edited.sha256, file.sha256);
    assert.notEqual(loadMap(edited), loaded, 'a changed file is compiled again');
  });

  it('accepts module.exports = fn and a named export "map" in JavaScript', async () => {
    const dir = project({ 'maps/a.js': 'module.exports = (df) => df;', 'maps/b.js': 'export function map(df) { return df.head(1); }' });
    assert.equal((await applyCustomMap(spec, load(dir, 'maps/a.js'), input(), ctx)).mapped.height, 5);
    assert.equal((await applyCustomMap(spec, load(dir, 'maps/b.js'), input(), ctx)).mapped.height, 1);
  });

  it('refuses a missing file, a path or symlink leading outside the project dir', async () => {
    const dir = project({});
    const missing = await transformError(() => readMapFile(dir, 'maps/nope.ts', 'accounts:v1'), 'MAP_NOT_FOUND');
    assert.match(missing.message, /^custom map maps\/nope\.ts \(of accounts:v1\) does not exist under the project dir /);
    await transformError(() => readMapFile(dir, '../elsewhere.ts'), 'MAP_OUTSIDE_PROJECT');
    const outside = mkdtempSync(path.join(os.tmpdir(), 'sluice-outside-'));
    writeFileSync(path.join(outside, 'evil.ts'), 'export default (df) => df;');
    symlinkSync(path.join(outside, 'evil.ts'), path.join(dir, 'maps', 'link.ts'));
    const linked = await transformError(() => readMapFile(dir, 'maps/link.ts'), 'MAP_OUTSIDE_PROJECT');
    assert.match(linked.message, /^custom map maps\/link\.ts links to .*evil\.ts, outside the project dir /);
  });

  it('reports syntax errors with file, line and column; no exported function; relative imports', async () => {
    const dir = project({
      'maps/bad.ts': 'import pl from "nodejs-polars";\n\nexport default (df: pl.DataFrame) => {\n  return df.filter(;\n};\n',
      'maps/none.ts': 'export const x = 1;\n',
      'maps/relative.ts': 'import { helper } from "./helper";\nexport default (df) => helper(df);\n',
      'maps/helper.ts': 'export const helper = (df) => df;\n',
    });
    const bad = await transformError(() => load(dir, 'maps/bad.ts'), 'MAP_INVALID');
    assert.equal(bad.message, "custom map maps/bad.ts does not compile:\n  - maps/bad.ts:4:20: ')' expected.");
    const none = await transformError(() => load(dir, 'maps/none.ts'), 'MAP_INVALID');
    assert.equal(none.message, 'custom map maps/none.ts exports no function; write `export default function map(df, ctx) { … }` (or export a function named "map")');
    const relative = await transformError(() => load(dir, 'maps/relative.ts'), 'MAP_INVALID');
    assert.match(relative.message, /^custom map maps\/relative\.ts failed while loading: a custom map is one self-contained file: maps\/relative\.ts cannot require "\.\/helper" \(another file would not be covered by the flow version's content hash\)/);
    assert.match(relative.message, /\(at maps\/relative\.ts:1:\d+\)$/);
  });

  it('publishing records map { path, sha256 } in the spec and its hash; a broken map is a FlowSpecError with the line', () => {
    const dir = project({ 'maps/accounts.ts': DEDUPE_MAP });
    const published = withMapHash(spec, dir, 'flows/accounts.yaml');
    assert.deepEqual(published.map, { path: 'maps/accounts.ts', sha256: sha256Hex(DEDUPE_MAP) });
    writeFileSync(path.join(dir, 'maps/accounts.ts'), `${DEDUPE_MAP}// v2\n`);
    assert.notEqual(contentHash(withMapHash(spec, dir)), contentHash(published), 'a changed map changes the content hash');
    writeFileSync(path.join(dir, 'maps/accounts.ts'), 'export default (df) => {\n  return df +;\n}\n');
    assert.throws(
      () => withMapHash(spec, dir, 'flows/accounts.yaml'),
      (error: unknown) =>
        error instanceof FlowSpecError &&
        error.message === 'flows/accounts.yaml is invalid (1 problem):\n  - transform: maps/accounts.ts:2:14: Expression expected.',
    );
    assert.throws(
      () => withMapHash({ ...spec, transform: 'maps/missing.ts' }, dir, 'flows/accounts.yaml'),
      (error: unknown) => error instanceof FlowSpecError && /^ {2}- transform: custom map maps\/missing\.ts does not exist under the project dir /m.test(error.message),
    );
  });
});

describe('applyCustomMap output checks', () => {
  const withMap = async (body: string) => {
    const dir = project({ 'maps/m.ts': `import pl from 'nodejs-polars';\nexport default (df: pl.DataFrame) => {\n${body}\n};\n` });
    return applyCustomMap(spec, load(dir, 'maps/m.ts'), input(), ctx);
  };

  it('keeps rows the map made without a row number, and a default reason', async () => {
    const out = await withMap(`
      const grouped = df.groupBy('code').agg(pl.col('balance').sum().alias('balance')).sort('code');
      return { mapped: grouped, rejected: df.filter(pl.col('code').eq(pl.lit('C'))) };`);
    assert.deepEqual(out.mapped.getColumn(ROW_COLUMN).toArray(), [null, null, null, null]);
    assert.deepEqual(out.mapped.getColumn('code').toArray(), ['A', 'B', 'C', 'TEST1']);
    assert.deepEqual(out.rejected, [{ row: 6, messages: ['rejected by the custom map maps/m.ts'] }]);
  });

  it('names missing and unexpected columns', async () => {
    const error = await transformError(() => withMap(`return df.select('code', pl.col('balance').alias('amount'));`), 'MAP_OUTPUT_INVALID');
    assert.equal(
      error.message,
      'custom map maps/m.ts returned mapped rows whose columns are not the target\'s fields: missing "balance"; unexpected "amount" (drop it, or add a field to the flow). ' +
        'mapped must have exactly "code", "balance" (and may keep __sluice_row)',
    );
  });

  it('refuses wrong types and nulls in required fields', async () => {
    const wrong = await transformError(() => withMap(`return df.withColumns(pl.col('balance').cast(pl.Utf8));`), 'MAP_OUTPUT_INVALID');
    assert.equal(wrong.message, 'custom map maps/m.ts returned mapped columns of the wrong type: "balance" is String but the field is int64');
    const nulls = await transformError(() => withMap(`return df.withColumns(pl.lit(null).cast(pl.Utf8).alias('code'));`), 'MAP_OUTPUT_INVALID');
    assert.equal(nulls.message, 'custom map maps/m.ts returned nulls in required field "code" (5 rows); return such rows in "rejected" with a reason instead');
    const widened = await withMap(`return df.withColumns(pl.col('balance').cast(pl.Int32));`);
    assert.equal(widened.mapped.getColumn('balance').dtype.variant, 'Int64', 'a narrower integer type is widened to the field type');
  });

  it('refuses results that are not DataFrames, and rejects without or with unknown row numbers', async () => {
    const notFrame = await transformError(() => withMap('return [1, 2];'), 'MAP_OUTPUT_INVALID');
    assert.equal(notFrame.message, 'custom map maps/m.ts must return a DataFrame or { mapped, rejected }, but returned an array');
    const noRow = await transformError(() => withMap(`return { mapped: df, rejected: df.select('code') };`), 'MAP_OUTPUT_INVALID');
    assert.equal(noRow.message, 'custom map maps/m.ts returned rejected rows without a "__sluice_row" column; keep it from the input so each reject keeps its source row number');
    const unknown = await transformError(() => withMap(`return { mapped: df, rejected: pl.DataFrame({ __sluice_row: pl.Series('__sluice_row', [4, 99], pl.Int64) }) };`), 'MAP_OUTPUT_INVALID');
    assert.equal(unknown.message, 'custom map maps/m.ts returned rejected rows that are not rows it was given: __sluice_row 4, 99');
  });

  it('reports a map that throws as MAP_FAILED with its message and line', async () => {
    const error = await transformError(() => withMap(`  const limit = 1;\n  if (df.height > limit) throw new Error('too many accounts');\n  return df;`), 'MAP_FAILED');
    assert.equal(error.message, 'custom map maps/m.ts threw: too many accounts (at maps/m.ts:4:32)');
  });
});
