// The cluster's gauges on every node's /metrics (issue 16: metrics per node and per cluster). Each
// node writes its connection count into one Redis hash with its heartbeat and reads the hash back
// right after: one round trip per beat, none per scrape, so a scrape never waits on Redis. A dead
// node's entry is removed by the node that finds it dead, and is never summed meanwhile (only live
// nodes' entries are).
import type { Redis } from 'ioredis';
import type { ClusterMetrics } from '../metrics.js';
import { NODE_CONNECTIONS } from './keys.js';
import type { ClusterNodes } from './nodes.js';

export function clusterGauges(db: Redis, nodes: ClusterNodes, metrics: ClusterMetrics, connectionsHere: () => Promise<number>): void {
  nodes.everyBeat('cluster gauges update', async () => {
    const here = await connectionsHere();
    const [, [, counts]] = (await db.multi().hset(NODE_CONNECTIONS, nodes.nodeId, here).hgetall(NODE_CONNECTIONS).exec()) as [unknown, [unknown, Record<string, string>]];
    const live = nodes.liveNodes;
    let total = 0;
    for (const [node, n] of Object.entries(counts)) if (live.has(node)) total += Number(n);
    metrics.nodes.set(live.size);
    metrics.connections.set(total);
  });
  nodes.onDead(async (node) => {
    await db.hdel(NODE_CONNECTIONS, node);
  });
}
