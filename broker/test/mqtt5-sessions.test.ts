// MQTT 5 sessions: Clean Start and Session Expiry Interval decide what a reconnect finds
// [MQTT-3.1.2-4..5, MQTT-3.1.2-23]; queued messages honour their Message Expiry Interval
// [MQTT-3.3.2-5].
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { IClientOptions } from 'mqtt';
import { connectWithConnack, inbox, onTopic, sleep, startTestBroker, type TestBroker } from './support/harness.js';

let tb: TestBroker;
let orgId: string;

beforeAll(async () => {
  tb = await startTestBroker('mqtt5-sessions');
  orgId = await tb.newOrg();
});
afterAll(async () => tb?.stop());

/** Connects user `user` as `clientId`, resolving with the client and whether the broker had a session. */
async function session(user: string, clientId: string, opts: IClientOptions) {
  const t = await tb.mint(orgId, user);
  const { client, connack } = await connectWithConnack(tb.urls.mqtt, { username: t.username, password: t.password, protocolVersion: 5, clientId, ...opts });
  return { client, sessionPresent: connack.sessionPresent };
}

async function sender() {
  return tb.connect(tb.urls.mqtt, await tb.mint(orgId, `sender-${Math.random()}`), { protocolVersion: 5 });
}

describe('Session Expiry Interval', () => {
  test('clean start false with an expiry: the session is resumed (sessionPresent) with what was queued meanwhile', async () => {
    const first = await session('resumer', 'v5-resume', { clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(first.sessionPresent).toBe(false);
    await first.client.subscribeAsync('inbox/resumer', { qos: 1 });
    await first.client.endAsync();
    const s = await sender();
    await s.publishAsync('inbox/resumer', 'while away', { qos: 1 });
    const again = await session('resumer', 'v5-resume', { clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(again.sessionPresent).toBe(true);
    await inbox(again.client).waitFor(onTopic('inbox/resumer', 'while away'));
    again.client.end(true);
  });

  test('clean start false without an expiry (what the official SDK sends): the session ended with the connection', async () => {
    const first = await session('sdk-like', 'v5-no-expiry', { clean: false });
    await first.client.subscribeAsync('inbox/sdk-like', { qos: 1 });
    await first.client.endAsync();
    const again = await session('sdk-like', 'v5-no-expiry', { clean: false });
    expect(again.sessionPresent).toBe(false);
    again.client.end(true);
  });

  test('clean start true discards the previous session and its queue, even with an expiry', async () => {
    const first = await session('restarter', 'v5-clean-start', { clean: false, properties: { sessionExpiryInterval: 60 } });
    await first.client.subscribeAsync('inbox/restarter', { qos: 1 });
    await first.client.endAsync();
    const s = await sender();
    await s.publishAsync('inbox/restarter', 'stale', { qos: 1 });
    const fresh = await session('restarter', 'v5-clean-start', { clean: true, properties: { sessionExpiryInterval: 60 } });
    expect(fresh.sessionPresent).toBe(false);
    const box = inbox(fresh.client);
    await fresh.client.subscribeAsync('inbox/restarter/marker', { qos: 1 });
    await s.publishAsync('inbox/restarter/marker', 'now', { qos: 1 });
    await box.waitFor(onTopic('inbox/restarter/marker', 'now'));
    expect(box.messages.map((m) => m.payload)).toEqual(['now']);
    fresh.client.end(true);
  });

  test('a session whose expiry has passed is gone', async () => {
    const first = await session('expirer', 'v5-expires', { clean: false, properties: { sessionExpiryInterval: 1 } });
    await first.client.subscribeAsync('inbox/expirer', { qos: 1 });
    await first.client.endAsync();
    await sleep(1500);
    const again = await session('expirer', 'v5-expires', { clean: false, properties: { sessionExpiryInterval: 1 } });
    expect(again.sessionPresent).toBe(false);
    again.client.end(true);
  });

  test('a DISCONNECT may shorten the expiry to 0, ending the session at once', async () => {
    const first = await session('shortener', 'v5-shorten', { clean: false, properties: { sessionExpiryInterval: 60 } });
    await first.client.subscribeAsync('inbox/shortener', { qos: 1 });
    await first.client.endAsync({ properties: { sessionExpiryInterval: 0 } } as never);
    const again = await session('shortener', 'v5-shorten', { clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(again.sessionPresent).toBe(false);
    again.client.end(true);
  });
});

describe('Message Expiry Interval of queued messages', () => {
  test('a queued message whose expiry passed while the session was offline is not delivered; one without expiry is', async () => {
    const first = await session('offline-reader', 'v5-msg-expiry', { clean: false, properties: { sessionExpiryInterval: 60 } });
    await first.client.subscribeAsync('inbox/offline-reader/#', { qos: 1 });
    await first.client.endAsync();
    const s = await sender();
    await s.publishAsync('inbox/offline-reader/brief', 'brief', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await s.publishAsync('inbox/offline-reader/lasting', 'lasting', { qos: 1 });
    await sleep(1500);
    const again = await session('offline-reader', 'v5-msg-expiry', { clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(again.sessionPresent).toBe(true);
    const box = inbox(again.client);
    await box.waitFor(onTopic('inbox/offline-reader/lasting', 'lasting'));
    await sleep(100);
    expect(box.messages.map((m) => m.payload)).toEqual(['lasting']);
    again.client.end(true);
  });
});

describe('SIGNALGATE_MAX_STORED_SESSIONS', () => {
  test('sessions beyond the limit end with their connection; those within it are kept', async () => {
    const small = await startTestBroker('mqtt5-stored', { SIGNALGATE_MAX_STORED_SESSIONS: '2' });
    try {
      const org = await small.newOrg();
      const t = await small.mint(org, 'many-sessions');
      const open = (clientId: string) =>
        connectWithConnack(small.urls.mqtt, { username: t.username, password: t.password, protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 600 } });
      for (const id of ['kept-1', 'kept-2', 'over-3']) {
        const { client } = await open(id);
        await client.subscribeAsync('x', { qos: 1 });
        await client.endAsync();
      }
      const present: Record<string, boolean> = {};
      for (const id of ['kept-1', 'kept-2', 'over-3']) {
        const { client, connack } = await open(id);
        present[id] = connack.sessionPresent;
        client.end(true);
      }
      expect(present).toEqual({ 'kept-1': true, 'kept-2': true, 'over-3': false });
    } finally {
      await small.stop();
    }
  });
});
