/**
 * `sluice flows check | preview | init`: a flow looked at before it is a version. None of them needs
 * the local stack (no Temporal, no database) and none writes anything but its output.
 *
 * ```sh
 * sluice flows init --from data/cars.csv --out flows/cars.yaml   # a draft inferred over the whole sample
 * sluice flows check flows/cars.yaml --source data/cars.csv      # every expr and check compiled with Polars
 * sluice flows preview flows/cars.yaml --source data/cars.csv    # first mapped rows and rejects with reasons
 * ```
 *
 * Exit codes (as every command): 0 ok, 2 the flow cannot run / a user error (bad spec, missing sample).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../common/errors';
import { loadConfig } from '../config/sluice-config';
import { readSample } from '../connectors/local/read-sample';
import { parseFlowSpec, type FlowSpec } from '../flows/flow-spec';
import { checkFlow, type FlowCheckResult, type FlowProblem } from '../transform/flow-check';
import { draftFlowYaml } from '../transform/flow-draft';
import { previewFlow, type FlowPreview } from '../transform/flow-preview';
import { ExitError, globalOptions } from './cli-config';
import { wholeNumber } from './number-options';
import { formatTable } from './table';

/** Reads and validates a flow file. @throws UserError `FLOW_FILE_NOT_FOUND`, FlowSpecError. */
function readFlow(file: string): FlowSpec {
  if (!existsSync(file)) throw new UserError('FLOW_FILE_NOT_FOUND', `flow file ${file} does not exist`);
  return parseFlowSpec(readFileSync(file, 'utf8'), file);
}

/** The target connector's kind from the config, when a config loads (target-specific rules); else undefined. */
function targetKindOf(command: Command, spec: FlowSpec): string | undefined {
  const options = globalOptions(command);
  try {
    const config = loadConfig({ configFile: options.config, environment: options.env, onWarning: () => undefined });
    return config.connectors[spec.target.connector]?.kind;
  } catch {
    return undefined;
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Prints a check's outcome; exits 2 when the flow cannot run. */
function reportCheck(file: string, result: FlowCheckResult, what: string, json: boolean | undefined, spec: FlowSpec): void {
  const strip = (p: FlowProblem) => {
    const { text: _text, ...rest } = p;
    return rest;
  };
  const ok = result.problems.length === 0;
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok, file, problems: result.problems.map(strip), warnings: result.warnings.map(strip) })}\n`);
  } else {
    for (const w of result.warnings) process.stderr.write(`warning: ${w.text}\n`);
    if (ok) {
      const exprs = spec.fields.filter((f) => f.expr !== undefined).length;
      const checks = spec.fields.filter((f) => f.check !== undefined).length + spec.checks.length;
      process.stdout.write(`ok: ${file} can run (${plural(exprs, 'expr')} and ${plural(checks, 'check')} compiled with Polars against ${what})\n`);
    } else {
      process.stderr.write(`error: ${file} cannot run (${plural(result.problems.length, 'problem')}):\n${result.problems.map((p) => `  - ${p.text}\n`).join('')}`);
    }
  }
  if (!ok) throw new ExitError(2);
}

/** {@link formatTable} with each cell cut to `width` characters and no trailing blanks (an empty last cell). */
function textTable(header: string[], rows: string[][], width = 24): string {
  const cut = (s: string) => (s.length > width ? `${s.slice(0, width - 1)}…` : s);
  return formatTable(header.map(cut), rows.map((r) => r.map(cut)))
    .trimEnd()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

const show = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

function printPreview(file: string, sample: string, preview: FlowPreview, rows: number, targetKind: string | undefined): void {
  const out = process.stdout;
  const rules = Object.entries(preview.by_rule)
    .sort((a, b) => b[1] - a[1])
    .map(([rule, n]) => `${rule} ${n}`)
    .join(', ');
  out.write(`${file} on ${sample}: read ${preview.rows_read}, mapped ${preview.rows_mapped}, rejected ${preview.rows_rejected}${rules ? ` (${rules})` : ''}\n`);
  out.write(`\nmapped rows (first ${Math.min(rows, preview.rows_mapped)} of ${preview.rows_mapped}):\n`);
  if (preview.mapped.length > 0) out.write(`${textTable(['row', ...preview.fields], preview.mapped.map((r) => [String(r.row), ...preview.fields.map((f) => show(r[f]))]))}\n`);
  out.write(`\nrejects (first ${preview.rejects.length} of ${preview.rows_rejected}):\n`);
  for (const reject of preview.rejects) {
    for (const e of reject.errors) out.write(`  row ${reject.row}  ${e.field ?? '(row)'}  ${e.rule}: ${e.message}\n`);
    out.write(`    record: ${JSON.stringify(reject.record)}\n`);
  }
  if (preview.custom_map_skipped) out.write('\nnote: the custom map (transform) is not applied by preview; its rejects appear only in a run\n');
  if (targetKind === undefined) out.write('\nnote: no config found for the target connector; target-specific rules (a NUL byte in PostgreSQL text) were not applied\n');
  out.write('\nnothing was written (no staging, no target, no run)\n');
}

/** Adds `check`, `preview` and `init` to the `flows` command. */
export function addFlowsCommands(flows: Command): void {
  flows
    .command('check')
    .description('check that a flow can run: every expr, check and checks[].sql compiled with Polars (exit 2 if not)')
    .argument('<file>', 'flow YAML file')
    .option('-s, --source <sample>', "also check against the real columns of a sample file, read through the flow's source format")
    .option('--json', 'print one JSON object: {ok, file, problems, warnings}')
    .action(async (file: string, options: { source?: string; json?: boolean }) => {
      const spec = readFlow(file);
      if (options.source === undefined) {
        reportCheck(file, checkFlow(spec), 'the declared input columns', options.json, spec);
        return;
      }
      const sample = await readSample(options.source, spec.source);
      reportCheck(file, checkFlow(spec, { sample: sample.frame, sampleName: options.source }), `the columns and rows of ${options.source}`, options.json, spec);
    });

  flows
    .command('preview')
    .description('map a sample with a flow and show the first mapped rows and the rejects with their reasons; writes nothing')
    .argument('<file>', 'flow YAML file')
    .requiredOption('-s, --source <path>', "a sample file, read through the flow's source format")
    .option('--rows <n>', 'how many mapped rows and rejects to show', wholeNumber({ min: 1 }), 20)
    .option('--json', 'print one JSON object: {rows_read, rows_mapped, rows_rejected, by_rule, fields, mapped, rejects, …}')
    .action(async (file: string, options: { source: string; rows: number; json?: boolean }, command: Command) => {
      const spec = readFlow(file);
      const sample = await readSample(options.source, spec.source);
      const check = checkFlow(spec, { sample: sample.frame, sampleName: options.source });
      if (check.problems.length > 0) reportCheck(file, check, `the columns and rows of ${options.source}`, options.json, spec);
      const targetKind = targetKindOf(command, spec);
      const preview = await previewFlow(spec, sample.frame, { rows: options.rows, targetKind });
      if (options.json) process.stdout.write(`${JSON.stringify({ file, source: options.source, ...preview, written: false })}\n`);
      else printPreview(file, options.source, preview, options.rows, targetKind);
    });

  flows
    .command('init')
    .description('draft a flow spec from a sample: types over every row, required where no nulls, in for low-cardinality text')
    .requiredOption('--from <file>', 'a sample file (csv, json, ndjson, parquet)')
    .option('--name <flow>', 'flow name (default: the file name without extension and a trailing date)')
    .option('--out <file>', 'write the draft here (refuses to overwrite) instead of stdout')
    .option('--source-connector <name>', 'source connector', 'files')
    .option('--target-connector <name>', 'target connector', 'warehouse')
    .option('--table <table>', 'target table (default: public.<name>)')
    .action(async (options: { from: string; name?: string; out?: string; sourceConnector: string; targetConnector: string; table?: string }) => {
      // A dated file (accounts_2026-12-02.csv, one of a daily series) names the flow without its date.
      const base = path.basename(options.from).replace(/\.[^.]*$/, '').replace(/[_-]?\d{4}-?\d{2}-?\d{2}$/, '');
      const name = options.name ?? (base.toLowerCase().replace(/[^a-z0-9_-]+/g, '_').replace(/^[^a-z]+/, '').slice(0, 63) || 'flow');
      if (options.out !== undefined && existsSync(options.out)) {
        throw new UserError('FLOW_FILE_EXISTS', `${options.out} already exists; choose another --out, or remove it first`);
      }
      const sample = await readSample(options.from);
      const yaml = draftFlowYaml(sample.frame, {
        name,
        sampleName: options.from,
        format: sample.format,
        sourceConnector: options.sourceConnector,
        targetConnector: options.targetConnector,
        ...(options.table !== undefined ? { table: options.table } : {}),
      });
      // The draft must be a valid flow: parsed as publish would (a bad --name is refused here).
      parseFlowSpec(yaml, options.out ?? 'the draft');
      if (options.out === undefined) process.stdout.write(yaml);
      else {
        writeFileSync(options.out, yaml, { flag: 'wx' });
        process.stderr.write(`wrote ${options.out} (${sample.frame.width} fields from ${sample.frame.height} rows); check it with: sluice flows check ${options.out} --source ${options.from}\n`);
      }
    });
}
