// Rule sets and integrations through the admin API.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ADMIN_KEY, call, startApi, type Json, type TestApi } from './support/server.js';

let t: TestApi;
let orgId: string;
let key: string;

beforeAll(async () => {
  t = await startApi('admin-rules');
  ({ org: { id: orgId }, secretKey: key } = await t.services.orgs.create('Rules Co'));
});
afterAll(async () => t.stop());

const base = () => `${t.url}/v2/admin/orgs/${orgId}`;

describe('rule sets', () => {
  test('the default set exists and is replaced with PUT …/rules/default; mints then respect it', async () => {
    const list = await call(`${base()}/rules`, { key: ADMIN_KEY });
    expect(list.body.rule_sets[0]).toMatchObject({ name: 'default', is_default: true, publish: ['#', '$notifications/#', '$spaces/#'] });
    const put = await call(`${base()}/rules/default`, { method: 'PUT', key: ADMIN_KEY, body: { publish: ['chat/#'], subscribe: ['chat/#', 'users/${user_id}/#'], presence: true } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ is_default: true, publish: ['chat/#'], presence: true, history: false });
    expect((await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'x', topics: ['news/#'] } })).status).toBe(403);
  });

  test('create, get (by id and name), update, delete', async () => {
    const created = await call(`${base()}/rules`, { key, body: { name: 'support', publish: ['support/#'], subscribe: ['support/#'] } });
    expect(created.status).toBe(201);
    const id = created.body.rule_set_id;
    expect((await call(`${base()}/rules/${id}`, { key })).body.name).toBe('support');
    expect((await call(`${base()}/rules/support`, { key })).body.rule_set_id).toBe(id);
    const updated = await call(`${base()}/rules/support`, { method: 'PUT', key, body: { publish: [], subscribe: ['support/+/read'], history: true } });
    expect(updated.body).toMatchObject({ publish: [], subscribe: ['support/+/read'], history: true });
    expect((await call(`${base()}/rules/${id}`, { method: 'DELETE', key })).body).toEqual({ deleted: true });
    expect((await call(`${base()}/rules/${id}`, { key })).status).toBe(404);
  });

  test('invalid filters, unknown placeholders and reserved $ topics are 400s naming the filter', async () => {
    const bad = await call(`${base()}/rules`, { key, body: { name: 'bad', publish: ['a/#/b'], subscribe: [] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error_description).toMatch(/^publish\[0\]: /);
    const ph = await call(`${base()}/rules`, { key, body: { name: 'bad', publish: ['u/${nope}'], subscribe: [] } });
    expect(ph.body.error_description).toContain('unknown placeholder');
    const sys = await call(`${base()}/rules`, { key, body: { name: 'bad', publish: [], subscribe: ['$SYS/#'] } });
    expect(sys.status).toBe(400);
    const name = await call(`${base()}/rules`, { key, body: { name: 'has space', publish: [], subscribe: [] } });
    expect(name.body.error_description).toMatch(/^name: /);
  });

  test('a duplicate name is 409; the default set cannot be deleted (409)', async () => {
    await call(`${base()}/rules`, { key, body: { name: 'dup', publish: [], subscribe: [] } });
    expect((await call(`${base()}/rules`, { key, body: { name: 'dup', publish: [], subscribe: [] } })).status).toBe(409);
    expect((await call(`${base()}/rules/default`, { method: 'DELETE', key })).status).toBe(409);
  });
});

describe('integrations', () => {
  test('create binds a rule set; list shows it; a set in use cannot be deleted; delete removes it', async () => {
    await call(`${base()}/rules`, { key: ADMIN_KEY, body: { name: 'web', publish: ['chat/web/#'], subscribe: ['chat/web/#'] } });
    const created = await call(`${base()}/integrations`, { key: ADMIN_KEY, body: { integration_id: 'web-app', rule_set: 'web', description: 'browser' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ integration_id: 'web-app', rule_set: 'web', description: 'browser' });
    const list = await call(`${base()}/integrations`, { key });
    expect(list.body.integrations.map((i: Json) => i.integration_id)).toEqual(['web-app']);
    const minted = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'w', integration_id: 'web-app' } });
    expect(minted.body.integration_id).toBe('web-app');
    expect((await call(`${base()}/rules/web`, { method: 'DELETE', key })).status).toBe(409);
    expect((await call(`${base()}/integrations/web-app`, { method: 'DELETE', key })).body).toEqual({ deleted: true });
    expect((await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'w', integration_id: 'web-app' } })).status).toBe(404);
  });

  test('unknown rule set → 404, bad id → 400, duplicate → 409', async () => {
    expect((await call(`${base()}/integrations`, { key, body: { integration_id: 'x', rule_set: 'missing' } })).status).toBe(404);
    expect((await call(`${base()}/integrations`, { key, body: { integration_id: 'bad id!', rule_set: 'default' } })).status).toBe(400);
    await call(`${base()}/integrations`, { key, body: { integration_id: 'twice', rule_set: 'default' } });
    expect((await call(`${base()}/integrations`, { key, body: { integration_id: 'twice', rule_set: 'default' } })).status).toBe(409);
  });
});

describe('deny rules', () => {
  test('a rule set stores deny lists, validates them naming the field, and mints and explains with them', async () => {
    const { org, secretKey } = await t.services.orgs.create('Deny Co');
    const at = `${t.url}/v2/admin/orgs/${org.id}`;
    const bad = await call(`${at}/rules/default`, { method: 'PUT', key: secretKey, body: { publish: ['#'], subscribe: ['#'], deny_publish: ['a/#/b'] } });
    expect([bad.status, bad.body.error]).toEqual([400, 'invalid_request']);
    expect(bad.body.error_description).toMatch(/^deny_publish\[0\]: /);
    const put = await call(`${at}/rules/default`, {
      method: 'PUT', key: secretKey, body: { publish: ['#'], subscribe: ['#'], deny_publish: ['admin/#'], deny_subscribe: ['admin/#'] },
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ deny_publish: ['admin/#'], deny_subscribe: ['admin/#'] });
    // A token asking for '#' asks for what the org denies: 403, naming it.
    const wide = await call(`${t.url}/v2/tokens`, { key: secretKey, body: { user_id: 'x', topics: ['#'] } });
    expect([wide.status, wide.body.error]).toEqual([403, 'scope_exceeds_organization']);
    expect(wide.body.error_description).toContain("'admin/#'");
    expect((await call(`${t.url}/v2/tokens`, { key: secretKey, body: { user_id: 'x', topics: ['chat/#'] } })).status).toBe(200);
    const explained = await call(`${at}/acl/explain`, { key: secretKey, body: { action: 'publish', topic: 'admin/keys', user: 'x' } });
    expect(explained.body).toMatchObject({ allowed: false, decided_by: { filter: 'admin/#' } });
    expect(explained.body.decided_by.reason).toContain("denies it by 'admin/#'");
    // PUT replaces: without deny lists the set denies nothing again.
    const cleared = await call(`${at}/rules/default`, { method: 'PUT', key: secretKey, body: { publish: ['#'], subscribe: ['#'] } });
    expect(cleared.body).toMatchObject({ deny_publish: [], deny_subscribe: [] });
  });
});
