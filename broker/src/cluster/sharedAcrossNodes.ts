// `$share` groups across the cluster (issue 16). Every node receives every message of a group's
// filter (Redis pub/sub fans out to all), and each node's group (sharedGroups.ts) would hand it to
// one of *its* members: one delivery per node. Here the nodes agree on one without talking per
// message: each node writes how many members a group has there (`signalgate:share:<group>`, node →
// count) and tells the others through the message bus, and every node keeps that table per group.
// A message goes to the node picked by a hash of the message's cluster-wide id (origin broker and
// counter) over the table's members, weighted by count, so every node computes the same node and
// only that one delivers. While a change of membership is still on its way, two nodes' tables can
// differ for a moment (a message then reaches two members or none). The table holds the nodes whose
// liveness key exists when it is read (on every change and every beat), so a dead node's members
// drop out within a beat of its key expiring, on every node alike.
import type { Redis } from 'ioredis';
import { NODE_PREFIX, nodeShareGroupsKey, shareKey } from './keys.js';
import type { ClusterNodes } from './nodes.js';

/** KEYS[1] the group's counts; ARGV[1] the node-key prefix. [node, count, …] of the live nodes. */
const LIVE_COUNTS = `local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if redis.call('EXISTS', ARGV[1] .. all[i]) == 1 then
    table.insert(out, all[i])
    table.insert(out, all[i + 1])
  end
end
return out`;

const CHANGED = (node: string) => `$SYS/${node}/signalgate-share`;
const ANY_CHANGED = '$SYS/+/signalgate-share';

type Bus = {
  on(topic: string, fn: (packet: { payload: Buffer | string }, done: () => void) => void, done?: () => void): unknown;
  emit(packet: { topic: string; payload: Buffer }, done?: (err?: Error | null) => void): void;
};

/** 32-bit FNV-1a: a cheap, stable spread of message ids (not a security property). */
export function spread(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The node that delivers the message `id`: members per node (sorted by node, so that every node
 * walks the same order), the message's spread modulo the members, counted off node by node.
 */
export function nodeFor(id: string, members: readonly (readonly [node: string, count: number])[]): string | null {
  const total = members.reduce((n, [, c]) => n + c, 0);
  if (total === 0) return null;
  let k = spread(id) % total;
  for (const [node, count] of members) {
    if (k < count) return node;
    k -= count;
  }
  return null;
}

export class ClusterShares {
  /** Other nodes' member counts per group key (this node's own comes from `local`). */
  private readonly remote = new Map<string, Map<string, number>>();
  private readonly local = new Map<string, number>();
  /** The sorted table per group (rebuilt when a count changes). */
  private readonly tables = new Map<string, [string, number][]>();

  constructor(private readonly db: Redis, private readonly nodes: ClusterNodes, private readonly bus: Bus, private readonly onError: (err: unknown) => void) {
    bus.on(ANY_CHANGED, (packet, done) => {
      const key = packet.payload.toString();
      if (this.local.has(key)) this.refresh(key);
      done();
    });
    nodes.everyBeat('shared groups refresh', async () => {
      for (const key of this.local.keys()) this.refresh(key);
    });
    // A departed node's counts go from every group it had members in (they would pile up: every
    // start is a new node id).
    nodes.onDead(async (node) => {
      const groups = await this.db.smembers(nodeShareGroupsKey(node));
      const m = this.db.multi();
      for (const key of groups) m.hdel(shareKey(key), node);
      await m.del(nodeShareGroupsKey(node)).exec();
    });
  }

  /** This node's group `key` has `count` members now (0: none left). */
  members(key: string, count: number): void {
    this.tables.delete(key);
    if (count > 0) this.local.set(key, count);
    else {
      this.local.delete(key);
      this.remote.delete(key);
    }
    const me = this.nodes.nodeId;
    const write = count > 0
      ? this.db.multi().hset(shareKey(key), me, count).sadd(nodeShareGroupsKey(me), key).exec()
      : this.db.multi().hdel(shareKey(key), me).srem(nodeShareGroupsKey(me), key).exec();
    write.then(() => this.bus.emit({ topic: CHANGED(me), payload: Buffer.from(key) }), this.onError);
    if (count > 0 && !this.remote.has(key)) this.refresh(key);
  }

  /** Whether this node delivers the message `id` (`<origin broker>:<counter>`) to its group `key`. */
  delivers(key: string, id: string): boolean {
    const others = this.remote.get(key);
    if (!others || others.size === 0) return this.local.has(key);
    return nodeFor(id, this.tableOf(key, others)) === this.nodes.nodeId;
  }

  private tableOf(key: string, others: Map<string, number>): [string, number][] {
    const cached = this.tables.get(key);
    if (cached) return cached;
    const table: [string, number][] = [...others];
    const mine = this.local.get(key) ?? 0;
    if (mine > 0) table.push([this.nodes.nodeId, mine]);
    table.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.tables.set(key, table);
    return table;
  }

  private refresh(key: string): void {
    (this.db.eval(LIVE_COUNTS, 1, shareKey(key), NODE_PREFIX) as Promise<string[]>).then((flat) => {
      if (!this.local.has(key)) return;
      const counts = new Map<string, number>();
      for (let i = 0; i < flat.length; i += 2) {
        const node = flat[i]!;
        const n = Number(flat[i + 1]);
        if (node !== this.nodes.nodeId && n > 0) counts.set(node, n);
      }
      this.remote.set(key, counts);
      this.tables.delete(key);
    }, this.onError);
  }
}
