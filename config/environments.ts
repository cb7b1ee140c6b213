/**
 * Environments in one config file. Keys at the top level apply to every environment; a block under
 * `environments.<name>` holds only what changes there and is merged over them:
 *
 * - a map merges key by key, recursively (`connectors.warehouse.url` in `prod` changes only that url);
 * - a scalar or a list replaces;
 * - `null` removes the key (`connectors: { files: null }` drops the `files` connector);
 * - a map whose `kind` differs from the one it merges over replaces it whole (a `local` connector in dev can be
 *   an `s3` connector in prod without leftover keys).
 *
 * The environment is chosen with `--env/-e` or `SLUICE_ENV`, @default `dev`; `dev` is always available, any other
 * name must be defined under `environments`.
 *
 * @example
 * ```yaml
 * connectors:
 *   warehouse: { kind: postgres, url: "postgres://localhost/wh" }
 * environments:
 *   prod:
 *     connectors: { warehouse: { url: "enc:v1:1a2b3c4d:…" } }
 * ```
 */
import { z } from 'zod';
import { ConfigError } from '../common/errors';
import { DEFAULT_TASK_QUEUE } from '../common/run-model';

export const DEFAULT_ENVIRONMENT = 'dev';

const ENVIRONMENT_NAME_RULE = 'environment names are lower-case letters, digits, "-" or "_"';
const environmentName = z.string().regex(/^[a-z][a-z0-9_-]*$/, ENVIRONMENT_NAME_RULE);
const environmentsSchema = z.record(environmentName, z.record(z.string(), z.unknown()).nullable());

type Doc = Record<string, unknown>;
const isMap = (value: unknown): value is Doc => value !== null && typeof value === 'object' && !Array.isArray(value);

/** The result of merging one environment's block over the top-level keys. */
export interface MergedEnvironment {
  value: Doc;
  /** Paths (joined with ".") whose value was set or replaced by the environment block. */
  overridden: Set<string>;
}

/**
 * Merges `overlay` (an environment block) over `base` (the top-level keys) as described in the module doc.
 * Neither argument is modified.
 */
export function mergeEnvironment(base: Doc, overlay: Doc | null | undefined): MergedEnvironment {
  const overridden = new Set<string>();
  const merge = (under: unknown, over: unknown, at: string[]): unknown => {
    if (isMap(under) && isMap(over) && !('kind' in under && 'kind' in over && under.kind !== over.kind)) {
      const out: Doc = { ...under };
      for (const [key, value] of Object.entries(over)) {
        if (value === null) delete out[key];
        else out[key] = merge(under[key], value, [...at, key]);
      }
      return out;
    }
    overridden.add(at.join('.'));
    return over;
  };
  return { value: merge(base, overlay ?? {}, []) as Doc, overridden };
}

/** The parts of a config document that concern environments. */
export interface EnvironmentSelection {
  /** The chosen environment. */
  name: string;
  /** Names defined under `environments`, in file order. */
  defined: string[];
  /** The top-level keys with the chosen block merged over them, `environments` removed. */
  merged: MergedEnvironment;
  /**
   * Where a path of the merged document is written in the file: `environments.<name>.<path>` when the block set it
   * (or a map above it), else `<path>`. `probe` is the path to look up when it differs (an unknown key below `path`).
   */
  origin: (path: readonly PropertyKey[], probe?: readonly PropertyKey[]) => string;
}

/**
 * Picks the environment `name` out of a parsed config document and merges it.
 * @throws ConfigError `INVALID_CONFIG` when `environments` is malformed (every problem, with its path);
 *   `UNKNOWN_ENVIRONMENT` when `name` is neither `dev` nor defined, listing the defined ones.
 */
export function selectEnvironment(doc: Doc, name: string, file: string): EnvironmentSelection {
  const { environments: rawEnvironments, ...base } = doc;
  const parsed = environmentsSchema.optional().safeParse(rawEnvironments ?? undefined);
  const issues = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${['environments', ...i.path.map(String)].join('.')}: ${i.code === 'invalid_key' ? ENVIRONMENT_NAME_RULE : i.message}`);
  const environments = parsed.success ? (parsed.data ?? {}) : {};
  for (const [envName, block] of Object.entries(isMap(rawEnvironments) ? rawEnvironments : {})) {
    if (isMap(block) && 'environments' in block) issues.push(`environments.${envName}.environments: environments cannot be nested`);
  }
  if (issues.length > 0) {
    throw new ConfigError('INVALID_CONFIG', [`${file} is invalid:`, ...issues.map((i) => `  - ${i}`)].join('\n'), { details: { issues } });
  }
  const defined = Object.keys(environments);
  if (name !== DEFAULT_ENVIRONMENT && !defined.includes(name)) throw unknownEnvironment(name, defined, file);
  const merged = mergeEnvironment(base, environments[name]);
  const origin = (at: readonly PropertyKey[], probe: readonly PropertyKey[] = at): string => {
    const keys = at.map(String);
    const probeKeys = probe.map(String);
    for (let n = probeKeys.length; n > 0; n--) {
      if (merged.overridden.has(probeKeys.slice(0, n).join('.'))) return ['environments', name, ...keys].join('.');
    }
    return keys.join('.') || '(root)';
  };
  return { name, defined, merged, origin };
}

/** ConfigError `UNKNOWN_ENVIRONMENT`: names the defined environments and how to choose one. */
export function unknownEnvironment(name: string, defined: string[], file: string | null): ConfigError {
  const available = [DEFAULT_ENVIRONMENT, ...defined.filter((d) => d !== DEFAULT_ENVIRONMENT)];
  const where = file ? `${file} defines ${defined.length > 0 ? defined.join(', ') : 'no environments'}` : 'there is no config file';
  return new ConfigError(
    'UNKNOWN_ENVIRONMENT',
    `unknown environment "${name}": ${where}; choose one of ${available.join(', ')} with --env/-e or SLUICE_ENV (dev is always available)`,
    { details: { environment: name, environments: available } },
  );
}

/**
 * Whether plain-text secrets are refused: `require_encrypted_secrets` as merged for the environment when given,
 * else false for `dev` and true for every other environment (`test`, `prod`, `staging`, …).
 */
export function requiresEncryptedSecrets(environment: string, configured: unknown): boolean {
  return typeof configured === 'boolean' ? configured : environment !== DEFAULT_ENVIRONMENT;
}

/**
 * The task queue of an environment when its own block does not set `temporal.task_queue`: `base` in `dev` (so a
 * dev project keeps the queue it always had) and `<base>-<environment>` elsewhere, so two environments never share
 * a queue and a worker only ever receives its own environment's work.
 * @param base the top-level `temporal.task_queue`. @default `sluice`
 * @example taskQueueFor('dev') === 'sluice'; taskQueueFor('test') === 'sluice-test'; taskQueueFor('prod', 'etl') === 'etl-prod'
 */
export function taskQueueFor(environment: string, base: string = DEFAULT_TASK_QUEUE): string {
  return environment === DEFAULT_ENVIRONMENT ? base : `${base}-${environment}`;
}
