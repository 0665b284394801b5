// Organisation UUIDs beside short ids, the v1 create shape (CloudSignal ai-chat), and the identity
// provider list and its management.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ADMIN_KEY, call, expectErrorShape, startApi, type TestApi } from './support/server.js';

let t: TestApi;
let orgId: string;
let orgUuid: string;
let key: string;
let otherKey: string;
const SECRET = 'a-supabase-style-jwt-secret-of-at-least-32-bytes';

beforeAll(async () => {
  t = await startApi('org-ids');
  const created = await t.services.orgs.create('Ids Co');
  ({ id: orgId, uuid: orgUuid } = created.org);
  key = created.secretKey;
  otherKey = (await t.services.orgs.create('Other Co')).secretKey;
});
afterAll(async () => t.stop());

describe('organisation UUIDs', () => {
  test('every org has a version-4 UUID, shown beside its short id', async () => {
    expect(orgUuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const res = await call(`${t.url}/v2/admin/orgs/${orgId}`, { key: ADMIN_KEY });
    expect(res.body).toMatchObject({ organization_id: orgId, organization_uuid: orgUuid });
  });

  test.each([
    ['the short id', () => orgId],
    ['the UUID', () => orgUuid],
    ['the UUID in capitals', () => orgUuid.toUpperCase()],
  ])('admin paths accept %s', async (_label, ref) => {
    for (const sub of ['', '/keys', '/rules', '/integrations', '/tokens', '/sessions', '/providers', '/audit']) {
      const res = await call(`${t.url}/v2/admin/orgs/${ref()}${sub}`, { key });
      expect([sub, res.status]).toEqual([sub, 200]);
    }
  });

  test("the operator's audit query takes either id", async () => {
    const byId = await call(`${t.url}/v2/admin/audit?organization_id=${orgId}`, { key: ADMIN_KEY });
    const byUuid = await call(`${t.url}/v2/admin/audit?organization_id=${orgUuid}`, { key: ADMIN_KEY });
    expect(byId.body.entries.length).toBeGreaterThan(0);
    expect(byUuid.body).toEqual(byId.body);
  });

  test("another org's key gets 403 on this org's UUID, as on its short id", async () => {
    for (const ref of [orgId, orgUuid]) {
      const res = await call(`${t.url}/v2/admin/orgs/${ref}/keys`, { key: otherKey });
      expect([res.status, res.body.error]).toEqual([403, 'wrong_organization']);
    }
  });

  test('mint bodies accept either id; an unknown UUID is 404 organization_not_found', async () => {
    for (const ref of [orgId, orgUuid]) {
      const created = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: ref, secret_key: key, user_email: 'u@example.com' } });
      expect(created.status).toBe(200);
      const bearer = await call(`${t.url}/v2/tokens`, { key, body: { organization_id: ref, user_id: 'bearer-user' } });
      expect(bearer.status).toBe(200);
      expect(bearer.body).toMatchObject({ organization_id: orgId, organization_uuid: orgUuid });
    }
    const unknown = await call(`${t.url}/v2/tokens/create`, {
      body: { organization_id: '00000000-0000-4000-8000-000000000000', secret_key: key, user_email: 'u@example.com' },
    });
    expect([unknown.status, unknown.body.error]).toEqual([404, 'organization_not_found']);
    expectErrorShape(unknown.body);
  });
});

describe('POST /v1/create', () => {
  test('answers the v1 fields beside the v2 superset', async () => {
    const res = await call(`${t.url}/v1/create`, {
      body: { organization_id: orgUuid, secret_key: key, user_email: 'ai-chat@example.com', replace_existing: false },
    });
    expect(res.status).toBe(200);
    expect(res.body.mqtt_username).toBe(res.body.mqtt_credentials.username);
    expect(res.body.token_password).toBe(res.body.mqtt_credentials.password);
    expect(res.body.org_short_id).toBe(orgId);
    expect(res.body).toMatchObject({ organization_id: orgId, organization_uuid: orgUuid, provider: 'cloudsignal' });
    expect(typeof res.body.expires_at).toBe('string');
    expect(typeof res.body.refresh_recommended_at).toBe('string');
    expect((await t.services.connect.checkConnect(res.body.mqtt_username, res.body.token_password)).ok).toBe(true);
  });

  test('errors carry detail, which ai-chat shows', async () => {
    const res = await call(`${t.url}/v1/create`, { body: { organization_id: orgId, secret_key: `sk_${'x'.repeat(43)}`, user_email: 'a@example.com' } });
    expect(res.status).toBe(401);
    expectErrorShape(res.body);
    expect(res.body.detail).toMatch(/key/i);
  });
});

describe('identity providers', () => {
  test('added through the admin API with the org key; the public list names it without any secret', async () => {
    const added = await call(`${t.url}/v2/admin/orgs/${orgUuid}/providers`, {
      key, body: { type: 'supabase', issuer: 'https://abcd.supabase.co/auth/v1', secret: SECRET },
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ provider: 'supabase', type: 'supabase', verification: 'secret', audience: 'authenticated', user_id_claim: 'sub', email_claim: 'email' });
    expect(JSON.stringify(added.body)).not.toContain(SECRET);

    for (const ref of [orgId, orgUuid]) {
      const list = await call(`${t.url}/v2/providers?organization_id=${ref}`);
      expect(list.status).toBe(200);
      expect(list.body.providers).toEqual([expect.objectContaining({ provider: 'supabase', type: 'supabase', issuer: 'https://abcd.supabase.co/auth/v1' })]);
      expect(JSON.stringify(list.body)).not.toContain(SECRET);
    }
  });

  test('a second provider with the same name or issuer is 409; a bad config is 400 naming the field', async () => {
    const dup = await call(`${t.url}/v2/admin/orgs/${orgId}/providers`, { key, body: { type: 'supabase', issuer: 'https://other.supabase.co/auth/v1', secret: SECRET } });
    expect([dup.status, dup.body.error]).toEqual([409, 'conflict']);
    const sameIssuer = await call(`${t.url}/v2/admin/orgs/${orgId}/providers`, {
      key, body: { name: 'again', type: 'supabase', issuer: 'https://abcd.supabase.co/auth/v1', secret: SECRET },
    });
    expect([sameIssuer.status, sameIssuer.body.error]).toEqual([409, 'conflict']);
    const badIssuer = await call(`${t.url}/v2/admin/orgs/${orgId}/providers`, { key, body: { name: 'x', type: 'oidc', issuer: 'not a url', audience: 'app' } });
    expect([badIssuer.status, badIssuer.body.error]).toEqual([400, 'invalid_request']);
    expect(badIssuer.body.error_description).toMatch(/issuer/);
    const badType = await call(`${t.url}/v2/admin/orgs/${orgId}/providers`, { key, body: { type: 'myspace', issuer: 'https://x.example' } });
    expect([badType.status, badType.body.error]).toEqual([400, 'invalid_request']);
  });

  test.each([
    ['http://idp.example.com/jwks', 'must be https'],
    ['https://127.0.0.1/jwks', 'private'],
    ['https://[::1]/jwks', 'private'],
    ['https://169.254.169.254/latest/meta-data', 'private'],
    ['https://10.1.2.3/jwks', 'private'],
    ['https://[::ffff:7f00:1]/jwks', 'private'],
    ['https://localhost/jwks', 'local host'],
    ['https://keycloak/jwks', 'local host'],
  ])("an org's own key may not point a provider's keys at %s (403); the operator may", async (jwksUrl, why) => {
    const body = { name: `p${Math.random().toString(36).slice(2, 8)}`, type: 'oidc', issuer: `https://issuer-${Math.random().toString(36).slice(2, 8)}.example.com`, jwks_url: jwksUrl, audience: 'app' };
    const byOrg = await call(`${t.url}/v2/admin/orgs/${orgId}/providers`, { key, body });
    expect([byOrg.status, byOrg.body.error]).toEqual([403, 'forbidden']);
    expect(byOrg.body.error_description).toContain(why);
    const byOperator = await call(`${t.url}/v2/admin/orgs/${orgId}/providers`, { key: ADMIN_KEY, body });
    expect(byOperator.status).toBe(201);
    await call(`${t.url}/v2/admin/orgs/${orgId}/providers/${body.name}`, { method: 'DELETE', key: ADMIN_KEY });
  });

  test("an org's own key may not point discovery at a private issuer either", async () => {
    const res = await call(`${t.url}/v2/admin/orgs/${orgId}/providers`, { key, body: { name: 'disc', type: 'oidc', issuer: 'https://192.168.1.10/realms/x', audience: 'app' } });
    expect([res.status, res.body.error]).toEqual([403, 'forbidden']);
    expect(res.body.error_description).toMatch(/^issuer /);
  });

  test('an unknown org is 404 organization_not_found (the SDK reports ORG_NOT_FOUND); a missing query is 400', async () => {
    const res = await call(`${t.url}/v2/providers?organization_id=org_zzzzzzzzzzzz`);
    expect([res.status, res.body.error]).toEqual([404, 'organization_not_found']);
    expect((await call(`${t.url}/v2/providers`)).status).toBe(400);
  });

  test('removed: gone from the list; removing again is 404 provider_not_found', async () => {
    await call(`${t.url}/v2/admin/orgs/${orgId}/providers`, { key, body: { name: 'temp', type: 'oidc', issuer: 'https://idp.example.com', jwks_url: 'https://idp.example.com/jwks', audience: 'app' } });
    const del = await call(`${t.url}/v2/admin/orgs/${orgId}/providers/temp`, { method: 'DELETE', key });
    expect(del.status).toBe(200);
    const list = await call(`${t.url}/v2/providers?organization_id=${orgId}`);
    expect(list.body.providers.map((p: { provider: string }) => p.provider)).toEqual(['supabase']);
    const again = await call(`${t.url}/v2/admin/orgs/${orgId}/providers/temp`, { method: 'DELETE', key });
    expect([again.status, again.body.error]).toEqual([404, 'provider_not_found']);
  });

  test('adding and removing is audited', async () => {
    const events = (await t.services.store.audit.query({ orgId })).map((a) => a.event);
    expect(events).toEqual(expect.arrayContaining(['provider.added', 'provider.removed']));
  });
});
