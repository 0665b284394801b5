// CORS: the routes a browser page calls itself answer cross-origin (every origin by default, or
// SIGNALGATE_CORS_ORIGINS), never in credentials mode; the admin API and dashboard never do.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ADMIN_KEY, call, startApi, type TestApi } from './support/server.js';

const BROWSER_ROUTES: [method: string, path: string][] = [
  ['POST', '/v2/tokens/create'],
  ['POST', '/v2/tokens/exchange'],
  ['POST', '/v2/tokens/refresh'],
  ['POST', '/v1/create'],
  ['GET', '/v2/tokens/self'],
  ['GET', '/v2/providers'],
];
const APP = 'https://app.example.com';

function preflight(url: string, method: string, origin = APP) {
  return fetch(url, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'content-type,authorization' },
  });
}

describe('default: every origin', () => {
  let t: TestApi;
  let orgId: string;
  let key: string;
  beforeAll(async () => {
    t = await startApi('cors-any');
    ({ org: { id: orgId }, secretKey: key } = await t.services.orgs.create('Cors Co'));
  });
  afterAll(async () => t.stop());

  test.each(BROWSER_ROUTES)('%s %s answers the preflight (cached) and the request with Access-Control-Allow-Origin: *', async (method, path) => {
    const pre = await preflight(`${t.url}${path}`, method);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-methods')).toContain(method);
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(Number(pre.headers.get('access-control-max-age'))).toBeGreaterThanOrEqual(600);
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    // The real request, even an error, carries the header (the page must be able to read the error).
    const res = await call(`${t.url}${path}`, { method, headers: { Origin: APP }, ...(method === 'POST' ? { body: {} } : {}) });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  test('a real create from another origin is readable (200 + header)', async () => {
    const res = await call(`${t.url}/v2/tokens/create`, {
      headers: { Origin: APP }, body: { organization_id: orgId, secret_key: key, user_email: 'page@example.com', replace_existing: true },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  test.each([
    ['GET', '/v2/admin/orgs'],
    ['POST', '/v2/tokens'],
    ['GET', '/dashboard/api/session'],
    ['POST', '/dashboard/api/session'],
  ])('%s %s stays same-origin: no CORS headers on the preflight or the request', async (method, path) => {
    const pre = await preflight(`${t.url}${path}`, method);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const res = await call(`${t.url}${path}`, { method, key: ADMIN_KEY, headers: { Origin: APP }, ...(method === 'POST' ? { body: {} } : {}) });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('SIGNALGATE_CORS_ORIGINS lists the allowed origins', () => {
  let t: TestApi;
  beforeAll(async () => {
    t = await startApi('cors-list', { SIGNALGATE_CORS_ORIGINS: `${APP}, http://localhost:3000` });
  });
  afterAll(async () => t.stop());

  test('a listed origin is echoed (with Vary: Origin); another gets no allow header', async () => {
    for (const origin of [APP, 'http://localhost:3000']) {
      const pre = await preflight(`${t.url}/v2/tokens/exchange`, 'POST', origin);
      expect(pre.headers.get('access-control-allow-origin')).toBe(origin);
      expect(pre.headers.get('vary')).toMatch(/origin/i);
    }
    const evil = await preflight(`${t.url}/v2/tokens/exchange`, 'POST', 'https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const res = await call(`${t.url}/v2/tokens/create`, { headers: { Origin: 'https://evil.example' }, body: {} });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('a value that is not a list of origins stops start-up, naming the variable', async () => {
    await expect(startApi('cors-bad', { SIGNALGATE_CORS_ORIGINS: 'https://app.example.com/path' })).rejects.toThrow(/SIGNALGATE_CORS_ORIGINS/);
  });
});
