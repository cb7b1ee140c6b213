/**
 * The console: the browser app built from `console/` (`npm run build:console` → `dist/console/`), served
 * under `/ui` by the gateway. Static files only — every byte of data the console shows comes from the `/v1`
 * API with the token the user signed in with, so this router needs no auth of its own and serves nothing
 * that needs one.
 *
 * | path | answer |
 * |---|---|
 * | `/ui/settings.json` | `{ temporal_ui_url, namespace }`: where the console links a run in the Temporal UI (no secrets) |
 * | `/ui/assets/<file>` | the hashed asset, cached for a year (`immutable`); 404 `NOT_FOUND` when absent |
 * | any other `/ui/<file.ext>` (`favicon.svg`) | the file, or 404 `NOT_FOUND` |
 * | `/ui`, `/ui/runs/<id>`, any path without an extension | `index.html` (the single-page app routes it), `no-cache` |
 * | anything, when the console is not built | 503 `CONSOLE_NOT_BUILT` |
 *
 * @example
 * ```ts
 * app.use('/ui', consoleRouter({ dir: defaultConsoleDir() }));
 * ```
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type Router } from 'express';
import { HttpError } from './errors';

/** Where the build puts the console: `dist/console/`, beside `dist/webhook-gateway/`. */
export function defaultConsoleDir(): string {
  return path.resolve(__dirname, '..', 'console');
}

/** The page's Content-Security-Policy: its own scripts and styles only (Chart.js sets inline canvas styles). */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

export interface ConsoleRouterOptions {
  /** The built console (holding `index.html` and `assets/`). @default {@link defaultConsoleDir} */
  dir?: string;
  /** The Temporal UI's base URL, for the console's links (`temporal.ui_url`). @default null: no link */
  temporalUiUrl?: string;
  /** The Temporal namespace of the runs. @default default */
  namespace?: string;
}

/** The router to mount at `/ui`. Checks for the build on every request, so building while the gateway runs needs no restart. */
export function consoleRouter(options: ConsoleRouterOptions = {}): Router {
  const dir = options.dir ?? defaultConsoleDir();
  const indexFile = path.join(dir, 'index.html');
  const router = express.Router({ strict: true });
  router.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next(new HttpError(404, 'NOT_FOUND', `no route ${req.method} /ui${req.path}; the console is read with GET`));
      return;
    }
    if (!existsSync(indexFile)) {
      next(new HttpError(503, 'CONSOLE_NOT_BUILT', `the console is not built (no ${indexFile}); run: npm run build:console`));
      return;
    }
    res.set({ 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer' });
    next();
  });
  router.get('/settings.json', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json({ temporal_ui_url: options.temporalUiUrl ?? null, namespace: options.namespace ?? 'default' });
  });
  router.use(
    '/assets',
    express.static(path.join(dir, 'assets'), { index: false, fallthrough: true, immutable: true, maxAge: '365d', redirect: false }),
  );
  router.use(express.static(dir, { index: false, fallthrough: true, redirect: false, maxAge: 0 }));
  router.use((req, res, next) => {
    // A path naming a file (an extension, or under assets/) that static did not find is a missing file, not a page.
    if (req.path.startsWith('/assets/') || path.extname(req.path) !== '') {
      next(new HttpError(404, 'NOT_FOUND', `no console file /ui${req.path}`));
      return;
    }
    res.set('Cache-Control', 'no-cache');
    res.sendFile(indexFile);
  });
  return router;
}
