// `$` application topics: CloudSignal's notifications and collaborate packages live on
// `$notifications/…` and `$spaces/…`. Those are ordinary tenant topics that rules grant; `$SYS`,
// `$presence` and `$share` (a form of subscription, broker/test/shared-subscriptions.test.ts) stay reserved; a `#` never matches a `$` topic; organisations stay apart.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { inbox, onTopic, startTestBroker, subackCodes, type TestBroker } from './support/harness.js';

let tb: TestBroker;
let org: string;
let other: string;

beforeAll(async () => {
  tb = await startTestBroker('dollar-topics');
  // The notifications package's shape: a user reads their own inbox; backends publish anywhere.
  org = await tb.newOrg({
    rules: {
      publish: ['#', '$notifications/#', '$spaces/#'],
      subscribe: ['chat/#', '$notifications/${user_id}/inbox/#', '$spaces/#'],
      presence: true, history: false,
    },
  });
  other = await tb.newOrg();
});
afterAll(async () => tb?.stop());

describe('$notifications', () => {
  test("a user receives their inbox; another user may not subscribe to it; a '#' subscriber never sees it", async () => {
    const backend = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'notify-backend'));
    const user123 = await tb.connect(tb.urls.ws, await tb.mint(org, 'user-123'), { protocolVersion: 5 });
    const user456 = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'user-456'));
    expect(await subackCodes(user123, [['$notifications/user-123/inbox/#', 1]])).toEqual([1]);
    expect(await subackCodes(user456, ['$notifications/user-123/inbox/#', '$notifications/#', '#', 'chat/#'])).toEqual([0x80, 0x80, 0x80, 0]);
    const box123 = inbox(user123);
    const box456 = inbox(user456);
    await backend.publishAsync('$notifications/user-123/inbox/orders', JSON.stringify({ order: 42 }), { qos: 1 });
    expect((await box123.waitFor(onTopic('$notifications/user-123/inbox/orders'))).payload).toBe('{"order":42}');
    await backend.publishAsync('chat/sentinel', 'after');
    await box456.waitFor(onTopic('chat/sentinel', 'after'));
    expect(box456.messages.map((m) => m.topic)).toEqual(['chat/sentinel']);
  });

  test('another organisation never receives it, even on the same $ topic', async () => {
    const backend = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'iso-backend'));
    const witness = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'user-777'));
    await witness.subscribeAsync('$notifications/user-777/inbox/#');
    const outsider = await tb.connect(tb.urls.mqtt, await tb.mint(other, 'user-777'));
    expect(await subackCodes(outsider, ['$notifications/#', '$notifications/user-777/inbox/#'])).toEqual([0, 0]);
    const outsiderBox = inbox(outsider);
    const witnessBox = inbox(witness);
    await backend.publishAsync('$notifications/user-777/inbox/x', 'private');
    await witnessBox.waitFor(onTopic('$notifications/user-777/inbox/x', 'private'));
    const sentinelSender = await tb.connect(tb.urls.mqtt, await tb.mint(other, 'other-sender'));
    await sentinelSender.publishAsync('$notifications/user-777/inbox/sentinel', 'own org');
    await outsiderBox.waitFor(onTopic('$notifications/user-777/inbox/sentinel', 'own org'));
    expect(outsiderBox.messages.map((m) => m.payload)).toEqual(['own org']);
  });
});

describe('$spaces', () => {
  test('members of a space exchange cursors, and a dropped member’s Last Will on $spaces/…/presence is delivered', async () => {
    const a = await tb.connect(tb.urls.ws, await tb.mint(org, 'space-a'), { protocolVersion: 5 });
    const b = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'space-b'), {
      will: { topic: '$spaces/s1/presence', payload: Buffer.from(JSON.stringify({ user: 'space-b', status: 'left' })), qos: 1, retain: false },
    });
    await a.subscribeAsync('$spaces/s1/#', { qos: 1 });
    const box = inbox(a);
    await b.publishAsync('$spaces/s1/cursors', JSON.stringify({ x: 1, y: 2 }));
    await box.waitFor(onTopic('$spaces/s1/cursors'));
    (b.stream as unknown as { destroy(): void }).destroy();
    const will = await box.waitFor(onTopic('$spaces/s1/presence'));
    expect(JSON.parse(will.payload)).toEqual({ user: 'space-b', status: 'left' });
  });
});

describe('reserved $ spaces', () => {
  test('$SYS stays refused to subscribers, also shared; $presence needs the presence permission', async () => {
    const c = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'reserved-sub'));
    expect(await subackCodes(c, ['$SYS/#', '$share/g/$SYS/#', '$share/g/$share/h/chat/#', '$presence/#'])).toEqual([0x80, 0x80, 0x80, 0]);
  });

  test('a client cannot publish into $presence or $SYS, even with a rule for every $ space it knows', async () => {
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'presence-watcher'));
    await watcher.subscribeAsync('$presence/#');
    const box = inbox(watcher);
    const forger = await tb.connect(tb.urls.mqtt, await tb.mint(org, 'forger'), { protocolVersion: 5 });
    await expect(forger.publishAsync('$presence/users/someone', 'online', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await expect(forger.publishAsync('$SYS/broker/clients', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    // A real presence event (this client's own arrival) is what the watcher sees, never the forgery.
    await tb.connect(tb.urls.mqtt, await tb.mint(org, 'arrives-later'));
    await box.waitFor((m) => m.topic.startsWith('$presence/') && m.payload.includes('arrives-later'));
    expect(box.messages.some((m) => m.payload === 'online' && m.topic === '$presence/users/someone')).toBe(false);
    expect(forger.connected).toBe(true);
  });
});
