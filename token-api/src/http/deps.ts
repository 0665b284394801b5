import type { RedisReadiness } from './redisReadiness.js';
import type { Config, Logger, PublishChannelHolder, Services } from '@signalgate/shared';
import type { Authenticators, orgAccessFor } from './callers.js';
import type { ApiMetrics } from './metrics.js';
import type { RateLimits } from './rateLimits.js';

/** What every route group is built from. */
export interface RouteDeps {
  config: Config;
  services: Services;
  logger: Logger;
  limits: RateLimits;
  auth: Authenticators;
  metrics: ApiMetrics;
  /** 403 unless the caller may act on the org, 404 unless it exists; returns the org. */
  orgAccess: ReturnType<typeof orgAccessFor>;
  /** The broker of this process, for the REST publisher. */
  publisher: PublishChannelHolder;
  /** With SIGNALGATE_REDIS_URL: whether Redis answers, for /readyz. */
  redis: RedisReadiness | null;
}
