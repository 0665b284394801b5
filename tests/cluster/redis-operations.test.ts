// A Redis cluster of two broker processes in operation (issue 16): a revoke from the API side
// ends the token's sessions on every node, a Redis restart mid-run (clients stay connected, the
// brokers reconnect, retained messages and subscriptions persist),
// and a broker that cannot reach Redis at start says so and exits.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { Services } from '@signalgate/shared';
import { runCli, startCli, tempDataDir, type RunningCli } from '../../cli/test/support.js';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { connectClient, eventually, nextMessage } from '../support/stack.js';
import { startRedis, type PrivateRedis } from '../support/redis.js';

let cluster: TestCluster;
let redis: PrivateRedis;
let services: Services;
let nodes: RunningCli[];
let orgId: string;
let clients: MqttClient[];

beforeAll(async () => {
  cluster = await startCluster('cluster-ops', { durable: true, env: { SIGNALGATE_CHANGE_POLL_MS: '50' } });
  ({ redis, services, nodes, clients } = cluster);
  orgId = (await services.orgs.create('Cluster Ops')).org.id;
}, 120_000);
afterAll(() => cluster?.stop());

async function client(node: RunningCli, userId: string, opts: Parameters<typeof connectClient>[1] = {}) {
  const t = await services.tokens.mint({ orgId, userId });
  const c = await connectClient(node.summary.mqtt_url!, { username: t.username, password: t.password, protocolVersion: 5, ...opts });
  clients.push(c);
  return { c, t };
}

describe('operations', () => {
  test('revoking a token ends its sessions on every node (DISCONNECT 0x87 under MQTT 5)', async () => {
    const t = await services.tokens.mint({ orgId, userId: 'revoked-user' });
    const onA = await connectClient(nodes[0]!.summary.mqtt_url!, { username: t.username, password: t.password, protocolVersion: 5 });
    const onB = await connectClient(nodes[1]!.summary.mqtt_url!, { username: t.username, password: t.password, protocolVersion: 5 });
    clients.push(onA, onB);
    const reasons = Promise.all([onA, onB].map((c) => new Promise<number | undefined>((resolve) => c.once('disconnect', (p) => resolve(p.reasonCode)))));
    await services.tokens.revoke(orgId, t.tokenId);
    expect(await reasons).toEqual([0x87, 0x87]);
  });

  test('Redis restarted mid-run: clients stay connected, no broker crashes, messages flow again, retained messages and subscriptions persist', async () => {
    const { c: sub } = await client(nodes[1]!, 'listener');
    await sub.subscribeAsync('after/#', { qos: 1 });
    const { c: pub } = await client(nodes[0]!, 'talker');
    await pub.publishAsync('kept/flag', 'up', { qos: 1, retain: true });

    await redis.restart();

    // The brokers' connections come back by themselves (MQTT clients never notice), and messages
    // flow again once the other node's subscription connection is back. A message published in
    // between can be missed by that node (Redis pub/sub keeps nothing): README, Running a cluster.
    expect(sub.connected && pub.connected).toBe(true);
    let n = 0;
    await eventually(async () => {
      const got = nextMessage(sub, 500).catch(() => null);
      await pub.publishAsync(`after/${++n}`, 'still here', { qos: 1 });
      return (await got) !== null;
    }, 10_000);
    expect(sub.connected && pub.connected).toBe(true);
    const { c: late } = await client(nodes[1]!, 'late');
    const retained = nextMessage(late, 5000);
    await late.subscribeAsync('kept/#', { qos: 1 });
    expect(await retained).toEqual({ topic: 'kept/flag', payload: 'up' });
  }, 30_000);

  test('a node leaving (SIGTERM) tells its MQTT 5 clients DISCONNECT 0x8B; a persistent session then resumes on another node with what was queued', async () => {
    const leaving = await startCli(cluster.dataDir, ['--broker-only', '--workers', '1'], { ...cluster.storeEnv, SIGNALGATE_REDIS_URL: redis.url, SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false' });
    const t = await services.tokens.mint({ orgId, userId: 'drained' });
    const opts = { username: t.username, password: t.password, protocolVersion: 5 as const, clean: false, clientId: 'drained-1', properties: { sessionExpiryInterval: 600 } };
    const onLeaving = await connectClient(leaving.summary.mqtt_url!, opts);
    clients.push(onLeaving);
    await onLeaving.subscribeAsync('drain/#', { qos: 1 });
    const told = new Promise<number | undefined>((resolve) => onLeaving.once('disconnect', (p) => resolve(p.reasonCode)));
    expect(await leaving.stop()).toBe(0);
    expect(await told).toBe(0x8b);
    const { c: pub } = await client(nodes[0]!, 'drain-publisher');
    await pub.publishAsync('drain/1', 'queued while away', { qos: 1 });
    const back = await connectClient(nodes[1]!.summary.mqtt_url!, { ...opts, clean: false });
    clients.push(back);
    expect(await nextMessage(back, 5000)).toEqual({ topic: 'drain/1', payload: 'queued while away' });
  }, 30_000);

  test('a broker that cannot reach Redis at start exits with an error naming SIGNALGATE_REDIS_URL (without its password)', async () => {
    const r = await runCli(tempDataDir('cluster-noredis'), ['start', '--broker-only', '--workers', '1', '--json'], {
      SIGNALGATE_REDIS_URL: 'redis://:hunter2@127.0.0.1:1', SIGNALGATE_API_PORT: 'off', SIGNALGATE_MQTT_PORT: '0', SIGNALGATE_WS_PORT: 'off',
      SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot reach Redis at redis://:***@127.0.0.1:1 (SIGNALGATE_REDIS_URL)');
    expect(r.stderr).not.toContain('hunter2');
  }, 30_000);
});

describe('/readyz of a token API in a cluster', () => {
  test('answers 200 while Redis answers and 503 not_ready while it does not', async () => {
    const own = await startRedis();
    const api = await startCli(tempDataDir('cluster-readyz'), ['--api-only', '--workers', '1'], { SIGNALGATE_REDIS_URL: own.url });
    try {
      const ready = await fetch(`${api.summary.api_url}/readyz`);
      expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
      await own.stop();
      const gone = await fetch(`${api.summary.api_url}/readyz`);
      expect([gone.status, ((await gone.json()) as { error: string }).error]).toEqual([503, 'not_ready']);
    } finally {
      await api.stop();
      await own.stop();
    }
  }, 30_000);
});
