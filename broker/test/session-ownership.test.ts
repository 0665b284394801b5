// A persistent session belongs to the user who created it (issue 14, item 1): another user of the
// organisation cannot resume it, collect its queued messages or take over its connection by using
// its client id; narrowing rights removes its stored subscriptions; revoking its token wipes it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { IClientOptions } from 'mqtt';
import { connackCode, connectWithConnack, eventually, inbox, onTopic, sleep, startTestBroker, whenClosed, type TestBroker } from './support/harness.js';

let tb: TestBroker;
let org: string;

const RULES = { publish: ['#'], subscribe: ['users/${user_id}/#', 'chat/#'], presence: true, history: false };

beforeAll(async () => {
  tb = await startTestBroker('session-ownership');
  org = await tb.newOrg({ rules: RULES });
});
afterAll(async () => tb?.stop());

const persistent = (clientId: string, level: 4 | 5 = 4): IClientOptions =>
  level === 5 ? { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } } : { clientId, clean: false };

/** The stored subscriptions aedes would queue a message on `internal` for. */
const storedFor = async (internal: string) =>
  ((await (tb.broker.aedes as unknown as { persistence: { subscriptionsByTopic(t: string): Promise<{ clientId: string }[]> } }).persistence.subscriptionsByTopic(internal))).map((s) => s.clientId);

async function publishQos1(topic: string, payload: string): Promise<void> {
  const p = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'publisher'));
  await p.publishAsync(topic, payload, { qos: 1 });
  p.end(true);
}

describe.each([4, 5] as const)('MQTT level %i', (level) => {
  test("another user cannot resume a user's stored session, nor read its queue; the owner can, with a new token", async () => {
    const clientId = `alice-phone-${level}`;
    const alice = await tb.connect(tb.urls.mqtt, await tb.mint(org, `alice-${level}`), persistent(clientId, level));
    await alice.subscribeAsync(`users/alice-${level}/#`, { qos: 1 });
    alice.end(true);
    await whenClosed(alice);
    await publishQos1(`users/alice-${level}/inbox`, 'private');

    const mallory = await tb.mint(org, `mallory-${level}`);
    expect(await connackCode(tb.urls.mqtt, mallory.username, mallory.password, persistent(clientId, level))).toBe(level === 5 ? 0x85 : 2);
    expect(await connackCode(tb.urls.mqtt, mallory.username, mallory.password, { ...persistent(clientId, level), clean: true })).toBe(level === 5 ? 0x85 : 2);

    const { client: back, connack } = await connectWithConnack(tb.urls.mqtt, { ...(await tb.mint(org, `alice-${level}`)), ...persistent(clientId, level) });
    expect(connack.sessionPresent).toBe(true);
    const box = inbox(back);
    await box.waitFor(onTopic(`users/alice-${level}/inbox`, 'private'));
    back.end(true);
  });

  test("another user cannot take over a user's live connection", async () => {
    const clientId = `bob-laptop-${level}`;
    const bob = await tb.connect(tb.urls.mqtt, await tb.mint(org, `bob-${level}`), { clientId, protocolVersion: level });
    const eve = await tb.mint(org, `eve-${level}`);
    expect(await connackCode(tb.urls.mqtt, eve.username, eve.password, { clientId, protocolVersion: level })).toBe(level === 5 ? 0x85 : 2);
    await sleep(100);
    expect(bob.connected).toBe(true);
    // Bob's own second device with the same id takes over, as MQTT says [MQTT-3.1.4-2].
    const bob2 = await tb.connect(tb.urls.mqtt, await tb.mint(org, `bob-${level}`), { clientId, protocolVersion: level });
    await whenClosed(bob);
    expect(bob2.connected).toBe(true);
    bob2.end(true);
  });

  test('a client id is free again once its session is gone (clean session ended)', async () => {
    const clientId = `kiosk-${level}`;
    const first = await tb.connect(tb.urls.mqtt, await tb.mint(org, `kiosk-a-${level}`), { clientId, protocolVersion: level });
    first.end(true);
    await whenClosed(first);
    await eventually(async () => {
      const t = await tb.mint(org, `kiosk-b-${level}`);
      return (await connackCode(tb.urls.mqtt, t.username, t.password, { clientId, protocolVersion: level })) === 0;
    });
  });
});

describe('rights and revocation', () => {
  test('narrowing rights removes the stored subscription: nothing queues on it, nothing is restored', async () => {
    const org2 = await tb.newOrg({ rules: RULES });
    const token = await tb.mint(org2, 'carol');
    const c = await tb.connect(tb.urls.mqtt, token, persistent('carol-desk'));
    await c.subscribeAsync('chat/#', { qos: 1 });
    expect(await storedFor(`${org2}/chat/x`)).toEqual([`${org2}/carol-desk`]);
    await tb.services.rules.setDefault(org2, { ...RULES, subscribe: ['users/${user_id}/#'] });
    await eventually(async () => (await storedFor(`${org2}/chat/x`)).length === 0);
    c.end(true);
    await whenClosed(c);
    const p = await tb.connect(tb.urls.mqtt, await tb.mint(org2, 'pub'));
    await p.publishAsync('chat/x', 'not for carol', { qos: 1 });
    const back = await tb.connect(tb.urls.mqtt, token, persistent('carol-desk'));
    const box = inbox(back);
    await p.publishAsync('users/carol/x', 'sentinel', { qos: 1 });
    await back.subscribeAsync('users/carol/#', { qos: 1 });
    await p.publishAsync('users/carol/x', 'sentinel', { qos: 1 });
    await box.waitFor(onTopic('users/carol/x', 'sentinel'));
    expect(box.messages.map((m) => m.payload)).toEqual(['sentinel']);
  });

  test('rights narrowed while the session is away: its stored subscription goes at once, nothing queues on it, what was queued is not delivered', async () => {
    const org3 = await tb.newOrg({ rules: RULES });
    const token = await tb.mint(org3, 'dave');
    const c = await tb.connect(tb.urls.mqtt, token, persistent('dave-desk'));
    await c.subscribeAsync('chat/#', { qos: 1 });
    await c.subscribeAsync('users/dave/#', { qos: 1 });
    c.end(true);
    await whenClosed(c);
    const p = await tb.connect(tb.urls.mqtt, await tb.mint(org3, 'pub'));
    await p.publishAsync('chat/x', 'queued before', { qos: 1 });
    await tb.services.rules.setDefault(org3, { ...RULES, subscribe: ['users/${user_id}/#'] });
    await eventually(async () => (await storedFor(`${org3}/chat/x`)).length === 0);
    expect(await storedFor(`${org3}/users/dave/x`)).toEqual([`${org3}/dave-desk`]);
    await p.publishAsync('chat/x', 'queued after', { qos: 1 });
    const { client: back, connack } = await connectWithConnack(tb.urls.mqtt, { ...token, ...persistent('dave-desk') });
    expect(connack.sessionPresent).toBe(true);
    const box = inbox(back);
    await p.publishAsync('users/dave/x', 'sentinel', { qos: 1 });
    await box.waitFor(onTopic('users/dave/x', 'sentinel'));
    expect(box.messages.map((m) => m.payload)).toEqual(['sentinel']);
    back.end(true);
  });

  test("revoking a user's token wipes the stored session it held: nothing queues, a new token starts clean", async () => {
    const org4 = await tb.newOrg({ rules: RULES });
    const first = await tb.mint(org4, 'erin');
    const c = await tb.connect(tb.urls.mqtt, first, persistent('erin-phone'));
    await c.subscribeAsync('users/erin/#', { qos: 1 });
    c.end(true);
    await whenClosed(c);
    await tb.services.tokens.revoke(org4, first.tokenId);
    await eventually(async () => (await storedFor(`${org4}/users/erin/x`)).length === 0);
    const p = await tb.connect(tb.urls.mqtt, await tb.mint(org4, 'pub'));
    await p.publishAsync('users/erin/x', 'after revoke', { qos: 1 });
    const { client: back, connack } = await connectWithConnack(tb.urls.mqtt, { ...(await tb.mint(org4, 'erin')), ...persistent('erin-phone') });
    expect(connack.sessionPresent).toBe(false);
    const box = inbox(back);
    await back.subscribeAsync('users/erin/#', { qos: 1 });
    await p.publishAsync('users/erin/x', 'sentinel', { qos: 1 });
    await box.waitFor(onTopic('users/erin/x', 'sentinel'));
    expect(box.messages.map((m) => m.payload)).toEqual(['sentinel']);
    back.end(true);
  });

  test('a token revoked during its session: the session ends and is wiped', async () => {
    const org5 = await tb.newOrg({ rules: RULES });
    const first = await tb.mint(org5, 'frank');
    const c = await tb.connect(tb.urls.mqtt, first, persistent('frank-phone', 5));
    await c.subscribeAsync('users/frank/#', { qos: 1 });
    await tb.services.tokens.revokeUser(org5, first.userRef);
    await whenClosed(c);
    await eventually(async () => (await storedFor(`${org5}/users/frank/x`)).length === 0);
    const { client: back, connack } = await connectWithConnack(tb.urls.mqtt, { ...(await tb.mint(org5, 'frank')), ...persistent('frank-phone', 5) });
    expect(connack.sessionPresent).toBe(false);
    back.end(true);
  });
});
