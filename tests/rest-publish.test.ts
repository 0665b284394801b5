// The REST publisher (`POST /v1/publish`, `/v1/publish/bulk`) with API and broker in one process:
// CloudSignal's notifications flow (a backend publishes to a user's `$notifications` inbox, the
// user's browser-style subscriber receives it, another user cannot), the organisation's rules,
// payload forms and limits, per-key rate limits with their headers, and hostile bodies.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { connectClient, postJson, startStack, type Stack } from './support/stack.js';
import { subackCodes } from '../broker/test/support/harness.js';

let stack: Stack;
let orgId: string;
let key: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  stack = await startStack('rest-publish', { SIGNALGATE_PUBLISH_RATE_PER_KEY: '50', SIGNALGATE_PUBLISH_BURST_PER_KEY: '100', SIGNALGATE_MAX_PACKET_BYTES: '16384' });
  const created = await stack.services.orgs.create('Notify Co');
  orgId = created.org.id;
  key = created.secretKey;
  // The notifications package's rules: each user reads their own inbox.
  await stack.services.rules.setDefault(orgId, {
    publish: ['#', '$notifications/#'], subscribe: ['orders/#', '$notifications/${user_id}/inbox/#'], presence: false, history: false,
    denyPublish: ['admin/#'],
  });
});
afterAll(async () => {
  for (const c of clients) c.end(true);
  await stack.stop();
});

type Json = Record<string, any>;
const publish = async (body: unknown, secret = key, path = '/v1/publish') => {
  const res = await postJson(`${stack.api.url}${path}`, body, { Authorization: `Bearer ${secret}` });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
};

async function userClient(userId: string): Promise<MqttClient> {
  const t = await stack.services.tokens.mint({ orgId, userId });
  const c = await connectClient(stack.wsUrl, { protocolVersion: 5, username: t.username, password: t.password, clientId: `cs_${userId}` });
  clients.push(c);
  return c;
}

const nextMessage = (c: MqttClient, timeoutMs = 3000) =>
  new Promise<{ topic: string; payload: Buffer }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message')), timeoutMs);
    c.once('message', (topic, payload) => {
      clearTimeout(timer);
      resolve({ topic, payload });
    });
  });

describe('POST /v1/publish', () => {
  test("a backend's notification reaches user-123's inbox subscriber, as JSON text; user-456 cannot subscribe to it", async () => {
    const u123 = await userClient('user-123');
    const u456 = await userClient('user-456');
    await u123.subscribeAsync('$notifications/user-123/inbox/#', { qos: 1 });
    expect(await subackCodes(u456, ['$notifications/user-123/inbox/#'])).toEqual([0x87]);
    const got = nextMessage(u123);
    const res = await publish({ topic: '$notifications/user-123/inbox/orders', payload: { order: 42, status: 'shipped' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ delivered: true, topic: '$notifications/user-123/inbox/orders', subscribers: 1 });
    const m = await got;
    expect(m.topic).toBe('$notifications/user-123/inbox/orders');
    expect(JSON.parse(m.payload.toString())).toEqual({ order: 42, status: 'shipped' });
    for (const h of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']) expect(res.headers.get(h)).toMatch(/^\d+$/);
  });

  test('{"base64": …} publishes bytes; qos and retain are honoured (a later subscriber gets the retained message)', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const res = await publish({ topic: 'orders/bin', payload: { base64: bytes.toString('base64') }, qos: 0, retain: true });
    expect([res.status, res.body.subscribers]).toEqual([200, 0]);
    const late = await userClient('late-reader');
    const got = nextMessage(late);
    await late.subscribeAsync('orders/bin');
    const m = await got;
    expect(Buffer.compare(m.payload, bytes)).toBe(0);
  });

  test('a topic outside the default rules, or denied in them, is 403 naming the topic; reserved $ spaces too', async () => {
    for (const topic of ['admin/keys', '$SYS/x', '$presence/u']) {
      const res = await publish({ topic, payload: 'x' });
      expect([res.status, res.body.error]).toEqual([403, 'forbidden']);
      expect(res.body.error_description).toContain(topic);
    }
  });

  test("a payload over the organisation's limit is 413; bad bodies are 400 naming the field; a bad key is 401", async () => {
    await stack.services.orgs.update(orgId, { limits: { maxPayloadBytes: 64 } });
    try {
      const big = await publish({ topic: 'orders/big', payload: 'x'.repeat(100) });
      expect([big.status, big.body.error]).toEqual([413, 'payload_too_large']);
    } finally {
      await stack.services.orgs.update(orgId, { limits: { maxPayloadBytes: null } });
    }
    const cases: [unknown, RegExp][] = [
      [{ payload: 1 }, /^body\.topic|^topic: /],
      [{ topic: 'orders/x' }, /payload: required/],
      [{ topic: 'orders/+', payload: 1 }, /topic: .*wildcards/],
      [{ topic: 'orders/x', payload: 1, qos: 3 }, /^qos: /],
      [{ topic: 'orders/x', payload: { base64: '%%%' } }, /payload\.base64/],
      [{ topic: Array.from({ length: 100 }, () => 'a').join('/'), payload: 1 }, /topic: more than 99 levels/],
    ];
    for (const [body, why] of cases) {
      const res = await publish(body);
      expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
      expect(res.body.error_description).toMatch(why);
    }
    expect((await publish({ topic: 'orders/x', payload: 1 }, `sk_${'x'.repeat(43)}`)).status).toBe(401);
  });
});

describe('packet size', () => {
  test('a message whose topic and payload together exceed SIGNALGATE_MAX_PACKET_BYTES is 413, as a client PUBLISH would be refused', async () => {
    const max = stack.config.maxPacketBytes;
    const res = await publish({ topic: `orders/${'t'.repeat(Math.floor(max / 2))}`, payload: { base64: Buffer.alloc(Math.floor(max / 2)).toString('base64') } });
    expect([res.status, res.body.error]).toEqual([413, 'payload_too_large']);
    expect(res.body.error_description).toMatch(/SIGNALGATE_MAX_PACKET_BYTES/);
  });
});

describe('retained quota', () => {
  test("retained messages past the organisation's max_retained_messages: 403 quota_exceeded, the bulk refused whole", async () => {
    const created = await stack.services.orgs.create('Retain Co');
    await stack.services.orgs.update(created.org.id, { limits: { maxRetainedMessages: 2 } });
    const retainedKey = created.secretKey;
    const ok = await publish({ topic: 'state/1', payload: 1, retain: true }, retainedKey);
    expect(ok.status).toBe(200);
    const bulk = await publish([{ topic: 'state/2', payload: 2, retain: true }, { topic: 'state/3', payload: 3, retain: true }], retainedKey, '/v1/publish/bulk');
    expect([bulk.status, bulk.body.error]).toEqual([403, 'quota_exceeded']);
    // Nothing of the refused bulk was kept: one more retained message still fits.
    expect((await publish({ topic: 'state/2', payload: 2, retain: true }, retainedKey)).status).toBe(200);
  });
});

describe('shared subscriptions', () => {
  test('a group of backend workers takes REST messages in turns; the group counts as one subscriber', async () => {
    const workers = [await userClient('worker-a'), await userClient('worker-b')];
    for (const w of workers) await w.subscribeAsync('$share/fulfil/orders/shared/#', { qos: 1 });
    const got: string[][] = [[], []];
    workers.forEach((w, i) => w.on('message', (_t, p) => got[i]!.push(p.toString())));
    const ok = await publish([1, 2, 3, 4].map((n) => ({ topic: `orders/shared/${n}`, payload: n })), key, '/v1/publish/bulk');
    expect(ok.body.results.map((r: Json) => r.subscribers)).toEqual([1, 1, 1, 1]);
    const until = Date.now() + 3000;
    while (got.flat().length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(got.map((g) => g.length)).toEqual([2, 2]);
    expect(got.flat().sort()).toEqual(['1', '2', '3', '4']);
  });
});

describe('POST /v1/publish/bulk', () => {
  test('publishes in order; one bad message refuses the whole request and publishes nothing', async () => {
    const c = await userClient('bulk-reader');
    await c.subscribeAsync('orders/#', { qos: 1 });
    const seen: string[] = [];
    // (orders/bin is retained by an earlier test: only this test's topics count)
    c.on('message', (t, p) => { if (t === 'orders/1' || t === 'orders/2') seen.push(p.toString()); });
    const bad = await publish([{ topic: 'orders/1', payload: 1 }, { topic: 'admin/x', payload: 2 }], key, '/v1/publish/bulk');
    expect(bad.status).toBe(403);
    const deep = await publish([{ topic: 'orders/1', payload: 1 }, { topic: `orders/${Array.from({ length: 99 }, () => 'a').join('/')}`, payload: 2 }], key, '/v1/publish/bulk');
    expect([deep.status, deep.body.error_description]).toEqual([400, expect.stringMatching(/^\[1\]\.topic: more than 99 levels/)]);
    const ok = await publish([{ topic: 'orders/1', payload: 1 }, { topic: 'orders/2', payload: 2 }], key, '/v1/publish/bulk');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ delivered: 2, results: [{ topic: 'orders/1', subscribers: 1 }, { topic: 'orders/2', subscribers: 1 }] });
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual(['1', '2']);
    const tooMany = await publish(Array.from({ length: 101 }, (_, i) => ({ topic: `orders/${i}`, payload: i })), key, '/v1/publish/bulk');
    expect([tooMany.status, tooMany.body.error]).toEqual([400, 'invalid_request']);
    const notArray = await publish({ topic: 'orders/1', payload: 1 }, key, '/v1/publish/bulk');
    expect(notArray.status).toBe(400);
  });
});

describe('rate limit per key', () => {
  test('past the burst (100 here; each message of a bulk counts): 429 with Retry-After and the X-RateLimit headers; another key is unaffected', async () => {
    const { secretKey: own } = await stack.services.keys.create(orgId, 'rate-test');
    const batch = (n: number) => Array.from({ length: n }, (_, i) => ({ topic: 'orders/rate', payload: i, qos: 0 as const }));
    const first = await publish(batch(100), own, '/v1/publish/bulk');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBe('50');
    const last = await publish(batch(20), own, '/v1/publish/bulk');
    expect(last.status).toBe(429);
    expect(last.body.error).toBe('rate_limited');
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(last.headers.get('x-ratelimit-remaining'))).toBeLessThan(20);
    expect(Number(last.headers.get('x-ratelimit-reset'))).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000));
    expect((await publish({ topic: 'orders/rate', payload: 'other key' })).status).toBe(200);
  });
});

describe("the organisation's message limits", () => {
  test('apply to REST messages as to clients: past max_messages_per_second the request is refused whole (429)', async () => {
    const { org, secretKey } = await stack.services.orgs.create('Limited Rest');
    const t = await stack.services.tokens.mint({ orgId: org.id, userId: 'watcher' });
    const watcher = await connectClient(stack.mqttUrl, { username: t.username, password: t.password });
    clients.push(watcher);
    await watcher.subscribeAsync('#');
    await stack.services.orgs.update(org.id, { limits: { maxMessagesPerSecond: 5 } });
    await new Promise((r) => setTimeout(r, 400)); // the broker re-reads the org's limits from the change feed
    const got: string[] = [];
    watcher.on('message', (_t, p) => got.push(p.toString()));
    const batch = (n: number) => Array.from({ length: n }, (_, i) => ({ topic: `orders/${i}`, payload: i, qos: 0 as const }));
    const over = await publish(batch(20), secretKey, '/v1/publish/bulk');
    expect([over.status, over.body.error]).toEqual([429, 'rate_limited']);
    const within = await publish(batch(3), secretKey, '/v1/publish/bulk');
    expect(within.status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual(['0', '1', '2']);
  });
});
