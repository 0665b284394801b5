// Session takeover across nodes (issue 16): a client id is held by one connection in the whole
// cluster. aedes' own cross-node takeover is an unlocked broadcast (each node closes its client
// when another node announces the id), so two CONNECTs with one id at the same instant on two
// nodes could close both; SignalGate's holder record in Redis leaves exactly one, the later.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { Services } from '@signalgate/shared';
import type { RunningCli } from '../../cli/test/support.js';
import { connectClient, nextMessage } from '../support/stack.js';
import { startCluster, type TestCluster } from '../support/cluster.js';

let cluster: TestCluster;
let services: Services;
let nodes: RunningCli[];
let orgId: string;
let clients: MqttClient[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  cluster = await startCluster('cluster-takeover');
  ({ services, nodes, clients } = cluster);
  orgId = (await services.orgs.create('Cluster Takeover')).org.id;
}, 120_000);
afterAll(() => cluster?.stop());

describe('one client id, one connection, cluster-wide', () => {
  test('a client reconnecting on the other node takes its session over: the old connection gets DISCONNECT 0x8E', async () => {
    const t = await services.tokens.mint({ orgId, userId: 'mover' });
    const opts = { username: t.username, password: t.password, protocolVersion: 5 as const, clientId: 'mover-1' };
    const first = await connectClient(nodes[0]!.summary.mqtt_url!, opts);
    clients.push(first);
    const told = new Promise<number | undefined>((resolve) => first.once('disconnect', (p) => resolve(p.reasonCode)));
    const second = await connectClient(nodes[1]!.summary.mqtt_url!, opts);
    clients.push(second);
    expect(await told).toBe(0x8e);
    await sleep(300);
    expect(second.connected).toBe(true);
  });

  test('two CONNECTs with one client id at the same instant on two nodes leave exactly one connected (20 trials)', async () => {
    const t = await services.tokens.mint({ orgId, userId: 'racer' });
    const outcomes: number[] = [];
    for (let trial = 0; trial < 20; trial++) {
      const opts = { username: t.username, password: t.password, protocolVersion: 5 as const, clientId: `racer-${trial}`, reconnectPeriod: 0 };
      const pair = await Promise.all(nodes.map((n) => connectClient(n.summary.mqtt_url!, opts).catch(() => null)));
      for (const c of pair) if (c) clients.push(c);
      await sleep(400);
      outcomes.push(pair.filter((c) => c?.connected).length);
    }
    expect(outcomes).toEqual(Array(20).fill(1));
  }, 60_000);

  test("another user of the org cannot take a client id held on another node (CONNACK 0x85), while its owner can", async () => {
    const owner = await services.tokens.mint({ orgId, userId: 'owner' });
    const intruder = await services.tokens.mint({ orgId, userId: 'intruder' });
    const held = await connectClient(nodes[0]!.summary.mqtt_url!, { username: owner.username, password: owner.password, protocolVersion: 5, clientId: 'owned-1' });
    clients.push(held);
    await expect(connectClient(nodes[1]!.summary.mqtt_url!, { username: intruder.username, password: intruder.password, protocolVersion: 5, clientId: 'owned-1' }))
      .rejects.toMatchObject({ code: 0x85 });
    await sleep(200);
    expect(held.connected).toBe(true);
    const again = await connectClient(nodes[1]!.summary.mqtt_url!, { username: owner.username, password: owner.password, protocolVersion: 5, clientId: 'owned-1' });
    clients.push(again);
    await sleep(300);
    expect([held.connected, again.connected]).toEqual([false, true]);
  });

  test('the connection left is a working one: it receives what is published for it', async () => {
    const t = await services.tokens.mint({ orgId, userId: 'worker' });
    const opts = { username: t.username, password: t.password, protocolVersion: 5 as const, clientId: 'worker-1', reconnectPeriod: 0 };
    const pair = await Promise.all(nodes.map((n) => connectClient(n.summary.mqtt_url!, opts)));
    clients.push(...pair);
    await sleep(400);
    const alive = pair.filter((c) => c.connected);
    expect(alive).toHaveLength(1);
    await alive[0]!.subscribeAsync('work/1', { qos: 1 });
    const pubToken = await services.tokens.mint({ orgId, userId: 'boss' });
    const pub = await connectClient(nodes[0]!.summary.mqtt_url!, { username: pubToken.username, password: pubToken.password, protocolVersion: 5 });
    clients.push(pub);
    const got = nextMessage(alive[0]!);
    await pub.publishAsync('work/1', 'job', { qos: 1 });
    expect(await got).toEqual({ topic: 'work/1', payload: 'job' });
  });
});

describe('max_connections across nodes', () => {
  test('an org at its limit is refused on every node (CONNACK 0x97 under MQTT 5); a closed connection frees its place; a takeover of an id held on another node is not counted twice', async () => {
    const limited = (await services.orgs.create('Cluster Limited')).org.id;
    await services.orgs.update(limited, { limits: { maxConnections: 2 } });
    const conn = async (node: number, userId: string, clientId: string) => {
      const t = await services.tokens.mint({ orgId: limited, userId });
      return connectClient(nodes[node]!.summary.mqtt_url!, { username: t.username, password: t.password, protocolVersion: 5, clientId, reconnectPeriod: 0 });
    };
    const a = await conn(0, 'la', 'lim-a');
    const b = await conn(1, 'lb', 'lim-b');
    clients.push(a, b);
    await expect(conn(0, 'lc', 'lim-c')).rejects.toMatchObject({ code: 0x97 });
    await expect(conn(1, 'lc', 'lim-c')).rejects.toMatchObject({ code: 0x97 });
    // The owner of lim-a moves to the other node: a takeover, still two ids.
    const moved = await conn(1, 'la', 'lim-a');
    clients.push(moved);
    await sleep(300);
    expect([a.connected, moved.connected, b.connected]).toEqual([false, true, true]);
    await expect(conn(0, 'lc', 'lim-c')).rejects.toMatchObject({ code: 0x97 });
    // b leaves: its place is free on either node.
    await b.endAsync();
    await sleep(200);
    const c = await conn(0, 'lc', 'lim-c');
    clients.push(c);
    expect(c.connected).toBe(true);
  });
});
