// CONNECT and the chat flow over every transport: who gets in, with which CONNACK code, and what
// the sessions table says about them.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import mqtt from 'mqtt';
import { register } from 'prom-client';
import { storeUnavailable } from '@signalgate/shared';
import { connackCode, eventually, inbox, onTopic, sleep, startTestBroker, whenClosed, type TestBroker } from './support/harness.js';

let tb: TestBroker;
let orgId: string;

const refusals = async (reason: string) =>
  ((await register.getSingleMetric('signalgate_broker_auth_failures_total')?.get())?.values ?? []).filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);

/** Token checks answer only once released (a slow database); restore() puts the real check back. */
function holdTokenChecks() {
  const connect = tb.services.connect;
  const check = connect.checkConnect.bind(connect);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let asked = 0;
  connect.checkConnect = async (...args) => {
    asked++;
    const verdict = await check(...args);
    await released;
    return verdict;
  };
  return { asked: () => asked, release, restore: () => { release(); Reflect.deleteProperty(connect, 'checkConnect'); } };
}

beforeAll(async () => {
  tb = await startTestBroker('connect', {}, { tls: true });
  orgId = await tb.newOrg();
});
afterAll(async () => tb?.stop());

describe('chat flow', () => {
  test.each(['mqtt', 'ws', 'mqtts', 'wss'] as const)('two users talk on chat/general/messages over %s', async (transport) => {
    const url = tb.urls[transport]!;
    const alice = await tb.connect(url, await tb.mint(orgId, `alice-${transport}`));
    const bob = await tb.connect(url, await tb.mint(orgId, `bob-${transport}`));
    const bobInbox = inbox(bob);
    expect(await bob.subscribeAsync('chat/general/messages', { qos: 1 })).toEqual([{ topic: 'chat/general/messages', qos: 1 }]);
    await alice.publishAsync('chat/general/messages', JSON.stringify({ text: 'hi bob' }), { qos: 1 });
    const m = await bobInbox.waitFor(onTopic('chat/general/messages'));
    expect(JSON.parse(m.payload)).toEqual({ text: 'hi bob' });
  });
});

describe('CONNACK codes', () => {
  test('a wrong password gets 4 (bad user name or password)', async () => {
    const t = await tb.mint(orgId, 'wrong-pw');
    expect(await connackCode(tb.urls.mqtt, t.username, `${t.password.slice(0, -2)}xx`)).toBe(4);
  });

  test('an unknown user, a malformed username, a password of another user and no credentials get 4', async () => {
    const t = await tb.mint(orgId, 'someone');
    const other = await tb.mint(orgId, 'someone-else');
    expect(await connackCode(tb.urls.mqtt, `nobody@${orgId}`, t.password)).toBe(4);
    expect(await connackCode(tb.urls.mqtt, 'no-at-sign', t.password)).toBe(4);
    expect(await connackCode(tb.urls.mqtt, other.username, t.password)).toBe(4);
    expect(await connackCode(tb.urls.mqtt, '', '')).toBe(4);
  });

  test('after a refresh both passwords connect (refresh continuity); after a revoke neither does (5)', async () => {
    const t = await tb.mint(orgId, 'refresher');
    const refreshed = await tb.services.tokens.refresh(t.tokenId, t.password);
    expect(await connackCode(tb.urls.mqtt, t.username, t.password)).toBe(0);
    expect(await connackCode(tb.urls.mqtt, refreshed.username, refreshed.password)).toBe(0);
    await tb.services.tokens.revoke(orgId, t.tokenId);
    expect(await connackCode(tb.urls.mqtt, t.username, t.password)).toBe(5);
    expect(await connackCode(tb.urls.mqtt, refreshed.username, refreshed.password)).toBe(5);
  });

  test('an expired token gets 5 (not authorized)', async () => {
    const shortOrg = await tb.newOrg({ minTtlSeconds: 1 });
    const t = await tb.mint(shortOrg, 'brief', { ttlSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    expect(await connackCode(tb.urls.mqtt, t.username, t.password)).toBe(5);
  });

  test('a revoked token gets 5', async () => {
    const t = await tb.mint(orgId, 'revoked-before');
    await tb.services.tokens.revoke(orgId, t.tokenId);
    expect(await connackCode(tb.urls.mqtt, t.username, t.password)).toBe(5);
  });

  test('MQTT 5 connects (aedes 2.0.0-beta.1 speaks 5)', async () => {
    const t = await tb.mint(orgId, 'v5');
    expect(await connackCode(tb.urls.mqtt, t.username, t.password, { protocolVersion: 5 })).toBe(0);
  });

  test('a client id longer than 256 characters gets 2 (identifier rejected)', async () => {
    const t = await tb.mint(orgId, 'long-id');
    expect(await connackCode(tb.urls.mqtt, t.username, t.password, { clientId: 'x'.repeat(257) })).toBe(2);
  });
});

describe('the credential check waits on the store', () => {
  test('a store that cannot answer gets 3 (MQTT 5: 0x88 server unavailable), never bad credentials, for a token and a backend key', async () => {
    const t = await tb.mint(orgId, 'store-down');
    const { org, secretKey } = await tb.services.orgs.create('store-down backend');
    const before = await refusals('store_unavailable');
    const connect = tb.services.connect;
    const down = () => Promise.reject(storeUnavailable(new Error('connection refused')));
    connect.checkConnect = down;
    connect.checkServerLogin = down;
    try {
      for (const [username, password] of [[t.username, t.password], [`server@${org.id}`, secretKey]] as const) {
        expect(await connackCode(tb.urls.mqtt, username, password)).toBe(3);
        expect(await connackCode(tb.urls.mqtt, username, password, { protocolVersion: 5 })).toBe(0x88);
      }
    } finally {
      Reflect.deleteProperty(connect, 'checkConnect');
      Reflect.deleteProperty(connect, 'checkServerLogin');
    }
    expect(await refusals('store_unavailable')).toBe(before + 4);
    expect(await connackCode(tb.urls.mqtt, t.username, t.password)).toBe(0);
    expect(await connackCode(tb.urls.mqtt, `server@${org.id}`, secretKey)).toBe(0);
  });

  test('a connection that closes while its token is checked gets no session', async () => {
    const t = await tb.mint(orgId, 'gone-while-checked');
    const held = holdTokenChecks();
    try {
      const before = await refusals('connection_closed');
      const c = mqtt.connect(tb.urls.mqtt, { username: t.username, password: t.password, clientId: 'gone-while-checked', reconnectPeriod: 0 });
      c.on('error', () => {});
      await eventually(() => held.asked() === 1);
      c.end(true);
      await sleep(200); // the broker sees the socket close (same process: long before this timer)
      held.release();
      await eventually(async () => (await refusals('connection_closed')) === before + 1);
      const clients = (tb.broker.aedes as unknown as { clients: Record<string, unknown> }).clients;
      expect(clients[`${orgId}/gone-while-checked`]).toBeUndefined();
    } finally {
      held.restore();
    }
  });

  test('a token revoked while its CONNECT is checked is refused (5; MQTT 5: 0x87), not admitted on the answer read before', async () => {
    for (const level of [4, 5] as const) {
      const t = await tb.mint(orgId, `revoked-while-checked-${level}`);
      const held = holdTokenChecks();
      try {
        const code = connackCode(tb.urls.mqtt, t.username, t.password, { protocolVersion: level });
        await eventually(() => held.asked() === 1); // the token was read live
        await tb.services.tokens.revoke(orgId, t.tokenId);
        await sleep(300); // the change watcher (every 50 ms here) applies the revoke while the check waits
        held.release();
        expect(await code).toBe(level === 5 ? 0x87 : 5);
      } finally {
        held.restore();
      }
    }
  });
});

describe('sessions table', () => {
  test('a connection is listed with its protocol while it lasts and removed when it ends', async () => {
    const t = await tb.mint(orgId, 'listed');
    const c = await tb.connect(tb.urls.ws, t, { clientId: 'listed-client' });
    // Rows are written behind the CONNACK, within 50 ms (broker/src/sessionRows.ts).
    const rows = await eventually(async () => {
      const listed = (await tb.services.store.sessions.list(orgId)).filter((s) => s.clientId === 'listed-client');
      return listed.length > 0 && listed;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ brokerId: tb.broker.brokerId, tokenId: t.tokenId, protocol: 'ws', userRef: t.userRef, expiresAt: t.expiresAt });
    c.end();
    await whenClosed(c);
    await eventually(async () => !(await tb.services.store.sessions.list(orgId)).some((s) => s.clientId === 'listed-client'));
  });
});

describe('organisation connection limit', () => {
  test('the connection beyond max_connections gets CONNACK 3; a takeover of an own client id is not counted', async () => {
    const limited = await tb.newOrg({ limits: { maxConnections: 2 } });
    const t = await tb.mint(limited, 'many');
    await tb.connect(tb.urls.mqtt, t, { clientId: 'one' });
    await tb.connect(tb.urls.mqtt, t, { clientId: 'two' });
    expect(await connackCode(tb.urls.mqtt, t.username, t.password, { clientId: 'three' })).toBe(3);
    expect(await connackCode(tb.urls.mqtt, t.username, t.password, { clientId: 'two' })).toBe(0);
  });
});
