/**
 * The pipeline spec: `pipelines/<name>.yaml`, an ordered set of jobs — each a flow version and a
 * `source_path` template — with `depends_on` between them, an optional schedule and optional
 * `requires` on other pipelines. Parsed and validated here (zod; every problem at once, each with
 * its path and YAML line); the `runPipeline` workflow runs it, `sluice schedules` builds Temporal
 * Schedules from its `schedule`.
 *
 * @example pipelines/daily.yaml
 * ```yaml
 * name: daily                      # must match the file name
 * schedule: { cron: "0 6 * * *", timezone: Europe/Paris, overlap: skip }
 * requires: [companies-daily, { pipeline: rates, within: 26h }]
 * jobs:
 *   - name: companies
 *     flow_version: companies:v3
 *     source_path: "data/import/companies_{date}.csv"
 *   - name: contacts
 *     flow_version: contacts:v1
 *     source_path: "data/import/contacts_{date}.csv"
 *     depends_on: [companies]
 * ```
 *
 * @example
 * ```ts
 * const spec = loadPipeline(config, 'daily');             // throws PipelineSpecError listing every problem
 * const date = pipelineDate(spec);                          // today in the schedule's timezone, YYYY-MM-DD
 * renderSourcePath(spec.jobs[0].sourcePath, { date, env: 'prod', pipeline: spec.name }); // 'data/import/companies_2026-11-21.csv'
 * ```
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { msToNumber, type Duration } from '@temporalio/common';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { UserError } from '../common/errors';
import { FLOW_VERSION_ID, sourcePathSchema } from '../common/run-inputs';
import { formatIssuePath, yamlSyntaxIssues } from '../common/spec-issues';
import { projectPaths, type SluiceConfig } from '../config/sluice-config';

/** Pipeline and job names: lower-case letters, digits, `-`, `_`; they appear in workflow ids and file names. */
export const PIPELINE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** What a schedule does when a run is due while the previous one still runs (Temporal's overlap policies). */
export const OVERLAP_POLICIES = ['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow_all'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** Placeholders of `source_path` templates. */
export const TEMPLATE_PLACEHOLDERS = ['date', 'yyyy', 'mm', 'dd', 'env', 'pipeline'] as const;
export type TemplatePlaceholder = (typeof TEMPLATE_PLACEHOLDERS)[number];

/** The window of a `requires` entry written without one. */
export const DEFAULT_REQUIRES_WITHIN = '24h';

/** Thrown when a pipeline file is invalid; `issues` lists every problem, each with its path and YAML line. */
export class PipelineSpecError extends UserError {
  override readonly name = 'PipelineSpecError';
  readonly issues: string[];
  constructor(message: string, issues: string[]) {
    super('INVALID_PIPELINE_SPEC', [message, ...issues.map((issue) => `  - ${issue}`)].join('\n'), { details: { issues } });
    this.issues = issues;
  }
}

/** A pipeline's schedule, normalised: always a list of cron lines. */
export interface PipelineSchedule {
  /** Cron lines (5 fields: minute hour day-of-month month day-of-week, or @daily, @hourly, …). */
  cron: string[];
  /** IANA time zone the cron lines and `{date}` are read in. @default 'UTC' */
  timezone: string;
  /** @default 'skip' */
  overlap: OverlapPolicy;
}

/** Another pipeline whose latest finished run must have loaded every job within `within`. */
export interface PipelineRequirement {
  pipeline: string;
  /** As written, e.g. `24h`. */
  within: string;
  withinMs: number;
}

/** One job: a run of `flowVersion` on the rendered `sourcePath`. */
export interface PipelineJob {
  name: string;
  /** `flow:vN`. */
  flowVersion: string;
  /** The template, e.g. `data/import/companies_{date}.csv`; see {@link renderSourcePath}. */
  sourcePath: string;
  /** Jobs that must load (SUCCEEDED, PARTIAL_FAILED or already loaded) before this one runs. */
  dependsOn: string[];
  /** Move a local source file to `data/backup/<date>/` after it loaded. Only local sources are moved. @default true */
  backup: boolean;
}

/** The normalised pipeline spec. */
export interface PipelineSpec {
  name: string;
  description?: string;
  schedule?: PipelineSchedule;
  requires: PipelineRequirement[];
  /** In file order. */
  jobs: PipelineJob[];
}

// ---------------------------------------------------------------------------------------------
// Cron lines and time zones

const CRON_MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/**
 * Checks one cron line: five fields (minute hour day-of-month month day-of-week), as Temporal
 * Schedules read them, or a macro (`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
 * `@midnight`, `@hourly`). The fields are checked by the `cron-parser` library.
 * @returns null when valid, else what is wrong.
 */
export function cronProblem(line: string): string | null {
  const text = line.trim();
  if (text.startsWith('@')) return CRON_MACROS.includes(text.toLowerCase()) ? null : `unknown macro "${text}"; one of ${CRON_MACROS.join(', ')}`;
  const parts = text.split(/\s+/);
  if (parts.length !== 5) {
    return `"${line}" has ${parts.length} field${parts.length === 1 ? '' : 's'}; a cron line has 5: minute hour day-of-month month day-of-week (e.g. "0 6 * * *")`;
  }
  try {
    CronExpressionParser.parse(text);
    return null;
  } catch (error) {
    return `"${line}" is not a valid cron line: ${(error as Error).message}`;
  }
}

/**
 * Checks an IANA time zone name (`Europe/Paris`, `UTC`) against the runtime's time zone database.
 * @returns null when valid, else what is wrong.
 */
export function timezoneProblem(name: string): string | null {
  if (/^[+-]\d/.test(name)) return `"${name}" is an offset; give an IANA time zone name such as "Europe/Paris" or "UTC"`;
  let canonical: string;
  try {
    canonical = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return `"${name}" is not an IANA time zone name (e.g. "Europe/Paris", "America/New_York", "UTC")`;
  }
  if (canonical !== name && canonical.toLowerCase() === name.toLowerCase()) return `write the time zone as "${canonical}"`;
  return null;
}

/** The calendar date (YYYY-MM-DD) of `instant` in `timezone`. */
export function dateIn(timezone: string, instant: Date = new Date()): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(instant);
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return `${get('year')}-${get('month')}-${get('day')}`;
}

/** The time zone a pipeline's `{date}` is read in: its schedule's, else UTC. */
export function pipelineTimezone(spec: Pick<PipelineSpec, 'schedule'>): string {
  return spec.schedule?.timezone ?? 'UTC';
}

/** Today's date (YYYY-MM-DD) for a pipeline: in its schedule's time zone, else UTC. */
export function pipelineDate(spec: Pick<PipelineSpec, 'schedule'>, now: Date = new Date()): string {
  return dateIn(pipelineTimezone(spec), now);
}

/** True for a real calendar date written YYYY-MM-DD. */
export function isIsoDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

// ---------------------------------------------------------------------------------------------
// Templates

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Placeholders of a template that are not in {@link TEMPLATE_PLACEHOLDERS}. */
function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(name));
}

/** The values a `source_path` template is rendered with. */
export interface TemplateValues {
  /** The pipeline run's date, YYYY-MM-DD. */
  date: string;
  /** The environment name. */
  env: string;
  /** The pipeline name. */
  pipeline: string;
}

/**
 * Renders a `source_path` template: `{date}` (YYYY-MM-DD), `{yyyy}`, `{mm}`, `{dd}`, `{env}`, `{pipeline}`.
 * @throws PipelineSpecError for an unknown placeholder or a `date` that is not YYYY-MM-DD.
 */
export function renderSourcePath(template: string, values: TemplateValues): string {
  const unknown = unknownPlaceholders(template);
  if (unknown.length > 0) {
    throw new PipelineSpecError(`source_path "${template}" cannot be rendered:`, unknown.map((name) => `unknown placeholder {${name}}; known: ${TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`));
  }
  if (!isIsoDate(values.date)) throw new PipelineSpecError(`source_path "${template}" cannot be rendered:`, [`date "${values.date}" is not a date written YYYY-MM-DD`]);
  const [yyyy, mm, dd] = values.date.split('-') as [string, string, string];
  const table: Record<TemplatePlaceholder, string> = { date: values.date, yyyy, mm, dd, env: values.env, pipeline: values.pipeline };
  return template.replace(PLACEHOLDER, (_, name: string) => table[name as TemplatePlaceholder]);
}

// ---------------------------------------------------------------------------------------------
// Schema

const name = (what: string) => z.string().regex(PIPELINE_NAME, `${what} names are lower-case letters, digits, "-" or "_", starting with a letter (max 63)`);

const durationText = z.string().superRefine((value, ctx) => {
  let ms = Number.NaN;
  try {
    ms = msToNumber(value as Duration);
  } catch {
    // reported below
  }
  if (!Number.isFinite(ms) || ms <= 0) ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration; write e.g. "30m", "24h" or "2d"` });
});

const cronLine = z.string().superRefine((line, ctx) => {
  const problem = cronProblem(line);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A job's `source_path` template: the source_path rule (common/run-inputs.ts), and only known placeholders. */
const sourcePathTemplate = sourcePathSchema.superRefine((template, ctx) => {
  for (const placeholder of unknownPlaceholders(template)) {
    ctx.addIssue({ code: 'custom', message: `unknown placeholder {${placeholder}}; known: ${TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}` });
  }
});

const pipelineSpecSchema = z.strictObject({
  name: name('pipeline'),
  description: z.string().optional(),
  schedule: z
    .strictObject({
      cron: z.union([cronLine, z.array(cronLine).min(1)]),
      timezone: z
        .string()
        .superRefine((tz, ctx) => {
          const problem = timezoneProblem(tz);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .default('UTC'),
      overlap: z.enum(OVERLAP_POLICIES).default('skip'),
    })
    .optional(),
  requires: z.array(z.union([name('pipeline'), z.strictObject({ pipeline: name('pipeline'), within: durationText.default(DEFAULT_REQUIRES_WITHIN) })])).optional(),
  jobs: z
    .array(
      z.strictObject({
        name: name('job'),
        flow_version: z.string().regex(FLOW_VERSION_ID, 'must be "flow:vN", e.g. "companies:v3"'),
        source_path: sourcePathTemplate,
        depends_on: z.array(z.string()).optional(),
        backup: z.boolean().optional(),
      }),
    )
    .min(1, 'a pipeline needs at least one job'),
});

type Path = (string | number)[];

/**
 * Rules that relate one part of the spec to another, checked on the raw input so they are reported
 * together with every other problem: unique job names, known dependencies, no cycles, the file name.
 */
function crossIssues(raw: unknown, expectedName: string | undefined): { path: Path; message: string }[] {
  const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  const issues: { path: Path; message: string }[] = [];
  if (!isObject(raw)) return issues;
  if (expectedName !== undefined && typeof raw.name === 'string' && raw.name !== expectedName) {
    issues.push({ path: ['name'], message: `"${raw.name}" does not match the file name; the pipeline in ${expectedName}.yaml must be named "${expectedName}"` });
  }
  if (Array.isArray(raw.requires)) {
    raw.requires.forEach((entry, i) => {
      const required = typeof entry === 'string' ? entry : isObject(entry) ? entry.pipeline : undefined;
      if (typeof required === 'string' && required === raw.name) issues.push({ path: ['requires', i], message: 'a pipeline cannot require itself' });
    });
  }
  if (!Array.isArray(raw.jobs)) return issues;
  const jobs = raw.jobs.map((job) => (isObject(job) ? job : {}));
  const names = new Map<string, number>();
  jobs.forEach((job, i) => {
    if (typeof job.name !== 'string') return;
    if (names.has(job.name)) issues.push({ path: ['jobs', i, 'name'], message: `duplicate job name "${job.name}" (also jobs[${names.get(job.name)}])` });
    else names.set(job.name, i);
  });
  const edges = new Map<string, string[]>();
  jobs.forEach((job, i) => {
    if (!Array.isArray(job.depends_on)) return;
    const deps: string[] = [];
    job.depends_on.forEach((dep, j) => {
      if (typeof dep !== 'string') return;
      if (dep === job.name) issues.push({ path: ['jobs', i, 'depends_on', j], message: 'a job cannot depend on itself' });
      else if (!names.has(dep)) issues.push({ path: ['jobs', i, 'depends_on', j], message: `no job named "${dep}"; jobs: ${[...names.keys()].join(', ')}` });
      else deps.push(dep);
    });
    if (typeof job.name === 'string' && names.get(job.name) === i) edges.set(job.name, deps);
  });
  const cycle = findCycle(edges);
  if (cycle) issues.push({ path: ['jobs', names.get(cycle[0]!)!, 'depends_on'], message: `depends_on makes a cycle: ${cycle.join(' → ')}` });
  return issues;
}

/** A dependency cycle as `a → b → … → a` (in dependency direction), or null. */
function findCycle(edges: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'visiting') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      const found = visit(next);
      if (found) return found;
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of edges.keys()) {
    const found = visit(node);
    if (found) return found;
  }
  return null;
}

/** The 1-based line of the deepest node of `at` present in the document. */
function lineOf(doc: Document, lines: LineCounter, at: Path): number | undefined {
  for (let depth = at.length; depth >= 0; depth--) {
    const node = (depth === 0 ? doc.contents : doc.getIn(at.slice(0, depth), true)) as { range?: [number, number, number] } | undefined | null;
    if (node && typeof node === 'object' && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

/** Options of {@link parsePipelineSpec}. */
export interface PipelineSpecOptions {
  /** The pipeline's name as given by its file name; `name:` must match it. */
  expectedName?: string;
}

function validate(raw: unknown, origin: string, options: PipelineSpecOptions, doc: Document, lines: LineCounter): PipelineSpec {
  const result = pipelineSpecSchema.safeParse(raw);
  const found: { path: Path; message: string }[] = [
    ...(result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path as Path, message: issue.message }))),
    ...crossIssues(raw, options.expectedName),
  ];
  if (found.length > 0) {
    // In file order (then as found), so the list reads top to bottom like the file.
    const located = found.map((issue, i) => ({ ...issue, i, line: lineOf(doc, lines, issue.path) }));
    located.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || a.i - b.i);
    const issues = [...new Set(located.map((issue) => `${formatIssuePath(issue.path) || '(root)'}${issue.line === undefined ? '' : ` (line ${issue.line})`}: ${issue.message}`))];
    throw new PipelineSpecError(`${origin} is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):`, issues);
  }
  const spec = result.data!;
  return {
    name: spec.name,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    ...(spec.schedule
      ? {
          schedule: {
            cron: (Array.isArray(spec.schedule.cron) ? spec.schedule.cron : [spec.schedule.cron]).map((line) => line.trim()),
            timezone: spec.schedule.timezone,
            overlap: spec.schedule.overlap,
          },
        }
      : {}),
    requires: (spec.requires ?? []).map((entry) => {
      const within = typeof entry === 'string' ? DEFAULT_REQUIRES_WITHIN : entry.within;
      return { pipeline: typeof entry === 'string' ? entry : entry.pipeline, within, withinMs: msToNumber(within as Duration) };
    }),
    jobs: spec.jobs.map((job) => ({
      name: job.name,
      flowVersion: job.flow_version,
      sourcePath: job.source_path,
      dependsOn: job.depends_on ?? [],
      backup: job.backup ?? true,
    })),
  };
}

/**
 * Parses pipeline YAML text and validates it.
 * @param origin where the text came from (a file path), used in messages.
 * @throws PipelineSpecError on YAML syntax errors (with line and column) or spec problems (with path and line).
 */
export function parsePipelineSpec(yamlText: string, origin = 'pipeline spec', options: PipelineSpecOptions = {}): PipelineSpec {
  const lines = new LineCounter();
  const doc = parseDocument(yamlText, { prettyErrors: true, uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    throw new PipelineSpecError(
      `${origin} is not valid YAML:`,
      yamlSyntaxIssues(doc),
    );
  }
  return validate(doc.toJS(), origin, options, doc, lines);
}

/** Jobs in an order where every job comes after its dependencies (file order otherwise). */
export function jobOrder(spec: Pick<PipelineSpec, 'jobs'>): PipelineJob[] {
  const byName = new Map(spec.jobs.map((job) => [job.name, job]));
  const ordered: PipelineJob[] = [];
  const placed = new Set<string>();
  const place = (job: PipelineJob) => {
    if (placed.has(job.name)) return;
    placed.add(job.name);
    for (const dep of job.dependsOn) place(byName.get(dep)!);
    ordered.push(job);
  };
  spec.jobs.forEach(place);
  return ordered;
}

// ---------------------------------------------------------------------------------------------
// Files

/** The file of a pipeline in the project's `pipelines/` folder (`.yaml`, else `.yml`), or null. */
function pipelineFile(dir: string, pipeline: string): string | null {
  for (const ext of ['.yaml', '.yml']) {
    const file = path.join(dir, `${pipeline}${ext}`);
    if (existsSync(file)) return file;
  }
  return null;
}

/** A pipeline file of the project, parsed or not. */
export interface PipelineListing {
  name: string;
  /** Absolute path of the file. */
  file: string;
  /** The spec, when the file is valid. */
  spec: PipelineSpec | null;
  /** Why the file is invalid, when it is. */
  error: PipelineSpecError | null;
}

/** Every `pipelines/*.yaml` (and `.yml`) of the project, sorted by name; invalid files carry their error. */
export function listPipelines(config: Pick<SluiceConfig, 'projectDir'>): PipelineListing[] {
  const dir = projectPaths(config).pipelines;
  if (!existsSync(dir)) return [];
  const listings = new Map<string, PipelineListing>();
  for (const entry of readdirSync(dir).sort()) {
    const match = /^(.+)\.ya?ml$/.exec(entry);
    if (!match || listings.has(match[1]!)) continue;
    const file = path.join(dir, entry);
    try {
      listings.set(match[1]!, { name: match[1]!, file, spec: parsePipelineSpec(readFileSync(file, 'utf8'), file, { expectedName: match[1]! }), error: null });
    } catch (error) {
      if (!(error instanceof PipelineSpecError)) throw error;
      listings.set(match[1]!, { name: match[1]!, file, spec: null, error });
    }
  }
  return [...listings.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Reads and validates `pipelines/<name>.yaml` of the project.
 * @throws UserError `INVALID_PIPELINE_NAME`, `UNKNOWN_PIPELINE` (no such file; the message lists the
 *   pipelines there are), or PipelineSpecError.
 */
export function loadPipeline(config: Pick<SluiceConfig, 'projectDir'>, pipeline: string): PipelineSpec {
  if (!PIPELINE_NAME.test(pipeline)) {
    throw new UserError('INVALID_PIPELINE_NAME', `"${pipeline}" is not a pipeline name (lower-case letters, digits, "-" or "_", starting with a letter)`);
  }
  const dir = projectPaths(config).pipelines;
  const file = pipelineFile(dir, pipeline);
  if (!file) {
    const known = existsSync(dir) ? readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => f.replace(/\.ya?ml$/, '')) : [];
    throw new UserError(
      'UNKNOWN_PIPELINE',
      `no pipeline "${pipeline}": ${path.join(dir, `${pipeline}.yaml`)} does not exist; ${known.length > 0 ? `pipelines: ${[...new Set(known)].sort().join(', ')}` : 'the pipelines/ folder has none'}`,
    );
  }
  return parsePipelineSpec(readFileSync(file, 'utf8'), file, { expectedName: pipeline });
}
