/**
 * What a run shows in the Temporal UI without opening its JSON: Temporal's user metadata.
 *
 * - The **summary** (set once, when the run starts): `movies:v1 on data/movies.csv`. The Temporal UI
 *   shows it on the run's page and in the workflow list's "Summary" column.
 * - The **current details** (set by the workflow at every transition, `setCurrentDetails`): the Sluice
 *   status, the row counts, the top reject rules (`field:rule` with its count) and, for FAILED/CRASHED, the error code and its step.
 *   So a PARTIAL_FAILED run, which Temporal lists as a green "Completed" (it ran to its end), says
 *   PARTIAL_FAILED first thing on its page.
 *
 * Pure functions of the run model, imported by workflow code (so no Node built-ins here).
 */
import type { RunMetadata } from '../common/run-model';

/**
 * Temporal keeps a summary as one payload and the UI shows one line; longer text is cut with `…`.
 * 200 characters keeps a 2,048-character source_path's start and end readable.
 */
export const SUMMARY_MAX_CHARS = 200;

/** The number of reject rules the details name (the most frequent first). */
export const DETAILS_TOP_RULES = 3;

/**
 * A run's one-line summary: `<flow:vN> on <source_path>`; a source_path too long for one line keeps
 * its first and last characters around `…`, so the file name stays visible.
 */
export function runSummary(flowVersion: string, sourcePath: string): string {
  const text = `${flowVersion} on ${sourcePath}`;
  if (text.length <= SUMMARY_MAX_CHARS) return text;
  const keep = SUMMARY_MAX_CHARS - 1;
  const head = Math.ceil(keep / 2);
  return `${text.slice(0, head)}…${text.slice(text.length - (keep - head))}`;
}

/**
 * A run's current details, Markdown (the Temporal UI renders it), e.g.
 *
 * ```
 * **PARTIAL_FAILED** · read 4 · mapped 3 · rejected 1 · written 3
 *
 * Top reject rules: amount:type 1
 * ```
 *
 * A reprocess adds `Reprocess of the rejects of <run> (<flow:vN> on <source_path>) · recovered N · still rejected M`.
 * A FAILED or CRASHED run adds `Error: CODE in <step>: message` (the message's first line, at most 300
 * characters).
 */
export function runDetails(metadata: Pick<RunMetadata, 'status' | 'rows' | 'rejects' | 'error' | 'rejects_of'>): string {
  const { read, mapped, rejected, written } = metadata.rows;
  const lines = [`**${metadata.status}** · read ${read} · mapped ${mapped} · rejected ${rejected} · written ${written}`];
  const of = metadata.rejects_of;
  if (of) {
    const outcome = of.recovered === undefined ? '' : ` · recovered ${of.recovered} · still rejected ${of.still_rejected}`;
    lines.push(`Reprocess of the rejects of ${of.run_id} (${of.flow_version} on ${of.source_path})${outcome}`);
  }
  const rules = Object.entries(metadata.rejects.by_rule)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .slice(0, DETAILS_TOP_RULES);
  if (rules.length > 0) lines.push(`Top reject rules: ${rules.map(([rule, count]) => `${rule} ${count}`).join(', ')}`);
  if (metadata.error) {
    const message = metadata.error.message.split('\n')[0]!;
    lines.push(`Error: ${metadata.error.code} in ${metadata.error.step}: ${message.length > 300 ? `${message.slice(0, 299)}…` : message}`);
  }
  return lines.join('\n\n');
}
