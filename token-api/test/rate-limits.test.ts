// Mint/refresh rate limits per key and per IP, and the failed-authentication budget per IP.
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { ADMIN_KEY, call, startApi, type TestApi } from './support/server.js';

let t: TestApi | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});
afterAll(async () => t?.stop());

describe('rate limits', () => {
  test('per API key: past SIGNALGATE_MINT_RATE_PER_KEY mints a minute → 429 with Retry-After; another key is unaffected', async () => {
    t = await startApi('rl-key', { SIGNALGATE_MINT_RATE_PER_KEY: '3', SIGNALGATE_MINT_RATE_PER_IP: '1000' });
    const { secretKey, org } = await t.services.orgs.create('RL');
    for (let i = 0; i < 3; i++) expect((await call(`${t.url}/v2/tokens`, { key: secretKey, body: { user_id: `u${i}` } })).status).toBe(200);
    const limited = await call(`${t.url}/v2/tokens`, { key: secretKey, body: { user_id: 'u9' } });
    expect(limited.status).toBe(429);
    expect(limited.body.error).toBe('rate_limited');
    const retry = Number(limited.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    const other = await t.services.keys.create(org.id, 'second');
    expect((await call(`${t.url}/v2/tokens`, { key: other.secretKey, body: { user_id: 'u10' } })).status).toBe(200);
  });

  test('per client IP: past SIGNALGATE_MINT_RATE_PER_IP requests a minute → 429 on mint and refresh', async () => {
    t = await startApi('rl-ip', { SIGNALGATE_MINT_RATE_PER_IP: '3' });
    const { secretKey, org } = await t.services.orgs.create('RL');
    const first = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: org.id, secret_key: secretKey, user_email: 'a@example.com' } });
    expect(first.status).toBe(200);
    expect((await call(`${t.url}/v2/tokens`, { key: secretKey, body: { user_id: 'b' } })).status).toBe(200);
    expect((await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: first.body.token_id, current_token_password: first.body.password } })).status).toBe(200);
    const limited = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: first.body.token_id, current_token_password: first.body.password } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    // Other routes are not mint-limited.
    expect((await call(`${t.url}/v2/tokens`, { key: secretKey })).status).toBe(200);
  });

  test("the dashboard's admin mint route counts against the address's mint rate too", async () => {
    t = await startApi('rl-admin-mint', { SIGNALGATE_MINT_RATE_PER_IP: '2' });
    const { org } = await t.services.orgs.create('RL');
    const mintAsAdmin = () => call(`${t!.url}/v2/admin/orgs/${org.id}/tokens`, { headers: { 'X-Admin-Key': ADMIN_KEY }, body: { user_id: 'admin-minted' } });
    expect([(await mintAsAdmin()).status, (await mintAsAdmin()).status]).toEqual([201, 201]);
    const limited = await mintAsAdmin();
    expect([limited.status, limited.body.error]).toEqual([429, 'rate_limited']);
  });

  test('failed key attempts per IP: after the budget a valid key not verified yet is refused with 429 (no argon2 runs)', async () => {
    t = await startApi('rl-auth', { SIGNALGATE_AUTH_FAILURES_PER_IP: '3' });
    const { secretKey } = await t.services.orgs.create('RL');
    for (let i = 0; i < 3; i++) {
      expect((await call(`${t.url}/v2/tokens`, { key: `sk_guess${i}${'z'.repeat(40)}`, body: { user_id: 'x' } })).status).toBe(401);
    }
    const blocked = await call(`${t.url}/v2/tokens`, { key: secretKey, body: { user_id: 'x' } });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  test('refresh-password guessing uses the same budget: past it a wrong password gets 429, the right one still refreshes', async () => {
    t = await startApi('rl-refresh', { SIGNALGATE_AUTH_FAILURES_PER_IP: '2' });
    const { secretKey } = await t.services.orgs.create('RL');
    const tok = (await call(`${t.url}/v2/tokens`, { key: secretKey, body: { user_id: 'x' } })).body;
    for (let i = 0; i < 2; i++) {
      const r = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: tok.token_id, current_token_password: `tkn_${String(i).repeat(43)}` } });
      expect(r.status).toBe(401);
    }
    const blocked = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: tok.token_id, current_token_password: `tkn_${'9'.repeat(43)}` } });
    expect(blocked.status).toBe(429);
    // Others' failures behind the same address do not lock out a valid (cheap) credential.
    const refreshed = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: tok.token_id, current_token_password: tok.password } });
    expect(refreshed.status).toBe(200);
  });

  test('past the budget a key already verified (cached) still works; failures answer 429 and write no audit row', async () => {
    t = await startApi('rl-shared-address', { SIGNALGATE_AUTH_FAILURES_PER_IP: '3' });
    const { secretKey } = await t.services.orgs.create('Behind a NAT');
    expect((await call(`${t.url}/v2/tokens`, { key: secretKey, body: { user_id: 'warm' } })).status).toBe(200);
    const prefix = secretKey.slice(0, 11);
    for (let i = 0; i < 3; i++) expect((await call(`${t.url}/v2/tokens`, { key: `${prefix}${'w'.repeat(40)}${i}`, body: { user_id: 'x' } })).status).toBe(401);
    const auditRows = (await t.services.store.audit.query({ event: 'auth.failed' })).length;
    for (let i = 0; i < 5; i++) expect((await call(`${t.url}/v2/tokens`, { key: `${prefix}${'v'.repeat(40)}${i}`, body: { user_id: 'x' } })).status).toBe(429);
    expect((await t.services.store.audit.query({ event: 'auth.failed' })).length).toBe(auditRows);
    expect((await call(`${t.url}/v2/tokens`, { key: secretKey, body: { user_id: 'still-works' } })).status).toBe(200);
  });

  test('X-Forwarded-For is ignored unless SIGNALGATE_TRUST_PROXY is set', async () => {
    t = await startApi('rl-xff', { SIGNALGATE_MINT_RATE_PER_IP: '2' });
    const { secretKey } = await t.services.orgs.create('RL');
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await call(`${t.url}/v2/tokens`, { key: secretKey, body: { user_id: 'x' }, headers: { 'X-Forwarded-For': `203.0.113.${i}` } })).status);
    }
    expect(statuses).toEqual([200, 200, 429]);
  });

  test('with SIGNALGATE_TRUST_PROXY=loopback each forwarded client has its own budget, and audit rows carry its address', async () => {
    t = await startApi('rl-proxy', { SIGNALGATE_MINT_RATE_PER_IP: '2', SIGNALGATE_TRUST_PROXY: 'loopback' });
    const { secretKey } = await t.services.orgs.create('RL');
    for (let i = 0; i < 3; i++) {
      const r = await call(`${t.url}/v2/tokens`, { key: secretKey, body: { user_id: 'x' }, headers: { 'X-Forwarded-For': `203.0.113.${i}` } });
      expect(r.status).toBe(200);
    }
    const ips = (await t.services.store.audit.query({ event: 'token.minted' })).map((a) => a.ip).sort();
    expect(ips).toEqual(['203.0.113.0', '203.0.113.1', '203.0.113.2']);
  });
});

describe('argon2 work is bounded (issue 14, item 2)', () => {
  test('concurrent wrong admin keys from one address: only the budget\'s worth is checked, the rest get 429 before argon2', async () => {
    t = await startApi('rl-concurrent', { SIGNALGATE_AUTH_FAILURES_PER_IP: '20' });
    const statuses = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      call(`${t!.url}/v2/admin/orgs`, { headers: { 'X-Admin-Key': `adm_wrong-${i}-${'x'.repeat(40)}` } }).then((r) => r.status)));
    const counts = statuses.reduce<Record<number, number>>((n, st) => ({ ...n, [st]: (n[st] ?? 0) + 1 }), {});
    expect(counts).toEqual({ 401: 20, 429: 180 });
    expect((await t.services.store.audit.query({ event: 'auth.failed' })).length).toBe(20);
  });

  test('a burst of one valid key on a cold cache from one address is one check, not one per request: none is refused', async () => {
    t = await startApi('rl-burst', { SIGNALGATE_AUTH_FAILURES_PER_IP: '5', SIGNALGATE_MINT_RATE_PER_IP: '1000' });
    const { secretKey } = await t.services.orgs.create('Burst');
    const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      call(`${t!.url}/v2/tokens`, { key: secretKey, body: { user_id: `burst-${i}` } }).then((r) => r.status)));
    expect(statuses.every((st) => st === 200)).toBe(true);
  });

  test('past SIGNALGATE_ARGON2_CONCURRENCY running and SIGNALGATE_ARGON2_QUEUE waiting, key checks get 503 server_busy with Retry-After', async () => {
    t = await startApi('rl-gate', { SIGNALGATE_ARGON2_CONCURRENCY: '1', SIGNALGATE_ARGON2_QUEUE: '0', SIGNALGATE_TRUST_PROXY: 'loopback' });
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      call(`${t!.url}/v2/admin/orgs`, { headers: { 'X-Admin-Key': `adm_wrong-${i}-${'y'.repeat(40)}`, 'X-Forwarded-For': `198.51.100.${i}` } })));
    expect(answers.every((a) => a.status === 401 || a.status === 503)).toBe(true);
    const busy = answers.filter((a) => a.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    for (const b of busy) {
      expect(b.body.error).toBe('server_busy');
      expect(b.headers.get('retry-after')).toBe('1');
    }
    // A busy answer is not a failed authentication: that address's budget is untouched.
    expect((await t.services.store.audit.query({ event: 'auth.failed' })).length).toBe(answers.length - busy.length);
    expect((await call(`${t.url}/v2/admin/orgs`, { headers: { 'X-Admin-Key': ADMIN_KEY } })).status).toBe(200);
  });
});
