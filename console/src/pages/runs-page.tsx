/**
 * Runs: Temporal visibility through `GET /v1/runs`, newest first, filtered by flow, flow version, status, the user
 * who started them and start date, paged. Runs still going are followed through their events (`GET /v1/runs/:id/events?after=`),
 * never by querying the workflow: status and counts change in place, without a reload.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, query, RUN_STATUSES, TERMINAL, type RunEvent, type RunSummary } from '../api';
import { ErrorMessage, RowsBar, StatusBadge } from '../components';
import { duration, num, runDuration, time } from '../format';
import { href, navigate } from '../router';

const PAGE_SIZE = 50;
const LIVE_INTERVAL_MS = 1000;

interface Filters {
  flow: string;
  flow_version: string;
  status: string;
  started_by: string;
  from: string;
  to: string;
}

function filtersOf(search: string): Filters {
  const params = new URLSearchParams(search);
  return { flow: params.get('flow') ?? '', flow_version: params.get('flow_version') ?? '', status: params.get('status') ?? '', started_by: params.get('started_by') ?? '', from: params.get('from') ?? '', to: params.get('to') ?? '' };
}

/** `YYYY-MM-DD` (local) → the ISO instant of its start; `to` is exclusive of the next day. */
const dayStart = (day: string, plusDays = 0) => {
  if (!day) return undefined;
  const [y, m, d] = day.split('-').map(Number);
  return new Date(y!, m! - 1, d! + plusDays).toISOString();
};

export function RunsPage({ search }: { search: string }) {
  const filters = filtersOf(search);
  const [draft, setDraft] = useState<Filters>(filters);
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [answeredMs, setAnsweredMs] = useState<number | null>(null);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => setDraft(filters), [search]);
  useEffect(() => setCursors([undefined]), [search]);

  useEffect(() => {
    let stale = false;
    const started = performance.now();
    setError(null);
    api<{ runs: RunSummary[]; next_cursor: string | null }>(
      `/v1/runs${query({ flow: filters.flow, flow_version: filters.flow_version, status: filters.status, started_by: filters.started_by, started_after: dayStart(filters.from), started_before: dayStart(filters.to, 1), limit: PAGE_SIZE, cursor })}`,
    )
      .then((page) => {
        if (stale) return;
        setRuns(page.runs);
        setNextCursor(page.next_cursor);
        setAnsweredMs(performance.now() - started);
      })
      .catch((e: Error) => !stale && setError(e));
    return () => {
      stale = true;
    };
  }, [search, cursor]);

  // Live refresh: follow the events of every run not yet ended.
  const lastEvent = useRef(new Map<string, string>());
  useEffect(() => {
    if (!runs || runs.every((r) => TERMINAL.includes(r.status ?? ''))) return;
    let stopped = false;
    const poll = async () => {
      const running = runs.filter((r) => !TERMINAL.includes(r.status ?? ''));
      const updates = await Promise.all(
        running.map(async (run) => {
          try {
            const page = await api<{ events: RunEvent[]; next_after: string | null }>(`/v1/runs/${encodeURIComponent(run.id)}/events${query({ after: lastEvent.current.get(run.id) })}`);
            if (page.next_after) lastEvent.current.set(run.id, page.next_after);
            const last = page.events.filter((e) => e.data.status).at(-1);
            return last ? { id: run.id, event: last } : null;
          } catch {
            return null;
          }
        }),
      );
      if (stopped) return;
      const changed = updates.filter((u): u is { id: string; event: RunEvent } => u !== null);
      if (changed.length > 0) {
        setRuns((current) =>
          current?.map((run) => {
            const update = changed.find((u) => u.id === run.id);
            if (!update) return run;
            const status = update.event.data.status ?? run.status;
            return { ...run, status, rows: update.event.data.rows ?? run.rows, closed_at: TERMINAL.includes(status ?? '') ? update.event.timestamp : run.closed_at };
          }) ?? null,
        );
      }
    };
    const timer = setInterval(() => void poll(), LIVE_INTERVAL_MS);
    void poll();
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [runs?.map((r) => `${r.id}:${r.status}`).join(',')]);

  const apply = (event: Event) => {
    event.preventDefault();
    navigate(href(`/${query({ ...draft })}`));
  };
  const onInput = (name: keyof Filters) => (e: Event) => setDraft({ ...draft, [name]: (e.target as HTMLInputElement).value });
  const field = (name: keyof Filters, label: string, placeholder: string) => (
    <label>
      {label}
      <input name={name} type="text" value={draft[name]} placeholder={placeholder} onInput={onInput(name)} />
    </label>
  );
  const dateField = (name: keyof Filters, label: string) => (
    <label>
      {label}
      <input name={name} type="date" value={draft[name]} onInput={onInput(name)} />
    </label>
  );

  return (
    <>
      <h1>Runs</h1>
      <form class="filters" onSubmit={apply} aria-label="Filter runs">
        {field('flow', 'Flow', 'movies')}
        {field('flow_version', 'Flow version', 'movies:v1')}
        <label>
          Status
          <select name="status" value={draft.status} onChange={(e) => setDraft({ ...draft, status: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            {RUN_STATUSES.map((s) => <option value={s}>{s}</option>)}
          </select>
        </label>
        {field('started_by', 'Started by', 'local')}
        {dateField('from', 'Started from')}
        {dateField('to', 'Started to')}
        <button type="submit">Filter</button>
        <a class="button secondary" href={href('/')}>Clear</a>
      </form>
      <ErrorMessage error={error instanceof ApiError || error instanceof Error ? error : null} />
      {runs === null && !error ? <p aria-live="polite">Loading runs…</p> : null}
      {runs !== null ? (
        <>
          <p class="muted" aria-live="polite" data-testid="runs-count">
            {runs.length} run(s) on this page{answeredMs !== null ? ` · answered in ${Math.round(answeredMs)} ms` : ''}
          </p>
          <div class="table-wrap">
            <table class="runs" data-testid="runs-table">
              <caption class="visually-hidden">Runs, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Run</th>
                  <th scope="col">Status</th>
                  <th scope="col">Flow version</th>
                  <th scope="col">source_path</th>
                  <th scope="col" class="n">Read</th>
                  <th scope="col" class="n">Mapped</th>
                  <th scope="col" class="n">Rejected</th>
                  <th scope="col" class="n">Written</th>
                  <th scope="col">Mapped vs rejected</th>
                  <th scope="col">Started by</th>
                  <th scope="col">Started</th>
                  <th scope="col" class="n">Duration</th>
                </tr>
              </thead>
              <tbody>
                {runs.map((run) => (
                  <tr data-run-id={run.id} key={run.id}>
                    <td><a href={href(`/runs/${encodeURIComponent(run.id)}`)}>{run.id}</a></td>
                    <td><StatusBadge status={run.status} /></td>
                    <td>{run.flow_version ?? '—'}</td>
                    <td class="path">{run.source_path ?? '—'}</td>
                    <td class="n" data-col="read">{num(run.rows?.read)}</td>
                    <td class="n" data-col="mapped">{num(run.rows?.mapped)}</td>
                    <td class="n" data-col="rejected">{num(run.rows?.rejected)}</td>
                    <td class="n" data-col="written">{num(run.rows?.written)}</td>
                    <td><RowsBar rows={run.rows} /></td>
                    <td data-col="started-by">{run.started_by ?? '—'}</td>
                    <td>{time(run.started_at)}</td>
                    <td class="n">{duration(runDuration(run.started_at, run.closed_at))}</td>
                  </tr>
                ))}
                {runs.length === 0 ? <tr><td colSpan={12} class="muted">No runs match these filters.</td></tr> : null}
              </tbody>
            </table>
          </div>
          <nav class="pager" aria-label="Pages">
            <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>Previous page</button>
            <span class="muted">page {cursors.length}</span>
            <button type="button" disabled={!nextCursor} onClick={() => nextCursor && setCursors([...cursors, nextCursor])}>Next page</button>
          </nav>
        </>
      ) : null}
    </>
  );
}
