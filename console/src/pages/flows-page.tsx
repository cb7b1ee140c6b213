/**
 * Flows: every flow and its versions (`GET /v1/flows`), a version's spec as published (highlighted YAML), a
 * side-by-side diff of two versions' specs, and per flow its last runs' reject ratio and rows/s.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ChartConfiguration } from 'chart.js';
import { diffLines } from 'diff';
import hljs from 'highlight.js/lib/core';
import yamlLanguage from 'highlight.js/lib/languages/yaml';
import { api, query, type FlowVersion, type RunSummary } from '../api';
import { ChartCanvas } from '../chart-canvas';
import { ErrorMessage, Section } from '../components';
import { time } from '../format';
import { href, navigate } from '../router';

hljs.registerLanguage('yaml', yamlLanguage);

interface Flow {
  name: string;
  versions: FlowVersion[];
}

function Yaml({ text }: { text: string }) {
  const html = useMemo(() => hljs.highlight(text, { language: 'yaml' }).value, [text]);
  // highlight.js escapes the text it is given; the markup is its own spans.
  return <pre class="yaml hljs" tabIndex={0}><code dangerouslySetInnerHTML={{ __html: html }} /></pre>;
}

interface DiffLine {
  left: { n: number; text: string; kind: 'same' | 'removed' } | null;
  right: { n: number; text: string; kind: 'same' | 'added' } | null;
}

/** Side by side: unchanged lines on both sides, removed on the left, added on the right, paired where they replace each other. */
function sideBySide(a: string, b: string): DiffLine[] {
  const lines: DiffLine[] = [];
  let left = 0;
  let right = 0;
  const parts = diffLines(a, b);
  const split = (text: string) => text.replace(/\n$/, '').split('\n');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (!part.added && !part.removed) {
      for (const text of split(part.value)) lines.push({ left: { n: ++left, text, kind: 'same' }, right: { n: ++right, text, kind: 'same' } });
    } else if (part.removed) {
      const removed = split(part.value);
      const added = parts[i + 1]?.added ? split(parts[++i]!.value) : [];
      for (let k = 0; k < Math.max(removed.length, added.length); k++) {
        lines.push({
          left: k < removed.length ? { n: ++left, text: removed[k]!, kind: 'removed' } : null,
          right: k < added.length ? { n: ++right, text: added[k]!, kind: 'added' } : null,
        });
      }
    } else {
      for (const text of split(part.value)) lines.push({ left: null, right: { n: ++right, text, kind: 'added' } });
    }
  }
  return lines;
}

function SpecDiff({ a, b }: { a: FlowVersion; b: FlowVersion }) {
  const lines = useMemo(() => sideBySide(a.source_text, b.source_text), [a.id, b.id]);
  const changed = lines.filter((l) => l.left?.kind !== 'same').length;
  const cell = (side: DiffLine['left'] | DiffLine['right']) =>
    side ? [<td class="ln">{side.n}</td>, <td class={`code ${side.kind}`} data-kind={side.kind}>{side.kind === 'removed' ? '− ' : side.kind === 'added' ? '+ ' : '  '}{side.text}</td>] : [<td class="ln" />, <td class="code empty" />];
  return (
    <>
      <p class="muted" data-testid="diff-summary">{changed === 0 ? 'The two specs are identical.' : `${changed} line(s) differ`}</p>
      <div class="table-wrap">
        <table class="diff" data-testid="spec-diff">
          <thead><tr><th colSpan={2} scope="colgroup">{a.id}</th><th colSpan={2} scope="colgroup">{b.id}</th></tr></thead>
          <tbody>{lines.map((l) => <tr>{cell(l.left)}{cell(l.right)}</tr>)}</tbody>
        </table>
      </div>
    </>
  );
}

function FlowTrend({ flow }: { flow: string }) {
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    api<{ runs: RunSummary[] }>(`/v1/runs${query({ flow, limit: 30 })}`).then((page) => setRuns(page.runs), setError);
  }, [flow]);
  const config = useMemo<ChartConfiguration | null>(() => {
    const ended = (runs ?? []).filter((r) => r.closed_at && r.rows?.read !== null && r.rows?.read !== undefined).reverse();
    if (ended.length === 0) return null;
    return {
      type: 'line',
      data: {
        labels: ended.map((r) => time(r.started_at)),
        datasets: [
          { label: 'reject ratio (%)', data: ended.map((r) => (r.rows!.read ? Number((((r.rows!.rejected ?? 0) / r.rows!.read) * 100).toFixed(2)) : 0)), yAxisID: 'ratio', borderColor: '#c2410c', backgroundColor: '#c2410c' },
          { label: 'rows/s', data: ended.map((r) => Math.round((r.rows!.read ?? 0) / Math.max((Date.parse(r.closed_at!) - Date.parse(r.started_at)) / 1000, 0.001))), yAxisID: 'speed', borderColor: '#3b6ea5', backgroundColor: '#3b6ea5' },
        ],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { ratio: { type: 'linear', position: 'left', beginAtZero: true, title: { display: true, text: 'reject ratio (%)' } }, speed: { type: 'linear', position: 'right', beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: 'rows/s' } } },
      },
    };
  }, [runs]);
  if (error) return <ErrorMessage error={error} />;
  if (runs === null) return <p aria-live="polite">Loading runs…</p>;
  if (!config) return <p class="muted">No ended runs of {flow} yet.</p>;
  return <ChartCanvas config={config} label={`Reject ratio and rows per second of the last runs of ${flow}`} testId="flow-trend" />;
}

export function FlowsPage({ search }: { search: string }) {
  const [flows, setFlows] = useState<Flow[] | null>(null);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    api<{ flows: Flow[] }>('/v1/flows').then((r) => setFlows(r.flows), setError);
  }, []);
  const params = new URLSearchParams(search);
  const set = (changes: Record<string, string>) => {
    const next = new URLSearchParams(search);
    for (const [k, v] of Object.entries(changes)) if (v) next.set(k, v); else next.delete(k);
    navigate(href(`/flows?${next}`), { replace: true });
  };
  if (error) return <><h1>Flows</h1><ErrorMessage error={error} /></>;
  if (!flows) return <p aria-live="polite">Loading flows…</p>;
  const flow = flows.find((f) => f.name === params.get('flow')) ?? flows[0];
  const versionOf = (id: string | null) => flow?.versions.find((v) => v.id === id);
  const shown = versionOf(params.get('version')) ?? flow?.versions[0];
  const a = versionOf(params.get('a')) ?? flow?.versions[1] ?? flow?.versions[0];
  const b = versionOf(params.get('b')) ?? flow?.versions[0];
  return (
    <>
      <h1>Flows</h1>
      {flows.length === 0 ? <p class="muted">No flow has been published (<code>sluice flows publish flows/&lt;flow&gt;.yaml</code>).</p> : null}
      <div class="flows-layout">
        <nav class="card flow-list" aria-label="Flows">
          <ul>
            {flows.map((f) => (
              <li>
                <a href={href(`/flows?flow=${encodeURIComponent(f.name)}`)} aria-current={f.name === flow?.name ? 'page' : undefined}>{f.name}</a>
                <span class="muted"> {f.versions.length} version(s)</span>
              </li>
            ))}
          </ul>
        </nav>
        {flow ? (
          <div class="flow-detail">
            <Section title={`Versions of ${flow.name}`} id="versions">
              <div class="table-wrap">
                <table data-testid="versions-table">
                  <thead><tr><th scope="col">Version</th><th scope="col">Published</th><th scope="col">Content hash</th><th scope="col">File</th></tr></thead>
                  <tbody>
                    {flow.versions.map((v) => (
                      <tr aria-selected={v.id === shown?.id}>
                        <td><a href={href(`/flows?flow=${encodeURIComponent(flow.name)}&version=${encodeURIComponent(v.id)}`)}>{v.id}</a></td>
                        <td>{time(v.created_at)}</td>
                        <td class="mono">{v.content_hash.slice(0, 12)}</td>
                        <td>{v.source_file ?? '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Section>
            {shown ? <Section title={`Spec of ${shown.id}`} id="spec"><Yaml text={shown.source_text} /></Section> : null}
            {a && b ? (
              <Section title="Compare two versions" id="diff">
                <form class="filters" aria-label="Versions to compare" onSubmit={(e) => e.preventDefault()}>
                  <label>
                    Left
                    <select name="a" value={a.id} onChange={(e) => set({ flow: flow.name, a: (e.target as HTMLSelectElement).value })}>
                      {flow.versions.map((v) => <option value={v.id}>{v.id}</option>)}
                    </select>
                  </label>
                  <label>
                    Right
                    <select name="b" value={b.id} onChange={(e) => set({ flow: flow.name, b: (e.target as HTMLSelectElement).value })}>
                      {flow.versions.map((v) => <option value={v.id}>{v.id}</option>)}
                    </select>
                  </label>
                </form>
                <SpecDiff a={a} b={b} />
              </Section>
            ) : null}
            <Section title={`Last runs of ${flow.name}`} id="trend"><FlowTrend flow={flow.name} /></Section>
          </div>
        ) : null}
      </div>
    </>
  );
}
