// Wills across the cluster (issue 16). A will lives in Redis (aedes-persistence-redis, key
// `will:<node>:<client id>`) from CONNECT until its connection ends well. aedes' own sweep of a
// dead broker's wills asks authorizePublish with no client (which a tenant's will cannot pass),
// aborts on the first refusal, keeps its broker list in memory (a restart forgets the dead) and
// ignores the Will Delay Interval. It is replaced here:
// - each stored will carries its owner (willOwner.ts), so its org and the owner's rights *now*
//   decide it, as for a will published by a live node;
// - the node that finds a node dead (nodes.ts, exactly one) publishes that node's wills: at once
//   without a delay; with one, when the delay has passed since it was found dead, unless the
//   client connected again anywhere first (holders.ts CLAIM cancels it) [MQTT-3.1.3-9];
// - aedes' delWill, which looks for `will:undefined:<id>` at a CONNECT, is pointed at this node.
import type { Redis } from 'ioredis';
import type { Aedes, Client, PublishPacket } from 'aedes';
import { DELAYED_WILL_KEYS, DELAYED_WILLS, holderKey, willKey } from './keys.js';
import type { ClusterNodes } from './nodes.js';
import { ownerOf, withOwner, type WillOwner } from '../willOwner.js';

type StoredWill = PublishPacket & { clientId: string; brokerId: string };
interface WillPersistence {
  putWill(client: Client, packet: PublishPacket): Promise<void>;
  delWill(client: { id: string; brokerId?: string }): Promise<StoredWill | null>;
  streamWill(brokers: Record<string, unknown>): AsyncIterable<StoredWill>;
}

/** Delayed wills published per beat at most. */
const WILLS_PER_BEAT = 500;

/** KEYS: DELAYED_WILLS, DELAYED_WILL_KEYS; ARGV: now (ms), how many. Pops the wills due: [id, node, id, node…]. */
const DUE = `local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local node = redis.call('HGET', KEYS[2], id)
  redis.call('HDEL', KEYS[2], id)
  if node then table.insert(out, id) table.insert(out, node) end
end
return out`;

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
  persistence.delWill = (client) => del(client.brokerId === undefined ? { id: client.id, brokerId: nodes.nodeId } : client);

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
    const onlyThatNode = new Proxy({}, { get: (_, broker) => broker !== node });
    for await (const will of persistence.streamWill(onlyThatNode)) {
      const owner = ownerOf(will);
      if (!owner || owner.delaySeconds <= 0) {
        if (owner) await publish(will);
        await persistence.delWill({ id: will.clientId, brokerId: node });
        continue;
      }
      // Connected again elsewhere since: the delay was cancelled by that CONNECT.
      const holder = await db.get(holderKey(will.clientId));
      if (holder !== null && !holder.startsWith(`${node}:`)) {
        await persistence.delWill({ id: will.clientId, brokerId: node });
        continue;
      }
      await db.multi()
        .zadd(DELAYED_WILLS, Date.now() + owner.delaySeconds * 1000, will.clientId)
        .hset(DELAYED_WILL_KEYS, will.clientId, willKey(node, will.clientId))
        .exec();
    }
  });

  let sweeping = false;
  nodes.everyBeat(() => {
    if (sweeping) return;
    sweeping = true;
    void (async () => {
      const due = (await db.eval(DUE, 2, DELAYED_WILLS, DELAYED_WILL_KEYS, Date.now(), WILLS_PER_BEAT)) as string[];
      for (let i = 0; i < due.length; i += 2) {
        const node = due[i + 1]!.split(':')[1]!; // the will key: `will:<node>:<client id>`
        const will = await persistence.delWill({ id: due[i]!, brokerId: node });
        if (will) await publish(will);
      }
    })().catch((err) => onError(err, 'delayed wills')).finally(() => { sweeping = false; });
  });
}

/** A will's owner: the session's, and its delay (at most the session's expiry, as aedes times it). */
function ownerFor(s: Omit<WillOwner, 'delaySeconds'>, client: Client, will: PublishPacket): WillOwner {
  const c = client as Client & { sessionExpiryInterval?: number };
  const requested = (will as PublishPacket & { properties?: { willDelayInterval?: number } }).properties?.willDelayInterval ?? 0;
  const delaySeconds = client.version === 5 ? Math.min(requested, c.sessionExpiryInterval ?? 0) : 0;
  return { orgId: s.orgId, clientId: s.clientId, userId: s.userId, userRef: s.userRef, tokenId: s.tokenId, delaySeconds };
}
