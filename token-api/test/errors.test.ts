// Bad input gets a clear JSON error, never a stack trace or a secret.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { call, expectErrorShape, startApi, type TestApi } from './support/server.js';

let t: TestApi;
let orgId: string;
let key: string;

beforeAll(async () => {
  t = await startApi('errors');
  ({ org: { id: orgId }, secretKey: key } = await t.services.orgs.create('Errors Co'));
});
afterAll(async () => t.stop());

describe('error responses', () => {
  test('a non-JSON content type on POST is 415', async () => {
    const res = await call(`${t.url}/v2/tokens/create`, {
      body: `organization_id=${orgId}&secret_key=${key}&user_email=a@example.com`,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(415);
    expect(res.body.error).toBe('unsupported_media_type');
    expectErrorShape(res.body);
    expect(JSON.stringify(res.body)).not.toContain(key);
  });

  test('text/plain holding JSON is still 415 on PUT too', async () => {
    const res = await call(`${t.url}/v2/admin/orgs/${orgId}/rules/default`, { method: 'PUT', body: '{"publish":[],"subscribe":[]}', key, headers: { 'Content-Type': 'text/plain' } });
    expect(res.status).toBe(415);
  });

  test('malformed JSON is 400 invalid_json', async () => {
    const res = await call(`${t.url}/v2/tokens/create`, { body: '{"organization_id": "org_', headers: { 'Content-Type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_json');
    expectErrorShape(res.body);
  });

  test('a JSON array or string body is a 400, not a crash', async () => {
    expect((await call(`${t.url}/v2/tokens/create`, { body: '[1,2]' })).status).toBe(400);
    expect((await call(`${t.url}/v2/tokens/create`, { body: '"text"' })).status).toBe(400);
  });

  test('a 1 MB body is 413 payload_too_large', async () => {
    const big = JSON.stringify({ organization_id: orgId, secret_key: key, user_email: 'a@example.com', pad: 'x'.repeat(1024 * 1024) });
    const res = await call(`${t.url}/v2/tokens/create`, { body: big });
    expect(res.status).toBe(413);
    expect(res.body.error).toBe('payload_too_large');
    expectErrorShape(res.body);
  });

  test('a body just under the limit is accepted', async () => {
    const body = { organization_id: orgId, secret_key: key, user_email: 'a@example.com', pad: 'x'.repeat(60 * 1024) };
    expect((await call(`${t.url}/v2/tokens/create`, { body })).status).toBe(200);
  });

  test('wrong types name the field: "user_email: expected string"', async () => {
    const res = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: orgId, secret_key: key, user_email: 42 } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.error_description).toMatch(/^user_email: expected string/);
    const ttl = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'a', ttl_seconds: 'long' } });
    expect(ttl.body.error_description).toMatch(/^ttl_seconds: expected number/);
    const perms = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'a', permissions: ['admin'] } });
    expect(perms.status).toBe(400);
    expect(perms.body.error_description).toMatch(/^permissions\[0\]: /);
    const acl = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'a', acl: { publish: 'chat/#' } } });
    expect(acl.body.error_description).toMatch(/^acl\.publish: expected array/);
  });

  test('an invalid filter is a 400 naming the filter', async () => {
    const res = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'a', topics: ['chat/#/x'] } });
    expect(res.status).toBe(400);
    expect(res.body.error_description).toMatch(/^topics\[0\]: /);
  });

  test('a non-email user_email is a 400', async () => {
    const res = await call(`${t.url}/v2/tokens`, { key, body: { user_email: 'not an email' } });
    expect(res.status).toBe(400);
    expect(res.body.error_description).toMatch(/^user_email: /);
  });

  test('unknown routes are JSON 404s', async () => {
    for (const [method, path] of [['GET', '/v3/nothing'], ['POST', '/v2/tokens/nothing/here'], ['GET', '/']] as const) {
      const res = await call(`${t.url}${path}`, { method });
      expect(res.status).toBe(404);
      expect(res.body.error).toBe('not_found');
      expectErrorShape(res.body);
    }
  });

  test('a malformed %-escape in the path is a 400, not a 500', async () => {
    const res = await call(`${t.url}/v2/tokens/%E0%A4%A`, { key });
    expect(res.status).toBe(400);
    expectErrorShape(res.body);
  });

  test('a malformed Authorization header is a 401', async () => {
    const res = await call(`${t.url}/v2/tokens`, { headers: { Authorization: 'Basic abc' } });
    expect(res.status).toBe(401);
    expectErrorShape(res.body);
  });
});

describe('every documented route', () => {
  test('answers every error with {error: <machine code>, error_description, detail}: without credentials, with a bad key, with an empty body', async () => {
    const doc = (await call(`${t.url}/openapi.json`)).body as { paths: Record<string, Record<string, unknown>> };
    const seen: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      const url = `${t.url}${path.replace('{org_id}', 'org_zzzzzzzzzzzz').replace(/\{[a-z_]+\}/g, 'x')}`;
      for (const method of Object.keys(methods)) {
        const body = ['post', 'put', 'patch'].includes(method) ? {} : undefined;
        for (const credential of [undefined, `sk_${'x'.repeat(43)}`]) {
          const res = await call(url, { method: method.toUpperCase(), body, ...(credential ? { key: credential } : {}) });
          if (res.status < 400) continue;
          try {
            expectErrorShape(res.body);
          } catch (err) {
            throw new Error(`${method.toUpperCase()} ${path} answered ${res.status}: ${(err as Error).message}`);
          }
          seen.push(`${method} ${path} ${res.status}`);
        }
      }
    }
    // The sweep reached the new routes, and most routes refused something.
    for (const p of ['post /v2/tokens/exchange', 'post /v1/create', 'get /v2/providers', 'post /v2/admin/orgs/{org_id}/providers']) {
      expect(seen.some((s) => s.startsWith(p))).toBe(true);
    }
    expect(seen.length).toBeGreaterThan(60);
  });
});
