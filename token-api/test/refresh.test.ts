// Seed 002's refresh: `POST /v2/tokens/refresh` with { token_id, current_token_password }.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { call, startApi, type TestApi } from './support/server.js';

let t: TestApi;
let orgId: string;
let key: string;

beforeAll(async () => {
  t = await startApi('refresh');
  ({ org: { id: orgId }, secretKey: key } = await t.services.orgs.create('Refresh Co'));
});
afterAll(async () => t.stop());

const mint = async (body: Record<string, unknown>) => (await call(`${t.url}/v2/tokens`, { key, body })).body;

describe('POST /v2/tokens/refresh', () => {
  test('rotates the password: the new one connects and the old one still does (refresh continuity); same token_id and username', async () => {
    const before = await mint({ user_id: 'refresher' });
    const res = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: before.token_id, current_token_password: before.mqtt_credentials.password } });
    expect(res.status).toBe(200);
    const next = res.body;
    expect(next.token_id).toBe(before.token_id);
    expect(next.mqtt_credentials.username).toBe(before.mqtt_credentials.username);
    expect(next.mqtt_credentials.password).not.toBe(before.mqtt_credentials.password);
    expect(next.provider).toBe('cloudsignal');
    expect(typeof next.refresh_recommended_at).toBe('string');
    expect(await t.services.connect.checkConnect(before.username, before.password)).toMatchObject({ ok: true, token: { id: before.token_id } });
    expect((await t.services.connect.checkConnect(next.username, next.password)).ok).toBe(true);
  });

  test('the old password cannot refresh again (401 invalid_token_password)', async () => {
    const before = await mint({ user_id: 'twice' });
    const body = { token_id: before.token_id, current_token_password: before.password };
    expect((await call(`${t.url}/v2/tokens/refresh`, { body })).status).toBe(200);
    const again = await call(`${t.url}/v2/tokens/refresh`, { body });
    expect(again.status).toBe(401);
    expect(again.body.error).toBe('invalid_token_password');
  });

  test('a wrong password is 401 and changes nothing', async () => {
    const before = await mint({ user_id: 'wrongpw' });
    const res = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: before.token_id, current_token_password: `tkn_${'A'.repeat(43)}` } });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_token_password');
    expect((await t.services.connect.checkConnect(before.username, before.password)).ok).toBe(true);
  });

  test('an unknown token_id is 404', async () => {
    const res = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: '00000000-0000-4000-8000-000000000000', current_token_password: `tkn_${'A'.repeat(43)}` } });
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('token_not_found');
  });

  test('an expired token cannot be refreshed (401 token_expired)', async () => {
    await t.services.orgs.update(orgId, { minTtlSeconds: 1 });
    const short = await mint({ user_id: 'brief', ttl_seconds: 1 });
    expect(short.expires_in).toBe(1);
    await new Promise((r) => setTimeout(r, 1200));
    const res = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: short.token_id, current_token_password: short.password } });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('token_expired');
  });

  test('a revoked token cannot be refreshed (401 token_revoked)', async () => {
    const tok = await mint({ user_id: 'revokee' });
    expect((await call(`${t.url}/v2/tokens/${tok.token_id}`, { method: 'DELETE', key })).status).toBe(200);
    const res = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: tok.token_id, current_token_password: tok.password } });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('token_revoked');
  });

  test('missing current_token_password is a 400 naming it', async () => {
    const res = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: 'x' } });
    expect(res.status).toBe(400);
    expect(res.body.error_description).toMatch(/^current_token_password: /);
  });
});
