/**
 * The console's only way to data: the gateway's `/v1` API, with the API token the user signed in with
 * (kept in sessionStorage: gone when the tab closes). Every call sends `Authorization: Bearer <token>`;
 * without a token no call is made.
 */

const TOKEN_KEY = 'sluice.token';

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** An error answer of the API: `{ error: { code, message, details } }` with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Listener = (error: ApiError) => void;
const authListeners = new Set<Listener>();

/** Called on every 401 (token no longer valid) so the app can return to the sign-in page. */
export function onUnauthenticated(listener: Listener): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

/**
 * Calls the API. `body` is sent as JSON.
 * @throws ApiError for an error answer (401 also signs out), or `NO_TOKEN` without a token.
 */
export async function api<T>(route: string, options: { method?: 'GET' | 'POST'; body?: unknown; token?: string } = {}): Promise<T> {
  const token = options.token ?? getToken();
  if (!token) throw new ApiError(401, 'NO_TOKEN', 'sign in with an API token first');
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(route, { method: options.method ?? 'GET', headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  } catch (error) {
    throw new ApiError(0, 'GATEWAY_UNREACHABLE', `the gateway did not answer (${(error as Error).message})`);
  }
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below
  }
  if (!response.ok) {
    const body = (json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | null)?.error;
    const error = new ApiError(response.status, body?.code ?? `HTTP_${response.status}`, body?.message ?? `${response.status} ${response.statusText}`, body?.details ?? {});
    if (response.status === 401 && !options.token) for (const listener of authListeners) listener(error);
    throw error;
  }
  return json as T;
}

/** A query string from the defined, non-empty values. */
export function query(values: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

// ---- the API's shapes (README "API"), as far as the console reads them ----

export const RUN_STATUSES = ['CREATED', 'SYNCING_SOURCE', 'TRANSFORMING', 'SYNCING_TARGET', 'SUCCEEDED', 'PARTIAL_FAILED', 'FAILED', 'CRASHED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL: readonly string[] = ['SUCCEEDED', 'PARTIAL_FAILED', 'FAILED', 'CRASHED'];

export interface Rows {
  read: number | null;
  mapped: number | null;
  rejected: number | null;
  written: number | null;
}

export interface RunSummary {
  id: string;
  execution_id: string;
  flow_version: string | null;
  status: string | null;
  source_path: string | null;
  rows: Rows | null;
  /** The user who started the run (null on runs from before users). */
  started_by: string | null;
  started_at: string;
  closed_at: string | null;
}

export interface Step {
  started_at?: string | null;
  ended_at?: string | null;
  duration_ms?: number | null;
  [key: string]: unknown;
}

export interface RunMetadata {
  run: { id: string; execution_id: string; flow_version: string; source_path: string; run_metadata: Record<string, unknown> | null };
  status: string;
  rows: Rows;
  rejects?: { location: string | null; by_rule: Record<string, number> } | null;
  steps?: Record<string, Step | null> | null;
  error?: { code: string; message: string; step: string | null } | null;
  warnings?: unknown;
  dry_run?: boolean;
  /** A reprocess: the earlier run whose rejects were its source, and what became of them. */
  rejects_of?: { run_id: string; flow_version: string; source_path: string; recovered?: number; still_rejected?: number };
  [key: string]: unknown;
}

export interface Run {
  id: string;
  status: string;
  status_source: string;
  flow_version: string | null;
  source_path: string | null;
  rows: Rows | null;
  metadata: RunMetadata | null;
}

export interface RunEvent {
  id: string;
  type: string;
  timestamp: string;
  data: { run_id?: string; status?: string; rows?: Rows | null; error?: { code: string; message: string; step: string | null } | null };
}

export interface RejectError {
  field: string | null;
  rule: string;
  message: string;
}

export interface RejectRow {
  row_number: number;
  execution_id: string;
  record: Record<string, unknown>;
  errors: RejectError[];
}

export interface RejectsSummary {
  rows_rejected: number;
  by_field_rule: { field: string | null; rule: string; count: number }[];
  top_messages: { message: string; count: number }[];
}

export interface FlowVersion {
  id: string;
  flow: string;
  version: number;
  content_hash: string;
  created_at: string;
  source_file: string | null;
  source_text: string;
}

export interface Webhook {
  id: string;
  url: string;
  description: string | null;
  events: string[];
  disabled: boolean;
  disabled_reason: string | null;
  failing_since: string | null;
}

export interface Delivery {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  trigger: string;
  status: string;
  attempts: { attempt: number; attempted_at: string; http_status: number | null; latency_ms: number | null; error: string | null; next_retry_at: string | null }[];
  next_attempt_at: string | null;
  last_error: string | null;
  created_at: string;
}

export interface ConsoleSettings {
  temporal_ui_url: string | null;
  namespace: string;
}

/** `/ui/settings.json` (no token: it holds no data). */
export async function settings(): Promise<ConsoleSettings> {
  const response = await fetch('/ui/settings.json');
  return response.ok ? ((await response.json()) as ConsoleSettings) : { temporal_ui_url: null, namespace: 'default' };
}
