// Redis restarted mid-run, nothing acknowledged lost (issue 16): a publisher on A publishes QoS 1
// without pause while Redis (AOF, fsync always) restarts; a persistent MQTT 5 subscriber (session
// expiry 600 s, QoS 1) stays connected on B. Every message whose PUBACK the publisher got must reach
// the subscriber, duplicates allowed. One run of that scenario feeds both tests below.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { Redis } from 'ioredis';
import type { Services } from '@signalgate/shared';
import type { RunningCli } from '../../cli/test/support.js';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { connectClient, eventually } from '../support/stack.js';

let cluster: TestCluster;
let services: Services;
let A: RunningCli;
let B: RunningCli;
let clients: MqttClient[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Messages whose PUBACK the publisher received, those the subscriber on B received while connected. */
const acked = new Set<number>();
const live = new Set<number>();
let subOpts: Parameters<typeof connectClient>[1];
/** `p`, or a rejection naming `what` after `ms`: nothing in this suite waits unbounded. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}
const missingLive = () => [...acked].filter((n) => !live.has(n)).sort((x, y) => x - y);

beforeAll(async () => {
  cluster = await startCluster('cluster-restart-acked', { durable: true });
  ({ services, clients } = cluster);
  [A, B] = cluster.nodes as [RunningCli, RunningCli];
  const orgId = (await services.orgs.create('Cluster Restart Acked')).org.id;

  const st = await services.tokens.mint({ orgId, userId: 'keeper' });
  subOpts = { username: st.username, password: st.password, protocolVersion: 5, clean: false, clientId: 'keeper-1', properties: { sessionExpiryInterval: 600 } };
  const sub = await connectClient(B.summary.mqtt_url!, subOpts);
  clients.push(sub);
  await sub.subscribeAsync('feed/#', { qos: 1 });
  sub.on('message', (_t, payload) => live.add(Number(payload.toString())));
  const pt = await services.tokens.mint({ orgId, userId: 'feeder' });
  const pub = await connectClient(A.summary.mqtt_url!, { username: pt.username, password: pt.password, protocolVersion: 5 });
  clients.push(pub);

  // One QoS 1 message every 2 ms, not waiting for each PUBACK (as a busy device would); for 20 s
  // at most, should this setup fail half way.
  let publishing = true;
  const publishUntil = Date.now() + 20_000;
  const sent: Promise<void>[] = [];
  const publisher = (async () => {
    for (let n = 0; publishing && Date.now() < publishUntil; n++) {
      sent.push(pub.publishAsync(`feed/${n}`, String(n), { qos: 1 }).then(() => { acked.add(n); }, () => undefined));
      await sleep(2);
    }
    // A PUBACK that never comes is not counted as acknowledged; the wait for it is bounded.
    await within(Promise.all(sent), 5000, 'PUBACKs').catch(() => undefined);
  })();
  await eventually(() => live.size >= 50, 5000);

  // The restart. Which reconnects first after it, A's publishing connection or B's subscription
  // connection, is a race (ioredis retries both on the same backoff); measured without help, 3 of 4
  // runs lost messages. B is paused (SIGSTOP) through the restart until messages from A are seen
  // crossing the new Redis (an observer subscribed to every channel counts them), so B resubscribes
  // after them every run and the test gives one answer. The pause alone loses nothing (checked: the
  // same pause without the restart, no message missing): with Redis up, what B does not read waits
  // in its socket.
  const observer = new Redis(cluster.redis.url, { maxRetriesPerRequest: null, lazyConnect: true });
  observer.on('error', () => undefined);
  let crossed = 0;
  observer.on('pmessage', (_pattern: string, channel: string) => { if (channel.includes('/feed/')) crossed++; });
  try {
    B.child.kill('SIGSTOP');
    try {
      await within(cluster.redis.restart(), 10_000, 'Redis restart');
      await within(observer.connect().then(() => observer.psubscribe('*')), 5000, 'observer subscription');
      await eventually(() => crossed >= 20, 5000);
    } finally {
      B.child.kill('SIGCONT');
    }
  } finally {
    observer.disconnect();
  }
  await sleep(1000);
  publishing = false;
  await publisher;
  // Everything acknowledged, delivered (or the 5 s bound passes and the tests say what is missing).
  await eventually(() => missingLive().length === 0, 5000).catch(() => undefined);
}, 60_000);
afterAll(() => cluster?.stop());

describe('Redis restarted mid-run with a publisher on A and a persistent subscriber on B', () => {
  test('the publisher kept being acknowledged through the restart and the subscriber stayed connected', () => {
    expect(acked.size).toBeGreaterThan(100);
    expect(clients.every((c) => c.connected)).toBe(true);
  });

  // Failed every forced run before broker/src/cluster/replay.ts: Redis pub/sub keeps nothing, so a
  // PUBLISH reaching the restarted Redis before B's subscription connection resubscribed reached
  // no one on B, though aedes had acknowledged it (PUBACK before publishing) and queued it in the
  // subscriber's session in Redis, which aedes reads only at CONNECT. B now sends each connected
  // persistent session, from that queue, what was published since its connection dropped.
  test('every acknowledged message reached the connected subscriber on B (duplicates allowed, none lost)', () => {
    expect(missingLive()).toEqual([]);
  });

  test('every acknowledged message is in the persistent session: the subscriber reconnecting gets whatever it missed live', async () => {
    const again = await connectClient(B.summary.mqtt_url!, subOpts);
    clients.push(again);
    const replayed = new Set<number>();
    again.on('message', (_t, payload) => replayed.add(Number(payload.toString())));
    const lost = () => missingLive().filter((n) => !replayed.has(n));
    await eventually(() => lost().length === 0, 5000).catch(() => undefined);
    expect(lost()).toEqual([]);
  });
});
