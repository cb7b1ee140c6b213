/** Small shared pieces: the status badge, the mapped-vs-rejected bar, a Chart.js canvas, messages. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip, type ChartConfiguration } from 'chart.js';

// Only what the console draws (bars and lines on category/linear scales), not all of Chart.js.
Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Tooltip, Legend);
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

/**
 * A Chart.js chart on a canvas, rebuilt when `config` changes. `label` is the canvas's accessible name;
 * `data-chart` carries the plotted labels and values (the same arrays Chart.js draws) for a text reading.
 */
export function ChartCanvas({ config, label, height = 240, testId }: { config: ChartConfiguration; label: string; height?: number; testId?: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, config);
    return () => chart.destroy();
  }, [config]);
  const plotted = JSON.stringify({ labels: config.data.labels ?? [], datasets: config.data.datasets.map((d) => ({ label: d.label ?? null, data: d.data })) });
  return (
    <div class="chart" style={{ height: `${height}px` }}>
      <canvas ref={canvas} role="img" aria-label={label} data-chart={plotted} data-testid={testId} />
    </div>
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
