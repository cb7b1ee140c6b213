/** A small history router for the console's four pages, under the `/ui` base. */
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/ui';

export type Route =
  | { page: 'runs' }
  | { page: 'run'; id: string }
  | { page: 'flows' }
  | { page: 'webhooks' }
  | { page: 'not-found'; path: string };

/** The route of a location path (`/ui/runs/<id>` → run). */
export function parseRoute(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = rest.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === 'runs')) return { page: 'runs' };
  if (parts.length === 2 && parts[0] === 'runs') return { page: 'run', id: parts[1]! };
  if (parts.length === 1 && parts[0] === 'flows') return { page: 'flows' };
  if (parts.length === 1 && parts[0] === 'webhooks') return { page: 'webhooks' };
  return { page: 'not-found', path: pathname };
}

/** The path of a console link: `href('/runs/' + id)`. */
export const href = (path: string) => `${BASE}${path}`;

/** Goes to `url` (path and query) without reloading. */
export function navigate(url: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

/** The current location, re-rendered on every navigation. */
export function useLocation(): { pathname: string; search: string } {
  const [location, setLocation] = useState({ pathname: window.location.pathname, search: window.location.search });
  useEffect(() => {
    const update = () => setLocation({ pathname: window.location.pathname, search: window.location.search });
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return location;
}

/** Same-origin link clicks become navigations without a reload (modifier keys keep the browser's behaviour). */
export function interceptLinks(): void {
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.('a');
    if (!anchor || anchor.target || anchor.hasAttribute('download')) return;
    const url = new URL(anchor.href, window.location.href);
    if (url.origin !== window.location.origin || !url.pathname.startsWith(BASE)) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
}
