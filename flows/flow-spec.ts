/**
 * The flow spec: the YAML a user writes to describe one flow, its zod schema, and its normalised
 * form (fields as an ordered list) that flow versions store and hash.
 *
 * @example
 * ```ts
 * const spec = parseFlowSpec(fs.readFileSync('flows/movies.yaml', 'utf8'), 'flows/movies.yaml');
 * spec.fields[0].name; // 'title'
 * ```
 */
import path from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { FlowSpecError } from '../common/errors';
import { formatIssuePath, yamlSyntaxIssues } from '../common/spec-issues';
import { dateFormatProblem } from './date-format';

/** Target column types. Each maps to one Polars dtype and one Postgres type (see transform/field-types.ts). */
export const FIELD_TYPES = ['string', 'int32', 'int64', 'float64', 'bool', 'date', 'datetime', 'json'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export const SOURCE_FORMATS = ['csv', 'json', 'ndjson', 'parquet'] as const;
export type SourceFormat = (typeof SOURCE_FORMATS)[number];
export const TARGET_FORMATS = ['csv', 'parquet', 'ndjson'] as const;
export type TargetFormat = (typeof TARGET_FORMATS)[number];

/** `s3://bucket/key…`; the key may hold {flow}, {version}, {run_id}, {date}. */
const OBJECT_PATH = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+$/;

/** A plain SQL identifier: target column names are used unquoted in `check` SQL, so they must be one. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The field-name rule as users read it in messages and docs. */
export const IDENTIFIER_RULE = `letters, digits and _, not starting with a digit (${IDENTIFIER.source}), at most 63 bytes`;
/** `table` or `schema.table`, each part a plain identifier. */
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
/** The most columns a PostgreSQL table holds: the most fields a flow with a database target may have. */
export const MAX_TABLE_FIELDS = 1600;
/** PostgreSQL's NAMEDATALEN - 1: longer identifiers are truncated silently, so they are refused. */
export const MAX_IDENTIFIER_BYTES = 63;
/** Flow names appear in `name:vN`, workflow ids and search attributes. */
const FLOW_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/**
 * `transform`: a .ts or .js file path relative to the project dir, `/`-separated, that stays inside
 * it (no absolute path, no `..` leading out). Symlinks are checked when the file is read.
 */
function isMapPath(p: string): boolean {
  if (p.includes('\\') || p.includes('\0') || path.posix.isAbsolute(p) || /^[A-Za-z]:/.test(p)) return false;
  const normal = path.posix.normalize(p);
  return normal !== '..' && !normal.startsWith('../') && /\.(ts|js)$/.test(normal);
}

const identifier = z.string().regex(IDENTIFIER, 'must be a plain SQL identifier (letters, digits, _; not starting with a digit)');
const tableName = z.string().regex(TABLE_NAME, 'must be "table" or "schema.table" made of plain SQL identifiers');

const fieldSchema = z
  .strictObject({
    from: z.string().min(1).optional(),
    expr: z.string().min(1).optional(),
    type: z.enum(FIELD_TYPES),
    required: z.boolean().optional(),
    format: z.string().min(1).optional(),
    in: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1).optional(),
    check: z.string().min(1).optional(),
  })
  .superRefine((field, ctx) => {
    if (field.from !== undefined && field.expr !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'give either "from" or "expr", not both' });
    }
    if (field.format !== undefined && field.type !== 'date' && field.type !== 'datetime') {
      ctx.addIssue({ code: 'custom', path: ['format'], message: `"format" applies only to date and datetime fields, not ${field.type}` });
    } else if (field.format !== undefined) {
      const problem = dateFormatProblem(field.format);
      if (problem) ctx.addIssue({ code: 'custom', path: ['format'], message: `"${field.format}" ${problem}` });
    }
  });

const flowSpecSchema = z
  .strictObject({
    name: z.string().regex(FLOW_NAME, 'must be lower-case letters, digits, "-" or "_", starting with a letter (max 63)'),
    description: z.string().optional(),
    source: z.strictObject({
      connector: z.string().min(1),
      format: z.enum(SOURCE_FORMATS).optional(),
      query: z.string().min(1).optional(),
      csv: z
        .strictObject({
          delimiter: z.string().length(1).optional(),
          quote: z.string().length(1).optional(),
          has_header: z.boolean().optional(),
          encoding: z.enum(['utf8', 'utf8-lossy']).optional(),
        })
        .optional(),
    }),
    target: z
      .strictObject({
        connector: z.string().min(1),
        /** Database targets: the table. */
        table: tableName.optional(),
        /** Object-store targets: `s3://bucket/key` template with {flow}, {version}, {run_id}, {date}. */
        path: z.string().regex(OBJECT_PATH, 'must be s3://bucket/key, optionally with {flow}, {version}, {run_id}, {date}').optional(),
        format: z.enum(TARGET_FORMATS).optional(),
        write: z.enum(['append', 'upsert', 'replace']).default('append'),
        key: z.array(identifier).min(1).optional(),
        rejects: z.strictObject({ table: tableName.optional(), path: z.string().regex(OBJECT_PATH).optional() }).optional(),
        /** Database targets: SQL statements run in order after the load, in its transaction. */
        link: z.array(z.string().trim().min(1, 'must be a SQL statement')).min(1).optional(),
        /** `_sluice_run_id` and `_sluice_source_row` in tables Sluice creates and objects it writes (transform/lineage.ts). Default true. */
        lineage: z.boolean().optional(),
      })
      .superRefine((target, ctx) => {
        if (target.write === 'upsert' && !target.key) {
          ctx.addIssue({ code: 'custom', path: ['key'], message: 'write: upsert needs a key (the columns that identify a row)' });
        }
        if ((target.table === undefined) === (target.path === undefined)) {
          ctx.addIssue({ code: 'custom', path: ['table'], message: 'give either "table" (database targets) or "path" (object-store targets)' });
        }
        if (target.link && target.path !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['link'], message: 'link steps run SQL in the target database; an object-store target ("path") cannot have them' });
        }
      }),
    fields: z.record(identifier, fieldSchema).refine((fields) => Object.keys(fields).length > 0, 'at least one field is needed'),
    checks: z.array(z.strictObject({ name: identifier, sql: z.string().min(1) })).optional(),
    dedupe: z.array(identifier).min(1).optional(),
    max_reject_ratio: z.number().min(0).max(1).optional(),
    /** A source_path that reads 0 rows: `succeed` (default: SUCCEEDED with a warning, not marked loaded) or `fail` (FAILED, `EMPTY_SOURCE`). */
    on_empty: z.enum(['fail', 'succeed']).optional(),
    /** A custom map: a .ts/.js file under the project dir, applied after the declarative mapping. */
    transform: z.string().refine(isMapPath, 'must be a .ts or .js file path relative to the project dir, inside it (e.g. maps/accounts.ts)').optional(),
    /** Secrets of the secrets store the custom map gets as `ctx.secrets` (names only; resolved at run time for the user who started the run). */
    secrets: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'a secret name: a letter or "_" followed by letters, digits or "_"'))
      .min(1)
      .optional(),
  });

/** The flow spec as written in YAML, after validation and defaults. */
export type FlowSpecInput = z.infer<typeof flowSpecSchema>;

/** One target column, in target order. */
export interface FieldSpec {
  name: string;
  type: FieldType;
  from?: string;
  expr?: string;
  required: boolean;
  format?: string;
  in?: (string | number | boolean)[];
  check?: string;
}

/** The normalised flow spec: what a flow version stores, hashes and runs. */
export interface FlowSpec {
  name: string;
  description?: string;
  source: FlowSpecInput['source'];
  target: {
    connector: string;
    /** Database targets. */
    table?: string;
    /** Object-store targets: `s3://bucket/key` template. */
    path?: string;
    /** Object-store targets: the file format. Default: from the path's extension, else csv. */
    format?: TargetFormat;
    write: 'append' | 'upsert' | 'replace';
    key?: string[];
    /** `table` for database targets (default `<table>_rejects`), `path` for object stores (default `<path stem>_rejects.<ext>`). */
    rejects: { table?: string; path?: string };
    /**
     * Database targets: SQL statements run in order after the load, in the same transaction, before
     * it commits. `:run_id`, `:flow_version` and `:source_path` are bound as parameters.
     */
    link?: string[];
    /**
     * `false`: no lineage columns (`_sluice_run_id`, `_sluice_source_row`) in tables Sluice creates or objects it
     * writes. Absent means true (normalised away, so existing versions keep their content hash).
     */
    lineage?: false;
  };
  fields: FieldSpec[];
  checks: { name: string; sql: string }[];
  dedupe?: string[];
  /** Share of read rows (0..1) above which the run is FAILED instead of PARTIAL_FAILED. Default 1. */
  max_reject_ratio: number;
  /**
   * What a run that reads 0 rows does: `fail` ends it FAILED (`EMPTY_SOURCE`); absent (or `succeed`, normalised
   * away so existing versions keep their content hash) ends it SUCCEEDED with an `EMPTY_SOURCE` warning, writing
   * nothing and leaving the source_path free to run again.
   */
  on_empty?: 'fail';
  /** The custom map as written: a path relative to the project dir (`maps/accounts.ts`). */
  transform?: string;
  /**
   * The custom map as published: its path and the sha256 (hex) of its bytes. Set by
   * `FlowVersionStore.publish`, which reads the file; present exactly when `transform` is. Part of
   * the content hash, so a changed map makes a new version when the flow is published again.
   */
  map?: MapRef;
  /**
   * Secrets (names, sorted, each once) the custom map gets as `ctx.secrets`, resolved when the run maps for the user
   * who started it. Absent when none, so versions without it keep their content hash.
   */
  secrets?: string[];
}

/** The custom map a flow version was published with. */
export interface MapRef {
  /** Relative to the project dir, `/`-separated, e.g. `maps/accounts.ts`. */
  path: string;
  /** sha256 (hex) of the file's bytes when the version was published. */
  sha256: string;
}

/**
 * Rules that relate one part of the spec to another. Checked on the raw input, defensively, so they
 * are reported together with every other problem (zod skips object-level refinements as soon as a
 * nested value is invalid).
 */
function crossFieldIssues(raw: unknown): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(raw) || !isObject(raw.fields)) return [];
  const fields = raw.fields;
  const names = new Set(Object.keys(fields));
  const issues: string[] = [];
  const columnsOf = (value: unknown, where: string) => {
    if (!Array.isArray(value)) return;
    value.forEach((column, i) => {
      if (typeof column === 'string' && !names.has(column)) issues.push(`${where}[${i}]: "${column}" is not a field of this flow`);
    });
  };
  if (isObject(raw.target)) columnsOf(raw.target.key, 'target.key');
  if (isObject(raw.target) && typeof raw.target.table === 'string') issues.push(...databaseLimitIssues(raw.target, Object.keys(fields)));
  columnsOf(raw.dedupe, 'dedupe');
  for (const [name, field] of Object.entries(fields)) {
    if (name.startsWith('_sluice_')) {
      issues.push(`fields.${name}: names starting with _sluice_ are Sluice's own (the lineage columns _sluice_run_id, _sluice_source_row); rename the field`);
    }
    if (!IDENTIFIER.test(name)) {
      const suggestion = toIdentifier(name, new Set(names));
      issues.push(
        `fields.${name}: "${name}" is not a valid field name. Field names are the target's column names and are used unquoted in SQL checks, ` +
          `so each must be a plain SQL identifier: ${IDENTIFIER_RULE}. ` +
          (isObject(field) && (field.from !== undefined || field.expr !== undefined)
            ? `Rename the field, e.g. ${suggestion} ("from" names the source column and may hold any text)`
            : `Rename the field and read the column with "from", e.g. ${suggestion}: { from: ${JSON.stringify(name)}, … }`),
      );
    }
    if (isObject(field) && field.from === undefined && field.expr === undefined) {
      issues.push(`fields.${name}: needs "from" (a source column) or "expr" (a Polars SQL expression)`);
    }
  }
  if (Array.isArray(raw.checks)) {
    const seen = new Set<string>();
    raw.checks.forEach((check, i) => {
      if (!isObject(check) || typeof check.name !== 'string') return;
      if (seen.has(check.name)) issues.push(`checks[${i}].name: duplicate check name "${check.name}"`);
      seen.add(check.name);
    });
  }
  return issues;
}

/**
 * What a database (PostgreSQL) target cannot hold: more than {@link MAX_TABLE_FIELDS} columns, or an
 * identifier longer than {@link MAX_IDENTIFIER_BYTES} bytes (PostgreSQL would truncate it silently).
 * @returns one issue per problem, `path: message`.
 */
function databaseLimitIssues(target: Record<string, unknown>, fieldNames: string[]): string[] {
  const issues: string[] = [];
  if (fieldNames.length > MAX_TABLE_FIELDS) {
    issues.push(
      `fields: ${fieldNames.length} fields, but a PostgreSQL table holds at most ${MAX_TABLE_FIELDS} columns; split the flow into flows of at most ${MAX_TABLE_FIELDS} fields`,
    );
  }
  const tooLong = (name: string) => Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES;
  const limit = `PostgreSQL names are at most ${MAX_IDENTIFIER_BYTES} bytes (longer ones are cut short)`;
  for (const name of fieldNames) {
    if (tooLong(name)) issues.push(`fields.${name}: the name is ${Buffer.byteLength(name, 'utf8')} bytes long; ${limit}: use a shorter name`);
  }
  const tableParts = (value: unknown, where: string) => {
    if (typeof value !== 'string') return;
    for (const part of value.split('.')) {
      if (tooLong(part)) issues.push(`${where}: "${part}" is ${Buffer.byteLength(part, 'utf8')} bytes long; ${limit}: use a shorter name`);
    }
  };
  tableParts(target.table, 'target.table');
  const rejects = target.rejects;
  const rejectsTable = rejects && typeof rejects === 'object' && 'table' in rejects ? (rejects as { table?: unknown }).table : undefined;
  if (rejectsTable !== undefined) tableParts(rejectsTable, 'target.rejects.table');
  else if (typeof target.table === 'string') {
    const table = target.table.split('.').pop()!;
    if (!tooLong(table) && tooLong(`${table}_rejects`)) {
      issues.push(`target.table: the rejects table "${table}_rejects" would be ${Buffer.byteLength(`${table}_rejects`, 'utf8')} bytes long; ${limit}: use a shorter table name or set target.rejects.table`);
    }
  }
  return issues;
}

/** Where rejects go when the flow does not say: `<table>_rejects`, or `<path stem>_rejects<ext>`. */
function defaultRejects(target: { table?: string; path?: string; rejects?: { table?: string; path?: string } }): { table?: string; path?: string } {
  if (target.rejects?.table || target.rejects?.path) return { ...target.rejects };
  if (target.table) return { table: `${target.table}_rejects` };
  const path = target.path!;
  const dot = path.lastIndexOf('.');
  const slash = path.lastIndexOf('/');
  return { path: dot > slash ? `${path.slice(0, dot)}_rejects${path.slice(dot)}` : `${path}_rejects` };
}


/**
 * Validates a flow spec object and returns its normalised form.
 * @throws FlowSpecError listing every problem at once, each as `path: message`.
 */
export function validateFlowSpec(raw: unknown, origin = 'flow spec'): FlowSpec {
  const result = flowSpecSchema.safeParse(raw);
  const crossIssues = crossFieldIssues(raw);
  if (!result.success || crossIssues.length > 0) {
    // A bad field name is explained by crossFieldIssues (zod says only "Invalid key in record").
    const zodIssues = result.success ? [] : result.error.issues.filter((issue) => !(issue.code === 'invalid_key' && issue.path[0] === 'fields')).map((issue) => `${formatIssuePath(issue.path) || '(root)'}: ${issue.message}`);
    const issues = [...new Set([...zodIssues, ...crossIssues])];
    throw new FlowSpecError(`${origin} is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):`, issues);
  }
  const spec = result.data;
  return {
    name: spec.name,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    source: spec.source,
    target: {
      connector: spec.target.connector,
      ...(spec.target.table !== undefined ? { table: spec.target.table } : {}),
      ...(spec.target.path !== undefined ? { path: spec.target.path } : {}),
      ...(spec.target.format !== undefined ? { format: spec.target.format } : {}),
      write: spec.target.write,
      ...(spec.target.key ? { key: spec.target.key } : {}),
      rejects: defaultRejects(spec.target),
      ...(spec.target.link ? { link: spec.target.link } : {}),
      ...(spec.target.lineage === false ? { lineage: false as const } : {}),
    },
    fields: Object.entries(spec.fields).map(([name, field]) => ({
      name,
      type: field.type,
      ...(field.from !== undefined ? { from: field.from } : {}),
      ...(field.expr !== undefined ? { expr: field.expr } : {}),
      required: field.required ?? false,
      ...(field.format !== undefined ? { format: field.format } : {}),
      ...(field.in !== undefined ? { in: field.in } : {}),
      ...(field.check !== undefined ? { check: field.check } : {}),
    })),
    checks: spec.checks ?? [],
    ...(spec.dedupe ? { dedupe: spec.dedupe } : {}),
    max_reject_ratio: spec.max_reject_ratio ?? 1,
    ...(spec.on_empty === 'fail' ? { on_empty: 'fail' as const } : {}),
    ...(spec.transform !== undefined ? { transform: path.posix.normalize(spec.transform) } : {}),
    ...(spec.secrets ? { secrets: [...new Set(spec.secrets)].sort() } : {}),
  };
}

/**
 * A plain SQL identifier made from any column name: lower case, each run of other characters `_`,
 * no leading or trailing `_`, `c_` before a leading digit, cut to {@link MAX_IDENTIFIER_BYTES} bytes,
 * and `_2`, `_3`, … appended while it is in `taken` (the result is added to `taken`).
 * @example toIdentifier('Release Date') // 'release_date'; toIdentifier('2nd') // 'c_2nd'
 */
export function toIdentifier(name: string, taken: Set<string> = new Set()): string {
  let base = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (base === '') base = 'column';
  if (/^[0-9]/.test(base)) base = `c_${base}`;
  base = base.slice(0, MAX_IDENTIFIER_BYTES);
  let candidate = base;
  for (let n = 2; taken.has(candidate); n++) candidate = `${base.slice(0, MAX_IDENTIFIER_BYTES - String(n).length - 1)}_${n}`;
  taken.add(candidate);
  return candidate;
}

/**
 * Parses flow YAML text and validates it.
 * @param origin where the text came from (a file path), used in error messages.
 * @throws FlowSpecError on YAML syntax errors (with line and column) or spec problems (with paths).
 */
export function parseFlowSpec(yamlText: string, origin = 'flow spec'): FlowSpec {
  const doc = parseDocument(yamlText, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new FlowSpecError(
      `${origin} is not valid YAML:`,
      yamlSyntaxIssues(doc),
    );
  }
  return validateFlowSpec(doc.toJS(), origin);
}
