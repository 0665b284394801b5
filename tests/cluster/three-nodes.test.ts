// Three brokers on one Redis are one broker (issue 16): a message published on A reaches
// subscribers on B and C once each at every QoS, a `$share` group with members on B and C takes
// each message once, MQTT 5 properties cross two hops of the cluster, and a retained message set on
// A is given to a later subscriber on C. 
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { IClientPublishOptions, IPublishPacket, MqttClient } from 'mqtt';
import type { Services } from '@signalgate/shared';
import type { RunningCli } from '../../cli/test/support.js';
import { connectClient, eventually, nextMessage } from '../support/stack.js';
import { startCluster, type TestCluster } from '../support/cluster.js';

let cluster: TestCluster;
let services: Services;
let A: RunningCli;
let B: RunningCli;
let C: RunningCli;
let orgId: string;
let clients: MqttClient[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long a test waits after the expected deliveries for any extra copy to show up. */
const SETTLE_MS = 300;

beforeAll(async () => {
  cluster = await startCluster('cluster-three', { nodes: 3 });
  ({ services, clients } = cluster);
  [A, B, C] = cluster.nodes as [RunningCli, RunningCli, RunningCli];
  orgId = (await services.orgs.create('Cluster Three')).org.id;
}, 120_000);
afterAll(() => cluster?.stop());

async function client(node: RunningCli, opts: Parameters<typeof connectClient>[1] = {}): Promise<MqttClient> {
  const t = await services.tokens.mint({ orgId, userId: `u${clients.length}` });
  const c = await connectClient(node.summary.mqtt_url!, { username: t.username, password: t.password, protocolVersion: 5, ...opts });
  clients.push(c);
  return c;
}

/** Every PUBLISH `c` receives from now on. */
function collect(c: MqttClient): IPublishPacket[] {
  const got: IPublishPacket[] = [];
  c.on('message', (_topic, _payload, packet) => got.push(packet));
  return got;
}

describe('publish on A, subscribers on B and C', () => {
  test.each([0, 1, 2] as const)('QoS %i is delivered exactly once to each subscriber, at the QoS its subscription granted', async (qos) => {
    const topic = `fan/${qos}`;
    const onB = await client(B);
    const onC = await client(C);
    // B asks for QoS 2, C for QoS 1: a QoS 2 message reaches C downgraded to 1.
    expect((await onB.subscribeAsync(topic, { qos: 2 })).map((g) => g.qos)).toEqual([2]);
    expect((await onC.subscribeAsync(topic, { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    const gotB = collect(onB);
    const gotC = collect(onC);
    const pub = await client(A);
    await pub.publishAsync(topic, `m${qos}`, { qos });
    await eventually(() => gotB.length >= 1 && gotC.length >= 1, 5000);
    await sleep(SETTLE_MS);
    const seen = (got: IPublishPacket[]) => got.map((p) => ({ topic: p.topic, payload: p.payload.toString(), qos: p.qos }));
    expect(seen(gotB)).toEqual([{ topic, payload: `m${qos}`, qos: Math.min(qos, 2) }]);
    expect(seen(gotC)).toEqual([{ topic, payload: `m${qos}`, qos: Math.min(qos, 1) }]);
  });

  // Every node receives every message of the group's filter; the nodes agree on the one that
  // delivers it (broker/src/cluster/sharedAcrossNodes.ts). Before that, B's and C's members each got
  // all of job-0…job-9: 20 deliveries for 10 messages.
  test('a $share group with members on B and C takes each message exactly once across the group', async () => {
    const memberB = await client(B);
    const memberC = await client(C);
    await memberB.subscribeAsync('$share/workers/jobs/+', { qos: 1 });
    await memberC.subscribeAsync('$share/workers/jobs/+', { qos: 1 });
    await sleep(200); // membership reaches the other nodes in a Redis round trip or two
    const got = [memberB, memberC].map(collect);
    const pub = await client(A);
    const sent = Array.from({ length: 10 }, (_, i) => `job-${i}`);
    for (const [i, payload] of sent.entries()) await pub.publishAsync(`jobs/${i}`, payload, { qos: 1 });
    const payloads = () => got.flat().map((p) => p.payload.toString()).sort();
    await eventually(() => payloads().length >= sent.length, 5000);
    await sleep(SETTLE_MS);
    expect(payloads()).toEqual([...sent].sort());
  });

  test('MQTT 5 properties published on A arrive on C: user properties, content type, response topic, correlation data, message expiry', async () => {
    const onC = await client(C);
    await onC.subscribeAsync('props/c', { qos: 1 });
    const got = new Promise<IPublishPacket>((resolve) => onC.once('message', (_t, _p, packet) => resolve(packet)));
    const pub = await client(A);
    const properties: IClientPublishOptions['properties'] = {
      userProperties: { trace: 'abc', tenant: 'three' },
      contentType: 'application/json',
      responseTopic: 'props/reply',
      correlationData: Buffer.from('corr-1'),
      messageExpiryInterval: 120,
    };
    await pub.publishAsync('props/c', '{"x":1}', { qos: 1, properties });
    const packet = await got;
    const { messageExpiryInterval, ...rest } = packet.properties ?? {};
    expect(rest).toMatchObject({
      userProperties: { trace: 'abc', tenant: 'three' },
      contentType: 'application/json',
      responseTopic: 'props/reply',
      correlationData: Buffer.from('corr-1'),
    });
    // The broker forwards the time left (MQTT 5 §3.3.2.3.3): at most what was sent, at least what a
    // few seconds of crossing the cluster can have used.
    expect(messageExpiryInterval).toBeGreaterThanOrEqual(115);
    expect(messageExpiryInterval).toBeLessThanOrEqual(120);
  });

  test('a retained message published on A is given to a later subscriber on C', async () => {
    const pub = await client(A);
    await pub.publishAsync('rooms/lobby/state', 'lit', { qos: 1, retain: true });
    const onC = await client(C);
    const got = nextMessage(onC, 5000);
    const retainFlag = new Promise<boolean>((resolve) => onC.once('message', (_t, _p, packet) => resolve(packet.retain)));
    await onC.subscribeAsync('rooms/+/state', { qos: 1 });
    expect(await got).toEqual({ topic: 'rooms/lobby/state', payload: 'lit' });
    expect(await retainFlag).toBe(true);
  });
});
