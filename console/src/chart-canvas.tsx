/** A Chart.js chart on a canvas: only the Run and Flows pages load it (they are split from the Runs page's script). */
import { useEffect, useRef } from 'preact/hooks';
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip, type ChartConfiguration } from 'chart.js';

// Only what the console draws (bars and lines on category/linear scales), not all of Chart.js.
Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Tooltip, Legend);

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

