/**
 * How the CLI prints a dry run's report (`metadata.dry_run_report`, common/dry-run-report.ts): what the load would
 * do, the reject errors by rule as a table, then the sample rejects as a table (row, reasons, original values).
 *
 * ```text
 * dry run: nothing was written to the target
 *   target: warehouse:public.orders (upsert): 900 would be inserted, 90 updated
 *   rejects by rule:
 *     FIELD   RULE      COUNT
 *     amount  type          7
 *   first 10 rejects:
 *     ROW  ERRORS                                   RECORD
 *      12  amount:type: "x" is not a float64 …      {"id":"12","amount":"x"}
 * ```
 */
import type { DryRunReport } from '../common/dry-run-report';
import type { RunMetadata } from '../common/run-model';
import { formatTable } from './table';

/** At most this many characters of a sample's cells. */
const CELL_CHARS = 80;

const clip = (text: string, max = CELL_CHARS) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
const indent = (text: string, by: string) =>
  text
    .split('\n')
    .map((line) => (line === '' ? line : `${by}${line}`))
    .join('\n');

/** The target line: inserts vs updates (upsert), or what a replace deletes. */
export function targetPlanLine(target: DryRunReport['target']): string {
  const parts = [`${target.would_insert} would be inserted`];
  if (target.write === 'upsert') parts.push(target.would_update === null ? 'updates not computed for this target' : `${target.would_update} updated`);
  if (target.write === 'replace' && target.existing_rows !== null) parts.push(`${target.existing_rows} existing rows deleted first`);
  if (target.table_exists === false) parts.push('table would be created');
  if (target.duplicate_keys) parts.push(`${target.duplicate_keys} rows share a key: a real run would fail (add dedupe on the key)`);
  return `target: ${target.location} (${target.write}): ${parts.join(', ')}`;
}

/** The report of a dry run's metadata as lines ending in a newline; '' when the run is not a dry run. */
export function dryRunReportText(metadata: RunMetadata | undefined): string {
  if (!metadata?.dry_run) return '';
  const report = metadata.dry_run_report;
  let out = 'dry run: nothing was written to the target\n';
  if (!report) return out;
  out += `  ${targetPlanLine(report.target)}\n`;
  if (report.by_rule.length > 0) {
    out += '  rejects by rule:\n';
    out += indent(formatTable(['FIELD', 'RULE', 'COUNT'], report.by_rule.map((r) => [r.field ?? '-', r.rule, String(r.count)]), ['left', 'left', 'right']), '    ');
  }
  if (report.samples.length > 0) {
    out += `  first ${report.samples.length} rejects (of ${report.rows.rejected}):\n`;
    const rows = report.samples.map((s) => [
      String(s.row),
      clip(s.errors.map((e) => `${e.field ? `${e.field}:` : ''}${e.rule}: ${e.message}`).join('; ')),
      clip(JSON.stringify(s.record)),
    ]);
    out += indent(formatTable(['ROW', 'ERRORS', 'RECORD'], rows, ['right', 'left', 'left']), '    ');
  }
  return out;
}
