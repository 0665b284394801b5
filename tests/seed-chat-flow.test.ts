// Seed 002's chat, end to end: "your server" mints over HTTP exactly as the seeds do, two users
// connect with real mqtt.js clients over TCP and WebSocket, and talk in a room.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { closed, connectClient, nextMessage, postJson, startStack, type Stack } from './support/stack.js';

let stack: Stack;
let orgId: string;
let secretKey: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  stack = await startStack('chat');
  ({ org: { id: orgId }, secretKey } = await stack.services.orgs.create('Chat Co'));
});

afterAll(async () => {
  for (const c of clients) c.end(true);
  await stack.stop();
});

async function mintSeed002(userEmail: string) {
  // Verbatim body of seed 002's app/api/mqtt-token/route.ts.
  const response = await postJson(`${stack.api.url}/v2/tokens/create`, {
    organization_id: orgId,
    secret_key: secretKey,
    user_email: userEmail,
  });
  expect(response.ok).toBe(true);
  return response.json() as Promise<Record<string, any>>;
}

async function mintSeed003(userId: string) {
  // Seed 003's exchange: Bearer key, body { user_id, ttl_seconds }.
  const res = await postJson(`${stack.api.url}/v2/tokens`, { user_id: userId, ttl_seconds: 3600 }, { Authorization: `Bearer ${secretKey}` });
  expect(res.ok).toBe(true);
  return res.json() as Promise<Record<string, any>>;
}

async function connect(url: string, username: string, password: string, clientId?: string) {
  const c = await connectClient(url, { username, password, ...(clientId ? { clientId } : {}) });
  clients.push(c);
  return c;
}

describe('seed 002 chat between two users', () => {
  test('a message published to chat/general/messages reaches the other user over TCP and WS', async () => {
    const alice = await mintSeed002('alice@example.com');
    const { username, password, expires_at } = await mintSeed003('bob');
    expect(typeof expires_at).toBe('string');

    const aliceClient = await connect(stack.wsUrl, alice.mqtt_credentials.username, alice.mqtt_credentials.password, `web-alice-${Date.now()}`);
    const bobClient = await connect(stack.mqttUrl, username, password);
    await bobClient.subscribeAsync('chat/general/messages', { qos: 1 });

    const received = nextMessage(bobClient);
    const message = { user: 'alice', text: 'hello', timestamp: Date.now() };
    await aliceClient.publishAsync('chat/general/messages', JSON.stringify(message), { qos: 1 });
    const got = await received;
    expect(got.topic).toBe('chat/general/messages');
    expect(JSON.parse(got.payload)).toEqual(message);
  });

  test('revoking a token over the API disconnects its live session', async () => {
    const t = await mintSeed003('carol');
    const c = await connect(stack.mqttUrl, t.username, t.password);
    const gone = closed(c, 3000);
    const res = await fetch(`${stack.api.url}/v2/tokens/${t.token_id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${secretKey}` } });
    expect(res.ok).toBe(true);
    await gone;
    await expect(connectClient(stack.mqttUrl, { username: t.username, password: t.password })).rejects.toMatchObject({ code: 5 });
  });

  test('refresh (seed 002) rotates the password: the new one connects, the old one still does (mqtt.js reconnects with it)', async () => {
    const t = await mintSeed002('dave@example.com');
    const res = await postJson(`${stack.api.url}/v2/tokens/refresh`, { token_id: t.token_id, current_token_password: t.mqtt_credentials.password });
    expect(res.ok).toBe(true);
    const next = (await res.json()) as Record<string, any>;
    expect(next.token_id).toBe(t.token_id);
    expect(next.access_token).not.toBe(t.access_token);
    const old = await connect(stack.mqttUrl, t.username, t.password);
    const c = await connect(stack.mqttUrl, next.username, next.password);
    expect([old.connected, c.connected]).toEqual([true, true]);
  });

  test('replace_existing: true leaves the user\'s connected earlier session alone (a second tab)', async () => {
    const first = await mintSeed002('erin@example.com');
    const c = await connect(stack.mqttUrl, first.username, first.password);
    const res = await postJson(`${stack.api.url}/v2/tokens/create`, {
      organization_id: orgId, secret_key: secretKey, user_email: 'erin@example.com', replace_existing: true,
    });
    expect(res.ok).toBe(true);
    await expect(closed(c, 600)).rejects.toThrow('still connected');
  });
});
