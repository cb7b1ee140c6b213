/**
 * The Sluice console: sign in with an API token, then Runs, Run, Flows and Webhooks pages over the
 * gateway's `/v1` API. Without a token only the sign-in page renders; a token without `runs:read` gets
 * the refusal, never data.
 */
import { render, type ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, getToken, onUnauthenticated, setToken } from './api';
import { ErrorMessage } from './components';
import { RunsPage } from './pages/runs-page';
import { WebhooksPage } from './pages/webhooks-page';
import { href, interceptLinks, parseRoute, useLocation } from './router';
import './styles.css';

// The Run and Flows pages (Chart.js, jsdiff, highlight.js) load on first use, so the Runs page's script stays small.
const loadRunPage = () => import('./pages/run-page').then((m) => m.RunPage);
const loadFlowsPage = () => import('./pages/flows-page').then((m) => m.FlowsPage);

/** Renders the component `load` resolves to, once loaded. */
function Lazy<P extends object>({ load, props }: { load: () => Promise<ComponentType<P>>; props: P }) {
  const [Component, setComponent] = useState<ComponentType<P> | null>(null);
  useEffect(() => {
    let live = true;
    void load().then((loaded) => live && setComponent(() => loaded));
    return () => {
      live = false;
    };
  }, [load]);
  return Component ? <Component {...props} /> : <p aria-live="polite">Loading…</p>;
}

type Access = { state: 'signed-out'; error?: ApiError } | { state: 'checking' } | { state: 'refused'; error: ApiError } | { state: 'signed-in' };

/** Checks a token with the cheapest `runs:read` call. */
async function check(token: string): Promise<Access> {
  try {
    await api('/v1/runs?limit=1', { token });
    return { state: 'signed-in' };
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return { state: 'refused', error };
    return { state: 'signed-out', error: error instanceof ApiError ? error : new ApiError(0, 'UNKNOWN', String(error)) };
  }
}

function SignIn({ onToken, error }: { onToken: (token: string) => void; error?: ApiError }) {
  const [value, setValue] = useState('');
  return (
    <main class="sign-in">
      <form
        class="card"
        aria-labelledby="sign-in-title"
        onSubmit={(event) => {
          event.preventDefault();
          if (value.trim()) onToken(value.trim());
        }}
      >
        <h1 id="sign-in-title">Sign in to Sluice</h1>
        <p>Paste an API token of this gateway (<code>gateway.tokens</code> in config). It is kept in this tab only.</p>
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" required value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} autoFocus />
        <button type="submit">Sign in</button>
        {error ? <ErrorMessage error={error.status === 401 ? new ApiError(401, error.code, `this token was not accepted: ${error.message}`) : error} /> : null}
      </form>
    </main>
  );
}

function App() {
  const location = useLocation();
  const [access, setAccess] = useState<Access>(() => (getToken() ? { state: 'checking' } : { state: 'signed-out' }));

  useEffect(() => onUnauthenticated((error) => {
    setToken(null);
    setAccess({ state: 'signed-out', error });
  }), []);

  useEffect(() => {
    const token = getToken();
    if (access.state !== 'checking' || !token) return;
    void check(token).then((result) => {
      if (result.state === 'signed-out') setToken(null);
      setAccess(result);
    });
  }, [access.state]);

  const signOut = () => {
    setToken(null);
    setAccess({ state: 'signed-out' });
  };

  if (access.state === 'signed-out') {
    return (
      <SignIn
        error={access.error}
        onToken={(token) => {
          setToken(token);
          setAccess({ state: 'checking' });
        }}
      />
    );
  }
  if (access.state === 'checking') return <main class="sign-in"><p class="card" aria-live="polite">Checking the token…</p></main>;
  if (access.state === 'refused') {
    return (
      <main class="sign-in">
        <div class="card" role="alert">
          <h1>Access refused</h1>
          <p class="message message-error" data-testid="refused"><code>{access.error.code}</code> {access.error.message}</p>
          <p>The console needs a token with the <code>runs:read</code> scope.</p>
          <button type="button" onClick={signOut}>Sign in with another token</button>
        </div>
      </main>
    );
  }

  const route = parseRoute(location.pathname);
  const current = route.page === 'run' ? 'runs' : route.page;
  const navLink = (page: string, label: string) => (
    <a href={href(page === 'runs' ? '/' : `/${page}`)} aria-current={current === page ? 'page' : undefined}>{label}</a>
  );
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <strong class="brand">Sluice</strong>
        <nav aria-label="Console">
          {navLink('runs', 'Runs')}
          {navLink('flows', 'Flows')}
          {navLink('webhooks', 'Webhooks')}
        </nav>
        <button type="button" class="link" onClick={signOut}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>
        {route.page === 'runs' ? <RunsPage search={location.search} /> : null}
        {route.page === 'run' ? <Lazy key={route.id} load={loadRunPage} props={{ id: route.id }} /> : null}
        {route.page === 'flows' ? <Lazy load={loadFlowsPage} props={{ search: location.search }} /> : null}
        {route.page === 'webhooks' ? <WebhooksPage /> : null}
        {route.page === 'not-found' ? <p class="message message-error">No console page at {route.path}. <a href={href('/')}>Runs</a></p> : null}
      </main>
    </>
  );
}

interceptLinks();
render(<App />, document.getElementById('app')!);
