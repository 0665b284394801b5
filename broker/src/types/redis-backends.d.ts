// The parts of mqemitter-redis 7 and aedes-persistence-redis 11 (no bundled types) SignalGate uses:
// both take connections made by the caller (redisBackends.ts makes them).
declare module 'mqemitter-redis' {
  import type { Redis } from 'ioredis';
  export interface MQEmitterRedisOptions { subConn: Redis; pubConn: Redis; maxLRUCache?: number; ttlLRUCache?: number }
  export interface MQEmitterRedis {
    /** Connection events; 'error' is emitted for every connection error (unhandled, it throws). */
    state: import('node:events').EventEmitter;
    close(cb: () => void): void;
  }
  export default function mqemitterRedis(opts: MQEmitterRedisOptions): MQEmitterRedis;
}
declare module 'aedes-persistence-redis' {
  import type { Redis } from 'ioredis';
  export interface RedisPersistenceOptions { conn: Redis; maxSessionDelivery?: number }
  export interface RedisPersistence {
    setup(broker: unknown): Promise<void>;
    destroy(cb?: () => void): void;
  }
  export default function persistenceRedis(opts: RedisPersistenceOptions): RedisPersistence;
}
