/** Webhooks: the endpoints, each one's recent deliveries with every attempt, and redeliver. */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Delivery, type Webhook } from '../api';
import { ErrorMessage, Section } from '../components';
import { time } from '../format';

function Deliveries({ webhook }: { webhook: Webhook }) {
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const load = () => api<{ deliveries: Delivery[] }>(`/v1/webhooks/${webhook.id}/deliveries?limit=50`).then((r) => setDeliveries(r.deliveries), setError);
  useEffect(() => {
    void load();
  }, [webhook.id]);
  const redeliver = async (delivery: Delivery) => {
    setError(null);
    try {
      const created = await api<Delivery>(`/v1/webhooks/${webhook.id}/deliveries/${delivery.id}/redeliver`, { method: 'POST' });
      setNotice(`Redelivery ${created.id} of ${delivery.event_type} requested.`);
      await load();
    } catch (e) {
      setError(e as Error);
    }
  };
  if (deliveries === null) return error ? <ErrorMessage error={error} /> : <p aria-live="polite">Loading deliveries…</p>;
  return (
    <>
      {notice ? <p class="message" role="status">{notice}</p> : null}
      <ErrorMessage error={error} />
      {deliveries.length === 0 ? <p class="muted">No deliveries yet.</p> : (
        <div class="table-wrap">
          <table data-testid="deliveries-table">
            <thead><tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Next attempt</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              {deliveries.map((d) => (
                <tr>
                  <td>{d.event_type}<div class="muted mono">{d.id} · {d.trigger}</div></td>
                  <td>{d.status}{d.last_error ? <div class="muted">{d.last_error}</div> : null}</td>
                  <td>
                    <ol class="attempts">
                      {d.attempts.map((a) => <li>{time(a.attempted_at)} · {a.http_status ?? 'no answer'}{a.latency_ms !== null ? ` · ${a.latency_ms} ms` : ''}{a.error ? ` · ${a.error}` : ''}</li>)}
                    </ol>
                  </td>
                  <td>{time(d.next_attempt_at)}</td>
                  <td>{time(d.created_at)}</td>
                  <td><button type="button" onClick={() => void redeliver(d)}>Redeliver</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

export function WebhooksPage() {
  const [webhooks, setWebhooks] = useState<Webhook[] | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  useEffect(() => {
    api<{ webhooks: Webhook[] }>('/v1/webhooks').then((r) => {
      setWebhooks(r.webhooks);
      setOpen(r.webhooks[0]?.id ?? null);
    }, setError);
  }, []);
  if (error) {
    return (
      <>
        <h1>Webhooks</h1>
        {error instanceof ApiError && error.status === 403 ? <p class="message message-error" role="alert">This token cannot read webhooks: it needs the <code>webhooks:read</code> scope.</p> : <ErrorMessage error={error} />}
      </>
    );
  }
  if (!webhooks) return <p aria-live="polite">Loading webhooks…</p>;
  return (
    <>
      <h1>Webhooks</h1>
      {webhooks.length === 0 ? <p class="muted">No webhook endpoints (<code>sluice webhooks add &lt;url&gt;</code>).</p> : null}
      <div class="table-wrap">
        <table data-testid="webhooks-table">
          <thead><tr><th scope="col">Endpoint</th><th scope="col">Events</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Deliveries</span></th></tr></thead>
          <tbody>
            {webhooks.map((w) => (
              <tr>
                <td class="path">{w.url}<div class="muted mono">{w.id}{w.description ? ` · ${w.description}` : ''}</div></td>
                <td>{w.events.join(', ') || 'all'}</td>
                <td>{w.disabled ? `disabled${w.disabled_reason ? `: ${w.disabled_reason}` : ''}` : w.failing_since ? `failing since ${time(w.failing_since)}` : 'active'}</td>
                <td><button type="button" aria-expanded={open === w.id} onClick={() => setOpen(open === w.id ? null : w.id)}>Deliveries</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {webhooks.filter((w) => w.id === open).map((w) => <Section title={`Deliveries to ${w.url}`} id="deliveries"><Deliveries webhook={w} /></Section>)}
    </>
  );
}
