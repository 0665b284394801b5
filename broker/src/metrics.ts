// Prometheus metrics of the broker, on prom-client's default registry (the token API serves
// /metrics from it). The token API and the broker may share one process, and tests start several
// brokers in one process: a metric is created once and reused, never registered twice.
import { Counter, Gauge, register } from 'prom-client';

function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return (register.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames });
}

function gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
  return (register.getSingleMetric(name) as Gauge<L> | undefined) ?? new Gauge({ name, help, labelNames });
}

export function brokerMetrics() {
  return {
    /** inc/dec, never set: several brokers in one process share the series. */
    connections: gauge('signalgate_broker_connections', 'Authenticated MQTT connections open now', ['protocol']),
    connects: counter('signalgate_broker_connects_total', 'Successful MQTT CONNECTs', ['protocol']),
    authFailures: counter('signalgate_broker_auth_failures_total', 'Refused MQTT CONNECTs by reason', ['reason']),
    publishesDenied: counter('signalgate_broker_publishes_denied_total', 'PUBLISHes refused by the ACL or as invalid', ['reason']),
    rateLimited: counter('signalgate_broker_rate_limited_total', 'Connections or PUBLISHes refused by an organisation or token limit', ['kind']),
    disconnects: counter('signalgate_broker_disconnects_total', 'Ended MQTT sessions by reason', ['reason']),
    subscriptionsDenied: counter('signalgate_broker_subscriptions_denied_total', 'SUBSCRIBE filters refused (0x80; MQTT 5: 0x87)', []),
    deliveriesDropped: counter('signalgate_broker_deliveries_dropped_total', 'Messages not sent to a subscriber, by reason', ['reason']),
    clientErrors: counter('signalgate_broker_client_errors_total', 'Connections closed on a protocol or socket error', ['stage']),
    presenceMessages: counter('signalgate_broker_presence_messages_total', 'Retained presence messages published (only for orgs whose rules grant presence)', ['status']),
    historyDropped: counter('signalgate_broker_history_dropped_total', 'Messages not recorded in history because the buffer was full or the write failed', []),
  };
}

export type BrokerMetrics = ReturnType<typeof brokerMetrics>;

/**
 * Only with SIGNALGATE_REDIS_URL (a broker alone shows none of these): the cluster as this node last
 * saw it, refreshed every heartbeat (cluster/gauges.ts), so a scrape of any node shows the cluster.
 */
export function clusterMetrics() {
  return {
    nodes: gauge('signalgate_cluster_nodes', 'Live broker nodes in the cluster, as of this node\'s last heartbeat', []),
    connections: gauge('signalgate_cluster_connections', 'Authenticated MQTT connections on all live nodes, each as of its last heartbeat', []),
    rateLeases: counter('signalgate_cluster_rate_leases_total', 'Leases of rate-limit tokens this node asked the cluster for (granted, refused: the limit is used up, unanswered: judged on the node\'s share)', ['result']),
  };
}

export type ClusterMetrics = ReturnType<typeof clusterMetrics>;
