// Wills across the cluster (issue 16). A will lives in Redis (aedes-persistence-redis, key
// `will:<node>:<client id>`) from CONNECT until its connection ends well. aedes' own sweep of a
// dead broker's wills asks authorizePublish with no client (which a tenant's will cannot pass),
// aborts on the first refusal, keeps its broker list in memory (a restart forgets the dead) and
// ignores the Will Delay Interval. It is replaced here:
// - each stored will carries its owner (willOwner.ts), so its org and the owner's rights *now*
//   decide it, as for a will published by a live node;
// - the node that finds a node dead (nodes.ts, exactly one) takes that node's wills out of the
//   persistence (all of them: aedes' stream reads only the first 10,000 of every node's) and
//   publishes each: at once without a delay, with one when the delay has passed since the node was
//   found dead; unless the client has connected again anywhere by then (one script checks the id's
//   holder and schedules; holders.ts CLAIM cancels a scheduled one) [MQTT-3.1.3-9]. A device's
//   retained "offline" will must not overwrite the "online" it published after reconnecting;
// - aedes' delWill, which looks for `will:undefined:<id>` at a CONNECT, is pointed at this node,
//   and asks first whether there is a will at all: the persistence's delWill removes the key from
//   the list of every node's wills (LREM, a scan of the whole list) at every CONNECT, will or not.
import type { Redis } from 'ioredis';
import type { Aedes, Client, PublishPacket } from 'aedes';
import { DELAYED_WILL_PACKETS, DELAYED_WILLS, holderKey, willKey, WILLS_LIST, willKeyPrefix } from './keys.js';
import type { ClusterNodes } from './nodes.js';
import { ownerOf, withOwner, type WillOwner } from '../willOwner.js';

type StoredWill = PublishPacket & { clientId: string; brokerId: string };
interface WillPersistence {
  putWill(client: Client, packet: PublishPacket): Promise<void>;
  delWill(client: { id: string; brokerId?: string }): Promise<StoredWill | null>;
}

/** Delayed wills published per beat at most. */
const WILLS_PER_BEAT = 500;

/** KEYS: DELAYED_WILLS, DELAYED_WILL_PACKETS; ARGV: now (ms), how many. Pops the wills due: [will, will…]. */
const DUE = `local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local will = redis.call('HGET', KEYS[2], id)
  redis.call('HDEL', KEYS[2], id)
  if will then table.insert(out, will) end
end
return out`;

/**
 * KEYS: the id's holder, DELAYED_WILLS, DELAYED_WILL_PACKETS; ARGV: the dead node's token prefix,
 * when the will is due (ms; 0: now), the client id, the will (JSON). 0: the client connected again
 * elsewhere (no will); 1: publish now; 2: scheduled.
 */
const ORPHANED_WILL = `local holder = redis.call('GET', KEYS[1])
if holder and string.sub(holder, 1, string.len(ARGV[1])) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) == 0 then return 1 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
return 2`;

/** A will as JSON and back (its payload and binary properties are Buffers). */
const toJson = (will: StoredWill) => JSON.stringify(will);
const fromJson = (text: string) =>
  JSON.parse(text, (_k, v: unknown) => {
    const b = v as { type?: unknown; data?: unknown };
    return b && b.type === 'Buffer' && Array.isArray(b.data) ? Buffer.from(b.data as number[]) : v;
  }) as StoredWill;

export interface ClusterWillsOptions {
  db: Redis;
  nodes: ClusterNodes;
  /** Whose connection `client` is, or null for a connection that has no session. */
  sessionOf: (client: Client) => Omit<WillOwner, 'delaySeconds'> | null;
  onError: (err: unknown, what: string) => void;
}

export function clusterWills(aedes: Aedes, { db, nodes, sessionOf, onError }: ClusterWillsOptions): void {
  const broker = aedes as unknown as {
    persistence: WillPersistence;
    _clearWillInterval?: NodeJS.Timeout;
    authorizePublish(client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void;
  };
  const persistence = broker.persistence;
  clearInterval(broker._clearWillInterval); // replaced by the onDead handler below

  const put = persistence.putWill.bind(persistence);
  persistence.putWill = (client, packet) => {
    const s = sessionOf(client);
    return put(client, s ? withOwner(packet, ownerFor(s, client, packet)) : packet);
  };
  const del = persistence.delWill.bind(persistence);
  persistence.delWill = async (client) => {
    const target = { id: client.id, brokerId: client.brokerId ?? nodes.nodeId };
    return (await db.exists(willKey(target.brokerId, target.id))) === 1 ? del(target) : null;
  };

  /** Publishes `will` as its owner's, now; then it is gone from Redis either way. */
  const publish = (will: StoredWill) =>
    new Promise<void>((resolve) => {
      broker.authorizePublish(null, will, (err) => {
        if (err) return resolve(); // refused: counted and logged by the hook
        aedes.publish(will, (e?: Error | null) => {
          if (e) onError(e, 'will publish');
          resolve();
        });
      });
    });

  nodes.onDead(async (node) => {
    const prefix = willKeyPrefix(node);
    const keys = (await db.lrange(WILLS_LIST, 0, -1)).filter((k) => k.startsWith(prefix));
    for (const key of keys) {
      const id = decodeURIComponent(key.slice(prefix.length));
      const will = await persistence.delWill({ id, brokerId: node });
      if (!will) await db.lrem(WILLS_LIST, 0, key); // listed without its key: the entry alone goes
      const owner = will && ownerOf(will);
      if (!will || !owner) continue; // not a tenant's will: never published
      const due = owner.delaySeconds > 0 ? Date.now() + owner.delaySeconds * 1000 : 0;
      const verdict = await db.eval(ORPHANED_WILL, 3, holderKey(id), DELAYED_WILLS, DELAYED_WILL_PACKETS, `${node}:`, due, id, toJson(will));
      if (verdict === 1) await publish(will);
    }
  });

  nodes.everyBeat('delayed wills', async () => {
    const due = (await db.eval(DUE, 2, DELAYED_WILLS, DELAYED_WILL_PACKETS, Date.now(), WILLS_PER_BEAT)) as string[];
    for (const will of due) await publish(fromJson(will));
  });
}

/** A will's owner: the session's, and its delay (at most the session's expiry, as aedes times it). */
function ownerFor(s: Omit<WillOwner, 'delaySeconds'>, client: Client, will: PublishPacket): WillOwner {
  const c = client as Client & { sessionExpiryInterval?: number };
  const requested = (will as PublishPacket & { properties?: { willDelayInterval?: number } }).properties?.willDelayInterval ?? 0;
  const delaySeconds = client.version === 5 ? Math.min(requested, c.sessionExpiryInterval ?? 0) : 0;
  return { orgId: s.orgId, clientId: s.clientId, userId: s.userId, userRef: s.userRef, tokenId: s.tokenId, delaySeconds };
}
