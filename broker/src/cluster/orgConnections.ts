// An organisation's max_connections across the cluster (issue 16): each node keeps, in Redis, the
// set of client ids it holds per organisation (`signalgate:conns:<org>:<node>`), and a CONNECT is
// admitted by one script that counts the org's ids on every live node (a node's liveness is a key
// it refreshes every beat, nodes.ts; a dead node's ids stop counting three beats after its last) and adds
// the new id only if the count is below the limit. Counting ids, not connections, keeps a takeover
// of an id held on another node from counting twice while the old connection closes.
import type { Redis } from 'ioredis';
import type { Client } from 'aedes';
import { NODES, NODE_PREFIX, orgConnectionsKey as setKey, orgConnectionsPrefix as orgPrefix } from './keys.js';
import type { ClusterNodes } from './nodes.js';

/**
 * KEYS[1] the nodes set; ARGV: node-key prefix, the org's set prefix, this node, the client id,
 * the limit (-1: none). Returns 1 when admitted (the id added to this node's set), 0 when the org
 * is at its limit. A dead node's ids are not counted (nodes.ts takes it off the list).
 */
const ADMIT = `local count = 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. node) == 1 then
    local key = ARGV[2] .. node
    count = count + redis.call('SCARD', key)
    if redis.call('SISMEMBER', key, ARGV[4]) == 1 then count = count - 1 end
  end
end
local limit = tonumber(ARGV[5])
if limit >= 0 and count >= limit then return 0 end
redis.call('SADD', ARGV[2] .. ARGV[3], ARGV[4])
return 1`;

export class ClusterConnections {
  /** Clients counted in Redis, with their org and id. */
  private readonly counted = new WeakMap<Client, { orgId: string; clientId: string }>();
  /** Connections here per `<org>\0<id>` (a takeover here briefly holds one id twice): the id leaves the set at 0. */
  private readonly held = new Map<string, number>();
  /** This node's sets, per org: refreshed with the heartbeat so a dead node's sets expire. */
  private readonly orgSets = new Map<string, number>();
  private readonly nodeId: string;
  private readonly setTtl: number;

  constructor(private readonly db: Redis, nodes: ClusterNodes, private readonly onError: (err: unknown) => void) {
    this.nodeId = nodes.nodeId;
    this.setTtl = nodes.ttlSeconds * 4;
    nodes.onBeat((m) => {
      for (const orgId of this.orgSets.keys()) m.expire(setKey(orgId, this.nodeId), this.setTtl);
    });
  }

  /** Counts `client` (aedes id `clientId`) for `orgId` unless the org holds `limit` ids cluster-wide; false: refused. */
  async admit(client: Client, orgId: string, clientId: string, limit: number | null): Promise<boolean> {
    const admitted = await this.db.eval(ADMIT, 1, NODES, NODE_PREFIX, orgPrefix(orgId), this.nodeId, clientId, limit ?? -1);
    if (admitted !== 1) return false;
    // Closed while Redis answered: its close came before it was counted, so take the id back now.
    if ((client as Client & { closed: boolean }).closed) {
      if (!this.held.has(`${orgId}\u0000${clientId}`)) this.db.srem(setKey(orgId, this.nodeId), clientId).catch(this.onError);
      return true; // the caller sees the closed client
    }
    this.counted.set(client, { orgId, clientId });
    const k = `${orgId}\u0000${clientId}`;
    this.held.set(k, (this.held.get(k) ?? 0) + 1);
    this.orgSets.set(orgId, (this.orgSets.get(orgId) ?? 0) + 1);
    if (this.orgSets.get(orgId) === 1) this.db.expire(setKey(orgId, this.nodeId), this.setTtl).catch(this.onError);
    return true;
  }

  /** `client` closed: its id leaves this node's set once no connection here holds it. */
  released(client: Client): void {
    const c = this.counted.get(client);
    if (!c) return;
    this.counted.delete(client);
    const k = `${c.orgId}\u0000${c.clientId}`;
    const left = (this.held.get(k) ?? 1) - 1;
    if (left > 0) this.held.set(k, left);
    else {
      this.held.delete(k);
      this.db.srem(setKey(c.orgId, this.nodeId), c.clientId).catch(this.onError);
    }
    const inOrg = (this.orgSets.get(c.orgId) ?? 1) - 1;
    if (inOrg > 0) this.orgSets.set(c.orgId, inOrg);
    else this.orgSets.delete(c.orgId);
  }

  /** This node leaves: its ids stop counting at once. */
  async stop(): Promise<void> {
    const m = this.db.multi();
    for (const orgId of this.orgSets.keys()) m.del(setKey(orgId, this.nodeId));
    // Bounded: with Redis away the commands would wait for it (the sets' expiry cleans up then).
    await Promise.race([m.exec().catch(this.onError), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  }
}
