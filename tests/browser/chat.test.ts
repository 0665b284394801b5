// Seed 002's live chat in a real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core): the example server mints tokens with the secret key, pages connect with the SDK
// bundle over WebSocket, talk, survive a token refresh, and show a revocation. The page must never
// see the secret key.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createChatApp } from '../../examples/chat/src/app.js';
import { startStack, type Stack } from '../support/stack.js';

// Functions passed to page.evaluate/waitForFunction run inside Chromium; the test tsconfig has no DOM typings.
declare const document: any, window: any, localStorage: any, sessionStorage: any, MutationObserver: any;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = path.join(root, 'tests/artifacts');
const CHROMIUM = '/usr/bin/chromium';
const SHORT_TTL = 4;

let stack: Stack;
let orgId: string;
let secretKey: string;
let chat: http.Server;
let chatUrl: string;
let browser: Browser;
const contexts: BrowserContext[] = [];
/** Everything the pages received: HTTP bodies and WebSocket frames. */
const seen: string[] = [];

beforeAll(async () => {
  // Installs Debian's chromium if missing (apt-get update first); never downloads a browser.
  execFileSync('sh', [path.join(root, 'scripts/ensure-chromium.sh')], { stdio: 'inherit', timeout: 15 * 60_000 });
  execFileSync(process.execPath, [path.join(root, 'client/scripts/bundle.mjs')], { stdio: 'inherit', timeout: 120_000 });

  stack = await startStack('browser');
  ({ org: { id: orgId }, secretKey } = await stack.services.orgs.create('Browser Chat Co'));
  await stack.services.orgs.update(orgId, { minTtlSeconds: 1 });
  const app = createChatApp({
    organizationId: orgId,
    secretKey,
    tokenApiUrl: stack.api.url,
    brokerWsUrl: stack.wsUrl,
  });
  chat = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  chatUrl = `http://127.0.0.1:${(chat.address() as AddressInfo).port}`;

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright-core gives every launch a fresh temporary user-data-dir.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
}, 20 * 60_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await new Promise<void>((r) => (chat ? chat.close(() => r()) : r()));
  chat?.closeAllConnections();
  await stack?.stop();
}, 60_000);

/** A user in their own browser context (own cookies), signed in and on the chat page. */
async function signIn(name: string): Promise<Page> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  page.on('response', async (res) => {
    try {
      seen.push(await res.text());
    } catch {
      // Redirects and aborted responses have no body.
    }
  });
  page.on('websocket', (ws) => {
    ws.on('framereceived', (f) => seen.push(typeof f.payload === 'string' ? f.payload : f.payload.toString('latin1')));
  });
  await page.goto(`${chatUrl}/`);
  expect(new URL(page.url()).pathname).toBe('/login');
  await page.fill('#name', name);
  await Promise.all([page.waitForURL(`${chatUrl}/`), page.click('#sign-in')]);
  await expectState(page, 'connected');
  return page;
}

async function expectState(page: Page, state: string, timeoutMs = 15_000): Promise<void> {
  await page.waitForSelector(`#status[data-state="${state}"]`, { timeout: timeoutMs });
}

async function say(page: Page, text: string, via: 'enter' | 'button' = 'enter'): Promise<void> {
  await page.fill('#input', text);
  if (via === 'enter') await page.press('#input', 'Enter');
  else await page.click('#send');
}

async function waitForMessage(page: Page, from: string, text: string, timeoutMs = 10_000): Promise<void> {
  await page.waitForFunction(
    ([f, t]) => [...document.querySelectorAll('#messages .msg')].some((m) => m.textContent === `${f}: ${t}`),
    [from, text] as const,
    { timeout: timeoutMs },
  );
}

const liveTokensOf = (email: string) => stack.services.tokens.list(orgId, { user: email, liveOnly: true });

let alice: Page;
let bob: Page;

describe('seed 002 live chat in Chromium', () => {
  test('anonymous: the page redirects to sign-in and POST /api/mqtt-token answers 401', async () => {
    const res = await fetch(`${chatUrl}/api/mqtt-token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ userEmail: 'x@example.com' }) });
    expect(res.status).toBe(401);
    const refresh = await fetch(`${chatUrl}/api/mqtt-token/refresh`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(refresh.status).toBe(401);
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    const fromPage = await page.request.post(`${chatUrl}/api/mqtt-token`, { data: { userEmail: 'x@example.com' } });
    expect(fromPage.status()).toBe(401);
    expect(await stack.services.tokens.list(orgId)).toEqual([]);
  }, 60_000);

  test('two pages join one room and each sees the other’s messages', async () => {
    alice = await signIn('alice');
    bob = await signIn('bob');
    await say(alice, 'hi bob', 'enter');
    await waitForMessage(bob, 'alice', 'hi bob');
    await say(bob, 'hello alice', 'button');
    await waitForMessage(alice, 'bob', 'hello alice');
    // Each also sees its own message, marked as theirs.
    await waitForMessage(alice, 'alice', 'hi bob');
    expect(await alice.locator('#messages .msg.mine').count()).toBe(1);
    expect(await alice.locator('#status-dot.on').count()).toBe(1);
    await alice.screenshot({ path: path.join(ARTIFACTS, 'chat-alice.png') });
    await bob.screenshot({ path: path.join(ARTIFACTS, 'chat-bob.png') });
  }, 60_000);

  test('the page never holds the sk_ key: not in any response, frame, global, storage or the DOM', async () => {
    expect(seen.length).toBeGreaterThan(5);
    expect(seen.some((body) => body.includes('tkn_'))).toBe(true); // the token did travel: the capture works
    for (const body of seen) expect(body).not.toContain(secretKey);
    for (const page of [alice, bob]) {
      const exposed = await page.evaluate(() => {
        const out: string[] = [document.documentElement.outerHTML, document.cookie];
        for (const store of [localStorage, sessionStorage]) {
          for (let i = 0; i < store.length; i++) out.push(store.key(i)!, store.getItem(store.key(i)!) ?? '');
        }
        for (const name of Object.getOwnPropertyNames(window)) {
          try {
            const v = (window as unknown as Record<string, unknown>)[name];
            if (typeof v === 'string') out.push(v);
            else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) out.push(JSON.stringify(v));
          } catch {
            // Cross-origin or throwing getters.
          }
        }
        return out.join('\n');
      });
      expect(exposed).not.toContain(secretKey);
      expect(exposed).not.toMatch(/\b(sk|cs)_[A-Za-z0-9_-]{20,}/);
    }
  });

  test('an expiring token is refreshed without the user noticing', async () => {
    await stack.services.orgs.update(orgId, { defaultTtlSeconds: SHORT_TTL });
    let carol: Page;
    try {
      carol = await signIn('carol');
    } finally {
      await stack.services.orgs.update(orgId, { defaultTtlSeconds: 3600 });
    }
    const [token] = await liveTokensOf('carol@chat.example');
    expect(token!.expiresAt - token!.issuedAt).toBe(SHORT_TTL * 1000);
    const firstExpiry = token!.expiresAt;
    // Record every status the page shows from now on.
    await carol.evaluate(() => {
      const el = document.getElementById('status')!;
      const states: string[] = [];
      (window as unknown as { __states: string[] }).__states = states;
      new MutationObserver(() => states.push(el.dataset.state ?? '')).observe(el, { attributes: true, attributeFilter: ['data-state'] });
    });
    // Talk across the first token's expiry.
    await say(carol, 'before refresh');
    await waitForMessage(alice, 'carol', 'before refresh');
    await carol.waitForFunction((t) => Date.now() > t + 500, firstExpiry, { timeout: 15_000 });
    const refreshed = await stack.services.tokens.get(orgId, token!.id);
    expect(refreshed.refreshedAt).not.toBeNull();
    expect(refreshed.expiresAt).toBeGreaterThan(firstExpiry);
    await say(alice, 'after refresh');
    await waitForMessage(carol, 'alice', 'after refresh');
    await say(carol, 'still here');
    await waitForMessage(bob, 'carol', 'still here');
    const states = await carol.evaluate(() => (window as unknown as { __states: string[] }).__states);
    expect(states.filter((s) => s !== 'connected')).toEqual([]);
    await expectState(carol, 'connected');
    await carol.screenshot({ path: path.join(ARTIFACTS, 'chat-after-refresh.png') });
  }, 60_000);

  test('a revoked user is disconnected and the page shows it', async () => {
    const tokens = await liveTokensOf('bob@chat.example');
    expect(tokens.length).toBeGreaterThan(0);
    for (const t of tokens) {
      const res = await fetch(`${stack.api.url}/v2/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${secretKey}` } });
      expect(res.status).toBe(200);
    }
    await expectState(bob, 'disconnected', 20_000);
    expect(await bob.locator('#status').textContent()).toMatch(/^Disconnected/);
    expect(await bob.locator('#status-dot.on').count()).toBe(0);
    expect(await bob.locator('#input').isDisabled()).toBe(true);
    // The others carry on.
    await say(alice, 'bob is gone');
    await waitForMessage(alice, 'alice', 'bob is gone');
    await bob.screenshot({ path: path.join(ARTIFACTS, 'chat-revoked.png') });
  }, 60_000);
});
