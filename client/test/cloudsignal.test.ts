// The documented CloudSignal API (seeds 000, 001, 002) against the real token API and broker.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import CloudSignal, { CloudSignal as NamedCloudSignal, CloudSignalError, TOKEN_ERRORS } from '@signalgate/client';
import { Inbox, connectClient, mintLikeSeed002, newOrg, startStack, type Org, type Stack } from './support/fixtures.js';

let stack: Stack;
let org: Org;
const clients: CloudSignal[] = [];
const raw: MqttClient[] = [];

beforeAll(async () => {
  stack = await startStack('sdk');
  org = await newOrg(stack, 'SDK Co');
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.destroy()));
  for (const r of raw) r.end(true);
  await stack.stop();
});

function sdk(opts: ConstructorParameters<typeof CloudSignal>[0] = {}): CloudSignal {
  const c = new CloudSignal({ tokenServiceUrl: stack.api.url, ...opts });
  clients.push(c);
  return c;
}

async function observer(filter: string): Promise<{ client: MqttClient; inbox: Inbox }> {
  const t = await mintLikeSeed002(stack, org, `observer-${raw.length}@example.com`);
  const client = await connectClient(stack.mqttUrl, { username: t.username, password: t.password });
  raw.push(client);
  await client.subscribeAsync(filter, { qos: 1 });
  const inbox = new Inbox();
  client.on('message', (topic, payload) => inbox.push(topic, payload.toString()));
  return { client, inbox };
}

describe('CloudSignal exports', () => {
  test('is both the default and a named export', () => {
    expect(NamedCloudSignal).toBe(CloudSignal);
  });
});

describe('seed 001: secretKey in Node', () => {
  test("userEmail 'user-123' (not an email) is minted as user_id; publish and subscribe work over TCP", async () => {
    const client = sdk({ autoRefresh: true });
    await client.connectWithToken({ host: stack.mqttUrl, organizationId: org.orgId, secretKey: org.secretKey, userEmail: 'user-123' });
    expect(client.isConnected).toBe(true);
    const token = await stack.services.tokens.list(org.orgId, { user: 'user-123' });
    expect(token).toHaveLength(1);
    expect(await stack.services.tokens.findUser(org.orgId, 'user-123')).toMatchObject({ userId: 'user-123', userEmail: null });

    const inbox = new Inbox();
    client.onMessage(inbox.push);
    await client.subscribe('chat/seed001');
    const { client: other } = await observer('nothing/#');
    await other.publishAsync('chat/seed001', JSON.stringify({ hello: 'world' }), { qos: 1 });
    await inbox.waitFor('chat/seed001');
    expect(inbox.on('chat/seed001')).toEqual([{ hello: 'world' }]);
  });

  test('an email address in userEmail is minted as user_email', async () => {
    const client = sdk();
    await client.connectWithToken({ host: stack.mqttUrl, organizationId: org.orgId, secretKey: org.secretKey, userEmail: 'grace@example.com' });
    expect((await stack.services.tokens.findUser(org.orgId, 'grace@example.com'))?.userEmail).toBe('grace@example.com');
  });

  test('without userEmail the token is for the client id (seed 001 second example)', async () => {
    const client = sdk({ clientId: 'backend-worker-1' });
    await client.connectWithToken({ host: stack.mqttUrl, organizationId: org.orgId, secretKey: org.secretKey });
    expect((await stack.services.tokens.findUser(org.orgId, 'backend-worker-1'))?.userId).toBe('backend-worker-1');
  });

  test('refuses a secret key when window or document exist, before any network call', async () => {
    const g = globalThis as { window?: unknown };
    g.window = {};
    try {
      const client = sdk();
      const err = await client.connectWithToken({ host: stack.mqttUrl, organizationId: org.orgId, secretKey: org.secretKey, userEmail: 'x@example.com' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CloudSignalError);
      expect((err as CloudSignalError).code).toBe('secret_key_in_browser');
      expect((err as Error).message).toMatch(/externalToken/);
      expect(await stack.services.tokens.findUser(org.orgId, 'x@example.com')).toBeUndefined();
    } finally {
      delete g.window;
    }
  });

  test('a wrong secret key rejects with the token service error', async () => {
    const err = await sdk().connectWithToken({ host: stack.mqttUrl, organizationId: org.orgId, secretKey: 'sk_wrongwrongwrongwrongwrongwrongwrongwrong', userEmail: 'u' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401 });
  });
});

describe('seeds 000/002: externalToken from your server', () => {
  test('connects over WebSocket with the access_token alone; JSON messages arrive parsed, text as text', async () => {
    const minted = await mintLikeSeed002(stack, org, 'alice@example.com');
    const client = sdk({ preset: 'desktop', clientId: `web-alice-${Date.now()}` });
    const inbox = new Inbox();
    client.onMessage((topic, message) => inbox.push(topic, message));
    await client.connectWithToken({ host: stack.wsUrl, organizationId: org.orgId, externalToken: minted.access_token });
    expect(client.tokenInfo).toMatchObject({ tokenId: minted.token_id, username: minted.mqtt_credentials.username, organizationId: org.orgId });

    await client.subscribe('chat/general/messages');
    const { client: bob, inbox: bobInbox } = await observer('chat/general/messages');
    const message = { user: 'alice', text: 'hello', timestamp: Date.now() };
    await client.transmit('chat/general/messages', message);
    await bobInbox.waitFor('chat/general/messages');
    expect(JSON.parse(bobInbox.on('chat/general/messages')[0] as string)).toEqual(message);

    await bob.publishAsync('chat/general/messages', 'plain words', { qos: 1 });
    // Alice is subscribed too: her own JSON message, then Bob's text.
    await inbox.waitFor('chat/general/messages', 2);
    expect(inbox.on('chat/general/messages')).toEqual([message, 'plain words']);
  });

  test('a token of another organization is refused by the exchange (401 invalid_token, AUTH_FAILED)', async () => {
    const other = await newOrg(stack, 'Other Co');
    const minted = await mintLikeSeed002(stack, other, 'eve@example.com');
    const err = await sdk().connectWithToken({ host: stack.mqttUrl, organizationId: org.orgId, externalToken: minted.access_token }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'invalid_token', status: 401, type: TOKEN_ERRORS.AUTH_FAILED });
  });

  test('an unknown token rejects with 401 and never reaches the broker', async () => {
    const client = sdk();
    const err = await client.connectWithToken({ host: stack.mqttUrl, organizationId: org.orgId, externalToken: 'tkn_unknown-unknown-unknown-unknown-unknown' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401, type: TOKEN_ERRORS.AUTH_FAILED });
    expect((err as Error).message).toMatch(/\(POST \/v2\/tokens\/exchange\)$/);
    expect(client.status).toBe('idle');
  });

  test('subscribe() rejects when the broker denies the filter; allowed filters still work', async () => {
    const minted = await mintLikeSeed002(stack, org, 'scoped@example.com', { acl: { publish: ['chat/#'], subscribe: ['chat/#'] } });
    const client = sdk();
    await client.connectWithToken({ host: stack.mqttUrl, externalToken: minted.access_token, organizationId: org.orgId });
    await expect(client.subscribe('secret/stuff')).rejects.toMatchObject({ code: 'subscription_denied' });
    await expect(client.subscribe('chat/ok')).resolves.toBeUndefined();
  });

  test('an unreachable broker rejects connectWithToken; the same instance can connect afterwards', async () => {
    const minted = await mintLikeSeed002(stack, org, 'retry@example.com');
    const client = sdk();
    await expect(client.transmit('chat/x', 'too early')).rejects.toMatchObject({ code: 'invalid_options' });
    const err = await client.connectWithToken({ host: 'mqtt://127.0.0.1:1', organizationId: org.orgId, externalToken: minted.access_token }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'connection_failed' });
    await client.connectWithToken({ host: stack.mqttUrl, externalToken: minted.access_token, organizationId: org.orgId });
    expect(client.isConnected).toBe(true);
  });

  test('needs exactly one of secretKey and externalToken', async () => {
    await expect(sdk().connectWithToken({ host: stack.mqttUrl })).rejects.toMatchObject({ code: 'invalid_options' });
  });

  test('destroy() ends the session and unsubscribes, so the broker queues nothing for it', async () => {
    const minted = await mintLikeSeed002(stack, org, 'leaver@example.com');
    const client = sdk({ clientId: 'leaver-1' });
    await client.connectWithToken({ host: stack.mqttUrl, externalToken: minted.access_token, organizationId: org.orgId });
    await client.subscribe('chat/leaving');
    await client.destroy();
    expect(client.status).toBe('closed');
    await expect(client.transmit('chat/leaving', 'x')).rejects.toMatchObject({ code: 'destroyed' });
    // Resuming the same client id finds no subscriptions left to deliver on.
    const again = await connectClient(stack.mqttUrl, { username: minted.username, password: minted.password, clientId: 'leaver-1', clean: false });
    raw.push(again);
    const got: string[] = [];
    again.on('message', (t) => got.push(t));
    const { client: pub } = await observer('nothing/#');
    await pub.publishAsync('chat/leaving', 'after destroy', { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual([]);
  });
});

describe('destroy', () => {
  test('leaves no timer behind, so a Node process can exit as soon as it resolves', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const client = new CloudSignal({ tokenServiceUrl: stack.api.url, autoRefresh: false });
    await client.connectWithToken({ host: stack.mqttUrl, organizationId: org.orgId, secretKey: org.secretKey, userEmail: 'timers@example.com' });
    await client.subscribe('chat/timers');
    await client.destroy();
    expect(timers()).toBeLessThanOrEqual(before);
  });
});

