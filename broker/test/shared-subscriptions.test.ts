// Shared subscriptions `$share/<group>/<filter>` (MQTT 5 §4.8.2, and 3.1.1 as EMQX, HiveMQ and
// Mosquitto serve them): each message goes to one member of the group, round robin among the
// connected members, per organisation; the filter is authorised as an ordinary subscription.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import {
  connectWithConnack, eventually, inbox, onTopic, serverDisconnect, startTestBroker, subackCodes, whenClosed, type Received, type TestBroker,
} from './support/harness.js';

let tb: TestBroker;
let org: string;
let other: string;

beforeAll(async () => {
  tb = await startTestBroker('shared-subscriptions');
  org = await tb.newOrg({ rules: { publish: ['#', '$spaces/#'], subscribe: ['jobs/#', 'chat/#', '$spaces/#'], presence: true, history: false } });
  other = await tb.newOrg({ rules: { publish: ['#'], subscribe: ['jobs/#'], presence: true, history: false } });
});
afterAll(async () => tb?.stop());

/** Publishes `n` messages `prefix-0…` on `topic` at QoS 1 (each acknowledged, so in order). */
async function publishMany(c: MqttClient, topic: string, prefix: string, n: number): Promise<string[]> {
  const sent: string[] = [];
  for (let i = 0; i < n; i++) {
    sent.push(`${prefix}-${i}`);
    await c.publishAsync(topic, `${prefix}-${i}`, { qos: 1 });
  }
  return sent;
}

const payloadsOf = (box: { messages: Received[] }, prefix: string) => box.messages.filter((m) => m.payload.startsWith(`${prefix}-`)).map((m) => m.payload);

describe('a group of three members', () => {
  test('receives each message exactly once, in turns, on the topic it was published on; a plain subscriber gets every one', async () => {
    const members = [
      await tb.connect(tb.urls.mqtt, await tb.mint(org, 'worker-1')),
      await tb.connect(tb.urls.ws, await tb.mint(org, 'worker-2'), { protocolVersion: 5 }),
      await tb.connect(tb.urls.mqtt, await tb.mint(org, 'worker-3'), { protocolVersion: 5 }),
    ];
    for (const m of members) expect(await subackCodes(m, [['$share/workers/jobs/#', 1]])).toEqual([1]);
    const boxes = members.map(inbox);
    const plain = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'watcher'));
    await plain.subscribeAsync('jobs/#', { qos: 1 });
    const plainBox = inbox(plain);
    const producer = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'producer'));

    const sent = await publishMany(producer, 'jobs/resize', 'three', 30);
    await plainBox.waitFor(onTopic('jobs/resize', 'three-29'));
    await eventually(() => boxes.reduce((n, b) => n + payloadsOf(b, 'three').length, 0) >= 30);
    const got = boxes.map((b) => payloadsOf(b, 'three'));
    expect(got.flat().sort()).toEqual([...sent].sort());
    expect(got.map((g) => g.length)).toEqual([10, 10, 10]);
    for (const b of boxes) for (const m of b.messages) expect(m.topic).toBe('jobs/resize');
    expect(payloadsOf(plainBox, 'three')).toEqual(sent);
  });

  test('a member that unsubscribes or disconnects leaves the turns to the others; a group with no member left drops the message', async () => {
    const a = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'leave-a'), { protocolVersion: 5 });
    const b = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'leave-b'));
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'leave-c'));
    for (const m of [a, b, c]) await m.subscribeAsync('$share/leavers/jobs/leave', { qos: 1 });
    const boxA = inbox(a);
    const boxB = inbox(b);
    const boxC = inbox(c);
    const producer = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'leave-producer'));

    const unsub = await a.unsubscribeAsync('$share/leavers/jobs/leave');
    expect((unsub as { reasonCode?: number } | undefined)?.reasonCode ?? 0).toBe(0);
    await publishMany(producer, 'jobs/leave', 'two', 6);
    await eventually(() => payloadsOf(boxB, 'two').length + payloadsOf(boxC, 'two').length >= 6);
    expect([payloadsOf(boxB, 'two').length, payloadsOf(boxC, 'two').length]).toEqual([3, 3]);

    c.end(true);
    await whenClosed(c);
    const sent = await publishMany(producer, 'jobs/leave', 'one', 4);
    await boxB.waitFor(onTopic('jobs/leave', 'one-3'));
    expect(payloadsOf(boxB, 'one')).toEqual(sent);

    b.end(true);
    await whenClosed(b);
    await publishMany(producer, 'jobs/leave', 'none', 2);
    // A new member gets what comes after it joined, not what was dropped before.
    const d = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'leave-d'));
    await d.subscribeAsync('$share/leavers/jobs/leave', { qos: 1 });
    const boxD = inbox(d);
    await producer.publishAsync('jobs/leave', 'after', { qos: 1 });
    await boxD.waitFor(onTopic('jobs/leave', 'after'));
    expect(boxD.messages.map((m) => m.payload)).toEqual(['after']);
    expect([...boxA.messages, ...boxC.messages].filter((m) => m.payload.startsWith('none') || m.payload === 'after')).toEqual([]);
  });

  test('two groups on one filter each receive every message once; a client in two matching groups gets one copy', async () => {
    const g1 = [await tb.connect(tb.urls.mqtt, await tb.mint(org, 'g1-a')), await tb.connect(tb.urls.mqtt, await tb.mint(org, 'g1-b'))];
    const g2 = [await tb.connect(tb.urls.mqtt, await tb.mint(org, 'g2-a'))];
    for (const m of g1) await m.subscribeAsync('$share/g1/jobs/multi', { qos: 1 });
    await g2[0]!.subscribeAsync('$share/g2/jobs/multi', { qos: 1 });
    // same group name, other filter: its own group (ShareName and filter identify it, §4.8.2)
    await g2[0]!.subscribeAsync('$share/g1/jobs/+', { qos: 1 });
    const b1 = g1.map(inbox);
    const b2 = inbox(g2[0]!);
    const producer = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'multi-producer'));
    const sent = await publishMany(producer, 'jobs/multi', 'multi', 4);
    await eventually(() => b1.reduce((n, b) => n + payloadsOf(b, 'multi').length, 0) >= 4 && payloadsOf(b2, 'multi').length >= 4);
    expect(b1.flatMap((b) => payloadsOf(b, 'multi')).sort()).toEqual(sent);
    expect(b1.map((b) => payloadsOf(b, 'multi').length)).toEqual([2, 2]);
    // g2-a is the only member of g2 and of g1-on-jobs/+: aedes sends a client one copy of a message
    // however many of its subscriptions match (lib/client.js dedupe), as for overlapping filters.
    await producer.publishAsync('jobs/multi', 'sentinel', { qos: 1 });
    await b2.waitFor(onTopic('jobs/multi', 'sentinel'));
    expect(payloadsOf(b2, 'multi')).toEqual(sent);
  });
});

describe('organisations', () => {
  test("groups of the same name and filter in two organisations never mix", async () => {
    const mine = [await tb.connect(tb.urls.mqtt, await tb.mint(org, 'iso-1')), await tb.connect(tb.urls.mqtt, await tb.mint(org, 'iso-2'))];
    const theirs = [await tb.connect(tb.urls.mqtt, await tb.mint(other, 'iso-1')), await tb.connect(tb.urls.mqtt, await tb.mint(other, 'iso-2'))];
    for (const m of [...mine, ...theirs]) await m.subscribeAsync('$share/iso/jobs/#', { qos: 1 });
    const mineBoxes = mine.map(inbox);
    const theirBoxes = theirs.map(inbox);
    const producer = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'iso-producer'));
    const theirProducer = await tb.connect(tb.urls.mqtt, await tb.mint(other, 'iso-producer'));
    const sent = await publishMany(producer, 'jobs/iso', 'mine', 6);
    const theirSent = await publishMany(theirProducer, 'jobs/iso', 'theirs', 6);
    await eventually(() => mineBoxes.reduce((n, b) => n + b.messages.length, 0) >= 6 && theirBoxes.reduce((n, b) => n + b.messages.length, 0) >= 6);
    expect(mineBoxes.flatMap((b) => b.messages.map((m) => m.payload)).sort()).toEqual(sent);
    expect(theirBoxes.flatMap((b) => b.messages.map((m) => m.payload)).sort()).toEqual(theirSent);
    expect(mineBoxes.map((b) => b.messages.length)).toEqual([3, 3]);
    expect(theirBoxes.map((b) => b.messages.length)).toEqual([3, 3]);
  });
});

describe('rights', () => {
  test('the shared filter is authorised as an ordinary one: 3.1.1 0x80, MQTT 5 0x87; reserved spaces stay refused', async () => {
    const v4 = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'rights-v4'));
    expect(await subackCodes(v4, ['$share/g/jobs/#', '$share/g/admin/#', '$share/g/#', '$share/g/$SYS/#', '$share/g/$share/h/jobs/#', '$share/g/$spaces/s1/#']))
      .toEqual([0, 0x80, 0x80, 0x80, 0x80, 0]);
    const v5 = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'rights-v5'), { protocolVersion: 5 });
    expect(await subackCodes(v5, ['$share/g/jobs/#', '$share/g/admin/#'])).toEqual([0, 0x87]);
  });

  test('a token whose scopes narrow the filter is refused the share; `$share/…/$spaces` works for $ application topics', async () => {
    const narrow = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'narrow', { acl: { publish: [], subscribe: ['jobs/mine/#'] } }));
    expect(await subackCodes(narrow, ['$share/g/jobs/#', '$share/g/jobs/mine/#'])).toEqual([0x80, 0]);
    const a = await tb.connect(tb.urls.ws, await tb.mint(org, 'space-a'), { protocolVersion: 5 });
    const b = await tb.connect(tb.urls.ws, await tb.mint(org, 'space-b'), { protocolVersion: 5 });
    for (const m of [a, b]) await m.subscribeAsync('$share/cursors/$spaces/s1/#', { qos: 0 });
    const boxes = [a, b].map(inbox);
    const producer = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'space-producer'));
    await publishMany(producer, '$spaces/s1/cursor', 'cur', 4);
    await eventually(() => boxes.reduce((n, box) => n + box.messages.length, 0) >= 4);
    expect(boxes.map((box) => box.messages.length)).toEqual([2, 2]);
    expect(boxes[0]!.messages[0]!.topic).toBe('$spaces/s1/cursor');
  });

  test('a rule change that takes the filter away from one member removes it from the group; the other takes every message', async () => {
    const org2 = await tb.newOrg({ rules: { publish: ['#'], subscribe: ['jobs/#'], presence: true, history: false } });
    await tb.services.rules.create(org2, 'workers', { publish: ['#'], subscribe: ['jobs/#'], presence: true, history: false });
    await tb.services.integrations.create(org2, 'worker-app', 'workers');
    const a = await tb.connect(tb.urls.mqtt, await tb.mint(org2, 'change-a', { integrationId: 'worker-app' }), { protocolVersion: 5 });
    const b = await tb.connect(tb.urls.mqtt, await tb.mint(org2, 'change-b'));
    for (const m of [a, b]) await m.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
    const boxA = inbox(a);
    const boxB = inbox(b);
    const producer = await tb.connect(tb.urls.mqtt, await tb.mint(org2, 'change-producer'));
    await tb.services.rules.update(org2, 'workers', { publish: ['#'], subscribe: ['jobs/#'], denySubscribe: ['jobs/secret/#'], presence: true, history: false });
    const clients = (tb.broker.aedes as unknown as { clients: Record<string, { subscriptions: Record<string, unknown> }> }).clients;
    await eventually(() => Object.keys(clients[`${org2}/${a.options.clientId}`]?.subscriptions ?? { x: 1 }).length === 0);
    const sent = await publishMany(producer, 'jobs/open', 'chg', 4);
    await boxB.waitFor(onTopic('jobs/open', 'chg-3'));
    expect(payloadsOf(boxB, 'chg')).toEqual(sent);
    expect(payloadsOf(boxA, 'chg')).toEqual([]);
  });
});

describe('subscription options and sessions', () => {
  test('each member receives at no more than the QoS it was granted', async () => {
    const q0 = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'qos-0'), { protocolVersion: 5 });
    const q2 = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'qos-2'), { protocolVersion: 5 });
    await q0.subscribeAsync('$share/qos/jobs/qos', { qos: 0 });
    await q2.subscribeAsync('$share/qos/jobs/qos', { qos: 2 });
    // Each also holds a plain filter elsewhere at another QoS, so its cap must come from the shared grant.
    await q0.subscribeAsync('chat/q0', { qos: 2 });
    await q2.subscribeAsync('chat/q2', { qos: 0 });
    const b0 = inbox(q0);
    const b2 = inbox(q2);
    const producer = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'qos-producer'));
    await publishMany(producer, 'jobs/qos', 'q', 4);
    await eventually(() => b0.messages.length + b2.messages.length >= 4);
    expect(b0.messages.map((m) => m.qos)).toEqual([0, 0]);
    expect(b2.messages.map((m) => m.qos)).toEqual([1, 1]);
  });

  test('no retained message is sent when a shared subscription is made', async () => {
    const producer = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'ret-producer'));
    await producer.publishAsync('jobs/retained', 'kept', { qos: 1, retain: true });
    const plain = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'ret-plain'));
    const plainBox = inbox(plain);
    await plain.subscribeAsync('jobs/retained');
    await plainBox.waitFor(onTopic('jobs/retained', 'kept'));
    const member = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'ret-member'));
    const box = inbox(member);
    await member.subscribeAsync('$share/ret/jobs/retained', { qos: 1 });
    await producer.publishAsync('jobs/retained', 'live', { qos: 1 });
    await box.waitFor(onTopic('jobs/retained', 'live'));
    expect(box.messages.map((m) => m.payload)).toEqual(['live']);
    await producer.publishAsync('jobs/retained', '', { qos: 1, retain: true });
  });

  test('a persistent session keeps its shared subscription: the member is back in the group when it reconnects', async () => {
    const token = await tb.mint(org, 'persistent-member');
    const opts = { clientId: 'persistent-shared', clean: false } as const;
    const first = await tb.connect(tb.urls.mqtt, token, opts);
    await first.subscribeAsync('$share/persist/jobs/persist', { qos: 1 });
    first.end(true);
    await whenClosed(first);
    const again = await tb.connect(tb.urls.mqtt, token, opts);
    const box = inbox(again);
    const producer = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'persist-producer'));
    await publishMany(producer, 'jobs/persist', 'p', 3);
    await box.waitFor(onTopic('jobs/persist', 'p-2'));
    expect(box.messages.map((m) => m.payload)).toEqual(['p-0', 'p-1', 'p-2']);
    // Acknowledged messages leave the session's queue: a third connection gets none of them again.
    again.end(true);
    await whenClosed(again);
    const third = await tb.connect(tb.urls.mqtt, token, opts);
    const box3 = inbox(third);
    await producer.publishAsync('jobs/persist', 'p-3', { qos: 1 });
    await box3.waitFor(onTopic('jobs/persist', 'p-3'));
    expect(box3.messages.map((m) => m.payload)).toEqual(['p-3']);
  });

  test('an MQTT 5 CONNACK announces shared subscriptions', async () => {
    const { client, connack } = await connectWithConnack(tb.urls.mqtt, { ...(await tb.mint(org, 'announce')), protocolVersion: 5 });
    expect(connack.properties?.sharedSubscriptionAvailable).toBe(true);
    client.end(true);
  });
});

describe('malformed shared filters', () => {
  // (mqtt.js will not send a `+` or `#` inside a level; tests/hostile/mqtt5-fuzz.test.ts sends those raw.)
  test.each(['$share/g', '$share//jobs/x', '$share/g/'])('%s ends the connection', async (filter) => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'malformed'), { reconnectPeriod: 0 });
    c.subscribe(filter, () => {});
    await whenClosed(c);
  });

  test('No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'no-local'), { protocolVersion: 5, reconnectPeriod: 0 });
    const disconnect = serverDisconnect(c);
    c.subscribe('$share/g/jobs/nl', { qos: 1, nl: true }, () => {});
    expect((await disconnect).reasonCode).toBe(0x82);
  });
});
