/**
 * One run: status, counts, the step timeline (a Gantt of `metadata.steps`, overlaps as they were), rejects by
 * rule (chart and table), sample rejects with their messages and original values (filter, CSV export), the
 * error and its step, metadata, the run's webhook deliveries, the Temporal UI link, and actions.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ChartConfiguration } from 'chart.js';
import { api, ApiError, query, settings, TERMINAL, type ConsoleSettings, type Delivery, type FlowVersion, type RejectRow, type RejectsSummary, type Run, type RunEvent, type Step, type Webhook } from '../api';
import { ChartCanvas } from '../chart-canvas';
import { ErrorMessage, Section, StatusBadge } from '../components';
import { duration, num, time } from '../format';
import { href, navigate } from '../router';

const STEP_ORDER = ['sync_source', 'transform', 'sync_target'];
const LIVE_INTERVAL_MS = 1000;
const SAMPLE_LIMIT = 25;

function Timeline({ steps }: { steps: Record<string, Step | null> }) {
  const entries = Object.entries(steps)
    .filter((e): e is [string, Step] => !!e[1]?.started_at)
    .sort(([a], [b]) => (STEP_ORDER.indexOf(a) + 1 || 99) - (STEP_ORDER.indexOf(b) + 1 || 99));
  const config = useMemo<ChartConfiguration | null>(() => {
    if (entries.length === 0) return null;
    const origin = Math.min(...entries.map(([, s]) => Date.parse(s.started_at!)));
    const span = (s: Step) => [Date.parse(s.started_at!) - origin, (s.ended_at ? Date.parse(s.ended_at) : Date.now()) - origin];
    return {
      type: 'bar',
      data: { labels: entries.map(([name]) => name), datasets: [{ label: 'ms since the first step started', data: entries.map(([, s]) => span(s)) as unknown as number[], backgroundColor: '#3b6ea5' }] },
      options: { indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } }, scales: { x: { title: { display: true, text: 'ms since the run\'s first step started' }, beginAtZero: true } } },
    };
  }, [JSON.stringify(steps)]);
  if (!config) return <p class="muted">No step has started yet.</p>;
  return (
    <>
      <ChartCanvas config={config} label="Timeline of the run's steps" height={60 + entries.length * 36} testId="timeline-chart" />
      <div class="table-wrap">
        <table data-testid="steps-table">
          <thead><tr><th scope="col">Step</th><th scope="col">Started</th><th scope="col">Ended</th><th scope="col" class="n">Duration</th></tr></thead>
          <tbody>
            {entries.map(([name, s]) => (
              <tr><th scope="row">{name}</th><td>{time(s.started_at)}</td><td>{time(s.ended_at)}</td><td class="n">{duration(s.duration_ms ?? (s.ended_at ? Date.parse(s.ended_at) - Date.parse(s.started_at!) : null))}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function RejectsByRule({ byRule }: { byRule: Record<string, number> }) {
  const entries = Object.entries(byRule).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const config = useMemo<ChartConfiguration>(
    () => ({
      type: 'bar',
      data: { labels: entries.map(([rule]) => rule), datasets: [{ label: 'rejected rows', data: entries.map(([, n]) => n), backgroundColor: '#c2410c' }] },
      options: { indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
    }),
    [JSON.stringify(byRule)],
  );
  if (entries.length === 0) return <p class="muted">No rejects.</p>;
  return (
    <>
      <ChartCanvas config={config} label="Rejected rows by rule" height={60 + entries.length * 30} testId="rejects-chart" />
      <div class="table-wrap">
        <table data-testid="rejects-by-rule">
          <thead><tr><th scope="col">Rule</th><th scope="col" class="n">Rows</th></tr></thead>
          <tbody>{entries.map(([rule, n]) => <tr><th scope="row">{rule}</th><td class="n">{num(n)}</td></tr>)}</tbody>
        </table>
      </div>
    </>
  );
}

const csvCell = (value: unknown) => {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

/** Every reject of the filter, all pages, as CSV: one line per error (row, field, rule, message, original values). */
async function exportCsv(runId: string, rule: string, field: string): Promise<void> {
  const lines = ['row_number,field,rule,message,record'];
  let cursor: string | undefined;
  do {
    const page = await api<{ rejects: RejectRow[]; next_cursor: string | null }>(`/v1/runs/${encodeURIComponent(runId)}/rejects${query({ rule, field, limit: 1000, cursor })}`);
    for (const reject of page.rejects) for (const e of reject.errors) lines.push([reject.row_number, e.field, e.rule, e.message, reject.record].map(csvCell).join(','));
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  const url = URL.createObjectURL(new Blob([`${lines.join('\n')}\n`], { type: 'text/csv' }));
  const link = Object.assign(document.createElement('a'), { href: url, download: `${runId}-rejects.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function Rejects({ run }: { run: Run }) {
  const [summary, setSummary] = useState<RejectsSummary | null>(null);
  const [rows, setRows] = useState<RejectRow[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [filter, setFilter] = useState({ rule: '', field: '' });
  const [error, setError] = useState<Error | null>(null);
  const [exporting, setExporting] = useState(false);

  useEffect(() => {
    api<RejectsSummary>(`/v1/runs/${encodeURIComponent(run.id)}/rejects/summary`).then(setSummary, setError);
  }, [run.id]);
  useEffect(() => {
    setRows(null);
    api<{ rejects: RejectRow[]; next_cursor: string | null }>(`/v1/runs/${encodeURIComponent(run.id)}/rejects${query({ ...filter, limit: SAMPLE_LIMIT })}`).then((page) => {
      setRows(page.rejects);
      setNext(page.next_cursor);
    }, setError);
  }, [run.id, filter.rule, filter.field]);

  const more = async () => {
    if (!next) return;
    const page = await api<{ rejects: RejectRow[]; next_cursor: string | null }>(`/v1/runs/${encodeURIComponent(run.id)}/rejects${query({ ...filter, limit: SAMPLE_LIMIT, cursor: next })}`);
    setRows([...(rows ?? []), ...page.rejects]);
    setNext(page.next_cursor);
  };

  if (error) return <ErrorMessage error={error} />;
  const rules = [...new Set(summary?.by_field_rule.map((g) => g.rule) ?? [])].sort();
  const fields = [...new Set(summary?.by_field_rule.map((g) => g.field).filter((f): f is string => !!f) ?? [])].sort();
  const columns = [...new Set(rows?.flatMap((r) => Object.keys(r.record)) ?? [])];
  return (
    <>
      <form class="filters" aria-label="Filter rejects" onSubmit={(e) => e.preventDefault()}>
        <label>
          Rule
          <select name="rule" value={filter.rule} onChange={(e) => setFilter({ ...filter, rule: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            {rules.map((r) => <option value={r}>{r}</option>)}
          </select>
        </label>
        <label>
          Field
          <select name="field" value={filter.field} onChange={(e) => setFilter({ ...filter, field: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            {fields.map((f) => <option value={f}>{f}</option>)}
          </select>
        </label>
        <button type="button" disabled={exporting} onClick={() => { setExporting(true); void exportCsv(run.id, filter.rule, filter.field).catch(setError).finally(() => setExporting(false)); }}>
          {exporting ? 'Exporting…' : 'Export CSV'}
        </button>
      </form>
      {summary ? <p class="muted">{num(summary.rows_rejected)} rows rejected{summary.top_messages[0] ? ` · most frequent: “${summary.top_messages[0].message}” (${summary.top_messages[0].count})` : ''}</p> : null}
      {rows === null ? <p aria-live="polite">Loading rejects…</p> : (
        <div class="table-wrap">
          <table class="rejects" data-testid="rejects-table">
            <thead>
              <tr>
                <th scope="col" class="n">Row</th>
                <th scope="col">Errors (field · rule: message)</th>
                {columns.map((c) => <th scope="col">{c}</th>)}
              </tr>
            </thead>
            <tbody>
              {rows.map((reject) => (
                <tr data-row={reject.row_number}>
                  <td class="n">{reject.row_number}</td>
                  <td class="errors-cell">
                    <ul class="errors">
                      {reject.errors.map((e) => <li data-rule={`${e.field ?? 'check'}:${e.rule}`}><code>{e.field ?? '(row)'} · {e.rule}</code>: <span class="reject-message">{e.message}</span></li>)}
                    </ul>
                  </td>
                  {columns.map((c) => {
                    const value = reject.record[c];
                    const text = value === null || value === undefined ? null : typeof value === 'object' ? JSON.stringify(value) : String(value);
                    return <td class="value" title={text ?? 'null'}>{text === null ? <span class="muted">null</span> : text}</td>;
                  })}
                </tr>
              ))}
              {rows.length === 0 ? <tr><td colSpan={2 + columns.length} class="muted">No rejects match.</td></tr> : null}
            </tbody>
          </table>
        </div>
      )}
      {next ? <button type="button" onClick={() => void more().catch(setError)}>More rejects</button> : null}
    </>
  );
}

/** The run's deliveries: its events' ids matched against each webhook's recent deliveries. */
function Deliveries({ runId, events }: { runId: string; events: RunEvent[] }) {
  const [rows, setRows] = useState<(Delivery & { url: string })[] | null>(null);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    const ids = new Set(events.map((e) => e.id));
    (async () => {
      const { webhooks } = await api<{ webhooks: Webhook[] }>('/v1/webhooks');
      const lists = await Promise.all(webhooks.map(async (w) => (await api<{ deliveries: Delivery[] }>(`/v1/webhooks/${w.id}/deliveries?limit=200`)).deliveries.map((d) => ({ ...d, url: w.url }))));
      setRows(lists.flat().filter((d) => ids.has(d.event_id)));
    })().catch(setError);
  }, [runId, events.length]);
  if (error) return error instanceof ApiError && error.status === 403 ? <p class="muted">This token cannot read webhooks (<code>webhooks:read</code>).</p> : <ErrorMessage error={error} />;
  if (rows === null) return <p aria-live="polite">Loading deliveries…</p>;
  if (rows.length === 0) return <p class="muted">No webhook deliveries for this run.</p>;
  return (
    <div class="table-wrap">
      <table>
        <thead><tr><th scope="col">Event</th><th scope="col">Webhook</th><th scope="col">Status</th><th scope="col" class="n">Attempts</th><th scope="col">Last error</th><th scope="col">Created</th></tr></thead>
        <tbody>{rows.map((d) => <tr><td>{d.event_type}</td><td class="path">{d.url}</td><td>{d.status}</td><td class="n">{d.attempts.length}</td><td>{d.last_error ?? '—'}</td><td>{time(d.created_at)}</td></tr>)}</tbody>
      </table>
    </div>
  );
}

/**
 * Reprocess: a new run of a version of the same flow (any, usually a fix published after this run) whose source is
 * this run's unresolved rejects (`POST /v1/runs {flow_version, rejects_of}`); optionally a dry run of it first.
 */
function Reprocess({ run }: { run: Run }) {
  const flow = run.flow_version?.split(':')[0] ?? '';
  const [versions, setVersions] = useState<FlowVersion[] | null>(null);
  const [chosen, setChosen] = useState('');
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    api<{ flows: { name: string; versions: FlowVersion[] }[] }>('/v1/flows')
      .then((r) => {
        const found = r.flows.find((f) => f.name === flow)?.versions ?? [];
        setVersions(found);
        setChosen(found[0]?.id ?? '');
      })
      .catch(setError);
  }, [flow]);
  const start = async (dryRun: boolean) => {
    setError(null);
    try {
      const started = await api<Run>('/v1/runs', { method: 'POST', body: { flow_version: chosen, rejects_of: run.id, ...(dryRun ? { dry_run: true } : {}) } });
      navigate(href(`/runs/${encodeURIComponent(started.id)}`));
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <form class="actions" aria-label="Reprocess rejects" onSubmit={(e) => { e.preventDefault(); void start(false); }}>
      <label>
        Reprocess these rejects with
        <select name="reprocess_version" value={chosen} onChange={(e) => setChosen((e.target as HTMLSelectElement).value)}>
          {(versions ?? []).map((v) => <option value={v.id}>{v.id}</option>)}
        </select>
      </label>
      <button type="submit" disabled={!chosen}>Reprocess rejects</button>
      <button type="button" class="secondary" disabled={!chosen} onClick={() => void start(true)}>Dry run of the reprocess</button>
      <ErrorMessage error={error} />
    </form>
  );
}

export function RunPage({ id }: { id: string }) {
  const [run, setRun] = useState<Run | null>(null);
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [error, setError] = useState<Error | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<Error | null>(null);
  const [ui, setUi] = useState<ConsoleSettings | null>(null);

  const load = () => api<Run>(`/v1/runs/${encodeURIComponent(id)}`).then(setRun, setError);
  useEffect(() => {
    setRun(null);
    setError(null);
    void load();
    void settings().then(setUi);
  }, [id]);

  // Events: the history of transitions, and live refresh while the run goes on.
  useEffect(() => {
    let stopped = false;
    let after: string | undefined;
    let all: RunEvent[] = [];
    const poll = async () => {
      try {
        const page = await api<{ events: RunEvent[]; next_after: string | null }>(`/v1/runs/${encodeURIComponent(id)}/events${query({ after, limit: 1000 })}`);
        if (stopped || page.events.length === 0) return;
        after = page.next_after ?? after;
        all = [...all, ...page.events];
        setEvents(all);
        await load();
      } catch {
        // the run page still shows what it has
      }
    };
    void poll();
    const timer = setInterval(() => {
      if (!TERMINAL.includes(all.at(-1)?.data.status ?? '')) void poll();
    }, LIVE_INTERVAL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [id]);

  const act = async (what: 'cancel' | 'rerun' | 'dry-run') => {
    setActionError(null);
    setNotice(null);
    try {
      if (what === 'cancel') {
        await api(`/v1/runs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
        setNotice('Cancellation requested: the run ends FAILED (CANCELLED).');
        return;
      }
      // A reprocess is rerun (or dry-run) as a reprocess of the same earlier run, never on its `rejects-of:` source_path.
      const rejectsOf = run!.metadata?.rejects_of?.run_id;
      const source = rejectsOf ? { rejects_of: rejectsOf } : { source_path: run!.source_path };
      const body = { flow_version: run!.flow_version, ...source, run_metadata: run!.metadata?.run.run_metadata ?? undefined, ...(what === 'rerun' ? { force_rerun: true } : { dry_run: true }) };
      const started = await api<Run>('/v1/runs', { method: 'POST', body });
      navigate(href(`/runs/${encodeURIComponent(started.id)}`));
    } catch (e) {
      setActionError(e as Error);
    }
  };

  if (error) return <><h1>Run {id}</h1><ErrorMessage error={error} /></>;
  if (!run) return <p aria-live="polite">Loading run {id}…</p>;
  const metadata = run.metadata;
  const rows = run.rows ?? metadata?.rows;
  const terminal = TERMINAL.includes(run.status);
  const temporalLink = ui?.temporal_ui_url ? `${ui.temporal_ui_url}/namespaces/${encodeURIComponent(ui.namespace)}/workflows/${encodeURIComponent(run.id)}` : null;
  return (
    <>
      <h1 class="run-title">Run <span class="mono">{run.id}</span> <StatusBadge status={run.status} /></h1>
      <p class="muted">
        {run.flow_version ?? '—'} on <span class="mono">{run.source_path ?? '—'}</span>
        {metadata?.dry_run ? ' · dry run' : ''}
        {metadata?.rejects_of ? (
          <> · reprocess of <a href={href(`/runs/${encodeURIComponent(metadata.rejects_of.run_id)}`)}>{metadata.rejects_of.run_id}</a>
            {metadata.rejects_of.recovered !== undefined ? <span data-testid="reprocess-outcome">: {num(metadata.rejects_of.recovered)} recovered, {num(metadata.rejects_of.still_rejected)} still rejected</span> : null}</>
        ) : null}
        {temporalLink ? <> · <a href={temporalLink} target="_blank" rel="noreferrer">Open in the Temporal UI</a></> : null}
      </p>
      <div class="actions" role="group" aria-label="Run actions">
        <button type="button" disabled={terminal} onClick={() => void act('cancel')}>Cancel run</button>
        <button type="button" disabled={!terminal || !run.flow_version || !run.source_path} onClick={() => void act('rerun')}>Rerun (force_rerun)</button>
        <button type="button" disabled={!run.flow_version || !run.source_path} onClick={() => void act('dry-run')}>Dry run</button>
      </div>
      {notice ? <p class="message" role="status">{notice}</p> : null}
      <ErrorMessage error={actionError} />
      {metadata?.error ? (
        <p class="message message-error" role="alert" data-testid="run-error">
          <code>{metadata.error.code}</code> in step <strong>{metadata.error.step ?? 'unknown'}</strong>: {metadata.error.message}
        </p>
      ) : null}
      <dl class="counts" data-testid="run-counts">
        {(['read', 'mapped', 'rejected', 'written'] as const).map((k) => <div><dt>{k}</dt><dd data-count={k}>{num(rows?.[k])}</dd></div>)}
      </dl>
      <div class="grid">
        <Section title="Timeline" id="timeline">{metadata?.steps ? <Timeline steps={metadata.steps} /> : <p class="muted">No step metadata (no worker answered).</p>}</Section>
        <Section title="Rejects by rule" id="by-rule">{metadata?.rejects?.by_rule ? <RejectsByRule byRule={metadata.rejects.by_rule} /> : <p class="muted">No rejects recorded.</p>}</Section>
      </div>
      {(rows?.rejected ?? 0) > 0 && terminal && !metadata?.dry_run && (run.status === 'PARTIAL_FAILED' || run.status === 'SUCCEEDED') ? (
        <Section title="Rejected rows" id="rejects"><Reprocess run={run} /><Rejects run={run} /></Section>
      ) : null}
      <Section title="Status history" id="events">
        {events.length === 0 ? <p class="muted">No events recorded.</p> : (
          <ol class="events">{events.map((e) => <li><time>{time(e.timestamp)}</time> <StatusBadge status={e.data.status} /> <span class="muted">{e.type}</span></li>)}</ol>
        )}
      </Section>
      <Section title="Webhook deliveries" id="deliveries"><Deliveries runId={run.id} events={events} /></Section>
      <Section title="Metadata" id="metadata">
        <h3>run_metadata</h3>
        <pre>{JSON.stringify(metadata?.run.run_metadata ?? null, null, 2)}</pre>
        <details><summary>Full metadata document</summary><pre>{JSON.stringify(metadata, null, 2)}</pre></details>
      </Section>
    </>
  );
}
