/**
 * How the CLI tells a run's story on a terminal: the live `--wait` line, the `runs list` table and the
 * warnings of a finished run. JSON output (`--json`) is `client/run-json.ts`.
 */
import type { RunSummary, SluiceRun } from '../client/sluice';
import type { RunMetadata, RunStatus, StepName } from '../common/run-model';
import { formatTable } from './table';

/** The step a status is in (none before the first and after the last). */
const STEP_OF: Partial<Record<RunStatus, StepName>> = { SYNCING_SOURCE: 'sync_source', TRANSFORMING: 'transform', SYNCING_TARGET: 'sync_target' };

/** `h:mm:ss` under an hour `m:ss`, from milliseconds. */
export function elapsedText(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/**
 * The live line of `run --wait`: run id, status, the step and (while transforming) chunks done of total, rows
 * read/mapped/rejected/written so far, and the time since the run started (its first step; before that, since
 * `waitStartedAt`), e.g. `orders-v1-3f9a…  TRANSFORMING  transform  chunks 3/8  read 80000  mapped 29950  rejected 50  written 0  0:12`.
 */
export function progressLine(run: Pick<SluiceRun, 'id' | 'status' | 'metadata'>, now: number, waitStartedAt: number): string {
  const metadata = run.metadata;
  const parts = [run.id, run.status.padEnd(14)];
  const step = STEP_OF[run.status];
  if (step) parts.push(step);
  // A one-pass run maps while SYNCING_TARGET: its chunks come from the pending activity (common/run-reader.ts).
  const mapping = run.status === 'TRANSFORMING' || (run.status === 'SYNCING_TARGET' && metadata?.steps.transform?.ended_at === undefined);
  if (mapping && metadata?.progress) parts.push(`chunks ${metadata.progress.chunks_done}/${metadata.progress.chunks_total}`);
  if (metadata) {
    const { rows } = metadata;
    parts.push(`read ${rows.read}`, `mapped ${rows.mapped}`, `rejected ${rows.rejected}`, `written ${rows.written}`);
  }
  const started = Date.parse(metadata?.steps.sync_source?.started_at ?? '');
  parts.push(elapsedText(now - (Number.isNaN(started) ? waitStartedAt : started)));
  return parts.join('  ');
}

/** The `warning: …` lines of a run's metadata (e.g. `EMPTY_SOURCE`), each ending in a newline. */
export function warningLines(metadata: RunMetadata | undefined): string {
  return (metadata?.warnings ?? []).map((w) => `warning: ${w.code}: ${w.message}\n`).join('');
}

/** The columns of `runs list`. */
export const RUNS_TABLE_HEADER = ['RUN', 'STATUS', 'FLOW VERSION', 'SOURCE_PATH', 'READ', 'MAPPED', 'REJECTED', 'WRITTEN', 'STARTED'] as const;

/** `runs list` as a table; counts are `-` when the run has not recorded them (no transition yet, or an older worker). */
export function runsTable(runs: readonly RunSummary[]): string {
  const count = (n: number | undefined) => (n === undefined ? '-' : String(n));
  const rows = runs.map((r) => [
    r.id,
    r.status ?? '?',
    r.flowVersion ?? '-',
    r.sourcePath ?? '-',
    count(r.rows?.read),
    count(r.rows?.mapped),
    count(r.rows?.rejected),
    count(r.rows?.written),
    r.startedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  ]);
  return formatTable(RUNS_TABLE_HEADER, rows, ['left', 'left', 'left', 'left', 'right', 'right', 'right', 'right', 'left']);
}
