// A mint never yields more than the organisation allows, and placeholder values cannot widen a rule.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { EffectiveRights, expandLayer, placeholderValuesOf } from '@signalgate/shared';
import { ADMIN_KEY, call, startApi, type TestApi } from './support/server.js';

let t: TestApi;
let orgId: string;
let key: string;

beforeAll(async () => {
  t = await startApi('acl');
  ({ org: { id: orgId }, secretKey: key } = await t.services.orgs.create('ACL Co'));
});
afterAll(async () => t.stop());

async function setDefault(rules: { publish: string[]; subscribe: string[]; presence?: boolean; history?: boolean }) {
  const res = await call(`${t.url}/v2/admin/orgs/${orgId}/rules/default`, { method: 'PUT', key: ADMIN_KEY, body: rules });
  expect(res.status).toBe(200);
}

async function rightsOf(tokenId: string, clientId?: string) {
  const token = (await t.services.store.tokens.get(tokenId))!;
  const user = (await t.services.store.users.byRef(token.orgId, token.userRef))!;
  const values = placeholderValuesOf(user, clientId);
  return new EffectiveRights((await t.services.connect.layersOf(token)).map((l) => expandLayer(l, values)));
}

describe('scope requests are bounded by the org default', () => {
  test("asking for '#' when the org default is 'chat/#' is 403 scope_exceeds_organization", async () => {
    await setDefault({ publish: ['chat/#'], subscribe: ['chat/#'] });
    const res = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'greedy', topics: ['#'] } });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('scope_exceeds_organization');
    const acl = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'greedy', acl: { subscribe: ['+/#'] } } });
    expect(acl.status).toBe(403);
  });

  test("'chat/#' against a right on 'chat/room1' is 403", async () => {
    await setDefault({ publish: ['chat/room1'], subscribe: ['chat/room1'] });
    const res = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'wide', acl: { subscribe: ['chat/#'] } } });
    expect(res.status).toBe(403);
    expect(res.body.error_description).toContain("'chat/#'");
    const plus = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'wide', topics: ['chat/+'] } });
    expect(plus.status).toBe(403);
  });

  test('a request inside the default is granted, and the token can do no more than asked', async () => {
    await setDefault({ publish: ['chat/#'], subscribe: ['chat/#'] });
    const res = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'narrow', permissions: ['subscribe'], topics: ['chat/room1'] } });
    expect(res.status).toBe(200);
    const rights = await rightsOf(res.body.token_id);
    expect(rights.canSubscribe('chat/room1')).toBe(true);
    expect(rights.canSubscribe('chat/room2')).toBe(false);
    expect(rights.canPublish('chat/room1')).toBe(false);
  });

  test("asking for 'presence' when the org default denies it is 403", async () => {
    await setDefault({ publish: ['chat/#'], subscribe: ['chat/#'], presence: false });
    const res = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'p', permissions: ['presence'] } });
    expect(res.status).toBe(403);
  });

  test('an integration rule set narrows further: asking beyond it is 403', async () => {
    await setDefault({ publish: ['#'], subscribe: ['#'] });
    await t.services.rules.create(orgId, 'support', { publish: ['support/#'], subscribe: ['support/#'], presence: false, history: false });
    await t.services.integrations.create(orgId, 'helpdesk', 'support');
    const res = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'agent', integration_id: 'helpdesk', topics: ['chat/#'] } });
    expect(res.status).toBe(403);
    const ok = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'agent', integration_id: 'helpdesk' } });
    expect(ok.status).toBe(200);
    const rights = await rightsOf(ok.body.token_id);
    expect(rights.canPublish('support/t1')).toBe(true);
    expect(rights.canPublish('chat/x')).toBe(false);
  });
});

describe('placeholder injection', () => {
  test.each(['evil+', 'evil#', 'a/b', '+', '#', '$SYS'])('user_id %p is refused with 400', async (userId) => {
    const res = await call(`${t.url}/v2/tokens`, { key, body: { user_id: userId } });
    expect(res.status).toBe(400);
    expect(res.body.error_description).toMatch(/^user_id: /);
  });

  test('an email with + is valid, but a ${user_email} rule then grants nothing', async () => {
    await setDefault({ publish: ['users/${user_email}/#'], subscribe: ['users/${user_email}/#'] });
    const res = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: orgId, secret_key: key, user_email: 'alice+tag@example.com' } });
    expect(res.status).toBe(200);
    const rights = await rightsOf(res.body.token_id);
    expect(rights.canSubscribe('users/alice+tag@example.com/#')).toBe(false);
    expect(rights.canSubscribe('users/+/#')).toBe(false);
    expect(rights.canPublish('users/alice+tag@example.com/inbox')).toBe(false);
    expect(rights.canPublish('users/bob@example.com/inbox')).toBe(false);
    // A plain address still gets its own subtree from the same rule.
    const plain = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: orgId, secret_key: key, user_email: 'bob@example.com' } });
    const bob = await rightsOf(plain.body.token_id);
    expect(bob.canPublish('users/bob@example.com/inbox')).toBe(true);
    expect(bob.canPublish('users/alice@example.com/inbox')).toBe(false);
  });
});
