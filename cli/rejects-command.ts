/**
 * `sluice rejects <run-id>`: what a run rejected, read back from its target (client/rejects.ts).
 *
 * ```sh
 * sluice rejects movies-v1-3f9a…                           # summary, then the first 20 rejects
 * sluice rejects movies-v1-3f9a… --rule check --field budget_usd --limit 50
 * sluice rejects movies-v1-3f9a… --json                    # { summary, rejects, next_cursor }
 * sluice rejects movies-v1-3f9a… --out rejects.parquet     # every reject (with --rule/--field: those) to a file
 * ```
 *
 * The summary counts every reject of the run's latest loaded execution; `--rule` / `--field` filter the sample
 * rows and the export. Exit codes: 0 shown, 1 unexpected error, 2 a refused request (unknown run, run not loaded
 * yet, a target kind that cannot read rejects back, a bad option).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { rejectsPageJson, rejectsSummaryJson, type RunRejectsSummary } from '../client/rejects';
import type { Sluice } from '../client/sluice';
import { UserError } from '../common/errors';
import type { RejectRow } from '../connectors/rejects';
import { MAX_REJECTS_LIMIT } from '../connectors/rejects';
import { errorsText, writeRejectsExport, type RejectsExportFormat } from '../pipelines/reject-files';
import { configFrom } from './cli-config';
import { wholeNumber } from './number-options';
import { formatTable } from './table';

interface RejectsOptions {
  rule?: string;
  field?: string;
  limit: number;
  json?: boolean;
  out?: string;
}

/** Longest original-values cell in the sample table; longer ones end with `…`. */
const VALUES_WIDTH = 100;

const clip = (text: string, width: number) => (text.length > width ? `${text.slice(0, width - 1)}…` : text);

/**
 * The summary in words and tables: rows rejected, errors by field and rule, the most frequent messages.
 * @returns lines with a final newline.
 */
export function formatRejectsSummary(summary: RunRejectsSummary): string {
  let out = `run ${summary.runId}: ${summary.status}   flow version: ${summary.flowVersion}\n`;
  out += `rejects: ${summary.location ?? '(none written)'}\n`;
  out += `rows rejected: ${summary.rowsRejected}\n`;
  if (summary.byFieldRule.length > 0) {
    out += `\nerrors by field and rule:\n`;
    out += formatTable(
      ['FIELD', 'RULE', 'COUNT'],
      summary.byFieldRule.map((g) => [g.field ?? '(row)', g.rule, String(g.count)]),
      ['left', 'left', 'right'],
    );
  }
  if (summary.topMessages.length > 0) {
    out += `\nmost frequent messages:\n`;
    out += formatTable(
      ['COUNT', 'MESSAGE'],
      summary.topMessages.map((m) => [String(m.count), m.message]),
      ['right', 'left'],
    );
  }
  return out;
}

/** Sample rejects as a table: row number, the errors in words, the original values (JSON, clipped). */
export function formatRejectRows(rows: readonly RejectRow[]): string {
  return formatTable(
    ['ROW', 'ERRORS', 'ORIGINAL VALUES'],
    rows.map((r) => [String(r.rowNumber), errorsText(r.errors), clip(JSON.stringify(r.record), VALUES_WIDTH)]),
    ['right', 'left', 'left'],
  );
}

/**
 * The export format from the file's extension.
 * @throws UserError `INVALID_OUT_FILE` for anything but `.csv` and `.parquet`.
 */
export function exportFormat(file: string): RejectsExportFormat {
  const extension = path.extname(file).toLowerCase();
  if (extension === '.csv') return 'csv';
  if (extension === '.parquet') return 'parquet';
  throw new UserError('INVALID_OUT_FILE', `--out ${file}: name a .csv or .parquet file (the extension picks the format)`);
}

/** Every reject of the run (filtered), one page of {@link MAX_REJECTS_LIMIT} at a time. */
async function* allRejects(sluice: Sluice, runId: string, filter: { rule?: string; field?: string }): AsyncGenerator<RejectRow[]> {
  let cursor: string | undefined;
  do {
    const page = await sluice.rejects(runId, { ...filter, limit: MAX_REJECTS_LIMIT, ...(cursor ? { cursor } : {}) });
    yield page.rows;
    cursor = page.nextCursor;
  } while (cursor);
}

/**
 * Adds `sluice rejects` to a program.
 * @param clientFor makes the SDK client of a config (main.ts's, so every command connects alike).
 */
export function addRejectsCommand(program: Command, clientFor: (config: ReturnType<typeof configFrom>) => Sluice): void {
  program
    .command('rejects')
    .description("show a run's rejects: a summary (by field and rule, most frequent messages), then sample rows; --out exports them all")
    .argument('<run-id>')
    .option('--rule <rule>', 'only rejects with an error of this rule (type, required, check, in, dedupe, check:<name>)')
    .option('--field <field>', 'only rejects with an error on this target field')
    .option('--limit <n>', `sample rows to show, 1–${MAX_REJECTS_LIMIT}`, wholeNumber({ min: 1, max: MAX_REJECTS_LIMIT }), 20)
    .option('--json', 'print one JSON object: { summary, rejects, next_cursor }')
    .option('--out <file>', 'write every reject (filtered by --rule/--field) to a .csv or .parquet file: row_number, errors, one column per source column')
    .action(async (runId: string, options: RejectsOptions, command: Command) => {
      const format = options.out === undefined ? undefined : exportFormat(options.out);
      const config = configFrom(command);
      const sluice = clientFor(config);
      const filter = { ...(options.rule !== undefined ? { rule: options.rule } : {}), ...(options.field !== undefined ? { field: options.field } : {}) };
      try {
        const summary = await sluice.rejectsSummary(runId);
        const written = options.out !== undefined && format ? await writeRejectsExport(allRejects(sluice, runId, filter), options.out, format) : undefined;
        const page = await sluice.rejects(runId, { ...filter, limit: options.limit });
        if (options.json) {
          const exported = options.out !== undefined ? { out: { file: options.out, format, rows: written } } : {};
          process.stdout.write(`${JSON.stringify({ summary: rejectsSummaryJson(summary), ...rejectsPageJson(page), ...exported })}\n`);
          return;
        }
        let out = formatRejectsSummary(summary);
        const filtered = Object.entries(filter).map(([k, v]) => `${k} ${v}`).join(', ');
        if (page.rows.length > 0) {
          out += `\n${page.nextCursor ? `first ${page.rows.length}` : `all ${page.rows.length}`} rejects${filtered ? ` with ${filtered}` : ''}:\n${formatRejectRows(page.rows)}`;
        } else if (filtered) {
          out += `\nno rejects with ${filtered}\n`;
        }
        if (options.out !== undefined) out += `\nwrote ${written} rejects to ${options.out}\n`;
        process.stdout.write(out);
      } finally {
        await sluice.close();
      }
    });
}
