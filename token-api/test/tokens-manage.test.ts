// Revoke, list and read tokens with the org's key; another org's tokens stay invisible.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { call, startApi, type Json, type TestApi } from './support/server.js';

let t: TestApi;
let keyA: string;
let keyB: string;
let orgA: string;

beforeAll(async () => {
  t = await startApi('manage');
  ({ org: { id: orgA }, secretKey: keyA } = await t.services.orgs.create('A'));
  ({ secretKey: keyB } = await t.services.orgs.create('B'));
});
afterAll(async () => t.stop());

const mint = async (key: string, body: Json) => (await call(`${t.url}/v2/tokens`, { key, body })).body;

describe('token management', () => {
  test('DELETE /v2/tokens/{id} revokes: the credential gets CONNACK 5 afterwards', async () => {
    const tok = await mint(keyA, { user_id: 'alice' });
    const res = await call(`${t.url}/v2/tokens/${tok.token_id}`, { method: 'DELETE', key: keyA });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('revoked');
    expect(typeof res.body.revoked_at).toBe('string');
    expect(await t.services.connect.checkConnect(tok.username, tok.password)).toMatchObject({ ok: false, reason: 'revoked' });
  });

  test("another org's token is a 404 for DELETE and GET, and stays live", async () => {
    const tok = await mint(keyB, { user_id: 'bob' });
    const del = await call(`${t.url}/v2/tokens/${tok.token_id}`, { method: 'DELETE', key: keyA });
    expect(del.status).toBe(404);
    expect(del.body.error).toBe('token_not_found');
    expect((await call(`${t.url}/v2/tokens/${tok.token_id}`, { key: keyA })).status).toBe(404);
    expect((await t.services.connect.checkConnect(tok.username, tok.password)).ok).toBe(true);
  });

  test('GET /v2/tokens?user_id=… lists the user\'s tokens, live=true only live ones; never a password or hash', async () => {
    const a = await mint(keyA, { user_id: 'lister' });
    const b = await mint(keyA, { user_id: 'lister' });
    await call(`${t.url}/v2/tokens/${a.token_id}`, { method: 'DELETE', key: keyA });
    const all = await call(`${t.url}/v2/tokens?user_id=lister`, { key: keyA });
    expect(all.status).toBe(200);
    expect(all.body.tokens.map((x: Json) => x.token_id).sort()).toEqual([a.token_id, b.token_id].sort());
    const live = await call(`${t.url}/v2/tokens?user_id=lister&live=true`, { key: keyA });
    expect(live.body.tokens.map((x: Json) => x.token_id)).toEqual([b.token_id]);
    const text = JSON.stringify(all.body);
    expect(text).not.toContain(a.password);
    expect(text).not.toContain(b.password);
    expect(text).not.toMatch(/password|hash/i);
    expect(all.body.tokens[0]).toMatchObject({ user_id: 'lister', organization_id: expect.stringMatching(/^org_/) });
  });

  test('GET /v2/tokens?user_email=… finds tokens minted by email', async () => {
    const tok = (await call(`${t.url}/v2/tokens/create`, { body: { organization_id: orgA, secret_key: keyA, user_email: 'e@example.com' } })).body;
    const res = await call(`${t.url}/v2/tokens?user_email=e@example.com`, { key: keyA });
    expect(res.body.tokens.map((x: Json) => x.token_id)).toEqual([tok.token_id]);
  });

  test('GET /v2/tokens lists only the caller org\'s tokens', async () => {
    const res = await call(`${t.url}/v2/tokens`, { key: keyB });
    expect(res.body.tokens.length).toBeGreaterThan(0);
    expect(new Set(res.body.tokens.map((x: Json) => x.organization_id)).size).toBe(1);
    expect(res.body.tokens.every((x: Json) => x.user_id === 'bob')).toBe(true);
  });

  test('GET /v2/tokens/{id} shows one token with its status', async () => {
    const tok = await mint(keyA, { user_id: 'single' });
    const res = await call(`${t.url}/v2/tokens/${tok.token_id}`, { key: keyA });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_id: tok.token_id, status: 'live', user_id: 'single', username: tok.username });
  });
});
