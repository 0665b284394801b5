// Closing the service and starting it again on the same data dir keeps every credential valid.
import { afterAll, expect, test } from '@jest/globals';
import { ADMIN_KEY, call, startApi, tempDataDir, type TestApi } from './support/server.js';

let t: TestApi | undefined;
afterAll(async () => t?.stop());

test('tokens, keys, rotated keys and refreshed passwords survive a restart', async () => {
  const dataDir = tempDataDir('restart');
  t = await startApi('restart', {}, dataDir);
  const org = (await call(`${t.url}/v2/admin/orgs`, { key: ADMIN_KEY, body: { name: 'Durable' } })).body;
  const key = org.secret_key as string;
  const minted = (await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'keep', ttl_seconds: 3600 } })).body;
  const created = (await call(`${t.url}/v2/tokens/create`, { body: { organization_id: org.organization_id, secret_key: key, user_email: 'keep@example.com' } })).body;
  const refreshed = (await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: created.token_id, current_token_password: created.password } })).body;
  const second = (await call(`${t.url}/v2/admin/orgs/${org.organization_id}/keys`, { key: ADMIN_KEY, body: {} })).body;
  const rotated = (await call(`${t.url}/v2/admin/orgs/${org.organization_id}/keys/${second.key_id}/rotate`, { key: ADMIN_KEY, body: { overlap_seconds: 3600 } })).body;
  await t.stop();

  t = await startApi('restart', {}, dataDir);
  expect((await t.services.connect.checkConnect(minted.username, minted.password)).ok).toBe(true);
  expect((await t.services.connect.checkConnect(refreshed.username, refreshed.password)).ok).toBe(true);
  // The password before the refresh still opens connections (refresh continuity), after a restart too.
  expect((await t.services.connect.checkConnect(created.username, created.password)).ok).toBe(true);
  for (const k of [key, second.secret_key, rotated.secret_key]) {
    expect((await call(`${t.url}/v2/tokens`, { key: k, body: { user_id: 'after' } })).status).toBe(200);
  }
  const again = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: refreshed.token_id, current_token_password: refreshed.password } });
  expect(again.status).toBe(200);
  expect((await call(`${t.url}/v2/admin/orgs`, { key: ADMIN_KEY })).status).toBe(200);
  expect((await call(`${t.url}/v2/tokens?user_id=keep`, { key })).body.tokens).toHaveLength(1);
});
