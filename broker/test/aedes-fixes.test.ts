// The three fixes of aedes 1.2 that 2.0.0-beta.1 lacks, closed in broker/src/aedesFixes.ts. Each
// test here fails against the unfixed beta: run through SignalGate's broker, and, for the clients
// map (which SignalGate's per-org client ids already keep away from `__proto__`), on a bare aedes
// with only the fixes installed.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Aedes } from 'aedes';
import { hardenClient, installAedesFixes } from '../src/aedesFixes.js';
import { connectClient, eventually, inbox, onTopic, startTestBroker, type TestBroker } from './support/harness.js';
import { rawSession, type RawClient } from './support/raw.js';

let tb: TestBroker;
let orgId: string;

beforeAll(async () => {
  tb = await startTestBroker('aedes-fixes', { SIGNALGATE_RECEIVE_MAXIMUM: '5' });
  orgId = await tb.newOrg();
});
afterAll(async () => tb?.stop());

const qos2 = (messageId: number, payload: string, topic = 'fixes/qos2') =>
  ({ cmd: 'publish' as const, topic, payload: Buffer.from(payload), qos: 2 as const, messageId, retain: false, dup: false });

async function published(raw: RawClient, messageId: number, payload: string) {
  raw.send(qos2(messageId, payload));
  await raw.waitFor((p) => p.cmd === 'pubrec' && (p as { messageId?: number }).messageId === messageId);
}

describe('GHSA-p8r9-qf8w-p73r: inbound QoS 2 state ends with a clean session', () => {
  test.each([4, 5] as const)('a clean client that left a QoS 2 flow open can publish the same message id after reconnecting (level %i)', async (level) => {
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, `qos2-watcher-${level}`));
    const box = inbox(watcher);
    await watcher.subscribeAsync('fixes/qos2', { qos: 2 });
    const creds = await tb.mint(orgId, `qos2-${level}`);
    const first = await rawSession(tb.broker.ports.mqtt!, level, creds, { clientId: `qos2-same-${level}`, clean: true });
    await published(first, 1, `first-${level}`);
    first.end(); // no PUBREL: the flow stays open
    await first.closed;
    const second = await rawSession(tb.broker.ports.mqtt!, level, creds, { clientId: `qos2-same-${level}`, clean: true });
    await published(second, 1, `second-${level}`);
    second.send({ cmd: 'pubrel', messageId: 1 });
    await second.waitFor((p) => p.cmd === 'pubcomp');
    await box.waitFor(onTopic('fixes/qos2', `second-${level}`));
    second.end();
  });

  test('a persistent (3.1.1 clean=false) session keeps it: a resent PUBLISH after reconnect is a duplicate, not a second message', async () => {
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'qos2-persist-watcher'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('fixes/qos2/persist', { qos: 2 });
    const creds = await tb.mint(orgId, 'qos2-persist');
    const first = await rawSession(tb.broker.ports.mqtt!, 4, creds, { clientId: 'qos2-persistent', clean: false });
    first.send(qos2(9, 'once', 'fixes/qos2/persist'));
    await first.waitFor((p) => p.cmd === 'pubrec');
    first.end();
    await first.closed;
    const again = await rawSession(tb.broker.ports.mqtt!, 4, creds, { clientId: 'qos2-persistent', clean: false });
    again.send({ ...qos2(9, 'once', 'fixes/qos2/persist'), dup: true });
    await again.waitFor((p) => p.cmd === 'pubrec');
    again.send({ cmd: 'pubrel', messageId: 9 });
    await again.waitFor((p) => p.cmd === 'pubcomp');
    await box.waitFor(onTopic('fixes/qos2/persist', 'once'));
    await new Promise((r) => setTimeout(r, 100));
    expect(box.messages.filter((m) => m.topic === 'fixes/qos2/persist')).toHaveLength(1);
    again.end();
  });
});

describe('GHSA-5jvp-3p2v-5qgf: QoS 2 messages awaiting PUBREL are bounded (SIGNALGATE_RECEIVE_MAXIMUM=5)', () => {
  test('MQTT 5: the sixth unreleased message ends the session with DISCONNECT 0x93', async () => {
    const raw = await rawSession(tb.broker.ports.mqtt!, 5, await tb.mint(orgId, 'flood-5'));
    for (let id = 1; id <= 5; id++) await published(raw, id, 'held');
    raw.send(qos2(6, 'one too many'));
    expect(await raw.waitFor((p) => p.cmd === 'disconnect')).toMatchObject({ reasonCode: 0x93 });
    await raw.closed;
  });

  test('3.1.1: the sixth unreleased message closes the connection', async () => {
    const raw = await rawSession(tb.broker.ports.mqtt!, 4, await tb.mint(orgId, 'flood-4'));
    for (let id = 1; id <= 5; id++) await published(raw, id, 'held');
    raw.send(qos2(6, 'one too many'));
    await raw.closed;
    expect(raw.received.filter((p) => p.cmd === 'pubrec')).toHaveLength(5);
  });

  test('released messages free their place: 50 QoS 2 messages in a row with PUBREL each pass', async () => {
    const raw = await rawSession(tb.broker.ports.mqtt!, 5, await tb.mint(orgId, 'orderly'));
    for (let id = 1; id <= 50; id++) {
      await published(raw, id, 'ok');
      raw.send({ cmd: 'pubrel', messageId: id });
      await raw.waitFor((p) => p.cmd === 'pubcomp' && (p as { messageId?: number }).messageId === id);
    }
    expect(raw.isClosed()).toBe(false);
    raw.end();
  });

  test('a resent (DUP) message already held does not take a second place', async () => {
    const raw = await rawSession(tb.broker.ports.mqtt!, 5, await tb.mint(orgId, 'resender'));
    for (let id = 1; id <= 5; id++) await published(raw, id, 'held');
    raw.send({ ...qos2(5, 'held'), dup: true });
    await raw.waitFor((p) => p.cmd === 'pubrec' && raw.received.filter((q) => q.cmd === 'pubrec').length === 6);
    expect(raw.isClosed()).toBe(false);
    raw.end();
  });

  test('two PUBRELs of one message in one read are answered and the broker carries on', async () => {
    const raw = await rawSession(tb.broker.ports.mqtt!, 5, await tb.mint(orgId, 'double-pubrel'));
    await published(raw, 3, 'x');
    raw.sendTogether({ cmd: 'pubrel', messageId: 3 }, { cmd: 'pubrel', messageId: 3 });
    await raw.waitFor((p) => p.cmd === 'pubcomp' && raw.received.filter((q) => q.cmd === 'pubcomp').length === 2);
    const other = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'after-double-pubrel'));
    expect(other.connected).toBe(true);
    raw.end();
  });
});

describe('GHSA-52qw-whmv-87c5: client ids that are Object.prototype members', () => {
  const ids = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

  test('through SignalGate: each connects, is taken over by its second connection, and the broker carries on', async () => {
    for (const clientId of ids) {
      const t = await tb.mint(orgId, `proto-${clientId}`);
      const first = await tb.connect(tb.urls.mqtt, t, { clientId, protocolVersion: 5 });
      const second = await tb.connect(tb.urls.mqtt, t, { clientId, protocolVersion: 5 });
      expect(second.connected).toBe(true);
      // The old connection's close reaches mqtt.js after the new CONNACK; how soon depends on load.
      await eventually(() => !first.connected, 3000);
    }
  });

  describe('on a bare aedes 2.0.0-beta.1 with only the fixes installed', () => {
    let aedes: Aedes;
    let server: net.Server;
    let url: string;
    beforeAll(async () => {
      aedes = await Aedes.createBroker();
      installAedesFixes(aedes, 100);
      server = net.createServer((socket) => hardenClient(aedes.handle(socket)));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    });

    test('prototype-named client ids connect, take over and publish, and the maps stay prototype-less', async () => {
      for (const clientId of ids) {
        const first = await connectClient(url, { clientId });
        const second = await connectClient(url, { clientId });
        const box = inbox(second);
        await second.subscribeAsync(`t/${clientId}`, { qos: 1 });
        await second.publishAsync(`t/${clientId}`, 'ok', { qos: 1 });
        await box.waitFor(onTopic(`t/${clientId}`, 'ok'));
        first.end(true);
        second.end(true);
      }
      expect(Object.getPrototypeOf((aedes as unknown as { clients: object }).clients)).toBeNull();
    });
  });
});
