// CONNECT and the chat flow over every transport: who gets in, with which CONNACK code, and what
// the sessions table says about them.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { connackCode, eventually, inbox, onTopic, startTestBroker, whenClosed, type TestBroker } from './support/harness.js';

let tb: TestBroker;
let orgId: string;

beforeAll(async () => {
  tb = await startTestBroker('connect', {}, { tls: true });
  orgId = await tb.newOrg();
});
afterAll(async () => tb?.stop());

describe('chat flow', () => {
  test.each(['mqtt', 'ws', 'mqtts', 'wss'] as const)('two users talk on chat/general/messages over %s', async (transport) => {
    const url = tb.urls[transport]!;
    const alice = await tb.connect(url, tb.mint(orgId, `alice-${transport}`));
    const bob = await tb.connect(url, tb.mint(orgId, `bob-${transport}`));
    const bobInbox = inbox(bob);
    expect(await bob.subscribeAsync('chat/general/messages', { qos: 1 })).toEqual([{ topic: 'chat/general/messages', qos: 1 }]);
    await alice.publishAsync('chat/general/messages', JSON.stringify({ text: 'hi bob' }), { qos: 1 });
    const m = await bobInbox.waitFor(onTopic('chat/general/messages'));
    expect(JSON.parse(m.payload)).toEqual({ text: 'hi bob' });
  });
});

describe('CONNACK codes', () => {
  test('a wrong password gets 4 (bad user name or password)', async () => {
    const t = tb.mint(orgId, 'wrong-pw');
    expect(await connackCode(tb.urls.mqtt, t.username, `${t.password.slice(0, -2)}xx`)).toBe(4);
  });

  test('an unknown user, a malformed username, a password of another user and no credentials get 4', async () => {
    const t = tb.mint(orgId, 'someone');
    const other = tb.mint(orgId, 'someone-else');
    expect(await connackCode(tb.urls.mqtt, `nobody@${orgId}`, t.password)).toBe(4);
    expect(await connackCode(tb.urls.mqtt, 'no-at-sign', t.password)).toBe(4);
    expect(await connackCode(tb.urls.mqtt, other.username, t.password)).toBe(4);
    expect(await connackCode(tb.urls.mqtt, '', '')).toBe(4);
  });

  test('after a refresh both passwords connect (refresh continuity); after a revoke neither does (5)', async () => {
    const t = tb.mint(orgId, 'refresher');
    const refreshed = tb.services.tokens.refresh(t.tokenId, t.password);
    expect(await connackCode(tb.urls.mqtt, t.username, t.password)).toBe(0);
    expect(await connackCode(tb.urls.mqtt, refreshed.username, refreshed.password)).toBe(0);
    tb.services.tokens.revoke(orgId, t.tokenId);
    expect(await connackCode(tb.urls.mqtt, t.username, t.password)).toBe(5);
    expect(await connackCode(tb.urls.mqtt, refreshed.username, refreshed.password)).toBe(5);
  });

  test('an expired token gets 5 (not authorized)', async () => {
    const shortOrg = await tb.newOrg({ minTtlSeconds: 1 });
    const t = tb.mint(shortOrg, 'brief', { ttlSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    expect(await connackCode(tb.urls.mqtt, t.username, t.password)).toBe(5);
  });

  test('a revoked token gets 5', async () => {
    const t = tb.mint(orgId, 'revoked-before');
    tb.services.tokens.revoke(orgId, t.tokenId);
    expect(await connackCode(tb.urls.mqtt, t.username, t.password)).toBe(5);
  });

  test('MQTT 5 connects (aedes 2.0.0-beta.1 speaks 5)', async () => {
    const t = tb.mint(orgId, 'v5');
    expect(await connackCode(tb.urls.mqtt, t.username, t.password, { protocolVersion: 5 })).toBe(0);
  });

  test('a client id longer than 256 characters gets 2 (identifier rejected)', async () => {
    const t = tb.mint(orgId, 'long-id');
    expect(await connackCode(tb.urls.mqtt, t.username, t.password, { clientId: 'x'.repeat(257) })).toBe(2);
  });
});

describe('sessions table', () => {
  test('a connection is listed with its protocol while it lasts and removed when it ends', async () => {
    const t = tb.mint(orgId, 'listed');
    const c = await tb.connect(tb.urls.ws, t, { clientId: 'listed-client' });
    // Rows are written behind the CONNACK, within 50 ms (broker/src/sessionRows.ts).
    const rows = await eventually(() => {
      const listed = tb.services.store.sessions.list(orgId).filter((s) => s.clientId === 'listed-client');
      return listed.length > 0 && listed;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ brokerId: tb.broker.brokerId, tokenId: t.tokenId, protocol: 'ws', userRef: t.userRef, expiresAt: t.expiresAt });
    c.end();
    await whenClosed(c);
    await eventually(() => !tb.services.store.sessions.list(orgId).some((s) => s.clientId === 'listed-client'));
  });
});

describe('organisation connection limit', () => {
  test('the connection beyond max_connections gets CONNACK 3; a takeover of an own client id is not counted', async () => {
    const limited = await tb.newOrg({ limits: { maxConnections: 2 } });
    const t = tb.mint(limited, 'many');
    await tb.connect(tb.urls.mqtt, t, { clientId: 'one' });
    await tb.connect(tb.urls.mqtt, t, { clientId: 'two' });
    expect(await connackCode(tb.urls.mqtt, t.username, t.password, { clientId: 'three' })).toBe(3);
    expect(await connackCode(tb.urls.mqtt, t.username, t.password, { clientId: 'two' })).toBe(0);
  });
});
