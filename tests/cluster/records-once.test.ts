// What the cluster records, it records once (issue 16): two brokers on one Redis and one SQLite
// data dir, and a token API process beside them. A message published on A and delivered on B is
// one history entry and one message in the usage counts, not one per node; the API's session list
// shows the clients of both nodes, and a kick through the API ends a session held by the other node.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { Services } from '@signalgate/shared';
import type { RunningCli } from '../../cli/test/support.js';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { connectClient, eventually } from '../support/stack.js';

let cluster: TestCluster;
let services: Services;
let A: RunningCli;
let B: RunningCli;
let api: string;
let clients: MqttClient[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const USAGE_SAMPLE_MS = 200;
/** Longer than a history flush (100 ms) and two usage samples on every node: time for a second copy to be written. */
const SETTLE_MS = 3 * USAGE_SAMPLE_MS;

beforeAll(async () => {
  cluster = await startCluster('cluster-records', { api: true, env: { SIGNALGATE_CHANGE_POLL_MS: '50', SIGNALGATE_USAGE_SAMPLE_MS: String(USAGE_SAMPLE_MS) } });
  ({ services, clients } = cluster);
  [A, B] = cluster.nodes as [RunningCli, RunningCli];
  api = cluster.api!.summary.api_url!;
}, 120_000);
afterAll(() => cluster?.stop());

/** A fresh organisation (its own history and usage rows) whose rules let everyone publish, subscribe and keep history; and its secret key. */
async function newOrg(name: string): Promise<{ orgId: string; key: string }> {
  const { org, secretKey } = await services.orgs.create(name);
  await services.rules.setDefault(org.id, { publish: ['#'], subscribe: ['#'], presence: false, history: true });
  return { orgId: org.id, key: secretKey };
}

async function client(node: RunningCli, orgId: string, userId: string, opts: Parameters<typeof connectClient>[1] = {}): Promise<MqttClient> {
  const t = await services.tokens.mint({ orgId, userId });
  const c = await connectClient(node.summary.mqtt_url!, { username: t.username, password: t.password, protocolVersion: 5, ...opts });
  clients.push(c);
  return c;
}

async function getJson<T>(path: string, key: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${api}${path}`, { ...init, headers: { Authorization: `Bearer ${key}` } });
  if (res.status !== 200) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Publishes on A what a subscriber on B receives, `count` messages on `topic`. */
async function publishAcross(orgId: string, topic: string, count: number): Promise<void> {
  const sub = await client(B, orgId, 'reader');
  await sub.subscribeAsync(topic, { qos: 1 });
  const got: string[] = [];
  sub.on('message', (_t, payload) => got.push(payload.toString()));
  const pub = await client(A, orgId, 'writer');
  for (let i = 0; i < count; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
  await eventually(() => got.length >= count, 5000);
}

describe('recorded once across nodes', () => {
  test('message history: a message published on A and delivered on B is one history entry', async () => {
    const { orgId, key } = await newOrg('Records History');
    await publishAcross(orgId, 'news/once', 1);
    type History = { messages: { payload: string; qos: number }[] };
    const path = `/v2/history?topic=${encodeURIComponent('news/once')}`;
    await eventually(async () => (await getJson<History>(path, key)).messages.length >= 1, 5000);
    await sleep(SETTLE_MS);
    expect((await getJson<History>(path, key)).messages.map((m) => ({ payload: m.payload, qos: m.qos }))).toEqual([{ payload: 'm0', qos: 1 }]);
  });

  test('usage: three messages published on A and delivered on B count as three, in the stored samples and through the API', async () => {
    const { orgId, key } = await newOrg('Records Usage');
    const from = Date.now() - 1000;
    await publishAcross(orgId, 'metered/x', 3);
    const counted = async () => (await services.store.usage.since(orgId, from)).reduce((n, s) => n + s.messages, 0);
    await eventually(async () => (await counted()) >= 3, 5000);
    await sleep(SETTLE_MS);
    expect(await counted()).toBe(3);
    const usage = await getJson<{ bucket_seconds: number; points: { messages_per_second: number }[] }>(`/v2/admin/orgs/${orgId}/usage?minutes=1`, key);
    const messages = usage.points.reduce((n, p) => n + p.messages_per_second * usage.bucket_seconds, 0);
    expect(messages).toBeCloseTo(3, 1);
  });
});

describe('sessions across nodes, through the API', () => {
  type Sessions = { sessions: { client_id: string; broker_id: string }[] };

  test('the session list of an organisation shows a client connected to B and one connected to A', async () => {
    const { orgId, key } = await newOrg('Records Sessions');
    await client(B, orgId, 'bee', { clientId: 'on-b' });
    await client(A, orgId, 'ay', { clientId: 'on-a' });
    const listed = await eventually(async () => {
      const { sessions } = await getJson<Sessions>(`/v2/admin/orgs/${orgId}/sessions`, key);
      return sessions.length >= 2 ? sessions : null;
    }, 5000);
    expect(listed.map((s) => s.client_id).sort()).toEqual(['on-a', 'on-b']);
    // Each row names the broker holding it: two nodes, two broker ids.
    expect(new Set(listed.map((s) => s.broker_id)).size).toBe(2);
  });

  test('a kick through the API ends a session held by B (MQTT 5 DISCONNECT 0x98) and it leaves the list', async () => {
    const { orgId, key } = await newOrg('Records Kick');
    const onB = await client(B, orgId, 'kicked', { clientId: 'kick-me' });
    const bystander = await client(A, orgId, 'stays', { clientId: 'stay-on-a' });
    await eventually(async () => (await getJson<Sessions>(`/v2/admin/orgs/${orgId}/sessions`, key)).sessions.some((s) => s.client_id === 'kick-me'), 5000);
    const told = new Promise<number | undefined>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no DISCONNECT within 3 s')), 3000);
      onB.once('disconnect', (p) => { clearTimeout(timer); resolve(p.reasonCode); });
    });
    await getJson(`/v2/admin/orgs/${orgId}/sessions/kick-me/kick`, key, { method: 'POST' });
    expect(await told).toBe(0x98);
    await eventually(async () => !(await getJson<Sessions>(`/v2/admin/orgs/${orgId}/sessions`, key)).sessions.some((s) => s.client_id === 'kick-me'), 3000);
    expect(bystander.connected).toBe(true);
  });
});
