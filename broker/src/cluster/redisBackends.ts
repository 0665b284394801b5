// The broker's cluster backends on Redis (SIGNALGATE_REDIS_URL): mqemitter-redis carries every
// message between brokers, aedes-persistence-redis keeps retained messages, subscriptions,
// persistent sessions, offline queues, in-flight QoS 1/2 and wills. aedes-persistence-redis 11 is
// the line built on aedes-persistence 10, the one aedes 2.0.0-beta.1 itself uses (12 needs 11 and an
// `overrides` entry). The connections are made here, not by the packages, so that each is an
// ioredis client with `disableClientInfo`: ioredis 5.8.2+ crashes a subscriber connection on its
// ready-check (redis/ioredis#2037) otherwise, and the package defaults give no way to say so.
import { Redis } from 'ioredis';
import mqemitterRedis from 'mqemitter-redis';
import persistenceRedis from 'aedes-persistence-redis';
import type { Logger } from '@signalgate/shared';

export interface ClusterBackends {
  mq: unknown;
  persistence: unknown;
  /** Closes the Redis connections (after aedes closed: it closes mq and persistence itself). */
  close(): Promise<void>;
}

export function redisBackends(url: string, logger: Logger): ClusterBackends {
  const connections: Redis[] = [];
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
    connections.push(conn);
    return conn;
  };
  return {
    mq: mqemitterRedis({ subConn: connect('sub'), pubConn: connect('pub') }),
    persistence: persistenceRedis({ conn: connect('db') }),
    async close() {
      await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
