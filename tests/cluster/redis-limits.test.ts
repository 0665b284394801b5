// An organisation's rates and quotas are the cluster's, not each node's (issue 16): message rates
// are leased from one Redis bucket (broker/src/cluster/orgRates.ts), the connect rate is split
// among the live nodes, retained quotas are counted in Redis (cluster/retainedQuota.ts), and every
// node's /metrics shows the cluster's gauges. Limits are small so that each test is a few seconds;
// each bound below is what one process would allow, and per-node limits would allow about twice it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { OrgLimits, Services } from '@signalgate/shared';
import { startCli, type RunningCli } from '../../cli/test/support.js';
import { connectClient } from '../support/stack.js';
import { startCluster, type TestCluster } from '../support/cluster.js';

const HEARTBEAT_MS = 300;
let cluster: TestCluster;
let services: Services;
let nodes: RunningCli[];
let clients: MqttClient[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  cluster = await startCluster('cluster-limits', { env: { SIGNALGATE_CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS) } });
  ({ services, nodes, clients } = cluster);
  await sleep(2 * HEARTBEAT_MS); // each node has seen the other beat
}, 120_000);
afterAll(() => cluster?.stop());

async function orgWith(name: string, limits: Partial<OrgLimits>): Promise<string> {
  const orgId = (await services.orgs.create(name)).org.id;
  await services.orgs.update(orgId, { limits });
  return orgId;
}

async function connectTo(node: number, orgId: string, userId: string, clientId?: string): Promise<MqttClient> {
  const t = await services.tokens.mint({ orgId, userId });
  const c = await connectClient(nodes[node]!.summary.mqtt_url!, { username: t.username, password: t.password, protocolVersion: 5, reconnectPeriod: 0, ...(clientId ? { clientId } : {}) });
  clients.push(c);
  return c;
}

/** Each client publishes QoS 1, one at a time, for `ms`: how many were accepted (PUBACK 0x00) and refused (0x97). */
async function publishFor(publishers: MqttClient[], ms: number, payload = 'x'): Promise<{ accepted: number; refused: number }[]> {
  const end = Date.now() + ms;
  return Promise.all(publishers.map(async (c, i) => {
    const n = { accepted: 0, refused: 0 };
    while (Date.now() < end) {
      try {
        await c.publishAsync(`load/${i}`, payload, { qos: 1 });
        n.accepted++;
      } catch (err) {
        expect((err as { code?: number }).code).toBe(0x97);
        n.refused++;
      }
    }
    return n;
  }));
}

const sum = (ns: { accepted: number }[]) => ns.reduce((t, n) => t + n.accepted, 0);

describe('rate limits hold across the cluster', () => {
  // A bucket lets out at most its burst (one second's rate) plus the rate per second: 20 + 20 × 2
  // = 60 in 2 s, whoever asks. 10% over covers the last PUBLISH's round trip after the window; a
  // limit per node would accept ~120. The floor (3/4 of it) shows that leased tokens are not lost.
  test('max_messages_per_second: publishers on A and B together get no more than the organisation\'s limit', async () => {
    const orgId = await orgWith('Cluster Rates', { maxMessagesPerSecond: 20 });
    const counts = await publishFor([await connectTo(0, orgId, 'pa'), await connectTo(1, orgId, 'pb')], 2000);
    expect(counts.every((n) => n.accepted > 0 && n.refused > 0)).toBe(true);
    expect(sum(counts)).toBeLessThanOrEqual(66);
    expect(sum(counts)).toBeGreaterThanOrEqual(45);
  }, 20_000);

  test('a publisher alone on one node gets the whole limit, not a share of it', async () => {
    const orgId = await orgWith('Cluster Rates Alone', { maxMessagesPerSecond: 20 });
    const counts = await publishFor([await connectTo(0, orgId, 'alone')], 2000);
    expect(sum(counts)).toBeLessThanOrEqual(66);
    expect(sum(counts)).toBeGreaterThanOrEqual(45);
  }, 20_000);

  test('token_messages_per_second: one token connected on A and B gets no more than its limit', async () => {
    const orgId = await orgWith('Cluster Token Rates', { tokenMessagesPerSecond: 20 });
    const t = await services.tokens.mint({ orgId, userId: 'two-devices' });
    const on = async (node: number, clientId: string) => {
      const c = await connectClient(nodes[node]!.summary.mqtt_url!, { username: t.username, password: t.password, protocolVersion: 5, reconnectPeriod: 0, clientId });
      clients.push(c);
      return c;
    };
    const counts = await publishFor([await on(0, 'dev-a'), await on(1, 'dev-b')], 2000);
    expect(sum(counts)).toBeLessThanOrEqual(66);
    expect(sum(counts)).toBeGreaterThanOrEqual(45);
  }, 20_000);

  test('max_bytes_per_second: the bytes of both nodes count against one budget', async () => {
    // topic `load/i` (6) + 94 bytes = 100 per message: 2,000 B/s is 20 messages a second.
    const orgId = await orgWith('Cluster Byte Rates', { maxBytesPerSecond: 2000 });
    const counts = await publishFor([await connectTo(0, orgId, 'ba'), await connectTo(1, orgId, 'bb')], 2000, 'y'.repeat(94));
    expect(sum(counts)).toBeLessThanOrEqual(66);
    expect(sum(counts)).toBeGreaterThanOrEqual(45);
  }, 20_000);

  test('max_connects_per_second: CONNECTs to A and B together are admitted at the organisation\'s rate (each node its share)', async () => {
    // 4 a second on 2 nodes: 2 each, from full buckets, plus what ~0.5 s of attempts refill (~1);
    // per-node limits would admit 8 or more.
    const orgId = await orgWith('Cluster Connect Rate', { maxConnectsPerSecond: 4 });
    const outcomes: (number | 'ok')[] = [];
    for (let i = 0; i < 16; i++) {
      outcomes.push(await connectTo(i % 2, orgId, `u${i}`, `rate-${i}`).then(() => 'ok' as const, (err: { code?: number }) => err.code ?? -1));
    }
    expect(outcomes.filter((o) => o !== 'ok').every((o) => o === 0x9f)).toBe(true);
    expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThanOrEqual(3);
    expect(outcomes.filter((o) => o === 'ok').length).toBeLessThanOrEqual(6);
  }, 20_000);
});

describe('retained quotas hold across the cluster', () => {
  test('retained messages kept through A count on B: past max_retained_messages B answers PUBACK 0x97; replacing or clearing still fits', async () => {
    const orgId = await orgWith('Cluster Retained', { maxRetainedMessages: 3 });
    const a = await connectTo(0, orgId, 'ra');
    const b = await connectTo(1, orgId, 'rb');
    for (const n of [1, 2, 3]) await a.publishAsync(`kept/${n}`, `v${n}`, { qos: 1, retain: true });
    await expect(b.publishAsync('kept/4', 'v4', { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x97 });
    await b.publishAsync('kept/1', 'replaced', { qos: 1, retain: true });
    await b.publishAsync('kept/2', '', { qos: 1, retain: true }); // clears it
    await b.publishAsync('kept/4', 'v4', { qos: 1, retain: true });
    await expect(a.publishAsync('kept/5', 'v5', { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x97 });
    // What the quota counted is what the cluster keeps: a new subscriber on A gets 3 of them.
    const reader = await connectTo(0, orgId, 'reader');
    const got = new Map<string, string>();
    reader.on('message', (topic, payload) => got.set(topic, payload.toString()));
    await reader.subscribeAsync('kept/#', { qos: 1 });
    await sleep(500);
    expect(Object.fromEntries(got)).toEqual({ 'kept/1': 'replaced', 'kept/3': 'v3', 'kept/4': 'v4' });
  });

  test('max_retained_bytes counts across nodes too', async () => {
    // `big/n` (5) + 95 = 100 bytes each: 250 holds two.
    const orgId = await orgWith('Cluster Retained Bytes', { maxRetainedBytes: 250 });
    const a = await connectTo(0, orgId, 'rba');
    const b = await connectTo(1, orgId, 'rbb');
    await a.publishAsync('big/1', 'z'.repeat(95), { qos: 1, retain: true });
    await b.publishAsync('big/2', 'z'.repeat(95), { qos: 1, retain: true });
    await expect(a.publishAsync('big/3', 'z'.repeat(95), { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x97 });
  });
});

describe("the cluster's gauges on every node's /metrics", () => {
  test('signalgate_cluster_nodes and signalgate_cluster_connections count every live node and its connections', async () => {
    for (const c of clients.splice(0)) c.end(true);
    // A third node with the token API beside its broker, whose /metrics this test reads.
    const withApi = await startCli(cluster.dataDir, ['--workers', '1'], {
      ...cluster.storeEnv, SIGNALGATE_REDIS_URL: cluster.redis.url, SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false', SIGNALGATE_CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS),
    });
    try {
      nodes = [...cluster.nodes, withApi];
      const orgId = await orgWith('Cluster Gauges', {});
      await connectTo(0, orgId, 'g1');
      await connectTo(0, orgId, 'g2');
      await connectTo(1, orgId, 'g3');
      await connectTo(2, orgId, 'g4');
      const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      let seen = { nodes: NaN, connections: NaN };
      for (let waited = 0; waited < 5000 && !(seen.nodes === 3 && seen.connections === 4); waited += HEARTBEAT_MS) {
        await sleep(HEARTBEAT_MS);
        const text = await (await fetch(`${withApi.summary.api_url}/metrics`)).text();
        seen = { nodes: gauge(text, 'signalgate_cluster_nodes'), connections: gauge(text, 'signalgate_cluster_connections') };
      }
      expect(seen).toEqual({ nodes: 3, connections: 4 });
    } finally {
      for (const c of clients.splice(0)) c.end(true);
      nodes = cluster.nodes;
      await withApi.stop();
    }
  }, 30_000);
});
