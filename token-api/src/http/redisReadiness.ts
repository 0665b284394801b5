// /readyz in a cluster (SIGNALGATE_REDIS_URL) also asks Redis: the brokers deliver nothing across
// nodes without it, so a load balancer should stop sending clients here while it is away. One
// connection, made at the first check; it fails fast (no offline queue) instead of waiting.
import type { Redis } from 'ioredis';

const PING_TIMEOUT_MS = 1000;

export interface RedisReadiness {
  /** null when Redis answers PING, else why not. */
  problem(): Promise<string | null>;
  close(): Promise<void>;
}

export function redisReadiness(url: string): RedisReadiness {
  let conn: Promise<Redis> | null = null;
  /** Until the connection was ready once; null after. */
  let firstReady: Promise<void> | null = null;
  const connection = () => (conn ??= import('ioredis').then(({ Redis: Client }) => {
    const c = new Client(url, { connectionName: 'signalgate-api-readyz', disableClientInfo: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    c.on('error', () => {}); // reported by problem()
    firstReady = new Promise<void>((resolve) => c.once('ready', () => {
      firstReady = null;
      resolve();
    }));
    return c;
  }));
  return {
    async problem() {
      try {
        const c = await connection();
        const answered = async () => {
          // Without an offline queue a command fails at once unless the connection is ready: the
          // first check waits for it (one shared wait), a later one reports the state it is in.
          if (c.status !== 'ready') {
            if (!firstReady) throw new Error(`connection ${c.status}`);
            await firstReady;
          }
          await c.ping();
        };
        await Promise.race([
          answered(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 1 s')), PING_TIMEOUT_MS).unref()),
        ]);
        return null;
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    },
    async close() {
      if (!conn) return;
      const c = await conn;
      await c.quit().catch(() => c.disconnect());
    },
  };
}
