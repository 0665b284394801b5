// The official SDK calls the token service from the page, cross-origin (the token service is another
// host). A real headless Chromium on a page of another origin runs that flow: providers, create,
// exchange (an identity provider's JWT and an access_token) and refresh. The browser enforces CORS
// itself, so a missing or wrong header fails here as it would for users; with
// SIGNALGATE_CORS_ORIGINS naming another origin the same calls are blocked.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SignJWT } from 'jose';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startStack, type Stack } from '../support/stack.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ISSUER = 'https://project-ref.supabase.co/auth/v1';
const JWT_SECRET = 'a-supabase-project-jwt-secret-32-bytes-or-more';

let browser: Browser;
let appServer: http.Server;
let appOrigin: string;

/** The "app": an origin of its own serving one empty page, as a site using the SDK would. */
async function startAppOrigin(): Promise<void> {
  appServer = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>app</title><p>app page</p>');
  });
  await new Promise<void>((resolve) => appServer.listen(0, '127.0.0.1', () => resolve()));
  // localhost vs the API's 127.0.0.1, and another port: a different origin on both counts.
  appOrigin = `http://localhost:${(appServer.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  execFileSync('sh', [path.join(root, 'scripts/ensure-chromium.sh')], { stdio: 'inherit', timeout: 15 * 60_000 });
  await startAppOrigin();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 20 * 60_000);

afterAll(async () => {
  await browser?.close();
  appServer?.closeAllConnections();
  await new Promise<void>((r) => (appServer ? appServer.close(() => r()) : r()));
}, 60_000);

interface Setup { stack: Stack; orgUuid: string; secretKey: string; page: Page }

async function setUp(label: string, env: Record<string, string> = {}): Promise<Setup> {
  const stack = await startStack(label, env);
  const created = await stack.services.orgs.create('Cross Origin Co');
  await stack.services.providers.add(created.org.id, { type: 'supabase', issuer: ISSUER, secret: JWT_SECRET });
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${appOrigin}/`);
  return { stack, orgUuid: created.org.uuid, secretKey: created.secretKey, page };
}

const supabaseAccessToken = (sub: string) =>
  new SignJWT({ sub, email: `${sub}@example.com`, role: 'authenticated' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER).setAudience('authenticated').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));

/**
 * The page's own fetch, as the official SDK's TokenManager makes it: `Content-Type: application/json`
 * on every request, GET included (so even getProviders needs a preflight), no credentials.
 */
type Call = { status: number; body: any } | { blocked: string };
const pageFetch = (page: Page, url: string, body?: unknown): Promise<Call> =>
  page.evaluate(async ([u, b]) => {
    try {
      const headers = { 'Content-Type': 'application/json' };
      const res = await fetch(u, b === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(b) });
      return { status: res.status, body: await res.json() };
    } catch (err) {
      return { blocked: String(err) };
    }
  }, [url, body] as const);

const ok = (c: Call) => {
  if ('blocked' in c) throw new Error(`blocked by the browser: ${c.blocked}`);
  return c;
};

describe('from a page on another origin, with the default SIGNALGATE_CORS_ORIGINS', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp('cors-browser');
  }, 60_000);
  afterAll(async () => s?.stack.stop());

  test('getProviders, create, refresh and both kinds of exchange succeed; errors are readable', async () => {
    const api = s.stack.api.url;
    expect(new URL(api).origin).not.toBe(appOrigin);

    const providers = ok(await pageFetch(s.page, `${api}/v2/providers?organization_id=${s.orgUuid}`));
    expect(providers.body.providers).toEqual([expect.objectContaining({ provider: 'supabase', issuer: ISSUER })]);

    const created = ok(await pageFetch(s.page, `${api}/v2/tokens/create`, {
      organization_id: s.orgUuid, secret_key: s.secretKey, user_email: 'page-user@example.com', replace_existing: true,
    }));
    expect(created.status).toBe(200);

    const refreshed = ok(await pageFetch(s.page, `${api}/v2/tokens/refresh`, {
      token_id: created.body.token_id, current_token_password: created.body.mqtt_credentials.password,
    }));
    expect([refreshed.status, refreshed.body.token_id]).toEqual([200, created.body.token_id]);

    const exchanged = ok(await pageFetch(s.page, `${api}/v2/tokens/exchange`, { organization_id: s.orgUuid, token: await supabaseAccessToken('sb-user') }));
    expect(exchanged.status).toBe(200);
    expect(exchanged.body).toMatchObject({ provider: 'supabase', user_id: 'sb-user', user_email: 'sb-user@example.com' });

    const own = ok(await pageFetch(s.page, `${api}/v2/tokens/exchange`, { organization_id: s.orgUuid, token: refreshed.body.access_token }));
    expect([own.status, own.body.token_id]).toEqual([200, created.body.token_id]);

    const v1 = ok(await pageFetch(s.page, `${api}/v1/create`, { organization_id: s.orgUuid, secret_key: s.secretKey, user_email: 'v1@example.com' }));
    expect(v1.body.org_short_id).toMatch(/^org_/);

    // An error from another origin is readable too: the SDK shows error_description.
    const refused = ok(await pageFetch(s.page, `${api}/v2/tokens/exchange`, { organization_id: s.orgUuid, token: 'not-a-jwt' }));
    expect(refused).toMatchObject({ status: 401, body: { error: 'invalid_token', error_description: expect.any(String) } });
  }, 60_000);

  test('the admin API stays same-origin: the browser blocks a page reading it', async () => {
    const res = await pageFetch(s.page, `${s.stack.api.url}/v2/admin/orgs`);
    expect(res).toEqual({ blocked: expect.stringContaining('Failed to fetch') });
  }, 30_000);
});

describe('with SIGNALGATE_CORS_ORIGINS naming another origin', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp('cors-browser-list', { SIGNALGATE_CORS_ORIGINS: 'https://only-this-app.example.com' });
  }, 60_000);
  afterAll(async () => s?.stack.stop());

  test('the page cannot call the token routes', async () => {
    const res = await pageFetch(s.page, `${s.stack.api.url}/v2/tokens/create`, {
      organization_id: s.orgUuid, secret_key: s.secretKey, user_email: 'blocked@example.com',
    });
    expect(res).toEqual({ blocked: expect.stringContaining('Failed to fetch') });
  }, 30_000);
});
