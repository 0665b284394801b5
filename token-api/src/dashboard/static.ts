// Serves the dashboard page and its bundle (built by `npm run build` into dashboard/dist) with a
// strict Content-Security-Policy: scripts and styles from this origin only, no inline code, no
// eval, no framing. Nothing comes from a CDN.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router, type RequestHandler } from 'express';

/** dashboard/dist relative to token-api/{src,dist}/dashboard/. */
export const DASHBOARD_DIST = fileURLToPath(new URL('../../../dashboard/dist/', import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  });
  next();
};

// The page itself is static and tiny; the text in #app shows until the bundle renders.
const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SignalGate dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/assets/app.css">
<script type="module" src="/dashboard/assets/app.js"></script>
</head>
<body>
<div id="app"><p class="boot">Loading the dashboard… (if this stays, the bundle is missing: run <code>npm run build</code>)</p></div>
</body>
</html>
`;

export function dashboardStaticRouter(distDir = DASHBOARD_DIST): Router {
  const router = Router();
  router.use('/dashboard', securityHeaders);
  // Non-strict routing matches both spellings here; relative asset URLs need the trailing slash.
  router.get('/dashboard', (req, res) => {
    if (!req.path.endsWith('/')) return res.redirect(308, '/dashboard/');
    res.set('Cache-Control', 'no-store').type('html').send(INDEX_HTML);
  });
  router.use('/dashboard/assets', express.static(path.join(distDir), { index: false, fallthrough: true, setHeaders: (res) => res.set('Cache-Control', 'no-cache') }));
  return router;
}
