// Operations: liveness, readiness (the database answers; Redis too in a cluster), Prometheus metrics, the OpenAPI document.
import { SignalGateError } from '@signalgate/shared';
import { z } from '../http/openapi.js';
import { defineRoute, type RouteDef } from '../http/route.js';
import type { RouteDeps } from '../http/deps.js';
import { metricsContentType, metricsText } from '../http/metrics.js';
import { metricsReaders } from '../http/metricsAccess.js';
import { adminOnly } from '../http/callers.js';
import { ADMIN_ONLY } from './admin/params.js';

const Status = z.object({ status: z.string() }).openapi('Status');

export function healthRoutes({ services, logger, config, auth, redis }: RouteDeps, openapiDocument: () => object): RouteDef[] {
  const allowedReader = metricsReaders(config.metricsAllow);
  return [
    defineRoute({
      method: 'get', path: '/healthz', tags: ['operations'], summary: 'The process is up', response: Status,
      handle: () => ({ status: 'ok' }),
    }),
    defineRoute({
      method: 'get', path: '/readyz', tags: ['operations'], summary: 'The database answers (and Redis, with SIGNALGATE_REDIS_URL)', response: Status, errors: [503],
      async handle() {
        try {
          await services.store.ping();
        } catch (err) {
          logger.error({ err }, 'readiness check failed');
          throw new SignalGateError('not_ready', 'database unavailable');
        }
        const problem = await redis?.problem();
        if (problem) {
          logger.warn({ problem }, 'readiness check failed: redis');
          throw new SignalGateError('not_ready', 'redis unavailable');
        }
        return { status: 'ready' };
      },
    }),
    defineRoute({
      method: 'get', path: '/metrics', tags: ['operations'], security: ADMIN_ONLY, errors: [401, 403, 429],
      summary: 'Prometheus metrics (from SIGNALGATE_METRICS_ALLOW addresses, or with the admin key)', response: z.string(), responseContentType: 'text/plain',
      authenticate: async (req) => (allowedReader(req) ? null : adminOnly(auth.management(req))),
      async handle({ res }) {
        res.type(metricsContentType).send(await metricsText());
      },
    }),
    defineRoute({
      method: 'get', path: '/openapi.json', tags: ['operations'], summary: 'This OpenAPI 3.1 document', response: z.object({}).passthrough(),
      handle: () => openapiDocument(),
    }),
  ];
}

