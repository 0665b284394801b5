// Authorisation of every SUBSCRIBE and PUBLISH against the effective rights.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import mqtt from 'mqtt';
import { register } from 'prom-client';
import { inbox, onTopic, startTestBroker, subackCodes, whenClosed, type TestBroker } from './support/harness.js';

let tb: TestBroker;
let orgId: string;

const counterValue = async (name: string, labels: Record<string, string> = {}) => {
  const metric = register.getSingleMetric(name);
  const values = (await metric?.get())?.values ?? [];
  return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((n, v) => n + v.value, 0);
};

beforeAll(async () => {
  tb = await startTestBroker('acl');
  orgId = await tb.newOrg({
    rules: {
      publish: ['chat/room1', 'chat/general/#', 'devices/${client_id}/#', 'users/${user_id}/out'],
      subscribe: ['chat/room1', 'chat/general/#', 'devices/${client_id}/#', 'users/${user_id}/#'],
      presence: true,
      history: true,
    },
  });
});
afterAll(async () => tb?.stop());

describe('SUBSCRIBE', () => {
  test('chat/# is refused (0x80) against a right on chat/room1, while chat/room1 in the same packet is granted', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'escalator'));
    const granted = await subackCodes(c, [['chat/#', 1], ['chat/room1', 1], '#', 'chat/+', 'chat/general/+/x']);
    expect(granted).toEqual([128, 1, 128, 128, 0]);
    expect(c.connected).toBe(true);
  });

  test('$SYS/# and other $ topics are never granted; $presence needs the presence permission', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'sys-curious'));
    expect(await subackCodes(c, ['$SYS/#', '$SYS/broker/uptime', '$other/#', '$presence/#'])).toEqual([128, 128, 128, 0]);
    const noPresence = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'no-presence', { permissions: ['subscribe', 'publish'] }));
    expect(await subackCodes(noPresence, ['$presence/#', '$presence/alice'])).toEqual([128, 128]);
  });

  test('a ${client_id} rule grants nothing to a client id holding +, # or /', async () => {
    for (const clientId of ['dev+', 'dev#', 'a/b', '+', '#']) {
      const c = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, `placeholder-${clientId.length}`), { clientId });
      // what a naive substitution would have granted: devices/+/#, devices/#/#, devices/a/b/#…
      expect(await subackCodes(c, ['devices/#', 'devices/+/#', 'devices/+/state', 'devices/a/b/#', 'devices/a/#'])).toEqual([128, 128, 128, 128, 128]);
      await c.publishAsync('devices/a/b/state', 'x', { qos: 1 }); // denied (dropped), connection stays
      expect(c.connected).toBe(true);
      c.end(true);
    }
    const fair = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'placeholder-fair'), { clientId: 'dev1' });
    expect(await subackCodes(fair, ['devices/dev1/#', 'devices/dev2/#'])).toEqual([0, 128]);
  });

  test('UNSUBSCRIBE stops delivery (filters are found in the org namespace)', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'unsubscriber'));
    const box = inbox(c);
    await c.subscribeAsync(['chat/general/a', 'chat/general/b']);
    await c.unsubscribeAsync('chat/general/a');
    await c.publishAsync('chat/general/a', 'after unsubscribe');
    await c.publishAsync('chat/general/b', 'sentinel');
    await box.waitFor(onTopic('chat/general/b', 'sentinel'));
    expect(box.messages.filter((m) => m.topic === 'chat/general/a')).toEqual([]);
  });
});

describe('PUBLISH', () => {
  test('a denied QoS 1 publish gets its PUBACK, is not delivered, and is counted; the connection stays', async () => {
    const before = await counterValue('signalgate_broker_publishes_denied_total', { reason: 'acl' });
    const pub = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'denied-pub'));
    const sub = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'denied-sub', { acl: { subscribe: ['chat/general/#'], publish: [] } }));
    const box = inbox(sub);
    await sub.subscribeAsync('chat/general/#');
    const pubWithTopics = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'denied-pub-2', { topics: ['chat/room1'], permissions: ['publish'] }));
    // PUBACK arrives although the topic is not allowed (publishAsync resolves on PUBACK)
    await pubWithTopics.publishAsync('chat/general/x', 'not allowed for this token', { qos: 1 });
    await pub.publishAsync('secret/elsewhere', 'not allowed for anyone', { qos: 1 });
    await pub.publishAsync('chat/general/x', 'sentinel', { qos: 1 });
    await box.waitFor(onTopic('chat/general/x', 'sentinel'));
    expect(box.messages.map((m) => m.payload)).toEqual(['sentinel']);
    expect(pub.connected && pubWithTopics.connected).toBe(true);
    expect(await counterValue('signalgate_broker_publishes_denied_total', { reason: 'acl' })).toBe(before + 2);
  });

  test('a denied QoS 2 publish completes its handshake and is not delivered', async () => {
    const pub = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'denied-qos2'));
    await pub.publishAsync('nope/qos2', 'x', { qos: 2 });
    expect(pub.connected).toBe(true);
  });

  test('publishing into $SYS or $presence is denied, and a denied retained publish stores nothing', async () => {
    const pub = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'sys-writer'));
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'sys-watcher'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('$presence/#');
    await pub.publishAsync('$SYS/broker/fake', 'x', { qos: 1 });
    await pub.publishAsync('$presence/sys-writer', '{"status":"offline"}', { qos: 1, retain: true });
    await pub.publishAsync('users/sys-writer/out', 'allowed', { qos: 1 });
    // the watcher's own presence topics only ever carry broker-made JSON
    const late = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'sys-late'));
    const lateBox = inbox(late);
    await late.subscribeAsync(['$presence/sys-writer', 'users/sys-late/#']);
    await late.publishAsync('users/sys-late/out', 'sentinel');
    await lateBox.waitFor(onTopic('users/sys-late/out', 'sentinel'));
    const presence = lateBox.messages.filter((m) => m.topic === '$presence/sys-writer').map((m) => JSON.parse(m.payload));
    expect(presence).toEqual([expect.objectContaining({ user_id: 'sys-writer', status: 'online' })]);
    expect(box.messages.every((m) => JSON.parse(m.payload).user_id !== undefined)).toBe(true);
  });

  test('${user_id} rules: a user publishes to their own address only', async () => {
    const alice = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'alice'));
    const bob = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'bob'));
    const box = inbox(bob);
    expect(await subackCodes(bob, ['users/bob/#', 'users/alice/#'])).toEqual([0, 128]);
    await alice.publishAsync('users/bob/out', 'impersonating bob', { qos: 1 });
    await bob.publishAsync('users/bob/out', 'sentinel', { qos: 1 });
    await box.waitFor(onTopic('users/bob/out', 'sentinel'));
    expect(box.messages.map((m) => m.payload)).toEqual(['sentinel']);
  });
});

describe('rights change while connected', () => {
  test('narrowed org rules remove subscriptions they no longer cover and deny publishes', async () => {
    const narrowing = await tb.newOrg();
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(narrowing, 'narrowed'));
    const box = inbox(c);
    await c.subscribeAsync(['news/#', 'keep/#']);
    await c.publishAsync('news/probe', 'before the change');
    await box.waitFor(onTopic('news/probe', 'before the change'));
    await tb.services.rules.setDefault(narrowing, { publish: ['keep/#', 'news/#'], subscribe: ['keep/#'], presence: false, history: false });
    // the broker applies the change within a poll; then news/# is gone for this client
    for (let i = 0; ; i++) {
      await c.publishAsync('news/probe', `probe ${i}`);
      await c.publishAsync('keep/sentinel', `sentinel ${i}`);
      await box.waitFor(onTopic('keep/sentinel', `sentinel ${i}`));
      if (!box.messages.some((m) => m.payload === `probe ${i}`)) break; // news/# no longer delivered
      if (i > 50) throw new Error('subscription was never removed');
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});

describe('denied publish in disconnect mode', () => {
  let strict: TestBroker;
  beforeAll(async () => {
    strict = await startTestBroker('acl-strict', { SIGNALGATE_DENIED_PUBLISH: 'disconnect' });
  });
  afterAll(async () => strict?.stop());

  test('SIGNALGATE_DENIED_PUBLISH=disconnect closes the connection on a denied publish', async () => {
    const org = await strict.newOrg({ rules: { publish: ['ok/#'], subscribe: ['ok/#'], presence: false, history: false } });
    const c = await strict.connect(strict.urls.mqtt, await strict.mint(org, 'strict-user'));
    await c.publishAsync('ok/fine', 'allowed', { qos: 1 });
    expect(c.connected).toBe(true);
    c.publish('not/ok', 'denied', { qos: 1 });
    await whenClosed(c);
    expect(await counterValue('signalgate_broker_disconnects_total', { reason: 'denied_publish' })).toBeGreaterThanOrEqual(1);
  });
});

describe('deny rules', () => {
  test("'#' except 'admin/#': admin topics refused for publish and subscribe, everything else allowed", async () => {
    const org = await tb.newOrg({
      rules: { publish: ['#'], subscribe: ['#'], presence: false, history: false, denyPublish: ['admin/#'], denySubscribe: ['admin/#', 'users/+/private'] },
    });
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'deny-user'), { protocolVersion: 5 });
    // '#' and '+/x' could receive an admin topic: refused; 'chat/#' and 'users/u1/public' cannot.
    expect(await subackCodes(c, ['chat/#', '#', '+/x', 'admin/#', 'users/+/private', 'users/u1/public', 'users/u1/#'])).toEqual([0, 0x87, 0x87, 0x87, 0x87, 0, 0x87]);
    const box = inbox(c);
    await expect(c.publishAsync('admin/secrets', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await c.publishAsync('chat/ok', 'fine', { qos: 1 });
    await box.waitFor(onTopic('chat/ok', 'fine'));
  });

  test('a deny whose placeholder has no value for this user denies it for every value', async () => {
    const org = await tb.newOrg({
      rules: { publish: ['#'], subscribe: ['#'], presence: false, history: false, denySubscribe: ['mail/${user_email}/#'] },
    });
    const noEmail = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'no-email'));
    expect(await subackCodes(noEmail, ['mail/anyone@example.com/inbox', 'chat/#'])).toEqual([0x80, 0]);
    const withEmail = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'with-email', { userEmail: 'me@example.com' }));
    expect(await subackCodes(withEmail, ['mail/me@example.com/inbox', 'mail/other@example.com/inbox'])).toEqual([0x80, 0]);
  });
});

describe('rights at delivery', () => {
  test('a deny added while a persistent session is offline also holds back what was queued for it', async () => {
    const org = await tb.newOrg({ rules: { publish: ['#'], subscribe: ['#'], presence: false, history: false } });
    const t = await tb.mint(org, 'offline-reader');
    const first = await tb.connect(tb.urls.mqtt, t, { clean: false, clientId: 'offline-reader-1' });
    await first.subscribeAsync('#', { qos: 1 });
    await first.endAsync();
    // Queued while the session is away, then a deny arrives (the stored `#` goes with it, as a live
    // session's would): what was queued is checked against the rights at delivery.
    await tb.broker.publisher.publish(org, [
      { topic: 'admin/secret', payload: Buffer.from('TOP SECRET'), qos: 1, retain: false },
      { topic: 'orders/1', payload: Buffer.from('fine'), qos: 1, retain: false },
    ]);
    await tb.services.rules.setDefault(org, { publish: ['#'], subscribe: ['#'], presence: false, history: false, denySubscribe: ['admin/#'] });
    await new Promise((r) => setTimeout(r, 400)); // the broker re-reads the rules from the change feed
    const again = mqtt.connect(tb.urls.mqtt, { username: t.username, password: t.password, clean: false, clientId: 'offline-reader-1', reconnectPeriod: 0 });
    // Listening before the CONNACK: the queued messages may arrive in the same read as it.
    const box = inbox(again);
    try {
      await new Promise((resolve, reject) => {
        again.once('connect', resolve);
        again.once('error', reject);
      });
      await box.waitFor(onTopic('orders/1', 'fine'));
      await new Promise((r) => setTimeout(r, 200));
      expect(box.messages.map((m) => m.topic)).toEqual(['orders/1']);
    } finally {
      again.end(true);
    }
  });
});

describe('ill-formed UTF-8 on the wire (issue 14, item 7)', () => {
  test('a topic whose bytes are not UTF-8 is refused (MQTT 5: PUBACK 0x90), not delivered as its U+FFFD form', async () => {
    const sub = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'fffd-reader'));
    await sub.subscribeAsync('chat/general/#');
    const box = inbox(sub);
    const pub = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'fffd-writer'), { protocolVersion: 5 });
    // mqtt.js writes the topic as given: a Buffer topic carries raw bytes
    const stream = (pub as unknown as { stream: { write(b: Buffer): void } }).stream;
    const { rawPacket, str, u16 } = await import('../../tests/hostile/support/fuzzKit.js');
    const acked = new Promise<number>((resolve) => pub.once('packetreceive', (p) => resolve((p as { reasonCode?: number }).reasonCode ?? 0)));
    stream.write(rawPacket(0x32, Buffer.concat([str(Buffer.concat([Buffer.from('chat/general/'), Buffer.from([0xff, 0xfe])])), u16(9), Buffer.from([0]), Buffer.from('bad')])));
    expect(await acked).toBe(0x90);
    await pub.publishAsync('chat/general/ok', 'sentinel', { qos: 1 });
    await box.waitFor(onTopic('chat/general/ok', 'sentinel'));
    expect(box.messages.map((m) => m.topic)).toEqual(['chat/general/ok']);
  });
});
