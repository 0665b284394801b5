// Presence, history, per-organisation limits, persistent sessions, and shutdown.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { register } from 'prom-client';
import { eventually, inbox, onTopic, sleep, startTestBroker, subackCodes, whenClosed, type TestBroker } from './support/harness.js';

let tb: TestBroker;
let orgId: string;

const counterValue = async (name: string, labels: Record<string, string> = {}) => {
  const values = (await register.getSingleMetric(name)?.get())?.values ?? [];
  return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((n, v) => n + v.value, 0);
};

beforeAll(async () => {
  tb = await startTestBroker('features', { SIGNALGATE_HISTORY_PER_TOPIC: '3' });
  orgId = await tb.newOrg();
});
afterAll(async () => tb?.stop());

describe('presence', () => {
  test('online on the first session of a user, offline when the last one ends, retained for late subscribers', async () => {
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'presence-watcher'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('$presence/carol');
    const carol = await tb.mint(orgId, 'carol');
    const first = await tb.connect(tb.urls.mqtt, carol, { clientId: 'carol-1' });
    const online = JSON.parse((await box.waitFor(onTopic('$presence/carol'))).payload);
    expect(online).toEqual({ user_id: 'carol', user_ref: carol.userRef, status: 'online', clients: 1, at: expect.any(String) });
    const second = await tb.connect(tb.urls.ws, carol, { clientId: 'carol-2' });
    first.end();
    second.end();
    const offline = JSON.parse((await box.waitFor((m) => m.topic === '$presence/carol' && m.payload.includes('offline'))).payload);
    expect(offline).toMatchObject({ user_id: 'carol', status: 'offline', clients: 0 });
    expect(box.messages.filter((m) => m.topic === '$presence/carol').map((m) => JSON.parse(m.payload).status)).toEqual(['online', 'offline']);

    const late = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'presence-late'));
    const lateBox = inbox(late);
    await late.subscribeAsync('$presence/+');
    const retained = await lateBox.waitFor(onTopic('$presence/carol'));
    expect(retained.retain).toBe(true);
    expect(JSON.parse(retained.payload).status).toBe('offline');
  });

  test('none is published where the rules grant presence to nobody; granting it announces who is online; an announced user gets their offline even after it is withdrawn', async () => {
    const rules = (presence: boolean) => ({ publish: ['x/#'], subscribe: ['x/#'], presence, history: false });
    const org = await tb.newOrg({ rules: rules(false) });
    const published = (status: string) => counterValue('signalgate_broker_presence_messages_total', { status });
    const onlineBefore = await published('online');
    const dave = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'dave'));
    expect(await published('online')).toBe(onlineBefore); // open() runs before the CONNACK

    await tb.services.rules.setDefault(org, rules(true));
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'dave-watcher'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('$presence/dave');
    const online = await box.waitFor(onTopic('$presence/dave'));
    expect(JSON.parse(online.payload)).toMatchObject({ user_id: 'dave', status: 'online', clients: 1 });

    // Withdrawn: nobody can read presence now, but dave's retained "online" must still end. The
    // broker has applied the change once the watcher is refused presence (same refresh).
    const offlineBefore = await published('offline');
    await tb.services.rules.setDefault(org, rules(false));
    for (let i = 0; i < 100 && (await subackCodes(watcher, ['$presence/dave']))[0] !== 128; i++) await sleep(20);
    expect(await subackCodes(watcher, ['$presence/dave'])).toEqual([128]);
    dave.end();
    await whenClosed(dave);
    for (let i = 0; i < 100 && (await published('offline')) === offlineBefore; i++) await sleep(20);
    expect(await published('offline')).toBe(offlineBefore + 1);

    await tb.services.rules.setDefault(org, rules(true));
    const late = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'dave-late'));
    const lateBox = inbox(late);
    await late.subscribeAsync('$presence/dave');
    expect(JSON.parse((await lateBox.waitFor(onTopic('$presence/dave'))).payload)).toMatchObject({ status: 'offline', clients: 0 });
  });
});

describe('history', () => {
  test('published messages are written with their client-visible topic, bounded per topic', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'historian'));
    for (let i = 1; i <= 5; i++) await c.publishAsync('chat/history', `m${i}`, { qos: 1 });
    await c.publishAsync('denied/$nothing', 'x', { qos: 1 }).catch(() => {});
    const rows = await eventually(async () => {
      const r = await tb.services.store.history.read(orgId, 'chat/history', 10);
      return r.length === 3 && r[0]!.payload.toString() === 'm5' ? r : null;
    });
    expect(rows.map((r) => [r.topic, r.payload.toString(), r.qos])).toEqual([['chat/history', 'm5', 1], ['chat/history', 'm4', 1], ['chat/history', 'm3', 1]]);
    const other = await tb.newOrg();
    expect(await tb.services.store.history.read(other, 'chat/history', 10)).toEqual([]);
  });

  test("the will of an organisation's last session here is recorded: its rules are read before the write", async () => {
    const org = await tb.newOrg({ rules: { publish: ['#'], subscribe: ['#'], presence: false, history: true } });
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'last-one'), { will: { topic: 'wills/last', payload: Buffer.from('gone'), qos: 1, retain: false } });
    (c.stream as unknown as { destroy(): void }).destroy(); // no DISCONNECT: the will is published, after the org's last session here closed
    const rows = await eventually(async () => {
      const r = await tb.services.store.history.read(org, 'wills/last', 10);
      return r.length > 0 && r;
    });
    expect(rows.map((r) => r.payload.toString())).toEqual(['gone']);
  });

  test('presence messages are not history', async () => {
    await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'not-in-history'));
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'history-sentinel'));
    await c.publishAsync('chat/history-sentinel', 'x', { qos: 1 });
    await eventually(async () => (await tb.services.store.history.read(orgId, 'chat/history-sentinel', 1)).length === 1);
    expect(await tb.services.store.history.read(orgId, '$presence/not-in-history', 10)).toEqual([]);
  });
});

describe('organisation limits', () => {
  test('a payload above max_payload_bytes is dropped and counted; smaller ones pass', async () => {
    const org = await tb.newOrg({ limits: { maxPayloadBytes: 100 } });
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'big-sender'));
    const box = inbox(c);
    await c.subscribeAsync('files/#');
    const before = await counterValue('signalgate_broker_rate_limited_total', { kind: 'payload_size' });
    await c.publishAsync('files/big', Buffer.alloc(101), { qos: 1 });
    await c.publishAsync('files/small', Buffer.alloc(100), { qos: 1 });
    await box.waitFor(onTopic('files/small'));
    expect(box.messages.map((m) => m.topic)).toEqual(['files/small']);
    expect(await counterValue('signalgate_broker_rate_limited_total', { kind: 'payload_size' })).toBe(before + 1);
  });

  test('messages beyond max_messages_per_second are dropped and counted; the connection stays', async () => {
    const org = await tb.newOrg({ limits: { maxMessagesPerSecond: 1 } });
    const sender = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'chatty'));
    const receiver = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'listener'));
    const box = inbox(receiver);
    await receiver.subscribeAsync('flood');
    for (let i = 0; i < 10; i++) await sender.publishAsync('flood', `f${i}`, { qos: 1 });
    await box.waitFor(onTopic('flood', 'f0'));
    expect(sender.connected).toBe(true);
    expect(await counterValue('signalgate_broker_rate_limited_total', { kind: 'org_messages' })).toBeGreaterThan(0);
    expect(box.messages.length).toBeLessThan(10);
  });

  test('token_messages_per_second limits one token, not its neighbours', async () => {
    const org = await tb.newOrg({ limits: { tokenMessagesPerSecond: 2 } });
    const noisy = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'noisy'));
    const quiet = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'quiet'));
    const receiver = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'token-listener'));
    const box = inbox(receiver);
    await receiver.subscribeAsync('t/#');
    for (let i = 0; i < 10; i++) await noisy.publishAsync('t/noisy', `n${i}`, { qos: 1 });
    await quiet.publishAsync('t/quiet', 'q0', { qos: 1 });
    await box.waitFor(onTopic('t/quiet', 'q0'));
    expect(box.messages.filter((m) => m.topic === 't/noisy').length).toBeLessThan(10);
    expect(await counterValue('signalgate_broker_rate_limited_total', { kind: 'token_messages' })).toBeGreaterThan(0);
  });

  test('max_bytes_per_second drops what exceeds the byte budget', async () => {
    const org = await tb.newOrg({ limits: { maxBytesPerSecond: 1000 } });
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'bytes'));
    for (let i = 0; i < 5; i++) await c.publishAsync('b', Buffer.alloc(600), { qos: 1 });
    expect(await counterValue('signalgate_broker_rate_limited_total', { kind: 'org_bytes' })).toBeGreaterThan(0);
    expect(c.connected).toBe(true);
  });
});

describe('persistent sessions', () => {
  test('a clean=false session gets its subscriptions back on reconnect, still within its org and rights', async () => {
    const t = await tb.mint(orgId, 'persistent');
    const first = await tb.connect(tb.urls.mqtt, t, { clientId: 'persist-1', clean: false });
    expect(await subackCodes(first, [['inbox/persistent', 1], ['$SYS/#', 1]])).toEqual([1, 128]);
    first.end();
    await new Promise<void>((r) => first.once('close', () => r()));
    const sender = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'persistent-sender'));
    await sender.publishAsync('inbox/persistent', 'while away', { qos: 1 });

    const again = await tb.connect(tb.urls.mqtt, t, { clientId: 'persist-1', clean: false });
    const box = inbox(again);
    await box.waitFor(onTopic('inbox/persistent', 'while away'));
    await sender.publishAsync('inbox/persistent', 'after return', { qos: 1 });
    await box.waitFor(onTopic('inbox/persistent', 'after return'));
  });
});

describe('shutdown', () => {
  test('close() ends every session, clears this broker’s session rows and stops listening', async () => {
    const own = await startTestBroker('features-close');
    const org = await own.newOrg();
    const c = await own.connect(own.urls.mqtt, await own.mint(org, 'closing'));
    await eventually(async () => (await own.services.store.sessions.list(org)).length === 1);
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    await own.broker.close();
    await closed;
    expect(await own.services.store.sessions.list(org)).toEqual([]);
    await expect(fetch(`http://127.0.0.1:${own.broker.ports.ws}/`)).rejects.toThrow();
    await own.stop();
  });
});
