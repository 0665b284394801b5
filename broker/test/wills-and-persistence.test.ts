// What an attacker could make the broker publish or keep on its behalf after the connection:
// wills are checked against the rights the token has when they are published (and a refused will
// is never published), and a SUBSCRIBE never leaves a filter outside the org's namespace in the
// persistent-session store.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { connectWithConnack, inbox, onTopic, sleep, startTestBroker, subackCodes, type TestBroker } from './support/harness.js';

let tb: TestBroker;
let attackerOrg: string;
let victimOrg: string;

beforeAll(async () => {
  tb = await startTestBroker('wills');
  attackerOrg = await tb.newOrg({ rules: { publish: ['mine/#'], subscribe: ['mine/#'], presence: false, history: false } });
  victimOrg = await tb.newOrg();
});
afterAll(async () => tb?.stop());

const drop = (c: MqttClient) => (c.stream as unknown as { destroy(): void }).destroy();

/** A client of the victim org watching `filter`, with a marker published after the attack to know when to stop waiting. */
async function victimWatching(filter: string) {
  const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(victimOrg, `watcher-${Math.random()}`), { protocolVersion: 5 });
  const box = inbox(watcher);
  await watcher.subscribeAsync([filter, 'marker'], { qos: 1 });
  return {
    box,
    async settle() {
      await watcher.publishAsync('marker', 'end', { qos: 1 });
      await box.waitFor(onTopic('marker', 'end'));
    },
  };
}

describe('wills', () => {
  test.each([4, 5] as const)('a will outside the rights is not published, neither inside nor outside the org (level %i)', async (level) => {
    const watch = await victimWatching('cmd/#');
    for (const topic of [`${victimOrg}/cmd/open`, `cmd/open`, `$SYS/x/new/clients`, 'admin/x']) {
      const t = await tb.mint(attackerOrg, `mallory-${level}`);
      const { client } = await connectWithConnack(tb.urls.mqtt, {
        username: t.username, password: t.password, protocolVersion: level, will: { topic, payload: Buffer.from(`${victimOrg}/kick-me`), qos: 1, retain: true },
      });
      if (level === 5) client.end(true, { reasonCode: 4 }); // DISCONNECT with will
      else drop(client);
    }
    await sleep(100);
    await watch.settle();
    expect(watch.box.messages.map((m) => m.topic)).toEqual(['marker']);
    // nor retained for a later subscriber
    const late = await victimWatching('cmd/#');
    await late.settle();
    expect(late.box.messages.map((m) => m.topic)).toEqual(['marker']);
  });

  test('a will inside the rights is published, in the org', async () => {
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(attackerOrg, 'will-watcher'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('mine/#');
    const t = await tb.mint(attackerOrg, 'honest');
    const { client } = await connectWithConnack(tb.urls.mqtt, { username: t.username, password: t.password, will: { topic: 'mine/will', payload: Buffer.from('bye'), qos: 0, retain: false } });
    drop(client);
    await box.waitFor(onTopic('mine/will', 'bye'));
  });

  /** A watcher of `mine/#`, and an MQTT 5 client that drops its connection leaving a will on `mine/alert` delayed by 1 s. */
  async function leaveWithDelayedWill(name: string, payload: string) {
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(attackerOrg, `${name}-watcher`));
    const box = inbox(watcher);
    await watcher.subscribeAsync('mine/#');
    const t = await tb.mint(attackerOrg, name);
    const { client } = await connectWithConnack(tb.urls.mqtt, {
      username: t.username, password: t.password, protocolVersion: 5, clientId: name, clean: false, properties: { sessionExpiryInterval: 60 },
      will: { topic: 'mine/alert', payload: Buffer.from(payload), qos: 1, retain: false, properties: { willDelayInterval: 1 } },
    });
    drop(client);
    return { watcher, box, tokenId: t.tokenId };
  }

  test('a delayed will (MQTT 5) is not published when the token was revoked during the delay', async () => {
    const { watcher, box, tokenId } = await leaveWithDelayedWill('leaver-1', 'after-revoke');
    await sleep(100);
    await tb.services.tokens.revoke(attackerOrg, tokenId);
    await sleep(1300);
    await watcher.publishAsync('mine/marker', 'end');
    await box.waitFor(onTopic('mine/marker', 'end'));
    expect(box.messages.map((m) => m.payload)).toEqual(['end']);
  });

  test('a delayed will of a live token is published after its delay', async () => {
    const { box } = await leaveWithDelayedWill('leaver-2', 'delayed');
    await box.waitFor(onTopic('mine/alert', 'delayed'), 3000);
  });
});

describe('the persistent-session store', () => {
  test('a SUBSCRIBE mixing granted and refused filters stores only namespaced filters', async () => {
    const t = await tb.mint(attackerOrg, 'hoover');
    const c = await tb.connect(tb.urls.mqtt, t, { protocolVersion: 5, clientId: 'hoover', clean: false, properties: { sessionExpiryInterval: 600 } });
    expect(await subackCodes(c, [['mine/ok', 1], ['#', 1], [`${victimOrg}/#`, 1], ['+/#', 1]])).toEqual([1, 0x87, 0x87, 0x87]);
    const persistence = (tb.broker.aedes as unknown as { persistence: { subscriptionsByClient(c: { id: string }): Promise<{ topic: string }[]> } }).persistence;
    const stored = (await persistence.subscriptionsByClient({ id: `${attackerOrg}/hoover` })).map((s) => s.topic);
    expect(stored).toContain(`${attackerOrg}/mine/ok`);
    for (const filter of stored) expect(filter.startsWith(`${attackerOrg}/`) || filter.startsWith('$signalgate/')).toBe(true);
  });
});

describe('retained messages on SUBSCRIBE', () => {
  test('come at no more than the QoS of the wildcard filter that fetched them', async () => {
    const pub = await tb.connect(tb.urls.mqtt, await tb.mint(attackerOrg, 'retainer'));
    await pub.publishAsync('mine/retained/q', 'kept', { qos: 1, retain: true });
    const sub = await tb.connect(tb.urls.mqtt, await tb.mint(attackerOrg, 'retained-reader'), { protocolVersion: 5 });
    const box = inbox(sub);
    await sub.subscribeAsync('mine/retained/+', { qos: 0 });
    expect((await box.waitFor(onTopic('mine/retained/q', 'kept'))).qos).toBe(0);
  });
});
