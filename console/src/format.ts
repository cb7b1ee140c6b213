/** Formatting shared by the pages. */

export const num = (value: number | null | undefined) => (value === null || value === undefined ? '—' : value.toLocaleString('en-US'));

/** `1.2 s`, `3 min 4 s`, `850 ms`. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Local time, to the second: `2026-01-05 10:00:04`. */
export function time(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The run's duration: closed − started, or until now while it runs. */
export function runDuration(startedAt: string, closedAt: string | null): number {
  return (closedAt ? Date.parse(closedAt) : Date.now()) - Date.parse(startedAt);
}
