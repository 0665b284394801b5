// CORS for the routes a browser page calls itself, cross-origin (the official SDK runs create,
// exchange and refresh from the page; ai-chat posts to /v1/create). They are authorised by what the
// body or Bearer carries, never by cookies, so no credentials mode: a page that can call them
// already holds the secret they act on. The admin API and the dashboard get no CORS headers at all
// (same-origin only; the dashboard's cookie must never be usable from another origin).
import type { RequestHandler } from 'express';

export const BROWSER_ROUTES: ReadonlySet<string> = new Set([
  '/v2/tokens/create', '/v2/tokens/exchange', '/v2/tokens/refresh', '/v2/tokens/self', '/v1/create', '/v2/providers',
]);

/** How long a browser may cache a preflight answer (browsers cap it: Chromium at 2 h). */
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

/** `origins`: `*` for every origin, or the exact origins allowed (SIGNALGATE_CORS_ORIGINS). */
export function browserRouteCors(origins: '*' | readonly string[]): RequestHandler {
  const allowed = origins === '*' ? null : new Set(origins);
  return (req, res, next) => {
    if (!BROWSER_ROUTES.has(req.path)) return next();
    const origin = req.get('origin');
    if (allowed === null) res.setHeader('Access-Control-Allow-Origin', '*');
    else {
      res.vary('Origin');
      if (origin !== undefined && allowed.has(origin)) res.setHeader('Access-Control-Allow-Origin', origin);
    }
    if (req.method !== 'OPTIONS') return next();
    // A preflight: answered here, whether the origin is allowed or not (without the allow headers
    // the browser refuses the real request itself).
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
    res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_SECONDS));
    res.status(204).end();
  };
}
