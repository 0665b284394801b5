// Seeds 000 and 002: `POST /v2/tokens/create` with the secret key in the body.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { call, expectErrorShape, startApi, type Json, type TestApi } from './support/server.js';

let t: TestApi;
let orgId: string;
let secretKey: string;

beforeAll(async () => {
  t = await startApi('create');
  ({ org: { id: orgId }, secretKey } = await t.services.orgs.create('Seed Co'));
});
afterAll(async () => t.stop());

const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

describe('POST /v2/tokens/create', () => {
  test("seed 000's server route: the documented request gets the documented response", async () => {
    // Verbatim shape of seed 000's "Create the token endpoint" fetch.
    const response = await fetch(`${t.url}/v2/tokens/create`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        organization_id: orgId,
        secret_key: secretKey,
        user_email: 'user@example.com',
      }),
    });
    expect(response.ok).toBe(true);
    expect(response.status).toBe(200);
    const data = (await response.json()) as Json;
    const out = {
      username: data.mqtt_credentials.username,
      password: data.mqtt_credentials.password,
      tokenId: data.token_id,
      expiresAt: data.expires_at,
      refreshAt: data.refresh_recommended_at,
    };
    expect(out.username).toMatch(new RegExp(`^u[a-z0-9]{11}@${orgId}$`));
    expect(out.password).toMatch(/^tkn_[A-Za-z0-9_-]{43}$/);
    expect(out.tokenId).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.expiresAt).toMatch(ISO_SECONDS);
    expect(out.refreshAt).toMatch(ISO_SECONDS);
    // The credential really opens an MQTT connection.
    expect((await t.services.connect.checkConnect(out.username, out.password)).ok).toBe(true);
  });

  test("seed 000's reference response: every documented field, with the documented values", async () => {
    const res = await call(`${t.url}/v2/tokens/create`, {
      body: { organization_id: orgId, secret_key: secretKey, user_email: 'user@example.com', integration_id: undefined, replace_existing: true },
    });
    expect(res.status).toBe(200);
    const b = res.body;
    expect(b.access_token).toMatch(/^tkn_/);
    expect(b.token_type).toBe('Bearer');
    expect(b.expires_in).toBe(3600);
    expect(b.mqtt_credentials).toEqual({ username: b.username, password: b.access_token });
    expect(b.password).toBe(b.access_token);
    expect(b.token).toBe(b.access_token);
    expect(b.user_email).toBe('user@example.com');
    expect(b.provider).toBe('cloudsignal');
    expect(b.organization_id).toBe(orgId);
    expect(b.integration_id).toBeNull();
    const issuedApprox = Date.parse(b.expires_at) - 3600_000;
    expect(Math.abs(issuedApprox - Date.now())).toBeLessThan(60_000);
    // refresh_recommended_at = issue time + 90 % of the TTL (3240 s), both truncated to the second.
    expect(Date.parse(b.expires_at) - Date.parse(b.refresh_recommended_at)).toBeGreaterThanOrEqual(359_000);
    expect(Date.parse(b.expires_at) - Date.parse(b.refresh_recommended_at)).toBeLessThanOrEqual(361_000);
  });

  test("seed 002's route: destructures access_token, token_id, expires_at, refresh_recommended_at", async () => {
    const response = await fetch(`${t.url}/v2/tokens/create`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ organization_id: orgId, secret_key: secretKey, user_email: 'user@example.com' }),
    });
    expect(response.ok).toBe(true);
    const data = (await response.json()) as Json;
    const { accessToken, tokenId, expiresAt, refreshAt } = {
      accessToken: data.access_token, tokenId: data.token_id, expiresAt: data.expires_at, refreshAt: data.refresh_recommended_at,
    };
    expect(accessToken).toMatch(/^tkn_/);
    expect(typeof tokenId).toBe('string');
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.parse(refreshAt));
  });

  test('the same email maps to the same MQTT username (stable user_ref)', async () => {
    const a = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: orgId, secret_key: secretKey, user_email: 'same@example.com' } });
    const b = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: orgId, secret_key: secretKey, user_email: 'same@example.com' } });
    expect(a.body.username).toBe(b.body.username);
    expect(a.body.token_id).not.toBe(b.body.token_id);
  });

  test('integration_id binds the integration rule set (seed 000: optional-source-tag)', async () => {
    await t.services.rules.create(orgId, 'source-rules', { publish: ['src/#'], subscribe: ['src/#'], presence: false, history: false });
    await t.services.integrations.create(orgId, 'optional-source-tag', 'source-rules');
    const res = await call(`${t.url}/v2/tokens/create`, {
      body: { organization_id: orgId, secret_key: secretKey, user_email: 'user@example.com', integration_id: 'optional-source-tag', replace_existing: true },
    });
    expect(res.status).toBe(200);
    expect(res.body.integration_id).toBe('optional-source-tag');
  });

  test('an unknown integration_id is a 404 integration_not_found', async () => {
    const res = await call(`${t.url}/v2/tokens/create`, {
      body: { organization_id: orgId, secret_key: secretKey, user_email: 'user@example.com', integration_id: 'nope' },
    });
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('integration_not_found');
  });

  test('legacy cs_ keys are accepted the same way', async () => {
    // A cs_ key is stored like any other key: insert one through the store with its argon2 hash.
    const { hashLongLivedSecret, publicPrefixOf } = await import('@signalgate/shared');
    const legacy = `cs_${'L'.repeat(40)}`;
    await t.services.store.apiKeys.insert({ id: 'key_legacy000001', orgId, prefix: publicPrefixOf(legacy), hash: await hashLongLivedSecret(legacy), name: 'legacy', createdAt: Date.now(), expiresAt: null });
    const res = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: orgId, secret_key: legacy, user_email: 'old@example.com' } });
    expect(res.status).toBe(200);
    expect(res.body.mqtt_credentials.username).toMatch(new RegExp(`@${orgId}$`));
  });

  test('a wrong secret key is a 401 invalid_api_key, without echoing the key', async () => {
    const wrong = `sk_${'x'.repeat(43)}`;
    const res = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: orgId, secret_key: wrong, user_email: 'user@example.com' } });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_api_key');
    expectErrorShape(res.body);
    expect(JSON.stringify(res.body)).not.toContain(wrong);
  });

  test('a missing user_email is a 400 naming the field', async () => {
    const res = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: orgId, secret_key: secretKey } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.error_description).toMatch(/^user_email: /);
  });

  test('an unknown organization with a valid key is 404, another existing org is 403 wrong_organization', async () => {
    const unknown = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: 'org_doesnotexist', secret_key: secretKey, user_email: 'a@example.com' } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe('organization_not_found');
    const other = await t.services.orgs.create('Other Co');
    const wrong = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: other.org.id, secret_key: secretKey, user_email: 'a@example.com' } });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error).toBe('wrong_organization');
  });

  test('an unknown organization with an invalid key is 401 (no org enumeration without a key)', async () => {
    const res = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: 'org_doesnotexist', secret_key: `sk_${'y'.repeat(43)}`, user_email: 'a@example.com' } });
    expect(res.status).toBe(401);
  });
});
