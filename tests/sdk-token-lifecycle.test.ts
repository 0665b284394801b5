// The official SDK's token lifecycle, call for call (CLOUDSIGNAL-WIRE.md): `POST /v2/tokens/create`
// with `replace_existing: true`, an MQTT 5 persistent session (clean false, `cs_` client id) over
// WebSocket path `/`, auto-refresh that never reconnects, and mqtt.js reconnecting after a network
// drop with the username and password of the client's FIRST connect.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { connectClient, eventually, postJson, startStack, type Stack } from './support/stack.js';

let stack: Stack;
let orgId: string;
let orgUuid: string;
let secretKey: string;
let wsRoot: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  // A short grace so the "idle token is retired" case needs no long wait.
  stack = await startStack('sdk-lifecycle', { SIGNALGATE_REPLACE_GRACE_SECONDS: '2' });
  const created = await stack.services.orgs.create('SDK Lifecycle');
  ({ id: orgId, uuid: orgUuid } = created.org);
  secretKey = created.secretKey;
  wsRoot = `ws://127.0.0.1:${stack.broker.ports.ws}/`;
});
afterAll(async () => {
  for (const c of clients) c.end(true);
  await stack.stop();
});

type Minted = Record<string, any>;

/** The SDK's connectWithToken({ secretKey, userEmail }) request, byte for byte in its fields. */
async function sdkCreate(userEmail: string, organizationId = orgId): Promise<Minted> {
  const res = await postJson(`${stack.api.url}/v2/tokens/create`, {
    organization_id: organizationId, secret_key: secretKey, user_email: userEmail, replace_existing: true,
  });
  const body = (await res.json()) as Minted;
  expect([res.status, body.error]).toEqual([200, undefined]);
  return body;
}

async function sdkRefresh(tokenId: string, current: string): Promise<Minted> {
  const res = await postJson(`${stack.api.url}/v2/tokens/refresh`, { token_id: tokenId, current_token_password: current });
  const body = (await res.json()) as Minted;
  expect([res.status, body.error]).toEqual([200, undefined]);
  return body;
}

const sdkClientId = () => `cs_${Math.random().toString(36).slice(2, 10).padEnd(8, '0')}`;

/** The desktop preset's connection (reconnect shortened: the delay is not what is tested). */
async function sdkConnect(creds: Minted, clientId = sdkClientId()): Promise<MqttClient> {
  const client = await connectClient(wsRoot, {
    protocolVersion: 5, clean: false, keepalive: 60, clientId, reconnectPeriod: 100,
    username: creds.mqtt_credentials.username, password: creds.mqtt_credentials.password,
    properties: { sessionExpiryInterval: 3600 },
  });
  clients.push(client);
  return client;
}

/** Drops the socket under mqtt.js (as a network loss does) and waits for its own reconnect. */
async function dropAndAwaitReconnect(client: MqttClient): Promise<{ reconnected: boolean; refusal?: number }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ reconnected: false }), 5000);
    client.once('connect', () => {
      clearTimeout(timer);
      resolve({ reconnected: true });
    });
    client.once('error', (err) => {
      clearTimeout(timer);
      resolve({ reconnected: false, refusal: (err as { code?: number }).code });
    });
    client.stream.destroy();
  });
}

describe('refresh continuity (the SDK reconnects with its first password)', () => {
  test('after two auto-refreshes and a dropped socket, mqtt.js reconnects with the first password and resumes its session', async () => {
    const first = await sdkCreate('continuity@example.com');
    const client = await sdkConnect(first);
    await client.subscribeAsync('chat/continuity', { qos: 1 });
    const second = await sdkRefresh(first.token_id, first.mqtt_credentials.password);
    const third = await sdkRefresh(second.token_id, second.mqtt_credentials.password);
    expect(third.token_id).toBe(first.token_id);
    expect(new Set([first, second, third].map((c) => c.mqtt_credentials.password)).size).toBe(3);

    // The password mqtt.js will send again is the first one.
    expect(client.options.password).toBe(first.mqtt_credentials.password);
    const again = await dropAndAwaitReconnect(client);
    expect(again).toEqual({ reconnected: true });

    // The resumed session is the token's: a message published by another user reaches it.
    const other = await sdkConnect(await sdkCreate('other-continuity@example.com'));
    const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
    await other.publishAsync('chat/continuity', 'after the drop', { qos: 1 });
    expect(await got).toBe('after the drop');
  });

  test('an explicit reconnect with the newest password works too', async () => {
    const first = await sdkCreate('explicit@example.com');
    const next = await sdkRefresh(first.token_id, first.mqtt_credentials.password);
    const client = await sdkConnect(next);
    expect(client.connected).toBe(true);
  });

  test('only the newest password refreshes: an earlier one is refused (401 invalid_token_password)', async () => {
    const first = await sdkCreate('newest-only@example.com');
    await sdkRefresh(first.token_id, first.mqtt_credentials.password);
    const res = await postJson(`${stack.api.url}/v2/tokens/refresh`, { token_id: first.token_id, current_token_password: first.mqtt_credentials.password });
    expect(res.status).toBe(401);
    expect(((await res.json()) as Minted).error).toBe('invalid_token_password');
  });

  test('a revoke ends every password of the token at once: live sessions close, none of them reconnects', async () => {
    const first = await sdkCreate('revoked-all@example.com');
    const second = await sdkRefresh(first.token_id, first.mqtt_credentials.password);
    const third = await sdkRefresh(second.token_id, second.mqtt_credentials.password);
    const onFirst = await sdkConnect(first);
    const onThird = await sdkConnect(third);
    onFirst.options.reconnectPeriod = 0;
    onThird.options.reconnectPeriod = 0;
    const res = await fetch(`${stack.api.url}/v2/tokens/${first.token_id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${secretKey}` } });
    expect(res.status).toBe(200);
    await eventually(() => !onFirst.connected && !onThird.connected);
    for (const creds of [first, second, third]) {
      const err = await connectClient(wsRoot, {
        protocolVersion: 5, clientId: sdkClientId(), username: creds.mqtt_credentials.username, password: creds.mqtt_credentials.password,
      }).then(() => null, (e: { code?: number }) => e.code);
      expect(err).toBe(0x87);
    }
  });

  test('a token keeps its first password and its newest ones, up to 8 in all; a pruned middle one no longer opens a connection', async () => {
    const passwords: string[] = [];
    let creds = await sdkCreate('many-refreshes@example.com');
    passwords.push(creds.mqtt_credentials.password);
    for (let i = 0; i < 10; i++) {
      creds = await sdkRefresh(creds.token_id, creds.mqtt_credentials.password);
      passwords.push(creds.mqtt_credentials.password);
    }
    const username = creds.mqtt_credentials.username as string;
    const opens = (await Promise.all(passwords.map((pw) => stack.services.connect.checkConnect(username, pw)))).map((v) => v.ok);
    // 11 passwords: the first, then 3 pruned, then the newest 7.
    expect(opens).toEqual([true, false, false, false, true, true, true, true, true, true, true]);
  });
});

describe('replace_existing: true, as the SDK sends on every connect', () => {
  test("a user's second tab does not end the first: both stay connected, and the first reconnects after a drop", async () => {
    const tab1 = await sdkCreate('two-tabs@example.com');
    const c1 = await sdkConnect(tab1);
    const tab2 = await sdkCreate('two-tabs@example.com');
    expect(tab2.token_id).not.toBe(tab1.token_id);
    const c2 = await sdkConnect(tab2);
    await new Promise((r) => setTimeout(r, 400)); // past the broker's revoke poll: nothing may end
    expect([c1.connected, c2.connected]).toEqual([true, true]);
    expect(await dropAndAwaitReconnect(c1)).toEqual({ reconnected: true });
    expect((await stack.services.tokens.get(orgId, tab1.token_id)).revokedAt).toBeNull();
  });

  test('a tab that dropped a moment ago keeps its token while reconnecting (the grace covers a session that just ended)', async () => {
    const tab1 = await sdkCreate('dropping-tab@example.com');
    const c1 = await sdkConnect(tab1);
    c1.options.reconnectPeriod = 0;
    c1.end(true);
    // The session row goes within the broker's write-behind window; the token keeps "last used".
    const { userRef } = (await stack.services.store.tokens.get(tab1.token_id))!;
    await eventually(async () => (await stack.services.store.sessions.ofUser(orgId, userRef)).length === 0);
    await sdkCreate('dropping-tab@example.com');
    expect((await stack.services.tokens.get(orgId, tab1.token_id)).revokedAt).toBeNull();
  });

  test('what it retires: a token no session uses and nothing touched within the grace', async () => {
    const idle = await sdkCreate('idle-tab@example.com');
    await new Promise((r) => setTimeout(r, 2200)); // past SIGNALGATE_REPLACE_GRACE_SECONDS=2
    const fresh = await sdkCreate('idle-tab@example.com');
    expect(await stack.services.tokens.get(orgId, idle.token_id)).toMatchObject({ revokeReason: 'replaced' });
    expect((await stack.services.tokens.get(orgId, fresh.token_id)).revokedAt).toBeNull();
    const err = await connectClient(wsRoot, {
      protocolVersion: 5, clientId: sdkClientId(), username: idle.mqtt_credentials.username, password: idle.mqtt_credentials.password,
    }).then(() => null, (e: { code?: number }) => e.code);
    expect(err).toBe(0x87);
  });

  test('a connected token is never retired, however long ago it was minted', async () => {
    const tab1 = await sdkCreate('long-lived-tab@example.com');
    const c1 = await sdkConnect(tab1);
    await new Promise((r) => setTimeout(r, 2200));
    await sdkCreate('long-lived-tab@example.com');
    await new Promise((r) => setTimeout(r, 400));
    expect(c1.connected).toBe(true);
    expect((await stack.services.tokens.get(orgId, tab1.token_id)).revokedAt).toBeNull();
  });
});

describe('organisation UUIDs', () => {
  test('create accepts the UUID as organization_id; the answer names both ids', async () => {
    const minted = await sdkCreate('uuid-user@example.com', orgUuid);
    expect(minted.organization_id).toBe(orgId);
    expect(minted.organization_uuid).toBe(orgUuid);
    expect(minted.mqtt_credentials.username).toMatch(new RegExp(`@${orgId}$`));
    const client = await sdkConnect(minted);
    expect(client.connected).toBe(true);
  });
});
