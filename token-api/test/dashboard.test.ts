// The dashboard as the token API serves it: the page and its security headers, cookie sign-in
// (admin key or org key), CSRF on every state change, org isolation, sessions that end when the
// key behind them is revoked, and the admin routes the pages call (explain, mint).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ADMIN_KEY, call, expectErrorShape, startApi, type Json, type TestApi } from './support/server.js';
import { DashboardSessionStore, ABSOLUTE_SESSION_MS, MAX_SESSIONS, MAX_SESSIONS_PER_CALLER } from '../src/dashboard/sessionStore.js';
import { MAX_POINTS, usageSeries } from '../src/dashboard/usageSeries.js';

let t: TestApi;
let orgA: { id: string; key: string; keyId: string };
let orgB: { id: string; key: string };

interface Signed { cookie: string; csrf: string; setCookie: string; body: Json }

async function signIn(key: string, headers: Record<string, string> = {}, url = t.url): Promise<Signed> {
  const res = await fetch(`${url}/dashboard/api/session`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Origin: url, ...headers }, body: JSON.stringify({ key }),
  });
  const body = (await res.json()) as Json;
  if (res.status !== 201) throw new Error(`sign-in failed: ${res.status} ${JSON.stringify(body)}`);
  const setCookie = res.headers.getSetCookie()[0]!;
  return { cookie: setCookie.split(';')[0]!, csrf: body.csrf_token as string, setCookie, body };
}

/** A request as the dashboard page makes it: cookie, and (unless told otherwise) CSRF token and same Origin. */
function asPage(s: Signed, path: string, init: { method?: string; body?: unknown; csrf?: string | null; origin?: string | null; contentType?: string } = {}) {
  const headers: Record<string, string> = { Cookie: s.cookie };
  const csrf = init.csrf === undefined ? s.csrf : init.csrf;
  if (csrf !== null) headers['X-CSRF-Token'] = csrf;
  const origin = init.origin === undefined ? t.url : init.origin;
  if (origin !== null) headers.Origin = origin;
  if (init.contentType) headers['Content-Type'] = init.contentType;
  return call(`${t.url}${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, ...(init.body !== undefined ? { body: init.body } : {}) });
}

beforeAll(async () => {
  t = await startApi('dashboard');
  const a = await call(`${t.url}/v2/admin/orgs`, { key: ADMIN_KEY, body: { name: 'Org A' } });
  const b = await call(`${t.url}/v2/admin/orgs`, { key: ADMIN_KEY, body: { name: 'Org B' } });
  orgA = { id: a.body.organization_id, key: a.body.secret_key, keyId: a.body.key_id };
  orgB = { id: b.body.organization_id, key: b.body.secret_key };
});

afterAll(async () => {
  await t.stop();
});

describe('the page', () => {
  test('is served with a strict Content-Security-Policy and no inline script', async () => {
    const res = await fetch(`${t.url}/dashboard/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, inner] of scripts) {
      expect(attrs).toMatch(/src="\/dashboard\/assets\//);
      expect(inner!.trim()).toBe('');
    }
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=/i);
  });

  test('/dashboard redirects to /dashboard/', async () => {
    const res = await fetch(`${t.url}/dashboard`, { redirect: 'manual' });
    expect(res.status).toBe(308);
    expect(res.headers.get('location')).toBe('/dashboard/');
  });
});

describe('sign-in', () => {
  test('with the admin key: HttpOnly SameSite=Strict cookie (not Secure over plain HTTP), CSRF token, no secret echoed', async () => {
    const s = await signIn(ADMIN_KEY);
    expect(s.setCookie).toMatch(/^sg_dashboard=[A-Za-z0-9_-]{40,};/);
    expect(s.setCookie).toMatch(/HttpOnly/i);
    expect(s.setCookie).toMatch(/SameSite=Strict/i);
    expect(s.setCookie).toMatch(/Path=\//);
    expect(s.setCookie).not.toMatch(/Secure/i);
    expect(s.body.caller).toEqual({ kind: 'admin' });
    expect(s.body.organizations.map((o: Json) => o.organization_id)).toEqual(expect.arrayContaining([orgA.id, orgB.id]));
    expect(JSON.stringify(s.body)).not.toContain(ADMIN_KEY);
    expect(s.cookie).not.toContain(ADMIN_KEY);
  });

  test('a wrong key gets 401 and an auth.failed audit row; nothing is set', async () => {
    const res = await fetch(`${t.url}/dashboard/api/session`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Origin: t.url }, body: JSON.stringify({ key: 'sk_not-a-real-key-0123456789abcdefghijkl' }),
    });
    expect(res.status).toBe(401);
    expectErrorShape((await res.json()) as Json);
    expect(res.headers.getSetCookie()).toEqual([]);
    const audit = await call(`${t.url}/v2/admin/audit?event=auth.failed`, { key: ADMIN_KEY });
    expect(audit.body.entries.some((e: Json) => e.detail?.route === '/dashboard/api/session')).toBe(true);
  });

  test('sign-in from another origin is refused (login CSRF)', async () => {
    const res = await fetch(`${t.url}/dashboard/api/session`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Origin: 'http://evil.example' }, body: JSON.stringify({ key: ADMIN_KEY }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  test('the session answers who is signed in, with the CSRF token; without a cookie → 401', async () => {
    const s = await signIn(orgA.key);
    const me = await asPage(s, '/dashboard/api/session');
    expect(me.status).toBe(200);
    expect(me.body.caller).toEqual({ kind: 'org', organization_id: orgA.id, key_id: orgA.keyId });
    expect(me.body.csrf_token).toBe(s.csrf);
    expect((await call(`${t.url}/dashboard/api/session`)).status).toBe(401);
  });

  test('behind a trusted HTTPS proxy the cookie is Secure with the __Host- prefix', async () => {
    const proxied = await startApi('dashboard-tls', { SIGNALGATE_TRUST_PROXY: 'loopback' });
    try {
      const s = await signIn(ADMIN_KEY, { 'X-Forwarded-Proto': 'https', Origin: proxied.url.replace('http:', 'https:') }, proxied.url);
      expect(s.setCookie).toMatch(/^__Host-sg_dashboard=/);
      expect(s.setCookie).toMatch(/; Secure/i);
      expect(s.setCookie).toMatch(/HttpOnly/i);
      expect(s.setCookie).toMatch(/SameSite=Strict/i);
    } finally {
      await proxied.stop();
    }
  });
});

describe('CSRF', () => {
  let s: Signed;
  beforeAll(async () => {
    s = await signIn(ADMIN_KEY);
  });
  const keyCount = async () => (await t.services.keys.list(orgA.id)).length;

  test('reads work with the cookie alone', async () => {
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/keys`, { csrf: null });
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body.keys)).toBe(true);
  });

  test('a cross-origin POST without the token is refused with 403 and changes nothing', async () => {
    const before = await keyCount();
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/keys`, { body: {}, csrf: null, origin: 'http://evil.example', contentType: 'application/json' });
    expect(res.status).toBe(403);
    expectErrorShape(res.body);
    expect(await keyCount()).toBe(before);
  });

  test('a form-style cross-site post (text/plain, no token) gets 403 before any body parsing', async () => {
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/keys`, { body: 'name=x', csrf: null, origin: 'http://127.0.0.1:1', contentType: 'text/plain' });
    expect(res.status).toBe(403);
  });

  test('the right token from another origin is refused too (Origin check)', async () => {
    const before = await keyCount();
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/keys`, { body: {}, origin: 'http://evil.example' });
    expect(res.status).toBe(403);
    expect(await keyCount()).toBe(before);
  });

  test('a wrong token from the same origin is refused', async () => {
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/keys`, { body: {}, csrf: 'x'.repeat(43) });
    expect(res.status).toBe(403);
  });

  test('another session’s token does not work', async () => {
    const other = await signIn(ADMIN_KEY);
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/keys`, { body: {}, csrf: other.csrf });
    expect(res.status).toBe(403);
  });

  test('same origin with the session token: the change is made', async () => {
    const before = await keyCount();
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/keys`, { body: { name: 'from-dashboard' } });
    expect(res.status).toBe(201);
    expect(res.body.secret_key).toMatch(/^sk_/);
    expect(await keyCount()).toBe(before + 1);
  });

  test('DELETE and PUT are state changes too', async () => {
    const put = await asPage(s, `/v2/admin/orgs/${orgA.id}/rules/default`, { method: 'PUT', body: { publish: ['#'], subscribe: ['#'] }, csrf: null });
    expect(put.status).toBe(403);
    const del = await asPage(s, '/dashboard/api/session', { method: 'DELETE', csrf: null });
    expect(del.status).toBe(403);
    expect((await asPage(s, '/dashboard/api/session')).status).toBe(200);
  });

  test('signing out needs the token and ends the session', async () => {
    const mine = await signIn(ADMIN_KEY);
    const out = await asPage(mine, '/dashboard/api/session', { method: 'DELETE' });
    expect(out.status).toBe(204);
    expect((await asPage(mine, '/dashboard/api/session')).status).toBe(401);
    expect((await asPage(mine, `/v2/admin/orgs/${orgA.id}/keys`)).status).toBe(401);
  });
});

describe('org isolation', () => {
  let s: Signed;
  beforeAll(async () => {
    s = await signIn(orgA.key);
  });

  test('an org key session lists only its own organization', async () => {
    expect(s.body.organizations).toEqual([{ organization_id: orgA.id, name: 'Org A' }]);
    const orgs = await asPage(s, '/v2/admin/orgs');
    expect(orgs.body.organizations.map((o: Json) => o.organization_id)).toEqual([orgA.id]);
  });

  test('every read and write on another org is 403', async () => {
    for (const path of ['keys', 'rules', 'integrations', 'tokens', 'sessions', 'audit', 'usage']) {
      const res = await asPage(s, `/v2/admin/orgs/${orgB.id}/${path}`);
      expect([path, res.status]).toEqual([path, 403]);
    }
    const explain = await asPage(s, `/v2/admin/orgs/${orgB.id}/acl/explain`, { body: { action: 'publish', topic: 'a' } });
    expect(explain.status).toBe(403);
    const mint = await asPage(s, `/v2/admin/orgs/${orgB.id}/tokens`, { body: { user_id: 'u1' } });
    expect(mint.status).toBe(403);
    const key = await asPage(s, `/v2/admin/orgs/${orgB.id}/keys`, { body: {} });
    expect(key.status).toBe(403);
    expect((await asPage(s, '/v2/admin/audit')).status).toBe(403);
  });

  test('revoking the org key behind a session ends the session on its next request', async () => {
    const extra = await call(`${t.url}/v2/admin/orgs/${orgA.id}/keys`, { key: ADMIN_KEY, body: { name: 'short-lived' } });
    const mine = await signIn(extra.body.secret_key);
    expect((await asPage(mine, `/v2/admin/orgs/${orgA.id}/keys`)).status).toBe(200);
    await call(`${t.url}/v2/admin/orgs/${orgA.id}/keys/${extra.body.key_id}/revoke`, { key: ADMIN_KEY, method: 'POST' });
    const after = await asPage(mine, `/v2/admin/orgs/${orgA.id}/keys`);
    expect(after.status).toBe(401);
    expect((await asPage(mine, '/dashboard/api/session')).status).toBe(401);
  });

  test('a header credential is not overridden by a session cookie', async () => {
    const res = await call(`${t.url}/v2/admin/orgs/${orgB.id}/keys`, { key: orgB.key, headers: { Cookie: s.cookie } });
    expect(res.status).toBe(200);
  });
});

describe('admin routes for the pages', () => {
  let s: Signed;
  beforeAll(async () => {
    s = await signIn(orgA.key);
    await asPage(s, `/v2/admin/orgs/${orgA.id}/rules/default`, { method: 'PUT', body: { publish: ['chat/#', 'users/${user_id}/#'], subscribe: ['chat/#', 'users/${user_id}/#'], presence: true } });
    await asPage(s, `/v2/admin/orgs/${orgA.id}/rules`, { body: { name: 'widget', publish: ['chat/support'], subscribe: ['chat/support'] } });
    await asPage(s, `/v2/admin/orgs/${orgA.id}/integrations`, { body: { integration_id: 'support-widget', rule_set: 'widget' } });
  });

  test('explain: allow names the layer and filter; placeholders use the given user', async () => {
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/acl/explain`, { body: { action: 'publish', topic: 'users/alice/inbox', user: 'alice' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allowed: true, decided_by: { layer: "org default rule set 'default'", filter: 'users/${user_id}/#' } });
    const bob = await asPage(s, `/v2/admin/orgs/${orgA.id}/acl/explain`, { body: { action: 'publish', topic: 'users/alice/inbox', user: 'bob' } });
    expect(bob.body.allowed).toBe(false);
  });

  test('explain with an integration: the integration layer can deny what the default allows', async () => {
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/acl/explain`, { body: { action: 'subscribe', topic: 'chat/#', user: 'alice', integration_id: 'support-widget' } });
    expect(res.body.allowed).toBe(false);
    expect(res.body.decided_by.layer).toBe("integration 'support-widget' (rule set 'widget')");
    expect(res.body.layers).toHaveLength(2);
    const unknown = await asPage(s, `/v2/admin/orgs/${orgA.id}/acl/explain`, { body: { action: 'publish', topic: 'a', integration_id: 'nope' } });
    expect(unknown.status).toBe(404);
  });

  test('explain for a minted token includes its own scopes', async () => {
    const minted = await call(`${t.url}/v2/tokens`, { key: orgA.key, body: { user_id: 'carol', acl: { publish: ['chat/lobby'], subscribe: ['chat/lobby'] } } });
    expect(minted.status).toBe(200);
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/acl/explain`, { body: { action: 'publish', topic: 'chat/other', token_id: minted.body.token_id } });
    expect(res.body).toMatchObject({ allowed: false, decided_by: { layer: 'token scope 1' }, user: { user_id: 'carol' } });
  });

  test('mint from the page: a usable credential, audited, within the org default', async () => {
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/tokens`, { body: { user_id: 'dave', integration_id: 'support-widget', ttl_seconds: 600 } });
    expect(res.status).toBe(201);
    expect(res.body.username).toBe(`${res.body.username.split('@')[0]}@${orgA.id}`);
    expect(res.body.password).toMatch(/^tkn_/);
    expect(res.body.expires_in).toBe(600);
    expect((await t.services.connect.checkConnect(res.body.username, res.body.password)).ok).toBe(true);
    const audit = await asPage(s, `/v2/admin/orgs/${orgA.id}/audit?event=token.minted&user=dave`);
    expect(audit.body.entries).toHaveLength(1);
    const bad = await asPage(s, `/v2/admin/orgs/${orgA.id}/tokens`, { body: {} });
    expect(bad.status).toBe(400);
  });

  test('usage answers an evenly spaced series (empty org: zeros)', async () => {
    const res = await asPage(s, `/v2/admin/orgs/${orgA.id}/usage?minutes=5`);
    expect(res.status).toBe(200);
    expect(res.body.points.length).toBeGreaterThan(10);
    expect(res.body.points.every((p: Json) => p.connections === 0 && p.messages_per_second === 0)).toBe(true);
    expect(res.body.connections_now).toBe(0);
  });

  test('the new routes are in the OpenAPI document', async () => {
    const doc = (await call(`${t.url}/openapi.json`)).body;
    expect(doc.paths['/v2/admin/orgs/{org_id}/acl/explain']?.post).toBeDefined();
    expect(doc.paths['/v2/admin/orgs/{org_id}/tokens']?.post).toBeDefined();
    expect(doc.paths['/v2/admin/orgs/{org_id}/usage']?.get).toBeDefined();
  });
});

describe('session store', () => {
  test('idle sessions expire, activity extends them, and nothing outlives the absolute limit', () => {
    const store = new DashboardSessionStore(60_000);
    const caller = { kind: 'org' as const, orgId: 'org_x', apiKeyId: 'k' };
    const a = store.create(caller, 0);
    expect(store.get(a.id, 59_000)).toBeDefined();
    expect(store.get(a.id, 118_000)).toBeDefined(); // 59 s after the last use
    expect(store.get(a.id, 178_001)).toBeUndefined();
    const b = store.create(caller, 0);
    for (let now = 50_000; now <= ABSOLUTE_SESSION_MS; now += 50_000) expect(store.get(b.id, now)).toBeDefined();
    expect(store.get(b.id, ABSOLUTE_SESSION_MS + 1)).toBeUndefined();
    expect(store.get('not-a-session', 0)).toBeUndefined();
  });
});

describe('usage series', () => {
  test('sums the brokers per bucket (last sample of each), converts messages to a rate, fills gaps with zeros', () => {
    const s = (brokerId: string, at: number, connections: number, messages: number) => ({ orgId: 'org_x', brokerId, at, intervalMs: 1000, connections, messages });
    const { bucketMs, points } = usageSeries([s('b1', 1_100, 2, 10), s('b1', 1_900, 3, 10), s('b2', 1_500, 4, 5), s('b1', 4_200, 1, 0)], 0, 4_999, 1000);
    expect(bucketMs).toBe(1000);
    expect(points.map((p) => [p.at, p.connections, p.messagesPerSecond])).toEqual([
      [0, 0, 0], [1000, 7, 25], [2000, 0, 0], [3000, 0, 0], [4000, 1, 0],
    ]);
  });

  test('a long window is cut into at most MAX_POINTS buckets', () => {
    const { points, bucketMs } = usageSeries([], 0, 24 * 3600_000, 5000);
    expect(points.length).toBeLessThanOrEqual(MAX_POINTS + 1);
    expect(bucketMs % 5000).toBe(0);
  });
});

describe('sign-ins held in memory are bounded (issue 14, item 6)', () => {
  test('one key signing in again and again keeps MAX_SESSIONS_PER_CALLER sessions: the oldest ends', async () => {
    const first = await signIn(orgA.key);
    for (let i = 0; i < MAX_SESSIONS_PER_CALLER; i++) await signIn(orgA.key);
    expect((await asPage(first, '/dashboard/api/session')).status).toBe(401);
    const latest = await signIn(orgA.key);
    expect((await asPage(latest, '/dashboard/api/session')).status).toBe(200);
    // Another caller's sessions are not touched by it.
    const other = await signIn(orgB.key);
    for (let i = 0; i < 5; i++) await signIn(orgA.key);
    expect((await asPage(other, '/dashboard/api/session')).status).toBe(200);
  });

  test('the store never holds more than MAX_SESSIONS, per organisation whatever its keys, and a tenant never evicts the admin', () => {
    const store = new DashboardSessionStore(3600_000);
    for (let i = 0; i < 200; i++) store.create({ kind: 'org', orgId: 'org_x', apiKeyId: `key_${i}` }, 1000);
    expect(store.size).toBe(MAX_SESSIONS_PER_CALLER);
    const admin = store.create({ kind: 'admin', adminKeyHash: 'h' }, 1000);
    for (let i = 0; i < MAX_SESSIONS + 20; i++) store.create({ kind: 'org', orgId: `org_${i}`, apiKeyId: 'k' }, 1000);
    expect(store.size).toBe(MAX_SESSIONS);
    expect(store.get(admin.id, 1000)).toBeDefined();
  });
});
