// Prometheus metrics on prom-client's default registry. Several API instances (and the broker) may
// share one process, so every metric is created once and reused, and default metrics are
// collected once per process.
import client, { type Counter } from 'prom-client';

function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  const existing = client.register.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new client.Counter({ name, help, labelNames });
}

export function collectDefaultMetricsOnce(): void {
  if (client.register.getSingleMetric('process_cpu_user_seconds_total')) return;
  client.collectDefaultMetrics();
}

export interface ApiMetrics {
  tokensMinted: Counter;
  tokensRefreshed: Counter;
  tokensRevoked: Counter;
  httpRequests: Counter<'method' | 'route' | 'status'>;
}

export function apiMetrics(): ApiMetrics {
  collectDefaultMetricsOnce();
  return {
    tokensMinted: counter('signalgate_tokens_minted_total', 'MQTT credentials minted'),
    tokensRefreshed: counter('signalgate_tokens_refreshed_total', 'MQTT credentials refreshed'),
    tokensRevoked: counter('signalgate_tokens_revoked_total', 'MQTT credentials revoked (by request or replace_existing)'),
    httpRequests: counter('signalgate_http_requests_total', 'Token API requests by route template and status', ['method', 'route', 'status']),
  };
}

export const metricsText = () => client.register.metrics();
export const metricsContentType = client.register.contentType;
