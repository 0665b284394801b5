// Brokers on one Redis are one broker (issue 16): two `signalgate start --broker-only` processes
// with SIGNALGATE_REDIS_URL, a private redis-server, one SQLite data dir. A message published on
// A reaches a subscriber on B at every QoS, retained messages and persistent sessions live in
// Redis, MQTT 5 properties cross, and organisations stay apart across nodes.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import mqtt, { type MqttClient } from 'mqtt';
import type { Services } from '@signalgate/shared';
import type { RunningCli } from '../../cli/test/support.js';
import { connectClient, nextMessage } from '../support/stack.js';
import { startCluster, type TestCluster } from '../support/cluster.js';

let cluster: TestCluster;
let services: Services;
let nodes: RunningCli[];
let orgA: string;
let orgB: string;
let clients: MqttClient[];

const urlOf = (n: RunningCli) => n.summary.mqtt_url!;

beforeAll(async () => {
  cluster = await startCluster('cluster', { env: { SIGNALGATE_CHANGE_POLL_MS: '50' } });
  ({ services, nodes, clients } = cluster);
  orgA = (await services.orgs.create('Cluster A')).org.id;
  orgB = (await services.orgs.create('Cluster B')).org.id;
}, 120_000);
afterAll(() => cluster?.stop());

/** A connected mqtt.js client of `orgId` on `node` (a fresh token per client). */
async function client(node: RunningCli, orgId: string, opts: Parameters<typeof connectClient>[1] = {}): Promise<MqttClient> {
  const t = await services.tokens.mint({ orgId, userId: `u${clients.length}` });
  const c = await connectClient(urlOf(node), { username: t.username, password: t.password, protocolVersion: 5, ...opts });
  clients.push(c);
  return c;
}

describe('messages across nodes', () => {
  test.each([0, 1, 2] as const)('QoS %i published on A is delivered to a subscriber on B at that QoS', async (qos) => {
    const sub = await client(nodes[1]!, orgA);
    await sub.subscribeAsync(`qos/${qos}`, { qos: 2 });
    const pub = await client(nodes[0]!, orgA);
    const got = new Promise<{ topic: string; qos: number; payload: string }>((resolve) =>
      sub.once('message', (topic, payload, packet) => resolve({ topic, qos: packet.qos, payload: payload.toString() })));
    await pub.publishAsync(`qos/${qos}`, `hello ${qos}`, { qos });
    expect(await got).toEqual({ topic: `qos/${qos}`, qos, payload: `hello ${qos}` });
  });

  test('a retained message published on A is given to a later subscriber on B', async () => {
    const pub = await client(nodes[0]!, orgA);
    await pub.publishAsync('status/door', 'open', { qos: 1, retain: true });
    const sub = await client(nodes[1]!, orgA);
    const got = nextMessage(sub);
    await sub.subscribeAsync('status/#', { qos: 1 });
    expect(await got).toEqual({ topic: 'status/door', payload: 'open' });
  });

  test('MQTT 5 properties cross nodes', async () => {
    const sub = await client(nodes[1]!, orgA);
    await sub.subscribeAsync('props/x', { qos: 1 });
    const got = new Promise<Record<string, unknown>>((resolve) => sub.once('message', (_t, _p, packet) => resolve(packet.properties ?? {})));
    const pub = await client(nodes[0]!, orgA);
    await pub.publishAsync('props/x', '{}', { qos: 1, properties: { contentType: 'application/json', userProperties: { trace: 'abc' }, correlationData: Buffer.from('c1'), responseTopic: 'props/reply' } });
    expect(await got).toMatchObject({ contentType: 'application/json', userProperties: { trace: 'abc' }, correlationData: Buffer.from('c1'), responseTopic: 'props/reply' });
  });

  test('a persistent session left on A resumes on B with what was queued meanwhile', async () => {
    const t = await services.tokens.mint({ orgId: orgA, userId: 'roamer' });
    const opts = { username: t.username, password: t.password, protocolVersion: 5 as const, clean: false, clientId: 'roamer-1', properties: { sessionExpiryInterval: 600 } };
    const first = await connectClient(urlOf(nodes[0]!), opts);
    await first.subscribeAsync('inbox/roamer', { qos: 1 });
    await first.endAsync();
    const pub = await client(nodes[1]!, orgA);
    await pub.publishAsync('inbox/roamer', 'while away', { qos: 1 });
    const second = mqtt.connect(urlOf(nodes[1]!), { ...opts, reconnectPeriod: 0 });
    clients.push(second);
    const got = nextMessage(second, 5000);
    const connack = new Promise<boolean>((resolve, reject) => {
      second.once('connect', (p) => resolve(p.sessionPresent));
      second.once('error', reject);
    });
    expect(await connack).toBe(true);
    expect(await got).toEqual({ topic: 'inbox/roamer', payload: 'while away' });
  });

  test('organisations stay apart across nodes: the same topic in another org is not delivered', async () => {
    const other = await client(nodes[1]!, orgB);
    await other.subscribeAsync('shared/name', { qos: 1 });
    const mine = await client(nodes[1]!, orgA);
    await mine.subscribeAsync('shared/name', { qos: 1 });
    const heard: string[] = [];
    other.on('message', (topic) => heard.push(`B:${topic}`));
    const got = nextMessage(mine);
    const pub = await client(nodes[0]!, orgA);
    await pub.publishAsync('shared/name', 'for A only', { qos: 1 });
    expect(await got).toEqual({ topic: 'shared/name', payload: 'for A only' });
    await new Promise((r) => setTimeout(r, 200));
    expect(heard).toEqual([]);
  });
});
