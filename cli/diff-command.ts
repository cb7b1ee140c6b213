/**
 * `sluice flows diff <flow:vA> <flow:vB> --source <source_path> [--json]`: two versions of one flow run on ONE
 * staged copy of the source (the `diffFlowVersions` workflow; nothing written to the target), then what differs:
 *
 * ```text
 * orders:v1 → orders:v2 on drop/orders.csv: read 3000
 *   v1: mapped 2600, rejected 400    v2: mapped 2550, rejected 450
 *   newly rejected 80, newly accepted 30, rows with changed values 120 (matched by key id)
 *
 * spec changes:
 *   CHANGE        FIELD   RULE   BEFORE  AFTER
 *   rule_added    amount  check   -      "amount >= 0"
 * newly rejected (accepted by v1, rejected by v2): 80
 *   ROW  V2 REASONS  RECORD
 * …
 * ```
 *
 * Exit codes: 0 done, 2 a refused request (unknown version, different flows or sources, a transform's user error).
 */
import type { Command } from 'commander';
import { Sluice } from '../client/sluice';
import type { DiffRowSample, VersionDiffReport } from '../common/version-diff-report';
import { configFrom } from './cli-config';
import { formatTable } from './table';

const CELL_CHARS = 60;
const clip = (text: string) => (text.length > CELL_CHARS ? `${text.slice(0, CELL_CHARS - 1)}…` : text);
const indent = (text: string) =>
  text
    .split('\n')
    .map((line) => (line === '' ? line : `  ${line}`))
    .join('\n');
const shown = (value: unknown) => (value === undefined ? '-' : clip(JSON.stringify(value)));
const short = (id: string) => id.slice(id.indexOf(':') + 1);

function rowsTable(samples: DiffRowSample[], reasons: string): string {
  const rows = samples.map((s) => [String(s.row), clip(s.errors.map((e) => `${e.field ? `${e.field}:` : ''}${e.rule}: ${e.message}`).join('; ')), clip(JSON.stringify(s.record))]);
  return indent(formatTable(['ROW', reasons, 'RECORD'], rows, ['right', 'left', 'left']));
}

/** The report for a terminal: counts first, then one table per section. */
export function diffReportText(report: VersionDiffReport): string {
  const [a, b] = [short(report.version_a), short(report.version_b)];
  const { changed } = report;
  const matchedBy = changed.matched_by === 'key' ? `key ${changed.match.join(', ')}` : 'source row number';
  let out = `${report.version_a} → ${report.version_b} on ${report.source_path}: read ${report.rows.read}\n`;
  out += `  ${a}: mapped ${report.rows.a.mapped}, rejected ${report.rows.a.rejected}    ${b}: mapped ${report.rows.b.mapped}, rejected ${report.rows.b.rejected}\n`;
  out += `  newly rejected ${report.newly_rejected.count}, newly accepted ${report.newly_accepted.count}, rows with changed values ${changed.rows_changed} of ${changed.matched} matched (by ${matchedBy})\n`;
  // Unmatched accepted rows beyond the newly rejected / accepted ones: a key that changed, say.
  if (changed.only_in_a !== report.newly_rejected.count || changed.only_in_b !== report.newly_accepted.count) {
    out += `  accepted rows without a match in the other version: ${changed.only_in_a} of ${a} (${report.newly_rejected.count} newly rejected), ${changed.only_in_b} of ${b} (${report.newly_accepted.count} newly accepted)\n`;
  }
  if (changed.note) out += `  note: ${changed.note}\n`;
  out += '\n';
  if (report.spec.length === 0) out += 'spec changes: none\n';
  else {
    out += 'spec changes:\n';
    out += indent(formatTable(['CHANGE', 'FIELD', 'RULE', 'BEFORE', 'AFTER'], report.spec.map((c) => [c.change, c.field ?? '-', c.rule ?? '-', shown(c.before), shown(c.after)])));
  }
  out += `\nnewly rejected (accepted by ${a}, rejected by ${b}): ${report.newly_rejected.count}\n`;
  if (report.newly_rejected.samples.length > 0) out += rowsTable(report.newly_rejected.samples, `${b.toUpperCase()} REASONS`);
  out += `\nnewly accepted (rejected by ${a}, accepted by ${b}): ${report.newly_accepted.count}\n`;
  if (report.newly_accepted.samples.length > 0) out += rowsTable(report.newly_accepted.samples, `${a.toUpperCase()} REASONS`);
  out += `\nchanged values (rows accepted by both, matched by ${matchedBy}):\n`;
  if (changed.fields.length === 0) out += '  no field in both versions to compare\n';
  else out += indent(formatTable(['FIELD', 'CHANGED'], changed.fields.map((f) => [f.field, String(f.changed)]), ['left', 'right']));
  const samples = changed.fields.flatMap((f) =>
    f.samples.map((s) => [f.field, Object.entries(s.match).map(([k, v]) => `${k}=${v ?? 'null'}`).join(' '), clip(s.old ?? 'null'), clip(s.new ?? 'null')]),
  );
  if (samples.length > 0) {
    out += '  samples:\n';
    out += indent(indent(formatTable(['FIELD', 'MATCH', `${a.toUpperCase()} (OLD)`, `${b.toUpperCase()} (NEW)`], samples)));
  }
  return out;
}

/** Adds `diff` to the `flows` command group. */
export function addFlowsDiffCommand(flows: Command): void {
  flows
    .command('diff')
    .description('run two versions of one flow on one staged copy of a source_path (nothing written) and show what differs')
    .argument('<version-a>', 'flow:vN, compared from')
    .argument('<version-b>', 'flow:vM of the same flow, compared to')
    .requiredOption('-s, --source <source_path>', 'the source_path both versions read')
    .option('--json', 'print the whole report as one JSON object')
    .action(async (versionA: string, versionB: string, options: { source: string; json?: boolean }, command: Command) => {
      const config = configFrom(command);
      const sluice = new Sluice({
        address: config.temporal.address,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        environment: config.environment,
        databaseUrl: config.databaseUrl,
      });
      try {
        const report = await sluice.diffFlowVersions({ versionA, versionB, sourcePath: options.source });
        process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : diffReportText(report));
      } finally {
        await sluice.close();
      }
    });
}
