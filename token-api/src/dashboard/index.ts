// The dashboard, as the token API serves it: the page and bundle (static.ts), cookie sessions with
// CSRF (sessionAuth.ts, sessionRoutes.ts) and the extra admin routes it calls (adminRoutes.ts).
export { DashboardAuth } from './sessionAuth.js';
export { DashboardSessionStore } from './sessionStore.js';
export { dashboardSessionRouter } from './sessionRoutes.js';
export { dashboardStaticRouter, CONTENT_SECURITY_POLICY } from './static.js';
export { dashboardAdminRoutes } from './adminRoutes.js';
