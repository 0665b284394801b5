// The admin API refuses callers without the admin key; an org key reaches only its own org.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ADMIN_KEY, call, expectErrorShape, startApi, type TestApi } from './support/server.js';

let t: TestApi;
let orgA: string;
let keyA: string;
let orgB: string;

beforeAll(async () => {
  t = await startApi('admin-access');
  ({ org: { id: orgA }, secretKey: keyA } = await t.services.orgs.create('A'));
  ({ org: { id: orgB } } = await t.services.orgs.create('B'));
});
afterAll(async () => t.stop());

describe('admin authentication', () => {
  test('no key → 401, a wrong admin key → 401, on every kind of admin route', async () => {
    for (const [method, path] of [['GET', '/v2/admin/orgs'], ['GET', `/v2/admin/orgs/${orgA}/keys`], ['GET', `/v2/admin/orgs/${orgA}/audit`], ['GET', '/v2/admin/audit']] as const) {
      const none = await call(`${t.url}${path}`, { method });
      expect(none.status).toBe(401);
      expectErrorShape(none.body);
      const wrong = await call(`${t.url}${path}`, { method, key: 'adm_wrong-key-000000000000000000000000' });
      expect(wrong.status).toBe(401);
      const wrongHeader = await call(`${t.url}${path}`, { method, headers: { 'X-Admin-Key': 'adm_wrong-key-000000000000000000000000' } });
      expect(wrongHeader.status).toBe(401);
    }
    const post = await call(`${t.url}/v2/admin/orgs`, { body: { name: 'Nope' } });
    expect(post.status).toBe(401);
  });

  test('the admin key works as Bearer and as X-Admin-Key', async () => {
    expect((await call(`${t.url}/v2/admin/orgs`, { key: ADMIN_KEY })).status).toBe(200);
    const viaHeader = await call(`${t.url}/v2/admin/orgs`, { headers: { 'X-Admin-Key': ADMIN_KEY } });
    expect(viaHeader.status).toBe(200);
    expect(viaHeader.body.organizations.map((o: { organization_id: string }) => o.organization_id)).toEqual(expect.arrayContaining([orgA, orgB]));
  });

  test("an org key sees only its own org: listing shows one, another org's routes are 403 wrong_organization", async () => {
    const list = await call(`${t.url}/v2/admin/orgs`, { key: keyA });
    expect(list.body.organizations.map((o: { organization_id: string }) => o.organization_id)).toEqual([orgA]);
    for (const path of [`/v2/admin/orgs/${orgB}`, `/v2/admin/orgs/${orgB}/keys`, `/v2/admin/orgs/${orgB}/rules`, `/v2/admin/orgs/${orgB}/tokens`,
      `/v2/admin/orgs/${orgB}/sessions`, `/v2/admin/orgs/${orgB}/audit`, `/v2/admin/orgs/${orgB}/integrations`]) {
      const res = await call(`${t.url}${path}`, { key: keyA });
      expect([path, res.status, res.body.error]).toEqual([path, 403, 'wrong_organization']);
    }
    const write = await call(`${t.url}/v2/admin/orgs/${orgB}/rules/default`, { method: 'PUT', key: keyA, body: { publish: ['#'], subscribe: ['#'] } });
    expect(write.status).toBe(403);
    const mintKey = await call(`${t.url}/v2/admin/orgs/${orgB}/keys`, { key: keyA, body: {} });
    expect(mintKey.status).toBe(403);
  });

  test('an org key reaches its own org', async () => {
    expect((await call(`${t.url}/v2/admin/orgs/${orgA}`, { key: keyA })).body.organization_id).toBe(orgA);
    expect((await call(`${t.url}/v2/admin/orgs/${orgA}/keys`, { key: keyA })).status).toBe(200);
  });

  test('operator-only routes refuse org keys with 403', async () => {
    expect((await call(`${t.url}/v2/admin/orgs`, { key: keyA, body: { name: 'Sneaky' } })).status).toBe(403);
    expect((await call(`${t.url}/v2/admin/audit`, { key: keyA })).status).toBe(403);
    const limits = await call(`${t.url}/v2/admin/orgs/${orgA}`, { method: 'PATCH', key: keyA, body: { limits: { max_connections: 100000 } } });
    expect(limits.status).toBe(403);
  });

  test('an unknown org is 404 for the admin', async () => {
    const res = await call(`${t.url}/v2/admin/orgs/org_zzzzzzzzzzzz`, { key: ADMIN_KEY });
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('organization_not_found');
  });
});
