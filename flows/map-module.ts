/**
 * Custom map files: finding one under the project dir, hashing it, compiling it and evaluating it.
 *
 * A map is one self-contained `.ts` or `.js` file (`transform: maps/accounts.ts` in a flow). It is
 * compiled with TypeScript's `transpileModule` (types stripped, ES modules → CommonJS; no type
 * checking) and evaluated as a CommonJS module whose `require` gives `nodejs-polars` as Sluice's own
 * copy — the map must build DataFrames with the same Polars instance Sluice reads them with — and
 * resolves anything else (Node built-ins, packages) from the map's folder. Relative imports are
 * refused: another file would not be covered by the flow version's content hash.
 *
 * This module has no static import of nodejs-polars or typescript (both are loaded when a map is),
 * so the flow version store can use it without pulling them into the client SDK.
 *
 * @example
 * ```ts
 * const file = readMapFile(config.projectDir, 'maps/accounts.ts');   // bytes and sha256
 * const map = loadMap(file);                                         // compiled once per (path, sha256)
 * const out = await map.fn(df, ctx);
 * ```
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire, SourceMap, type SourceMapPayload } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { TransformError } from '../common/errors';

/** A map file as read from disk. */
export interface MapFile {
  /** As the flow names it, relative to the project dir (`maps/accounts.ts`). */
  path: string;
  /** Absolute, symlink-free. */
  absPath: string;
  bytes: Buffer;
  /** sha256 (hex) of `bytes`. */
  sha256: string;
}

/** A compiled, evaluated map. */
export interface LoadedMap {
  file: MapFile;
  /** The module's default export, checked to be a function; `transform/custom-map.ts` calls it as a `CustomMap`. */
  fn: (...args: never[]) => unknown;
  /** ` (at maps/accounts.ts:12:7)` for an error thrown by the map's code, else `''`. */
  locate(error: unknown): string;
}

/** One compile problem, `maps/accounts.ts:3:14: ';' expected.` */
export type MapProblem = string;

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Reads a map file under `projectDir`.
 * @param whose for messages, e.g. `accounts:v3`.
 * @throws TransformError `MAP_NOT_FOUND` (missing or not a file), `MAP_OUTSIDE_PROJECT` (the path, or
 *   a symlink on it, leads outside the project dir).
 */
export function readMapFile(projectDir: string, mapPath: string, whose?: string): MapFile {
  const realRoot = realpathSync(projectDir);
  const of = whose ? ` (of ${whose})` : '';
  const inside = (p: string) => {
    const rel = path.relative(realRoot, p);
    return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
  };
  const candidate = path.resolve(realRoot, mapPath);
  if (!inside(candidate)) {
    throw new TransformError('MAP_OUTSIDE_PROJECT', `custom map ${mapPath}${of} is outside the project dir ${realRoot}; put it under the project dir (e.g. maps/)`);
  }
  if (!existsSync(candidate)) {
    throw new TransformError(
      'MAP_NOT_FOUND',
      `custom map ${mapPath}${of} does not exist under the project dir ${realRoot}; every worker needs the project's maps (the files the flow versions were published with)`,
    );
  }
  const real = realpathSync(candidate);
  if (!inside(real)) {
    throw new TransformError('MAP_OUTSIDE_PROJECT', `custom map ${mapPath}${of} links to ${real}, outside the project dir ${realRoot}`);
  }
  if (!statSync(real).isFile()) throw new TransformError('MAP_NOT_FOUND', `custom map ${mapPath}${of} is not a file`);
  const bytes = readFileSync(real);
  return { path: mapPath, absPath: real, bytes, sha256: sha256Hex(bytes) };
}

interface Compiled {
  code: string;
  sourceMap: SourceMap | null;
}

type TypeScript = typeof import('typescript');
let typescript: TypeScript | undefined;

/**
 * Strips types and turns ES modules into CommonJS. Reports syntax errors only (no type checking).
 * @throws TransformError `MAP_INVALID` listing every syntax error as `path:line:column: message`.
 */
function compile(file: MapFile): Compiled {
  // Loaded on first use: a worker without custom maps never pays for it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  typescript ??= require('typescript') as TypeScript;
  const ts = typescript;
  const out = ts.transpileModule(file.bytes.toString('utf8'), {
    fileName: file.absPath,
    reportDiagnostics: true,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      sourceMap: true,
      allowJs: true,
    },
  });
  const problems: MapProblem[] = (out.diagnostics ?? [])
    .filter((d) => d.category === ts.DiagnosticCategory.Error)
    .map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (!d.file || d.start === undefined) return `${file.path}: ${text}`;
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      return `${file.path}:${line + 1}:${character + 1}: ${text}`;
    });
  if (problems.length > 0) {
    throw new TransformError('MAP_INVALID', `custom map ${file.path} does not compile:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      details: { problems },
    });
  }
  let sourceMap: SourceMap | null = null;
  try {
    if (out.sourceMapText) sourceMap = new SourceMap(JSON.parse(out.sourceMapText) as SourceMapPayload);
  } catch {
    // Without a source map errors are reported without a line; the map still runs.
  }
  return { code: out.outputText.replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n'), sourceMap };
}

/** `require` for a map: Sluice's own nodejs-polars, no relative files, anything else from the map's folder. */
function mapRequire(file: MapFile): NodeJS.Require {
  const fromMap = createRequire(file.absPath);
  const own = (id: string): unknown => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (id === 'nodejs-polars' || id.startsWith('nodejs-polars/')) return require(id);
    if (id.startsWith('.') || path.isAbsolute(id)) {
      throw new Error(
        `a custom map is one self-contained file: ${file.path} cannot require "${id}" (another file would not be covered by the flow version's content hash); ` +
          'move that code into the map, or into a package',
      );
    }
    return fromMap(id);
  };
  return Object.assign(own, { resolve: fromMap.resolve, cache: fromMap.cache, extensions: fromMap.extensions, main: fromMap.main }) as NodeJS.Require;
}

/** Where in the map file an error was thrown, from its stack and the compile's source map. */
function locator(file: MapFile, sourceMap: SourceMap | null): (error: unknown) => string {
  const escaped = file.absPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const frame = new RegExp(`${escaped}:(\\d+):(\\d+)`);
  return (error) => {
    const stack = error instanceof Error ? error.stack : undefined;
    const match = stack ? frame.exec(stack) : null;
    if (!match) return '';
    const [line, column] = [Number(match[1]), Number(match[2])];
    const entry = sourceMap?.findEntry(line - 1, column - 1) as { originalLine?: number; originalColumn?: number } | undefined;
    if (entry && entry.originalLine !== undefined && entry.originalColumn !== undefined) {
      return ` (at ${file.path}:${entry.originalLine + 1}:${entry.originalColumn + 1})`;
    }
    return ` (at ${file.path}:${line})`;
  };
}

/**
 * Evaluates compiled code as a CommonJS module and returns its map function: the default export, a
 * named export `map`, or `module.exports` itself.
 * @throws TransformError `MAP_INVALID` when loading throws or nothing callable is exported.
 */
function evaluate(file: MapFile, compiled: Compiled): LoadedMap {
  const locate = locator(file, compiled.sourceMap);
  const module = { exports: {} as unknown };
  try {
    const wrapper = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${compiled.code}\n})`, { filename: file.absPath });
    const run = wrapper.runInThisContext() as (...args: unknown[]) => void;
    run.call(module.exports, module.exports, mapRequire(file), module, file.absPath, path.dirname(file.absPath));
  } catch (error) {
    throw new TransformError('MAP_INVALID', `custom map ${file.path} failed while loading: ${(error as Error)?.message ?? String(error)}${locate(error)}`, { cause: error });
  }
  const exported = module.exports as { default?: unknown; map?: unknown } | ((...args: unknown[]) => unknown);
  const fn =
    typeof exported === 'function'
      ? exported
      : typeof exported?.default === 'function'
        ? exported.default
        : typeof exported?.map === 'function'
          ? exported.map
          : undefined;
  if (!fn) {
    throw new TransformError(
      'MAP_INVALID',
      `custom map ${file.path} exports no function; write \`export default function map(df, ctx) { … }\` (or export a function named "map")`,
    );
  }
  return { file, fn: fn as LoadedMap['fn'], locate };
}

/** Compiled maps by absolute path and sha256: content-addressed, so an edited file compiles again. */
const cache = new Map<string, LoadedMap>();

/**
 * Compiles and evaluates a map file, once per (path, sha256) in this process.
 * @throws TransformError `MAP_INVALID` (syntax errors with file:line:column, a throw while loading, no exported function).
 */
export function loadMap(file: MapFile): LoadedMap {
  const key = `${file.absPath}\n${file.sha256}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const loaded = evaluate(file, compile(file));
  cache.set(key, loaded);
  return loaded;
}
