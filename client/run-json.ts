/**
 * The one JSON shape of runs, snake_case, shared by the CLI's `--json`, the gateway's API and (for the run's
 * fields) the webhook payloads (`webhooks/events.ts`). The SDK's TypeScript objects stay camelCase
 * (`RunSummary.executionId`); these functions are where they become the documented wire shape
 * (README "API", "JSON output").
 *
 * ```json
 * { "id": "movies-v1-3f9a…", "execution_id": "0193…", "flow_version": "movies:v1", "status": "SUCCEEDED",
 *   "source_path": "data/movies.json", "rows": { "read": 3201, "mapped": 3190, "rejected": 11, "written": 3190 },
 *   "started_at": "2026-01-05T10:00:00.000Z", "closed_at": "2026-01-05T10:00:04.210Z" }
 * ```
 */
import type { RunMetadata } from '../common/run-model';
import type { RunSummary, SluiceRun } from './sluice';

/** A run in a listing (`runs list --json`, `GET /v1/runs`). Unknown values are null, never absent. */
export interface RunSummaryJson {
  id: string;
  execution_id: string;
  flow_version: string | null;
  status: string | null;
  source_path: string | null;
  rows: RunMetadata['rows'] | null;
  /** The user who started the run (`SluiceStartedBy`); null for runs started before users existed. */
  started_by: string | null;
  started_at: string;
  closed_at: string | null;
}

/** {@link RunSummary} as JSON. */
export function runSummaryJson(run: RunSummary): RunSummaryJson {
  return {
    id: run.id,
    execution_id: run.executionId,
    flow_version: run.flowVersion ?? null,
    status: run.status ?? null,
    source_path: run.sourcePath ?? null,
    rows: run.rows ?? null,
    started_by: run.startedBy ?? null,
    started_at: run.startedAt.toISOString(),
    closed_at: run.closedAt?.toISOString() ?? null,
  };
}

/** One run (`run --json`, `status --json`; the API's run adds `status_source`). `metadata` is the `metadata` query's document, already snake_case. */
export interface RunJson {
  id: string;
  status: string;
  flow_version: string | null;
  source_path: string | null;
  rows: RunMetadata['rows'] | null;
  metadata: RunMetadata | null;
}

/** A run handle (and its metadata, when known) as JSON. */
export function runJson(run: Pick<SluiceRun, 'id' | 'status'>, metadata: RunMetadata | undefined): RunJson {
  return {
    id: run.id,
    status: run.status,
    flow_version: metadata?.run.flow_version ?? null,
    source_path: metadata?.run.source_path ?? null,
    rows: metadata?.rows ?? null,
    metadata: metadata ?? null,
  };
}
