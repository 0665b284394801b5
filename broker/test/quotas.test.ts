// Per-organisation quotas (issue 14, item 4): subscriptions per connection and retained messages
// (count and bytes) per organisation, each with its refusal (SUBACK / PUBACK 0x97 under MQTT 5,
// 0x80 / a plain PUBACK under 3.1.1), while other organisations and other filters carry on.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { connectWithConnack, eventually, inbox, onTopic, pubackCode, sleep, startTestBroker, subackCodes, whenClosed, type TestBroker } from './support/harness.js';

let tb: TestBroker;

beforeAll(async () => {
  tb = await startTestBroker('quotas');
});
afterAll(async () => tb?.stop());

describe('max_subscriptions_per_connection', () => {
  test('past the quota a new filter is refused (MQTT 5: 0x97, 3.1.1: 0x80); held filters, re-subscribes and unsubscribes count right', async () => {
    const org = await tb.newOrg({ limits: { maxSubscriptionsPerConnection: 3 } });
    const v5 = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'v5'), { protocolVersion: 5 });
    expect(await subackCodes(v5, ['a/1', 'a/2', 'a/3', 'a/4', 'a/5'])).toEqual([0, 0, 0, 0x97, 0x97]);
    // The same filter again is not a new subscription.
    expect(await subackCodes(v5, [['a/1', 1]])).toEqual([1]);
    await v5.unsubscribeAsync('a/2');
    expect(await subackCodes(v5, ['a/4', 'a/5'])).toEqual([0, 0x97]);
    const v4 = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'v4'));
    expect(await subackCodes(v4, ['b/1', 'b/2', 'b/3', 'b/4'])).toEqual([0, 0, 0, 0x80]);
    // The quota is per connection: another connection has its own.
    const other = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'other'), { protocolVersion: 5 });
    expect(await subackCodes(other, ['c/1', 'c/2', 'c/3'])).toEqual([0, 0, 0]);
  });

  test('a new organisation gets the default (1000), and null removes the quota', async () => {
    const org = await tb.newOrg();
    expect((await tb.services.orgs.get(org)).limits.maxSubscriptionsPerConnection).toBe(1000);
    await tb.services.orgs.update(org, { limits: { maxSubscriptionsPerConnection: null } });
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'many'), { protocolVersion: 5 });
    // (two packets: one may carry at most SIGNALGATE_MAX_FILTERS_PER_PACKET, 1000)
    const codes = [
      ...(await subackCodes(c, Array.from({ length: 550 }, (_, i) => `many/${i}`))),
      ...(await subackCodes(c, Array.from({ length: 550 }, (_, i) => `many/${550 + i}`))),
    ];
    expect(codes.length === 1100 && codes.every((g) => g === 0)).toBe(true);
  });
});

describe('max_retained_messages and max_retained_bytes', () => {
  test('past the count a new retained topic is refused (PUBACK 0x97) and not kept; clearing one makes room', async () => {
    const org = await tb.newOrg({ limits: { maxRetainedMessages: 2 } });
    const p = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'retainer'), { protocolVersion: 5 });
    for (const t of ['r/a', 'r/b']) expect(await pubackCode(p, t, t, true)).toBe(0);
    expect(await pubackCode(p, 'r/c', 'r/c', true)).toBe(0x97);
    // Replacing a kept topic is no new message.
    expect(await pubackCode(p, 'r/a', 'r/a2', true)).toBe(0);
    const s = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'late'));
    const box = inbox(s);
    await s.subscribeAsync('r/#');
    await box.waitFor(onTopic('r/b'));
    await sleep(100);
    expect(box.messages.map((m) => m.payload).sort()).toEqual(['r/a2', 'r/b']);
    expect(await pubackCode(p, 'r/a', '', true)).toBe(0);
    expect(await pubackCode(p, 'r/c', 'r/c', true)).toBe(0);
    // A non-retained message is never counted.
    expect(await pubackCode(p, 'r/d', 'live', false)).toBe(0);
  });

  test('past the bytes a retained message is refused; 3.1.1 gets a plain PUBACK and nothing is kept; other organisations are not affected', async () => {
    const org = await tb.newOrg({ limits: { maxRetainedBytes: 1000 } });
    const other = await tb.newOrg({ limits: { maxRetainedBytes: 1000 } });
    const p = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'bytes'));
    await p.publishAsync('big/1', Buffer.alloc(600), { qos: 1, retain: true });
    await p.publishAsync('big/2', Buffer.alloc(600), { qos: 1, retain: true });
    const q = await tb.connect(tb.urls.mqtt, await tb.mint(other, 'bytes'));
    await q.publishAsync('big/1', Buffer.alloc(600), { qos: 1, retain: true });
    const s = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'reader'));
    const box = inbox(s);
    await s.subscribeAsync('big/#');
    await box.waitFor(onTopic('big/1'));
    await sleep(100);
    expect(box.messages.map((m) => m.topic)).toEqual(['big/1']);
    const t = await tb.connect(tb.urls.mqtt, await tb.mint(other, 'reader'));
    const otherBox = inbox(t);
    await t.subscribeAsync('big/#');
    await otherBox.waitFor(onTopic('big/1'));
  });

  test('a retained Last Will past the quota is not published', async () => {
    const org = await tb.newOrg({ limits: { maxRetainedMessages: 1 } });
    const p = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'filler'));
    await p.publishAsync('w/kept', 'kept', { qos: 1, retain: true });
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'watcher'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('w/#');
    await box.waitFor(onTopic('w/kept'));
    const { client: dying } = await connectWithConnack(tb.urls.mqtt, {
      ...(await tb.mint(org, 'dying')), will: { topic: 'w/will', payload: Buffer.from('gone'), qos: 1, retain: true },
    });
    (dying.stream as unknown as { destroy(): void }).destroy();
    await whenClosed(dying);
    await p.publishAsync('w/sentinel', 'after', { qos: 1 });
    await box.waitFor(onTopic('w/sentinel'));
    expect(box.messages.map((m) => m.topic)).toEqual(['w/kept', 'w/sentinel']);
  });
});

describe('max_queued_messages and max_queued_bytes', () => {
  test('an offline persistent session queues up to the quota; the rest is dropped and counted, the queue delivers what it kept', async () => {
    const org = await tb.newOrg({ limits: { maxQueuedMessages: 5 } });
    const token = await tb.mint(org, 'offline');
    const opts = { clientId: 'queued-device', clean: false } as const;
    const first = await tb.connect(tb.urls.mqtt, token, opts);
    await first.subscribeAsync('q/#', { qos: 1 });
    first.end(true);
    await whenClosed(first);
    const p = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'producer'));
    for (let i = 0; i < 12; i++) await p.publishAsync('q/x', `m${i}`, { qos: 1 });
    const back = await tb.connect(tb.urls.mqtt, token, opts);
    const box = inbox(back);
    await p.publishAsync('q/x', 'live', { qos: 1 });
    await box.waitFor(onTopic('q/x', 'live'));
    await box.waitFor(onTopic('q/x', 'm4'));
    await sleep(100);
    // (a live message may overtake the queue being resent)
    expect(box.messages.map((m) => m.payload).sort()).toEqual(['live', 'm0', 'm1', 'm2', 'm3', 'm4']);
    // Acknowledged messages leave the queue: the same device can queue 5 again.
    back.end(true);
    await whenClosed(back);
    for (let i = 0; i < 7; i++) await p.publishAsync('q/x', `n${i}`, { qos: 1 });
    const again = await tb.connect(tb.urls.mqtt, token, opts);
    const box2 = inbox(again);
    await p.publishAsync('q/x', 'live2', { qos: 1 });
    await box2.waitFor(onTopic('q/x', 'live2'));
    await box2.waitFor(onTopic('q/x', 'n4'));
    await sleep(100);
    expect(box2.messages.map((m) => m.payload).sort()).toEqual(['live2', 'n0', 'n1', 'n2', 'n3', 'n4']);
  });

  test('a connected session past its queue quota is not disconnected: the message is still sent, just not kept', async () => {
    const org = await tb.newOrg({ limits: { maxQueuedBytes: 300 } });
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'online'), { clientId: 'online-device', clean: false });
    await c.subscribeAsync('big/#', { qos: 1 });
    const box = inbox(c);
    const p = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'producer'));
    await Promise.all(Array.from({ length: 6 }, (_, i) => p.publishAsync('big/x', Buffer.alloc(200, i), { qos: 1 })));
    await p.publishAsync('big/x', 'sentinel', { qos: 1 });
    await box.waitFor(onTopic('big/x', 'sentinel'));
    expect(box.messages.length).toBe(7);
    expect(c.connected).toBe(true);
  });
});

describe('max_history_topics and max_history_bytes', () => {
  test('past the topics a new topic is not recorded, known topics still are; past the bytes nothing more is', async () => {
    const org = await tb.newOrg({ limits: { maxHistoryTopics: 2, maxHistoryBytes: 2000 } });
    const p = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'historian'));
    const history = async (topic: string) => (await tb.services.store.history.read(org, topic, 100)).map((m) => m.payload.toString());
    for (const t of ['h/1', 'h/2', 'h/3']) await p.publishAsync(t, `${t}-a`, { qos: 1 });
    await p.publishAsync('h/1', 'h/1-b', { qos: 1 });
    await p.publishAsync('h/2', 'h/2-b', { qos: 1 });
    await eventually(async () => (await history('h/2')).length === 2);
    expect(await history('h/1')).toEqual(['h/1-b', 'h/1-a']);
    expect(await history('h/3')).toEqual([]);
    // bytes: a message that would pass max_history_bytes is not recorded
    await p.publishAsync('h/1', Buffer.alloc(1990), { qos: 1 });
    await p.publishAsync('h/2', 'h/2-c', { qos: 1 });
    await eventually(async () => (await history('h/2')).length === 3);
    expect(await history('h/1')).toEqual(['h/1-b', 'h/1-a']);
  });
});

describe('SIGNALGATE_MAX_FILTERS_PER_PACKET', () => {
  test('a SUBSCRIBE of more filters ends the session (MQTT 5: DISCONNECT 0x97) before any is handled; up to it is fine', async () => {
    const small = await startTestBroker('quotas-filters', { SIGNALGATE_MAX_FILTERS_PER_PACKET: '50' });
    try {
      const org = await small.newOrg();
      const ok = await small.connect(small.urls.mqtt, await small.mint(org, 'fifty'), { protocolVersion: 5 });
      expect((await subackCodes(ok, Array.from({ length: 50 }, (_, i) => `f/${i}`))).every((g) => g === 0)).toBe(true);
      const c = await small.connect(small.urls.mqtt, await small.mint(org, 'many'), { protocolVersion: 5, reconnectPeriod: 0 });
      const { serverDisconnect } = await import('./support/harness.js');
      const disconnect = serverDisconnect(c);
      c.subscribe(Array.from({ length: 51 }, (_, i) => `f/${i}`), () => {});
      expect((await disconnect).reasonCode).toBe(0x97);
      const u = await small.connect(small.urls.mqtt, await small.mint(org, 'unsub'), { protocolVersion: 5, reconnectPeriod: 0 });
      const bye = serverDisconnect(u);
      u.unsubscribe(Array.from({ length: 51 }, (_, i) => `f/${i}`), () => {});
      expect((await bye).reasonCode).toBe(0x97);
    } finally {
      await small.stop();
    }
  });
});
