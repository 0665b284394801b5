// The cluster's limits on one node, set up once Redis is ready and before any client: message and
// byte rates leased from the cluster (orgRates.ts), retained quotas counted in Redis
// (retainedQuota.ts), and the cluster's gauges (gauges.ts). Loaded only with SIGNALGATE_REDIS_URL.
import type { Logger } from '@signalgate/shared';
import { clusterMetrics, type BrokerMetrics } from '../metrics.js';
import type { SessionRegistry } from '../sessions.js';
import { clusterGauges } from './gauges.js';
import { ClusterRates } from './orgRates.js';
import type { ClusterBackends } from './redisBackends.js';
import { ClusterRetainedQuota } from './retainedQuota.js';

export function clusterLimits(cluster: Pick<ClusterBackends, 'db' | 'nodes'>, sessions: SessionRegistry, metrics: BrokerMetrics, logger: Logger): { retained: ClusterRetainedQuota } {
  const gauges = clusterMetrics();
  const rates = new ClusterRates(cluster.db, cluster.nodes, (result) => gauges.rateLeases.inc({ result }), (err) => logger.warn({ err }, 'cluster rate lease failed'));
  sessions.useClusterRates(rates);
  const connectionsHere = async () => (await metrics.connections.get()).values.reduce((n, v) => n + v.value, 0);
  clusterGauges(cluster.db, cluster.nodes, gauges, connectionsHere);
  return { retained: new ClusterRetainedQuota(cluster.db) };
}
