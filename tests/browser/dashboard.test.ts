/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The dashboard in a real headless Chromium against the real token API and broker: an org admin
// signs in, creates a key, a rule set bound to an integration, tests a topic, mints a token, sees
// the mqtt.js client that uses it in Sessions, kicks it and revokes its token from the page; a
// page on another origin cannot change anything; an org admin never sees another org. Every page
// is captured in tests/artifacts/.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { closed, connectClient, startStack, type Stack } from '../support/stack.js';
import { artifactPath, buildDashboardBundle, ensureChromium, launchBrowser, type Browser } from './dashboard-support.js';

const ADMIN_KEY = 'adm_browser-suite-admin-key-0123456789abcdef';
const WAIT = { timeout: 10_000 };
// Browser steps are slower than API calls on a loaded 2-core CI box.
jest.setTimeout(60_000);

let stack: Stack;
let browser: Browser;
let page: Page;
let orgA: { id: string; key: string };
let orgB: { id: string; key: string };
const pageErrors: string[] = [];
const clients: MqttClient[] = [];
let minted: { username: string; password: string };

const shot = (name: string) => page.screenshot({ path: artifactPath(`dashboard-${name}.png`), fullPage: true });
const open = async (section: string) => {
  await page.getByRole('navigation').getByRole('link', { name: section, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: section }).waitFor(WAIT);
};

beforeAll(async () => {
  ensureChromium();
  buildDashboardBundle();
  stack = await startStack('dashboard-browser', { SIGNALGATE_ADMIN_KEY: ADMIN_KEY, SIGNALGATE_USAGE_SAMPLE_MS: '250', SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false' });
  const a = await stack.services.orgs.create('Acme Chat');
  const b = await stack.services.orgs.create('Other Corp');
  orgA = { id: a.org.id, key: a.secretKey };
  orgB = { id: b.org.id, key: b.secretKey };
  browser = await launchBrowser('dashboard');
  page = await browser.context.newPage();
  page.on('dialog', (d) => void d.accept());
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    // 400/401/403 are provoked on purpose (a refused provider, sign-out, another org); the browser logs each.
    if (msg.type() === 'error' && !/status of 40[013]/.test(msg.text())) pageErrors.push(msg.text());
  });
}, 300_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await browser?.close();
  await stack?.stop();
});

describe('an org admin at work', () => {
  test('signs in with the org secret key; the key is not kept by the page', async () => {
    await page.goto(`${stack.api.url}/dashboard/`);
    await page.getByLabel('Key').waitFor(WAIT);
    await shot('signin');
    await page.getByLabel('Key').fill(orgA.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'API Keys' }).waitFor(WAIT);
    expect(await page.getByTestId('whoami').textContent()).toContain('org key');
    const cookies = await browser.context.cookies(stack.api.url);
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ name: 'sg_dashboard', httpOnly: true, sameSite: 'Strict' });
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    expect(stored).not.toContain('sk_');
    expect(stored).not.toContain('sg_dashboard');
  });

  test('creates an API key: the secret is shown once and works', async () => {
    await page.getByLabel('Key name').fill('ci-backend');
    await page.getByTestId('create-key').click();
    const secret = await page.getByTestId('secret-secret-key').inputValue(WAIT);
    expect(secret).toMatch(/^sk_/);
    await page.getByTestId('keys-table').getByText('ci-backend').waitFor(WAIT);
    await shot('keys');
    const res = await fetch(`${stack.api.url}/v2/tokens`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${secret}` }, body: JSON.stringify({ user_id: 'probe' }),
    });
    expect(res.status).toBe(200);
  });

  test('creates a rule set (bad filters explained as typed), binds it to an integration, tests topics', async () => {
    await open('Access Control');
    await page.getByRole('button', { name: 'New rule set' }).click();
    const editor = page.getByTestId('new-rule-set');
    await editor.getByLabel('Rule set name').fill('chat-only');
    await editor.getByLabel('Publish filter 1').fill('chat/#/x');
    await editor.getByText("'#' must be a whole level and the last one").waitFor(WAIT);
    expect(await editor.getByRole('button', { name: 'Create rule set' }).isDisabled()).toBe(true);
    await editor.getByLabel('Subscribe filter 1').fill('chat/${nickname}');
    await editor.getByText('unknown placeholder ${nickname}').waitFor(WAIT);
    await shot('access-validation');
    await editor.getByLabel('Publish filter 1').fill('chat/#');
    await editor.getByLabel('Subscribe filter 1').fill('chat/#');
    // A deny inside the wide grant: chat/# except chat/admin/#.
    await editor.getByTestId('deny-publish-filters').getByRole('button', { name: '+ Add filter' }).click();
    await editor.getByLabel('Deny publish filter 1').fill('chat/admin/#');
    expect(await editor.getByRole('alert').count()).toBe(0);
    await editor.getByRole('button', { name: 'Create rule set' }).click();
    await page.locator('summary').getByText('chat-only', { exact: true }).waitFor(WAIT);
    expect(await stack.services.rules.get(orgA.id, 'chat-only')).toMatchObject({ publish: ['chat/#'], subscribe: ['chat/#'], denyPublish: ['chat/admin/#'] });

    await page.getByLabel('Integration id').fill('web-app');
    await page.getByLabel('Integration rule set').selectOption({ label: 'chat-only' });
    await page.getByTestId('create-integration').click();
    await page.getByTestId('integrations-table').getByText('web-app').waitFor(WAIT);

    await page.getByLabel('Test user').fill('alice');
    await page.getByLabel('Test integration').selectOption('web-app');
    await page.getByLabel('Test action').selectOption('publish');
    await page.getByLabel('Test topic').fill('admin/settings');
    await page.getByTestId('test-topic').click();
    const verdict = page.getByTestId('verdict');
    await verdict.getByText('DENY', { exact: true }).waitFor(WAIT);
    expect(await verdict.textContent()).toContain("integration 'web-app' (rule set 'chat-only')");
    await page.getByLabel('Test topic').fill('chat/room1');
    await page.getByTestId('test-topic').click();
    await verdict.getByText('ALLOW', { exact: true }).waitFor(WAIT);
    expect(await verdict.textContent()).toContain('chat/#');
    await page.getByLabel('Test topic').fill('chat/admin/x');
    await page.getByTestId('test-topic').click();
    await verdict.getByText('DENY', { exact: true }).waitFor(WAIT);
    expect(await verdict.textContent()).toContain("denies it by 'chat/admin/#'");
    await shot('access');
  });

  test('mints a token for a user from the page', async () => {
    await open('Tokens');
    await page.getByLabel('Mint user').fill('alice');
    await page.getByLabel('Mint integration').selectOption('web-app');
    await page.getByTestId('mint-token').click();
    minted = {
      username: await page.getByTestId('secret-username').inputValue(WAIT),
      password: await page.getByTestId('secret-password').inputValue(WAIT),
    };
    expect(minted.username).toMatch(new RegExp(`@${orgA.id}$`));
    expect(minted.password).toMatch(/^tkn_/);
    await page.getByTestId('tokens-table').getByText('web-app').waitFor(WAIT);
    await shot('tokens');
  });

  test('a client connecting with that token appears in Sessions, live; Usage shows its traffic', async () => {
    await open('Sessions');
    await page.getByText('Nobody is connected.').waitFor(WAIT);
    const client = await connectClient(stack.mqttUrl, { username: minted.username, password: minted.password, clientId: 'alice-laptop' });
    clients.push(client);
    for (let i = 0; i < 40; i++) client.publish('chat/room1', `hello ${i}`);
    const row = page.locator('tr[data-client-id="alice-laptop"]');
    await row.waitFor(WAIT);
    expect(await row.textContent()).toContain('alice');
    expect(await row.textContent()).toContain('mqtt');
    await shot('sessions');

    await open('Usage');
    await page.getByTestId('chart-messages').waitFor(WAIT);
    await page.waitForFunction(() => {
      const el = document.querySelector('[data-testid="chart-connections"] figcaption strong');
      return el !== null && el.textContent !== null && el.textContent.trim().startsWith('1');
    }, undefined, WAIT);
    const usage = await fetch(`${stack.api.url}/v2/admin/orgs/${orgA.id}/usage?minutes=5`, { headers: { Authorization: `Bearer ${orgA.key}` } });
    const body = (await usage.json()) as { points: { messages_per_second: number }[] };
    expect(body.points.some((p) => p.messages_per_second > 0)).toBe(true);
    await shot('usage');
  });

  test('kicking the session from the page disconnects the client', async () => {
    await open('Sessions');
    const client = clients[0]!;
    const gone = closed(client, 10_000);
    await page.getByTestId('kick-alice-laptop').click();
    await gone;
    await page.locator('tr[data-client-id="alice-laptop"]').waitFor({ state: 'detached', ...WAIT });
  });

  test('revoking the token from the page ends its session and it cannot reconnect', async () => {
    const again = await connectClient(stack.mqttUrl, { username: minted.username, password: minted.password, clientId: 'alice-phone' });
    clients.push(again);
    await open('Sessions');
    await page.locator('tr[data-client-id="alice-phone"]').waitFor(WAIT);
    await open('Tokens');
    const gone = closed(again, 10_000);
    const row = page.getByTestId('tokens-table').locator('tr', { hasText: 'web-app' });
    await row.getByRole('button', { name: 'Revoke' }).click();
    await gone;
    await expect(connectClient(stack.mqttUrl, { username: minted.username, password: minted.password, clientId: 'alice-phone' })).rejects.toMatchObject({ code: 5 });
  });

  test('adds an identity provider with the preset filled in; the shared secret is never shown back', async () => {
    const secret = 'dashboard-supabase-jwt-secret-32-bytes-long';
    await open('Identity Providers');
    await page.getByLabel('Provider type').selectOption('supabase');
    await page.getByLabel('Issuer').fill('https://dash-ref.supabase.co/auth/v1');
    await page.getByLabel('Shared secret').fill(secret);
    await page.getByTestId('add-provider').click();
    const row = page.getByTestId('providers-table').getByRole('row').filter({ hasText: 'https://dash-ref.supabase.co/auth/v1' });
    await row.getByText('shared secret').waitFor(WAIT);
    await row.getByText('authenticated').waitFor(WAIT);
    expect(await page.getByLabel('Shared secret').inputValue()).toBe('');
    expect(await page.content()).not.toContain(secret);
    expect(await stack.services.providers.list(orgA.id)).toEqual([expect.objectContaining({ name: 'supabase', secret })]);
    await shot('providers');
    // A bad issuer is explained on the page and nothing is added.
    await page.getByLabel('Provider type').selectOption('oidc');
    await page.getByLabel('Issuer').fill('not a url');
    await page.getByTestId('add-provider').click();
    await page.getByRole('alert').getByText(/issuer: must be an absolute/).waitFor(WAIT);
    expect(await stack.services.providers.list(orgA.id)).toHaveLength(1);
    await page.getByTestId('providers-table').getByRole('button', { name: 'Remove' }).click();
    await page.getByText('No identity providers').waitFor(WAIT);
    expect(await stack.services.providers.list(orgA.id)).toEqual([]);
  });

  test('the audit log lists mints, revokes and kicks, filterable by event', async () => {
    await open('Audit Log');
    await page.getByTestId('audit-table').waitFor(WAIT);
    for (const event of ['token.minted', 'token.revoked', 'session.kicked', 'rules.changed']) {
      await page.getByTestId('audit-table').getByText(event).first().waitFor(WAIT);
    }
    await shot('audit');
    await page.getByLabel('Filter by event').selectOption('token.revoked');
    await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll('[data-testid="audit-table"] tbody .event')];
      return cells.length > 0 && cells.every((c) => c.textContent === 'token.revoked');
    }, undefined, WAIT);
  });

  test('the org admin cannot see another organization', async () => {
    const options = await page.getByTestId('org-picker').locator('option').allTextContents();
    expect(options).toEqual(['Acme Chat']);
    expect(await page.getByTestId('org-id').textContent()).toBe(orgA.id);
    await page.goto(`${stack.api.url}/dashboard/#/keys/${orgB.id}`);
    await page.getByRole('heading', { level: 1, name: 'API Keys' }).waitFor(WAIT);
    expect(await page.getByTestId('org-picker').inputValue()).toBe(orgA.id);
    const status = await page.evaluate(async (other) => (await fetch(`/v2/admin/orgs/${other}/keys`)).status, orgB.id);
    expect(status).toBe(403);
    expect(await page.content()).not.toContain('Other Corp');
  });

  test('the pages ran without script errors or CSP violations', () => {
    expect(pageErrors).toEqual([]);
  });
});

describe('a page on another origin', () => {
  let evil: http.Server;
  let evilUrl: string;

  beforeAll(async () => {
    // Same host, another port: same-site for the browser, so the SameSite cookie IS sent; the
    // CSRF token and the Origin check are what stop it.
    evil = http.createServer((_req, res) => {
      const target = `${stack.api.url}/v2/admin/orgs/${orgA.id}`;
      res.setHeader('Content-Type', 'text/html');
      res.end(`<!doctype html><body>
<form id="f" method="POST" action="${target}/keys" enctype="text/plain"><input name='{"name":"evil","x":"' value='"}'></form>
<script>
fetch(${JSON.stringify(`${target}/keys`)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: '{"name":"evil"}' })
  .finally(() => document.getElementById('f').submit());
</script></body>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    evil.closeAllConnections();
    await new Promise<void>((resolve) => evil.close(() => resolve()));
  });

  test('cannot create a key with the signed-in admin’s cookie (403, nothing changed)', async () => {
    const keysBefore = (await stack.services.keys.list(orgA.id)).length;
    const attacker = await browser.context.newPage();
    const statuses: number[] = [];
    attacker.on('response', (r) => {
      if (r.url().endsWith(`/v2/admin/orgs/${orgA.id}/keys`) && r.request().method() === 'POST') statuses.push(r.status());
    });
    const formDone = attacker.waitForResponse((r) => r.url().endsWith('/keys') && r.request().method() === 'POST' && r.request().resourceType() === 'document', WAIT);
    await attacker.goto(evilUrl);
    await formDone;
    expect(statuses.length).toBeGreaterThanOrEqual(2);
    expect(statuses.every((s) => s === 403)).toBe(true);
    expect((await stack.services.keys.list(orgA.id)).length).toBe(keysBefore);
    await attacker.screenshot({ path: artifactPath('dashboard-csrf-refused.png') });
    await attacker.close();
  });
});

describe('the operator', () => {
  test('signs in with the admin key and sees every organization', async () => {
    const admin = await launchBrowser('dashboard-admin');
    try {
      const p = await admin.context.newPage();
      await p.goto(`${stack.api.url}/dashboard/`);
      await p.getByLabel('Key').fill(ADMIN_KEY);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('heading', { level: 1, name: 'API Keys' }).waitFor(WAIT);
      const options = await p.getByTestId('org-picker').locator('option').allTextContents();
      expect(options).toEqual(expect.arrayContaining(['Acme Chat', 'Other Corp']));
      await p.getByRole('link', { name: 'Organizations' }).click();
      await p.getByRole('heading', { level: 1, name: 'Organizations' }).waitFor(WAIT);
      await p.screenshot({ path: artifactPath('dashboard-orgs.png'), fullPage: true });
      // Quotas are edited per organisation: one field per limit, empty for none.
      await p.getByRole('row', { name: new RegExp(orgB.id) }).getByRole('button', { name: 'Limits' }).click();
      await p.getByLabel('max_retained_messages').fill('25');
      await p.getByLabel('max_connections').fill('');
      await p.getByRole('button', { name: 'Save limits' }).click();
      await p.getByText('Saved').waitFor(WAIT);
      expect((await stack.services.orgs.get(orgB.id)).limits).toMatchObject({ maxRetainedMessages: 25, maxConnections: null, maxSubscriptionsPerConnection: 1000 });
      await p.screenshot({ path: artifactPath('dashboard-org-limits.png'), fullPage: true });
    } finally {
      await admin.close();
    }
  });
});
