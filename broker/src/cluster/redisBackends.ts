// The broker's cluster backends on Redis (SIGNALGATE_REDIS_URL): mqemitter-redis carries every
// message between brokers, aedes-persistence-redis keeps retained messages, subscriptions,
// persistent sessions, offline queues, in-flight QoS 1/2 and wills. aedes-persistence-redis 11 is
// the line built on aedes-persistence 10, the one aedes 2.0.0-beta.1 itself uses (12 needs 11 and an
// `overrides` entry). The connections are made here, not by the packages, so that each is an
// ioredis client with `disableClientInfo`: ioredis 5.8.2+ crashes a subscriber connection on its
// ready-check (redis/ioredis#2037) otherwise, and the package defaults give no way to say so.
// A third trap is mqemitter-redis' `state` emitter (below).
import { Redis } from 'ioredis';
import mqemitterRedis from 'mqemitter-redis';
import persistenceRedis from 'aedes-persistence-redis';
import type { Logger } from '@signalgate/shared';
import type { Aedes } from 'aedes';
import { ClusterHolders } from './holders.js';
import { ClusterConnections } from './orgConnections.js';
import { ClusterNodes } from './nodes.js';
import { clusterWills, type ClusterWillsOptions } from './wills.js';
import { expireSessionsAcrossNodes } from './sessionExpiry.js';
import { ClusterPresence, type PresenceSubject } from './presenceCounts.js';
import { ClusterShares } from './sharedAcrossNodes.js';
import { replayAfterResubscribe } from './replay.js';

const SERVER_SHUTTING_DOWN = 0x8b;
type FencedClient = { will: unknown; disconnect(o: { reasonCode: number }, cb: () => void): void };

/** How long a starting broker waits for Redis before it gives up with an error saying so. */
const READY_TIMEOUT_MS = 5000;

export interface ClusterBackends {
  mq: unknown;
  persistence: unknown;
  /** Which connection holds each client id, cluster-wide (holders.ts). */
  holders: ClusterHolders;
  /** Organisations' client ids on every node, for max_connections (orgConnections.ts). */
  connections: ClusterConnections;
  /** The live nodes, and what to do when one dies (nodes.ts). Started by start(). */
  nodes: ClusterNodes;
  /** Users online per node and cluster-wide (presenceCounts.ts). */
  presence: ClusterPresence;
  /** Which node delivers a `$share` group's message (sharedAcrossNodes.ts). */
  shares: ClusterShares;
  /** The connection for the cluster's own keys (shared by holders, counts, sweeps). */
  db: Redis;
  /**
   * Once aedes exists: the takeover gate, wills and session expiry across nodes, then this node's
   * heartbeat (after every onDead handler is in place). `expired`: a stored session's expiry came due;
   * `offline`: a dead node was the last of a user's.
   */
  attach(aedes: Aedes, hooks: { sessionOf: ClusterWillsOptions['sessionOf']; expired: (clientId: string) => void; offline: (s: PresenceSubject) => void }): void;
  /** Resolves once every connection is ready; rejects (naming the URL without its password) after READY_TIMEOUT_MS. */
  ready(): Promise<void>;
  /** Closes the Redis connections (after aedes closed: it closes mq and persistence itself). */
  close(): Promise<void>;
}

export function redisBackends(url: string, heartbeatMs: number, nodeId: string, logger: Logger): ClusterBackends {
  const redisConnections: Redis[] = [];
  const connect = (role: string) => {
    const conn = new Redis(url, {
      connectionName: `signalgate-broker-${role}`,
      disableClientInfo: true,
      enableAutoPipelining: role === 'pub',
      // Commands wait for Redis to come back instead of failing after 20 tries: a restarted Redis
      // must not cost a message that aedes has already acknowledged.
      maxRetriesPerRequest: null,
    });
    conn.on('error', (err: Error) => logger.warn({ err: err.message, role }, 'redis connection error'));
    redisConnections.push(conn);
    return conn;
  };
  const shown = redactedUrl(url);
  const sub = connect('sub');
  const pub = connect('pub');
  const mq = mqemitterRedis({ subConn: sub, pubConn: pub });
  boundWaitingMessages(mq as unknown as Bus);
  // mqemitter-redis re-emits every connection error on `state`, an EventEmitter nobody listens to:
  // without this listener a Redis restart crashes the broker (the connections themselves reconnect).
  mq.state.on('error', () => {}); // logged once per connection above
  const db = connect('db');
  const warn = (err: unknown, what: string) => logger.warn({ err }, `${what} failed`);
  const holders = new ClusterHolders(db, nodeId, warn);
  holders.guard(mq as never);
  const nodes = new ClusterNodes(db, nodeId, heartbeatMs, warn);
  const presence = new ClusterPresence(db, nodes);
  const shares = new ClusterShares(db, nodes, mq as never, (err) => logger.warn({ err }, 'cluster shared group not updated'));
  const connectionsCounted = new ClusterConnections(db, nodes, (err) => logger.warn({ err }, 'cluster connection count not updated'));
  return {
    mq,
    persistence: persistenceRedis({ conn: db }),
    holders,
    connections: connectionsCounted,
    nodes,
    presence,
    shares,
    db,
    attach(aedes, { sessionOf, expired, offline }) {
      holders.attach(aedes);
      clusterWills(aedes, { db, nodes, sessionOf, onError: warn });
      expireSessionsAcrossNodes(db, nodes, expired);
      presence.whenNodeDies(offline);
      replayAfterResubscribe(aedes, sub, (err) => warn(err, 'replay after a Redis reconnect')).catch((err) => warn(err, 'replay setup'));
      nodes.onFenced(() => {
        for (const client of Object.values((aedes as unknown as { clients: Record<string, FencedClient> }).clients)) {
          client.will = null; // published already, by the node that took this one for dead
          client.disconnect({ reasonCode: SERVER_SHUTTING_DOWN }, () => {});
        }
      });
      nodes.start();
    },
    async ready() {
      let lastError = 'no answer';
      await Promise.race([
        Promise.all(redisConnections.map((c) => (c.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => {
          c.once('ready', () => resolve());
          c.on('error', (err: Error) => { lastError = err.message; });
        })))),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`cannot reach Redis at ${shown} (SIGNALGATE_REDIS_URL) within ${READY_TIMEOUT_MS / 1000} s: ${lastError}`)), READY_TIMEOUT_MS).unref()),
      ]);
    },
    async close() {
      await Promise.all([connectionsCounted.stop(), nodes.stop()]);
      // QUIT waits for queued commands: only on a ready connection, and not for long; else cut it.
      await Promise.all(redisConnections.map(async (c) => {
        if (c.status === 'ready') await Promise.race([c.quit().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
        c.disconnect();
      }));
    },
  };
}

type Bus = { emit(msg: { payload?: Buffer | string }, done?: (err?: Error | null) => void): void };
/** Messages sent to Redis and not yet answered, at most (count and payload bytes). */
const MAX_WAITING_MESSAGES = 100_000;
const MAX_WAITING_BYTES = 64 * 1024 * 1024;

/**
 * While Redis is away, ioredis keeps every PUBLISH until it is back (maxRetriesPerRequest: null),
 * without a bound: a client publishing QoS 0 through an outage would grow the broker without end.
 * Past the bound a message fails (aedes ends that client's connection; a QoS 1/2 publisher resends).
 */
function boundWaitingMessages(bus: Bus): void {
  const emit = bus.emit.bind(bus);
  let count = 0;
  let bytes = 0;
  bus.emit = (msg, done) => {
    const size = msg.payload === undefined ? 0 : typeof msg.payload === 'string' ? Buffer.byteLength(msg.payload) : msg.payload.length;
    if (count >= MAX_WAITING_MESSAGES || bytes + size > MAX_WAITING_BYTES) {
      return done?.(new Error('Redis unavailable: too many messages waiting for it'));
    }
    count++;
    bytes += size;
    emit(msg, (err) => {
      count--;
      bytes -= size;
      done?.(err);
    });
  };
}

/** The URL as it may be shown: without a password. */
function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the configured URL';
  }
}
