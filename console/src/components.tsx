/** Small shared pieces: the status badge, the mapped-vs-rejected bar, messages (charts: chart-canvas.tsx). */
import type { ComponentChildren } from 'preact';

import type { ApiError, Rows } from './api';

/** One colour family per outcome; PARTIAL_FAILED is amber, never green. */
const STATUS_CLASS: Record<string, string> = {
  SUCCEEDED: 'ok',
  PARTIAL_FAILED: 'partial',
  FAILED: 'bad',
  CRASHED: 'bad',
};

export function StatusBadge({ status }: { status: string | null | undefined }) {
  const value = status ?? 'UNKNOWN';
  return <span class={`status status-${STATUS_CLASS[value] ?? 'running'}`} data-status={value}>{value}</span>;
}

/** Mapped vs rejected as one horizontal bar (text alternative in its label). */
export function RowsBar({ rows }: { rows: Rows | null | undefined }) {
  const mapped = rows?.mapped ?? 0;
  const rejected = rows?.rejected ?? 0;
  const total = mapped + rejected;
  if (!rows || total === 0) return <span class="muted">—</span>;
  const share = (n: number) => `${((n / total) * 100).toFixed(1)}%`;
  return (
    <span class="rows-bar" role="img" aria-label={`mapped ${mapped}, rejected ${rejected} (${share(rejected)} rejected)`}>
      <span class="rows-bar-mapped" style={{ width: share(mapped) }} />
      <span class="rows-bar-rejected" style={{ width: share(rejected) }} />
    </span>
  );
}

export function ErrorMessage({ error }: { error: ApiError | Error | null | undefined }) {
  if (!error) return null;
  const code = (error as ApiError).code;
  return (
    <p class="message message-error" role="alert">
      {code ? <code>{code}</code> : null} {error.message}
    </p>
  );
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-labelledby={id ? `${id}-title` : undefined} id={id}>
      <h2 id={id ? `${id}-title` : undefined}>{title}</h2>
      {children}
    </section>
  );
}
