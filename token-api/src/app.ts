// Assembles the Express app: request log, JSON body gate, every route group, the 404 and the one
// error handler. Routes also register themselves in the OpenAPI registry served at /openapi.json.
import express, { Router } from 'express';
import type { RedisReadiness } from './http/redisReadiness.js';
import type { Config, Logger, PublishChannelHolder, Services } from '@signalgate/shared';
import { createRegistry, generateDocument } from './http/openapi.js';
import { createErrorHandler, unknownRoute } from './http/errorHandler.js';
import { parseJsonBody, requireJsonContentType } from './http/jsonBody.js';
import { requestLog } from './http/requestLog.js';
import { apiMetrics } from './http/metrics.js';
import { RateLimits } from './http/rateLimits.js';
import { createAuthenticators, orgAccessFor } from './http/callers.js';
import { trustProxySetting } from './http/requestContext.js';
import type { RouteDef, Method } from './http/route.js';
import type { RouteDeps } from './http/deps.js';
import { tokenRoutes } from './routes/tokens.js';
import { tokenSelfRoutes } from './routes/tokenSelf.js';
import { browserRouteCors } from './http/cors.js';
import { presenceRoutes } from './routes/presence.js';
import { providerRoutes } from './routes/providers.js';
import { publishRoutes } from './routes/publish.js';
import { historyRoutes } from './routes/history.js';
import { healthRoutes } from './routes/health.js';
import { adminOrgRoutes } from './routes/admin/orgs.js';
import { adminKeyRoutes } from './routes/admin/keys.js';
import { adminRuleRoutes } from './routes/admin/rules.js';
import { adminIntegrationRoutes } from './routes/admin/integrations.js';
import { adminTokenRoutes } from './routes/admin/tokens.js';
import { adminSessionRoutes } from './routes/admin/sessions.js';
import { adminAuditRoutes } from './routes/admin/audit.js';
import { DashboardAuth, DashboardSessionStore, dashboardAdminRoutes, dashboardSessionRouter, dashboardStaticRouter } from './dashboard/index.js';

export const API_VERSION = '2.0.0';

export interface AppOptions {
  config: Config;
  services: Services;
  logger: Logger;
  publisher?: PublishChannelHolder;
  /** With SIGNALGATE_REDIS_URL: /readyz asks Redis too (the caller closes it). */
  redis?: RedisReadiness | null;
}

export interface TokenApiApp {
  app: express.Express;
  /** Every route, as documented (method + OpenAPI path). */
  routes: { method: Method; path: string }[];
  openapiDocument(): object;
}

export function createApp({ config, services, logger, publisher = { current: null }, redis = null }: AppOptions): TokenApiApp {
  const metrics = apiMetrics();
  const limits = new RateLimits(config);
  // Dashboard sign-ins are cookie sessions; `management` auth accepts them (with CSRF on state changes).
  const dashboard = new DashboardAuth(services, new DashboardSessionStore(config.dashboardSessionSeconds * 1000));
  const deps: RouteDeps = { config, services, logger, limits, metrics, auth: dashboard.wrap(createAuthenticators(services, limits)), orgAccess: orgAccessFor(services), publisher, redis };

  const registry = createRegistry();
  let document: object | undefined;
  const openapiDocument = () => (document ??= generateDocument(registry, API_VERSION));

  const routes: RouteDef[] = [
    ...healthRoutes(deps, openapiDocument),
    // Before tokenRoutes: `/v2/tokens/self` would otherwise match `/v2/tokens/{token_id}`.
    ...tokenSelfRoutes(deps),
    ...tokenRoutes(deps),
    ...providerRoutes(deps),
    ...publishRoutes(deps),
    ...presenceRoutes(deps),
    ...historyRoutes(deps),
    ...adminOrgRoutes(deps),
    ...adminKeyRoutes(deps),
    ...adminRuleRoutes(deps),
    ...adminIntegrationRoutes(deps),
    ...adminTokenRoutes(deps),
    ...adminSessionRoutes(deps),
    ...adminAuditRoutes(deps),
    ...dashboardAdminRoutes(deps),
  ];

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', trustProxySetting(config.trustProxy));
  app.use(requestLog(logger, metrics));
  // API answers carry passwords, keys and personal data: no browser, proxy or CDN may keep one.
  app.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  app.use(browserRouteCors(config.corsOrigins));
  const bodyParsers = [requireJsonContentType, parseJsonBody(config.apiBodyLimit)];
  app.use(dashboard.gate);
  app.use(dashboardStaticRouter());
  app.use(dashboardSessionRouter({ services, limits, dashboard, idleSeconds: config.dashboardSessionSeconds }, bodyParsers));
  const router = Router();
  // Paths name an organisation by either id; handlers and services see the short one.
  router.param('org_id', async (req, _res, next, ref: string) => {
    const org = await services.store.orgs.byRef(ref);
    if (org) req.params.org_id = org.id;
    next();
  });
  for (const r of routes) {
    r.mount(router, bodyParsers);
    r.document(registry);
  }
  app.use(router);
  app.use(unknownRoute);
  app.use(createErrorHandler(logger, config.apiBodyLimit));

  return { app, routes: routes.map((r) => ({ method: r.method, path: r.path })), openapiDocument };
}
