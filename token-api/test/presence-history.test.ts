// Presence and history reads over data the broker writes (sessions, history tables), authorised by
// the org key or by a live MQTT credential holding the right.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { call, startApi, type Json, type TestApi } from './support/server.js';

let t: TestApi;
let orgId: string;
let key: string;
let otherOrg: string;

beforeAll(async () => {
  t = await startApi('reads');
  ({ org: { id: orgId }, secretKey: key } = await t.services.orgs.create('Reads Co'));
  ({ org: { id: otherOrg } } = await t.services.orgs.create('Other Co'));
});
afterAll(async () => t.stop());

const mint = async (body: Json) => (await call(`${t.url}/v2/tokens`, { key, body })).body;

async function brokerSaw(org: string, tok: Json, clientId: string, connectedAt = Date.now()) {
  const token = (await t.services.store.tokens.get(tok.token_id))!;
  await t.services.store.sessions.upsert({
    brokerId: 'test-broker', orgId: org, clientId, userRef: token.userRef, tokenId: token.id,
    address: '127.0.0.1', protocol: 'mqtt', connectedAt, expiresAt: token.expiresAt,
  });
}

async function brokerStored(org: string, topic: string, payloads: (string | Buffer)[]) {
  await t.services.store.history.appendBatch(payloads.map((p, i) => ({
    orgId: org, topic, payload: Buffer.isBuffer(p) ? p : Buffer.from(p), qos: 0, at: Date.now() + i,
  })));
}

describe('GET /v2/presence', () => {
  test('lists online users of the org with their clients, not other orgs\' users', async () => {
    const alice = await mint({ user_id: 'alice', user_email: 'alice@example.com' });
    const bob = await mint({ user_id: 'bob' });
    await brokerSaw(orgId, alice, 'alice-phone', Date.now() - 5000);
    await brokerSaw(orgId, alice, 'alice-web');
    await brokerSaw(orgId, bob, 'bob-1');
    const stranger = (await call(`${t.url}/v2/tokens`, { key: (await t.services.keys.create(otherOrg)).secretKey, body: { user_id: 'eve' } })).body;
    await t.services.store.sessions.upsert({
      brokerId: 'test-broker', orgId: otherOrg, clientId: 'eve-1', userRef: (await t.services.store.tokens.get(stranger.token_id))!.userRef,
      tokenId: stranger.token_id, address: null, protocol: 'ws', connectedAt: Date.now(), expiresAt: Date.now() + 60_000,
    });

    const res = await call(`${t.url}/v2/presence`, { key });
    expect(res.status).toBe(200);
    expect(res.body.organization_id).toBe(orgId);
    expect(res.body.count).toBe(2);
    const byId = Object.fromEntries(res.body.users.map((u: Json) => [u.user_id, u]));
    expect(Object.keys(byId).sort()).toEqual(['alice', 'bob']);
    expect(byId.alice.clients.map((c: Json) => c.client_id).sort()).toEqual(['alice-phone', 'alice-web']);
    expect(byId.alice.user_email).toBe('alice@example.com');
    expect(byId.alice.user_ref).toMatch(/^u[a-z0-9]{11}$/);
    expect(Date.parse(byId.alice.since)).toBeLessThan(Date.parse(byId.bob.since));
  });

  test("a tkn_ credential with presence may read it, without other users' e-mails and client ids; one without presence gets 403", async () => {
    const withPresence = await mint({ user_id: 'watcher', user_email: 'watcher@example.com', permissions: ['subscribe', 'presence'], topics: ['chat/#'] });
    await brokerSaw(orgId, withPresence, 'watcher-tab');
    const res = await call(`${t.url}/v2/presence`, { key: withPresence.password });
    expect(res.status).toBe(200);
    expect(res.body.organization_id).toBe(orgId);
    const byId = Object.fromEntries(res.body.users.map((u: Json) => [u.user_id, u]));
    expect(byId.alice.user_email).toBeNull();
    expect(byId.alice.clients.length).toBe(2);
    expect(byId.alice.clients.every((c: Json) => !('client_id' in c) && c.protocol && c.connected_at)).toBe(true);
    expect(JSON.stringify(res.body)).not.toMatch(/alice@example\.com|alice-phone|alice-web|bob-1/);
    expect(byId.watcher.user_email).toBe('watcher@example.com');
    expect(byId.watcher.clients.map((c: Json) => c.client_id)).toEqual(['watcher-tab']);
    const without = await mint({ user_id: 'blind', permissions: ['subscribe'], topics: ['chat/#'] });
    const denied = await call(`${t.url}/v2/presence`, { key: without.password });
    expect(denied.status).toBe(403);
  });

  test('a revoked or unknown tkn_ credential is 401; no credential is 401', async () => {
    const tok = await mint({ user_id: 'gone', permissions: ['presence'] });
    await call(`${t.url}/v2/tokens/${tok.token_id}`, { method: 'DELETE', key });
    expect((await call(`${t.url}/v2/presence`, { key: tok.password })).status).toBe(401);
    expect((await call(`${t.url}/v2/presence`, { key: `tkn_${'Q'.repeat(43)}` })).status).toBe(401);
    expect((await call(`${t.url}/v2/presence`)).status).toBe(401);
  });
});

describe('GET /v2/history', () => {
  test('newest first, payload as UTF-8 and base64, bounded by limit; only this org\'s messages', async () => {
    await brokerStored(orgId, 'chat/general/messages', ['one', 'two', 'three']);
    await brokerStored(otherOrg, 'chat/general/messages', ['secret of another org']);
    const res = await call(`${t.url}/v2/history?topic=${encodeURIComponent('chat/general/messages')}&limit=2`, { key });
    expect(res.status).toBe(200);
    expect(res.body.topic).toBe('chat/general/messages');
    expect(res.body.messages.map((m: Json) => m.payload)).toEqual(['three', 'two']);
    expect(Buffer.from(res.body.messages[0].payload_base64, 'base64').toString()).toBe('three');
    const all = await call(`${t.url}/v2/history?topic=chat/general/messages`, { key });
    expect(all.body.messages.map((m: Json) => m.payload)).toEqual(['three', 'two', 'one']);
  });

  test('binary payloads come back as base64 with payload null', async () => {
    await brokerStored(orgId, 'bin/data', [Buffer.from([0xff, 0xfe, 0x00])]);
    const res = await call(`${t.url}/v2/history?topic=bin/data`, { key });
    expect(res.body.messages[0].payload).toBeNull();
    expect(res.body.messages[0].payload_base64).toBe(Buffer.from([0xff, 0xfe, 0x00]).toString('base64'));
  });

  test('a tkn_ credential needs history AND subscribe rights on the topic', async () => {
    const reader = await mint({ user_id: 'reader', permissions: ['subscribe', 'history'], topics: ['chat/general/#'] });
    expect((await call(`${t.url}/v2/history?topic=chat/general/messages`, { key: reader.password })).status).toBe(200);
    const elsewhere = await call(`${t.url}/v2/history?topic=chat/private/messages`, { key: reader.password });
    expect(elsewhere.status).toBe(403);
    const noHistory = await mint({ user_id: 'nohist', permissions: ['subscribe'], topics: ['chat/general/#'] });
    expect((await call(`${t.url}/v2/history?topic=chat/general/messages`, { key: noHistory.password })).status).toBe(403);
  });

  test('a missing topic or a wildcard topic is 400; limit out of range is 400', async () => {
    expect((await call(`${t.url}/v2/history`, { key })).body.error_description).toMatch(/^topic: /);
    expect((await call(`${t.url}/v2/history?topic=chat/%23`, { key })).status).toBe(400);
    expect((await call(`${t.url}/v2/history?topic=chat/x&limit=0`, { key })).body.error_description).toMatch(/^limit: /);
    expect((await call(`${t.url}/v2/history?topic=chat/x&limit=abc`, { key })).status).toBe(400);
  });
});
