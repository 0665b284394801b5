// Organisations and API keys through the admin API, incl. rotation with overlap.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ADMIN_KEY, call, startApi, type Json, type TestApi } from './support/server.js';

let t: TestApi;
let orgId: string;
let firstKey: string;

beforeAll(async () => {
  t = await startApi('admin-orgs');
  const res = await call(`${t.url}/v2/admin/orgs`, { key: ADMIN_KEY, body: { name: 'Acme' } });
  expect(res.status).toBe(201);
  ({ organization_id: orgId, secret_key: firstKey } = res.body);
});
afterAll(async () => t.stop());

const mintWith = (key: string) => call(`${t.url}/v2/tokens`, { key, body: { user_id: 'u' } });

describe('organizations', () => {
  test('create returns {organization_id, secret_key}; the key mints', async () => {
    expect(orgId).toMatch(/^org_[a-z0-9]{12}$/);
    expect(firstKey).toMatch(/^sk_/);
    expect((await mintWith(firstKey)).status).toBe(200);
  });

  test('create without a name is 400 naming it', async () => {
    const res = await call(`${t.url}/v2/admin/orgs`, { key: ADMIN_KEY, body: {} });
    expect(res.status).toBe(400);
    expect(res.body.error_description).toMatch(/^name: /);
  });

  test('get and update settings: TTL bounds (org key allowed) and limits (admin key)', async () => {
    const get = await call(`${t.url}/v2/admin/orgs/${orgId}`, { key: ADMIN_KEY });
    expect(get.body).toMatchObject({ organization_id: orgId, name: 'Acme', default_ttl_seconds: 3600 });
    const ttl = await call(`${t.url}/v2/admin/orgs/${orgId}`, { method: 'PATCH', key: firstKey, body: { min_ttl_seconds: 30, default_ttl_seconds: 600, max_ttl_seconds: 7200 } });
    expect(ttl.status).toBe(200);
    expect(ttl.body).toMatchObject({ min_ttl_seconds: 30, default_ttl_seconds: 600, max_ttl_seconds: 7200 });
    expect((await mintWith(firstKey)).body.expires_in).toBe(600);
    const limits = await call(`${t.url}/v2/admin/orgs/${orgId}`, { method: 'PATCH', key: ADMIN_KEY, body: { limits: { max_connections: 10, max_payload_bytes: null } } });
    expect(limits.body.limits).toMatchObject({ max_connections: 10, max_payload_bytes: null });
    const bad = await call(`${t.url}/v2/admin/orgs/${orgId}`, { method: 'PATCH', key: ADMIN_KEY, body: { min_ttl_seconds: 9000 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error_description).toMatch(/^min_ttl_seconds: /);
  });

  test('max_connects_per_second: unlimited (null) at creation, set and removed by the admin key, read back', async () => {
    const created = await call(`${t.url}/v2/admin/orgs`, { key: ADMIN_KEY, body: { name: 'Connect rate' } });
    expect(created.body.organization.limits).toMatchObject({ max_connects_per_second: null });
    const id = created.body.organization_id as string;
    const set = await call(`${t.url}/v2/admin/orgs/${id}`, { method: 'PATCH', key: ADMIN_KEY, body: { limits: { max_connects_per_second: 20 } } });
    expect(set.status).toBe(200);
    expect(set.body.limits).toEqual({ max_connections: null, max_messages_per_second: null, max_bytes_per_second: null, max_payload_bytes: null,
      token_messages_per_second: null, max_connects_per_second: 20, max_subscriptions_per_connection: 1000, max_retained_messages: 10_000,
      max_retained_bytes: 64 * 1024 * 1024, max_queued_messages: 1000, max_queued_bytes: 16 * 1024 * 1024,
      max_history_topics: 1000, max_history_bytes: 64 * 1024 * 1024 });
    expect((await call(`${t.url}/v2/admin/orgs/${id}`, { key: ADMIN_KEY })).body.limits.max_connects_per_second).toBe(20);
    const listed = (await call(`${t.url}/v2/admin/orgs`, { key: ADMIN_KEY })).body.organizations.find((o: Json) => o.organization_id === id);
    expect(listed.limits.max_connects_per_second).toBe(20);
    const other = await call(`${t.url}/v2/admin/orgs/${id}`, { method: 'PATCH', key: ADMIN_KEY, body: { limits: { max_connections: 5 } } });
    expect(other.body.limits).toMatchObject({ max_connections: 5, max_connects_per_second: 20 });
    const removed = await call(`${t.url}/v2/admin/orgs/${id}`, { method: 'PATCH', key: ADMIN_KEY, body: { limits: { max_connects_per_second: null } } });
    expect(removed.body.limits).toMatchObject({ max_connections: 5, max_connects_per_second: null });
  });

  test('max_connects_per_second must be a positive integer or null (400 naming it); an org key may not set it (403)', async () => {
    for (const bad of [0, -1, 1.5, '10', true]) {
      const res = await call(`${t.url}/v2/admin/orgs/${orgId}`, { method: 'PATCH', key: ADMIN_KEY, body: { limits: { max_connects_per_second: bad } } });
      expect([bad, res.status]).toEqual([bad, 400]);
      expect(res.body.error_description).toMatch(/^limits\.max_connects_per_second: /);
    }
    const byOrg = await call(`${t.url}/v2/admin/orgs/${orgId}`, { method: 'PATCH', key: firstKey, body: { limits: { max_connects_per_second: 100000 } } });
    expect(byOrg.status).toBe(403);
    expect((await call(`${t.url}/v2/admin/orgs/${orgId}`, { key: ADMIN_KEY })).body.limits.max_connects_per_second).toBeNull();
  });
});

describe('API keys', () => {
  test('create shows the secret once; list shows prefix/created/last_used but never the secret', async () => {
    const created = await call(`${t.url}/v2/admin/orgs/${orgId}/keys`, { key: ADMIN_KEY, body: { name: 'backend' } });
    expect(created.status).toBe(201);
    expect(created.body.secret_key).toMatch(/^sk_/);
    expect(created.body.secret_key.startsWith(created.body.prefix)).toBe(true);
    await mintWith(created.body.secret_key);
    const list = await call(`${t.url}/v2/admin/orgs/${orgId}/keys`, { key: ADMIN_KEY });
    const row = list.body.keys.find((k: Json) => k.key_id === created.body.key_id);
    expect(row).toMatchObject({ name: 'backend', status: 'active', revoked_at: null });
    expect(typeof row.last_used_at).toBe('string');
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret_key);
    expect(JSON.stringify(list.body)).not.toMatch(/argon2|"hash"/);
  });

  test('revoke stops the key at once', async () => {
    const created = (await call(`${t.url}/v2/admin/orgs/${orgId}/keys`, { key: ADMIN_KEY, body: {} })).body;
    expect((await mintWith(created.secret_key)).status).toBe(200);
    const res = await call(`${t.url}/v2/admin/orgs/${orgId}/keys/${created.key_id}/revoke`, { method: 'POST', key: ADMIN_KEY });
    expect(res.body.status).toBe('revoked');
    expect((await mintWith(created.secret_key)).status).toBe(401);
  });

  test('the tokens a key minted say so, and die with it unless tokens=keep', async () => {
    for (const mode of ['revoke', 'keep'] as const) {
      const created = (await call(`${t.url}/v2/admin/orgs/${orgId}/keys`, { key: ADMIN_KEY, body: {} })).body;
      const minted = (await mintWith(created.secret_key)).body;
      const listed = (await call(`${t.url}/v2/tokens/${minted.token_id}`, { key: firstKey })).body;
      expect(listed.api_key_id).toBe(created.key_id);
      const res = await call(`${t.url}/v2/admin/orgs/${orgId}/keys/${created.key_id}/revoke${mode === 'keep' ? '?tokens=keep' : ''}`, { method: 'POST', key: ADMIN_KEY });
      expect(res.body.revoked_token_ids).toEqual(mode === 'keep' ? [] : [minted.token_id]);
      const after = (await call(`${t.url}/v2/tokens/${minted.token_id}`, { key: firstKey })).body;
      expect([mode, after.status, after.revoke_reason]).toEqual(mode === 'keep' ? [mode, 'live', null] : [mode, 'revoked', 'key_revoked']);
    }
  });

  test('rotate with overlap: the old key works during the overlap, the new key works', async () => {
    const old = (await call(`${t.url}/v2/admin/orgs/${orgId}/keys`, { key: ADMIN_KEY, body: {} })).body;
    const rotated = await call(`${t.url}/v2/admin/orgs/${orgId}/keys/${old.key_id}/rotate`, { key: ADMIN_KEY, body: { overlap_seconds: 3600 } });
    expect(rotated.status).toBe(201);
    expect(rotated.body.secret_key).toMatch(/^sk_/);
    expect(rotated.body.previous).toMatchObject({ key_id: old.key_id, replaced_by: rotated.body.key_id, status: 'active' });
    expect((await mintWith(old.secret_key)).status).toBe(200);
    expect((await mintWith(rotated.body.secret_key)).status).toBe(200);
  });

  test('rotate with overlap 0 stops the old key at once (also after it was cached)', async () => {
    const old = (await call(`${t.url}/v2/admin/orgs/${orgId}/keys`, { key: ADMIN_KEY, body: {} })).body;
    expect((await mintWith(old.secret_key)).status).toBe(200);
    const rotated = await call(`${t.url}/v2/admin/orgs/${orgId}/keys/${old.key_id}/rotate`, { key: ADMIN_KEY, body: { overlap_seconds: 0 } });
    expect(rotated.status).toBe(201);
    expect((await mintWith(old.secret_key)).status).toBe(401);
    expect((await mintWith(rotated.body.secret_key)).status).toBe(200);
  });

  test('an org key can rotate itself (dashboard), and a revoked key cannot be rotated (409)', async () => {
    const own = (await call(`${t.url}/v2/admin/orgs/${orgId}/keys`, { key: ADMIN_KEY, body: {} })).body;
    const self = await call(`${t.url}/v2/admin/orgs/${orgId}/keys/${own.key_id}/rotate`, { key: own.secret_key, body: { overlap_seconds: 60 } });
    expect(self.status).toBe(201);
    await call(`${t.url}/v2/admin/orgs/${orgId}/keys/${own.key_id}/revoke`, { method: 'POST', key: ADMIN_KEY });
    const again = await call(`${t.url}/v2/admin/orgs/${orgId}/keys/${own.key_id}/rotate`, { key: ADMIN_KEY, body: {} });
    expect(again.status).toBe(409);
  });

  test('an unknown key id is 404', async () => {
    expect((await call(`${t.url}/v2/admin/orgs/${orgId}/keys/key_nope/revoke`, { method: 'POST', key: ADMIN_KEY })).status).toBe(404);
  });
});
