// What every hook needs, built once per broker by startBroker.
import type { ClusterHolders } from './cluster/holders.js';
import type { ClusterConnections } from './cluster/orgConnections.js';
import type { ClusterNodes } from './cluster/nodes.js';
import type { ClusterRetainedQuota } from './cluster/retainedQuota.js';
import type { Config, Logger, Services } from '@signalgate/shared';
import type { BrokerMetrics } from './metrics.js';
import type { SessionRegistry } from './sessions.js';
import type { SharedGroups } from './sharedGroups.js';
import type { SessionOwners } from './sessionOwners.js';
import type { AddressLimits } from './addressLimits.js';
import type { RetainedLedger } from './retainedLedger.js';
import type { UsageSampler } from './usage.js';

export interface BrokerContext {
  config: Config;
  services: Services;
  logger: Logger;
  metrics: BrokerMetrics;
  /** Unique per process start; the key of this broker's rows in the sessions table. */
  brokerId: string;
  sessions: SessionRegistry;
  /** Shared subscriptions' groups (`$share/<group>/<filter>`). */
  shared: SharedGroups;
  /** The user each session (connected or stored) belongs to. */
  owners: SessionOwners;
  /** Sockets and refused CONNECTs per client address. */
  addresses: AddressLimits;
  /** With SIGNALGATE_REDIS_URL: which connection holds each client id, cluster-wide; null when alone. */
  holders: ClusterHolders | null;
  /** With SIGNALGATE_REDIS_URL: each organisation's client ids on every node (max_connections); null when alone. */
  orgConnections: ClusterConnections | null;
  /** With SIGNALGATE_REDIS_URL: the live nodes (`liveNodes.size`, as of the last beat); null when alone. */
  nodes: ClusterNodes | null;
  /** Retained messages per organisation, against its quota. */
  retained: RetainedLedger;
  /** With SIGNALGATE_REDIS_URL: retained messages per organisation across the cluster (MQTT PUBLISHes count there); null when alone. */
  clusterRetained: ClusterRetainedQuota | null;
  /** Per-organisation message counts and connection samples for the dashboard. */
  usage: UsageSampler;
}

export type Protocol = 'mqtt' | 'mqtts' | 'ws' | 'wss';

/** Where a connection came from; recorded by the listener before any packet is read. */
export interface ConnectionInfo {
  protocol: Protocol;
  address: string | null;
}

/**
 * Client ids are capped for every protocol level (aedes only checks MQTT 3.1's 23): the id is a
 * key in the broker's client map, the sessions table and placeholder expansion.
 */
export const MAX_CLIENT_ID_LENGTH = 256;

// Also checked by the API's REST publisher, so both live in shared (acl/namespace.ts).
export { MAX_CLIENT_TOPIC_LEVELS, topicLevels } from '@signalgate/shared';
