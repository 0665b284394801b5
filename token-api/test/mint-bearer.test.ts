// Seeds 001 and 003: `POST /v2/tokens` with `Authorization: Bearer sk_…`.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { call, startApi, type Json, type TestApi } from './support/server.js';

let t: TestApi;
let orgId: string;
let API_KEY: string;

beforeAll(async () => {
  // Grace 0: replace_existing retires any other token without a session (the grace has its own tests).
  t = await startApi('bearer', { SIGNALGATE_REPLACE_GRACE_SECONDS: '0' });
  ({ org: { id: orgId }, secretKey: API_KEY } = await t.services.orgs.create('Bearer Co'));
});
afterAll(async () => t.stop());

describe('POST /v2/tokens', () => {
  test("seed 001's backend request: { token, expires_at } = await response.json()", async () => {
    const response = await fetch(`${t.url}/v2/tokens`, {
      method: 'POST',
      headers: {
        'Authorization': `Bearer ${API_KEY}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({
        organization_id: orgId,
        user_id: 'user-123',
        permissions: ['publish', 'subscribe'],
        topics: ['chat/#', 'notifications/user-123'],
      }),
    });
    expect(response.ok).toBe(true);
    const { token, expires_at } = (await response.json()) as Json;
    expect(token).toMatch(/^tkn_/);
    expect(Date.parse(expires_at)).toBeGreaterThan(Date.now());
  });

  test("seed 003's exchange: { username, password, expires_at } from { user_id, ttl_seconds } (no organization_id)", async () => {
    const res = await fetch(`${t.url}/v2/tokens`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${API_KEY}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ user_id: 'user_xyz', ttl_seconds: 3600 }),
    });
    expect(res.ok).toBe(true);
    const { username, password, expires_at } = (await res.json()) as Json;
    expect(username).toMatch(new RegExp(`@${orgId}$`));
    expect(password).toMatch(/^tkn_/);
    expect(Date.parse(expires_at) - Date.now()).toBeGreaterThan(3500_000);
    expect((await t.services.connect.checkConnect(username, password)).ok).toBe(true);
  });

  test("seed 000's generateToken examples: acl scoping and ttl: 900", async () => {
    const userId = 'u-900';
    const scoped = await call(`${t.url}/v2/tokens`, {
      key: API_KEY,
      body: { user_id: userId, acl: { publish: [`users/${userId}/messages`], subscribe: [`users/${userId}/#`] } },
    });
    expect(scoped.status).toBe(200);
    const short = await call(`${t.url}/v2/tokens`, { key: API_KEY, body: { user_id: userId, ttl: 900 } });
    expect(short.status).toBe(200);
    expect(short.body.expires_in).toBe(900);
    expect(short.body.user_id).toBe(userId);
  });

  test('user_email alone works here too, and the response names the user', async () => {
    const res = await call(`${t.url}/v2/tokens`, { key: API_KEY, body: { user_email: 'mail@example.com' } });
    expect(res.status).toBe(200);
    expect(res.body.user_email).toBe('mail@example.com');
    expect(typeof res.body.user_id).toBe('string');
  });

  test('neither user_id nor user_email is a 400', async () => {
    const res = await call(`${t.url}/v2/tokens`, { key: API_KEY, body: { ttl_seconds: 60 } });
    expect(res.status).toBe(400);
    expect(res.body.error_description).toMatch(/^user_id: /);
  });

  test('no Authorization header is a 401 unauthorized', async () => {
    const res = await call(`${t.url}/v2/tokens`, { body: { user_id: 'x' } });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('unauthorized');
  });

  test('a body organization_id different from the key\'s org is 403 wrong_organization', async () => {
    const other = await t.services.orgs.create('Someone Else');
    const res = await call(`${t.url}/v2/tokens`, { key: API_KEY, body: { user_id: 'x', organization_id: other.org.id } });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('wrong_organization');
    // …and the other org's own key mints for it.
    const own = await call(`${t.url}/v2/tokens`, { key: other.secretKey, body: { user_id: 'x', organization_id: other.org.id } });
    expect(own.status).toBe(200);
    expect(own.body.organization_id).toBe(other.org.id);
  });

  test('a revoked key is refused with 401', async () => {
    const issued = await t.services.keys.create(orgId, 'to-revoke');
    expect((await call(`${t.url}/v2/tokens`, { key: issued.secretKey, body: { user_id: 'x' } })).status).toBe(200);
    await t.services.keys.revoke(orgId, issued.key.id);
    const res = await call(`${t.url}/v2/tokens`, { key: issued.secretKey, body: { user_id: 'x' } });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_api_key');
  });

  test('a ttl outside the org bounds is a 400 naming ttl_seconds', async () => {
    const res = await call(`${t.url}/v2/tokens`, { key: API_KEY, body: { user_id: 'x', ttl_seconds: 10 } });
    expect(res.status).toBe(400);
    expect(res.body.error_description).toMatch(/^ttl_seconds: /);
  });

  test('replace_existing revokes the user\'s other live tokens that no session uses', async () => {
    const first = await call(`${t.url}/v2/tokens`, { key: API_KEY, body: { user_id: 'replacer' } });
    const second = await call(`${t.url}/v2/tokens`, { key: API_KEY, body: { user_id: 'replacer' } });
    expect((await t.services.connect.checkConnect(first.body.username, first.body.password)).ok).toBe(true);
    const third = await call(`${t.url}/v2/tokens`, { key: API_KEY, body: { user_id: 'replacer', replace_existing: true } });
    expect(third.status).toBe(200);
    for (const old of [first.body, second.body]) {
      expect(await t.services.connect.checkConnect(old.username, old.password)).toMatchObject({ ok: false, reason: 'revoked' });
    }
    expect((await t.services.connect.checkConnect(third.body.username, third.body.password)).ok).toBe(true);
    const live = await call(`${t.url}/v2/tokens?user_id=replacer&live=true`, { key: API_KEY });
    expect(live.body.tokens.map((x: Json) => x.token_id)).toEqual([third.body.token_id]);
  });
});

describe('well-formed Unicode (issue 14, item 7)', () => {
  test('user ids and e-mails with a lone surrogate are refused: two of them would be stored as one user', async () => {
    // JSON escapes reach the server as lone UTF-16 surrogates; UTF-8 storage turns both into U+FFFD.
    for (const body of ['{"user_id":"eve\\ud800"}', '{"user_id":"eve\\udbff"}', '{"user_email":"eve\\udc00@example.com"}']) {
      const res = await call(`${t.url}/v2/tokens`, { key: API_KEY, body });
      expect([body, res.status, res.body.error]).toEqual([body, 400, 'invalid_request']);
    }
    expect((await call(`${t.url}/v2/tokens`, { key: API_KEY, body: '{"user_id":"eve\\ud83d\\ude00"}' })).status).toBe(200);
  });

  test('topics in scopes with a lone surrogate are refused', async () => {
    const res = await call(`${t.url}/v2/tokens`, { key: API_KEY, body: '{"user_id":"topics","permissions":["subscribe"],"topics":["chat/\\ud800"]}' });
    expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
  });
});
