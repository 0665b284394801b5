// What a client can make a node hold while Redis is away (issue 16): ioredis keeps every PUBLISH
// until Redis is back, so without a bound a client publishing QoS 0 through an outage grows the
// broker without end. Past 64 MiB (or 100,000 messages) waiting, a message fails and aedes ends
// that client's connection; the node itself stays up and serves again once Redis is back.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Services } from '@signalgate/shared';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { connectClient, eventually } from '../support/stack.js';

let cluster: TestCluster;
let services: Services;
let orgId: string;

beforeAll(async () => {
  cluster = await startCluster('cluster-outage-bound', { nodes: 1, env: { SIGNALGATE_MAX_PACKET_BYTES: String(4 * 1024 * 1024) } });
  ({ services } = cluster);
  orgId = (await services.orgs.create('Outage')).org.id;
}, 120_000);
afterAll(() => cluster?.stop());

describe('a Redis outage', () => {
  test('a client publishing through it is cut off past the bound; the node stays up and serves again after', async () => {
    const node = cluster.nodes[0]!;
    const t = await services.tokens.mint({ orgId, userId: 'flooder' });
    const flooder = await connectClient(node.summary.mqtt_url!, { username: t.username, password: t.password, protocolVersion: 5 });
    cluster.clients.push(flooder);
    await cluster.redis.down();
    const payload = Buffer.alloc(4 * 1024 * 1024 - 1024, 'x');
    let sent = 0;
    // 40 × 4 MiB = 160 MiB offered, well past the 64 MiB bound.
    for (; sent < 40 && flooder.connected; sent++) {
      flooder.publish('flood/x', payload, { qos: 0 });
      await new Promise((r) => setTimeout(r, 5));
    }
    await eventually(() => !flooder.connected, 10_000);
    expect(sent).toBeGreaterThan(15); // not cut before the bound (about 16 × 4 MiB fit below it)
    expect(node.child.exitCode).toBeNull();

    await cluster.redis.up();
    const again = await services.tokens.mint({ orgId, userId: 'after' });
    const c = await connectClient(node.summary.mqtt_url!, { username: again.username, password: again.password, protocolVersion: 5 });
    cluster.clients.push(c);
    await c.subscribeAsync('after/x', { qos: 1 });
    const got = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())));
    await c.publishAsync('after/x', 'back', { qos: 1 });
    expect(await got).toBe('back');
  }, 60_000);
});
