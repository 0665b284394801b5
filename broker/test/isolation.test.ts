// Tenant isolation: two organisations on one broker share no messages, retained messages,
// presence or client ids — even with identical topic names, `#`, and topics named after org ids.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { inbox, onTopic, startTestBroker, type TestBroker } from './support/harness.js';

let tb: TestBroker;
let orgA: string;
let orgB: string;

beforeAll(async () => {
  tb = await startTestBroker('isolation');
  orgA = await tb.newOrg();
  orgB = await tb.newOrg();
});
afterAll(async () => tb?.stop());

/**
 * Proves `watcher` got nothing of `publish`: a witness in the publisher's org receives the probe
 * first (so it was routed), then the watcher's own org sends a sentinel the watcher must see; the
 * probe, had it leaked, would have reached the watcher before that.
 */
async function assertNotLeaked(watcherInbox: ReturnType<typeof inbox>, sentinelSender: MqttClient, sentinelTopic: string, foreign: RegExp) {
  const sentinel = `sentinel-${Math.random()}`;
  await sentinelSender.publishAsync(sentinelTopic, sentinel);
  await watcherInbox.waitFor(onTopic(sentinelTopic, sentinel));
  expect(watcherInbox.messages.filter((m) => foreign.test(m.payload) || m.topic.includes('org_'))).toEqual([]);
}

describe('cross-organisation isolation', () => {
  test('identical topic names and # subscriptions: messages stay in their organisation', async () => {
    const aPub = await tb.connect(tb.urls.mqtt, await tb.mint(orgA, 'a-pub'));
    const aWitness = await tb.connect(tb.urls.mqtt, await tb.mint(orgA, 'a-witness'));
    const bAll = await tb.connect(tb.urls.ws, await tb.mint(orgB, 'b-all'));
    const bPub = await tb.connect(tb.urls.mqtt, await tb.mint(orgB, 'b-pub'));
    const witness = inbox(aWitness);
    const bInbox = inbox(bAll);
    await aWitness.subscribeAsync('chat/general/messages');
    await bAll.subscribeAsync(['#', 'chat/general/messages', '+/general/messages', `${orgA}/#`]);

    await aPub.publishAsync('chat/general/messages', 'secret of A');
    await aPub.publishAsync(`${orgA}/chat/general/messages`, 'A named after its own org');
    await witness.waitFor(onTopic('chat/general/messages', 'secret of A'));
    await assertNotLeaked(bInbox, bPub, 'chat/general/messages', /A/);
  });

  test('retained messages are per organisation', async () => {
    const aPub = await tb.connect(tb.urls.mqtt, await tb.mint(orgA, 'a-retainer'));
    const bPub = await tb.connect(tb.urls.mqtt, await tb.mint(orgB, 'b-retainer'));
    await aPub.publishAsync('status/device1', 'A retained', { retain: true, qos: 1 });
    await bPub.publishAsync('status/device1', 'B retained', { retain: true, qos: 1 });

    const aLate = await tb.connect(tb.urls.mqtt, await tb.mint(orgA, 'a-late'));
    const bLate = await tb.connect(tb.urls.mqtt, await tb.mint(orgB, 'b-late'));
    const aIn = inbox(aLate);
    const bIn = inbox(bLate);
    await aLate.subscribeAsync('#');
    await bLate.subscribeAsync(['status/#', '#']);
    expect((await aIn.waitFor(onTopic('status/device1'))).payload).toBe('A retained');
    expect((await bIn.waitFor(onTopic('status/device1'))).payload).toBe('B retained');
    await assertNotLeaked(bIn, bPub, 'sentinel/b', /^A /);
    await assertNotLeaked(aIn, aPub, 'sentinel/a', /^B /);
  });

  test('presence of another organisation is invisible, and # never matches $presence', async () => {
    const bWatcher = await tb.connect(tb.urls.mqtt, await tb.mint(orgB, 'b-presence-watcher'));
    const bHash = await tb.connect(tb.urls.mqtt, await tb.mint(orgB, 'b-hash'));
    const bPub = await tb.connect(tb.urls.mqtt, await tb.mint(orgB, 'b-presence-pub'));
    const wIn = inbox(bWatcher);
    const hIn = inbox(bHash);
    await bWatcher.subscribeAsync('$presence/#');
    await bHash.subscribeAsync('#');
    await tb.connect(tb.urls.mqtt, await tb.mint(orgA, 'a-comes-online'));
    // B's own user appears (so presence flows), A's never does.
    await tb.connect(tb.urls.mqtt, await tb.mint(orgB, 'b-comes-online'));
    await wIn.waitFor(onTopic('$presence/b-comes-online'));
    expect(wIn.messages.some((m) => m.topic === '$presence/a-comes-online')).toBe(false);
    await bPub.publishAsync('after/presence', 'x');
    await hIn.waitFor(onTopic('after/presence'));
    expect(hIn.messages.filter((m) => m.topic.startsWith('$'))).toEqual([]);
  });

  test('the same client id in two organisations is two sessions (no takeover across orgs)', async () => {
    const a = await tb.connect(tb.urls.mqtt, await tb.mint(orgA, 'same-id-a'), { clientId: 'shared-id' });
    const b = await tb.connect(tb.urls.mqtt, await tb.mint(orgB, 'same-id-b'), { clientId: 'shared-id' });
    const aIn = inbox(a);
    await a.subscribeAsync('ping');
    await a.publishAsync('ping', 'still here', { qos: 1 });
    await aIn.waitFor(onTopic('ping', 'still here'));
    expect(a.connected && b.connected).toBe(true);
  });

  test('the same client id in one organisation takes the older session over (MQTT-3.1.4-2)', async () => {
    const t = await tb.mint(orgA, 'taker');
    const first = await tb.connect(tb.urls.mqtt, t, { clientId: 'taken' });
    const closed = new Promise<void>((r) => first.once('close', () => r()));
    await tb.connect(tb.urls.mqtt, t, { clientId: 'taken' });
    await closed;
  });
});
