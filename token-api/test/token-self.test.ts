// `GET /v2/tokens/self`: the SDK learns the MQTT username, token_id and refresh time of a tkn_
// password it was handed alone (seeds 000/002), and the browser may call it and refresh cross-origin.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { call, expectErrorShape, startApi, type Json, type TestApi } from './support/server.js';

let t: TestApi;
let orgId: string;
let key: string;

beforeAll(async () => {
  t = await startApi('token-self');
  ({ org: { id: orgId }, secretKey: key } = await t.services.orgs.create('Self Co'));
});
afterAll(async () => t.stop());

const mint = async (body: Json) => (await call(`${t.url}/v2/tokens`, { key, body })).body;
const self = (bearer?: string) => call(`${t.url}/v2/tokens/self`, bearer === undefined ? {} : { key: bearer });

describe('GET /v2/tokens/self', () => {
  test('describes a live token from its password alone, never returning the password', async () => {
    const minted = await mint({ user_email: 'ada@example.com', ttl_seconds: 1000 });
    const res = await self(minted.access_token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      token_id: minted.token_id,
      username: minted.mqtt_credentials.username,
      organization_id: orgId,
      user_id: minted.user_id,
      user_email: 'ada@example.com',
      expires_at: minted.expires_at,
      refresh_recommended_at: minted.refresh_recommended_at,
      expires_in: expect.any(Number),
    });
    expect(res.body.expires_in).toBeGreaterThan(990);
    expect(JSON.stringify(res.body)).not.toContain(minted.access_token);
  });

  test('after a refresh both the new and the old password describe the same token with the moved expiry', async () => {
    const minted = await mint({ user_id: 'refresher', ttl_seconds: 600 });
    const refreshed = (await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: minted.token_id, current_token_password: minted.password } })).body;
    const res = await self(refreshed.password);
    expect(res.status).toBe(200);
    expect(res.body.token_id).toBe(minted.token_id);
    expect(res.body.refresh_recommended_at).toBe(refreshed.refresh_recommended_at);
    expect(res.body.expires_at).toBe(refreshed.expires_at);
    const old = await self(minted.password);
    expect([old.status, old.body.token_id, old.body.expires_at]).toEqual([200, minted.token_id, refreshed.expires_at]);
  });

  test('401 without a bearer, with an org key, with an unknown or a revoked password', async () => {
    const minted = await mint({ user_id: 'revoked-one' });
    await call(`${t.url}/v2/tokens/${minted.token_id}`, { method: 'DELETE', key });
    for (const bearer of [undefined, key, 'tkn_not-a-real-password-000000000000000000000', minted.password]) {
      const res = await self(bearer);
      expect(res.status).toBe(401);
      expectErrorShape(res.body);
      expect(JSON.stringify(res.body)).not.toContain(key);
    }
  });

  test('401 once the token has expired', async () => {
    await t.services.orgs.update(orgId, { minTtlSeconds: 1 });
    const minted = await mint({ user_id: 'short', ttl_seconds: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await self(minted.password)).status).toBe(401);
  });

  test('is in the OpenAPI document, authorised by the MQTT credential', async () => {
    const doc = (await call(`${t.url}/openapi.json`)).body;
    const op = doc.paths['/v2/tokens/self'].get;
    expect(op.security).toEqual([{ mqttCredential: [] }]);
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '401']));
  });
});

describe('CORS for the browser SDK', () => {
  test('preflight of /v2/tokens/self and /v2/tokens/refresh allows any origin with Authorization and Content-Type', async () => {
    for (const [path, method] of [['/v2/tokens/self', 'GET'], ['/v2/tokens/refresh', 'POST']] as const) {
      const res = await fetch(`${t.url}${path}`, {
        method: 'OPTIONS',
        headers: { Origin: 'http://chat.example', 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'authorization,content-type' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-allow-methods')).toContain(method);
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    }
  });

  test('answers (errors too) carry Access-Control-Allow-Origin; key-authorised routes do not', async () => {
    const minted = await mint({ user_id: 'cors' });
    expect((await self(minted.password)).headers.get('access-control-allow-origin')).toBe('*');
    expect((await self('tkn_nope')).headers.get('access-control-allow-origin')).toBe('*');
    const mintRes = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'cors2' } });
    expect(mintRes.headers.get('access-control-allow-origin')).toBeNull();
  });
});
