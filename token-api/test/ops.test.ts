// Health, readiness, Prometheus metrics and the OpenAPI document.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createApp } from '@signalgate/token-api';
import { createLogger } from '@signalgate/shared';
import fs from 'node:fs';
import path from 'node:path';
import { ADMIN_KEY, call, startApi, type Json, type TestApi } from './support/server.js';

let t: TestApi;
let key: string;

beforeAll(async () => {
  t = await startApi('ops');
  ({ secretKey: key } = await t.services.orgs.create('Ops'));
});
afterAll(async () => t.stop());

describe('operations', () => {
  test('/healthz and /readyz answer 200', async () => {
    expect(await call(`${t.url}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await call(`${t.url}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready' } });
  });

  test('/metrics counts mints, refreshes, revokes and requests by route and status', async () => {
    const value = async (name: string, labels = '') => {
      const text = await (await fetch(`${t.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const minted = await value('signalgate_tokens_minted_total');
    const refreshed = await value('signalgate_tokens_refreshed_total');
    const revoked = await value('signalgate_tokens_revoked_total');
    const tok = (await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'm' } })).body;
    const next = (await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: tok.token_id, current_token_password: tok.password } })).body;
    await call(`${t.url}/v2/tokens/${next.token_id}`, { method: 'DELETE', key });
    expect(await value('signalgate_tokens_minted_total')).toBe(minted + 1);
    expect(await value('signalgate_tokens_refreshed_total')).toBe(refreshed + 1);
    expect(await value('signalgate_tokens_revoked_total')).toBe(revoked + 1);
    expect(await value('signalgate_http_requests_total', '{method="POST",route="/v2/tokens",status="200"}')).toBeGreaterThanOrEqual(1);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  test('/readyz is 503 when the database is gone', async () => {
    const other = await startApi('ops-dead');
    await other.services.store.close();
    const res = await call(`${other.url}/readyz`);
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('not_ready');
    expect((await call(`${other.url}/healthz`)).status).toBe(200);
    await other.api.close();
  });

  test('a second app in the same process does not re-register metrics', () => {
    expect(() => createApp({ config: t.config, services: t.services, logger: createLogger('silent') })).not.toThrow();
  });
});

describe('GET /openapi.json', () => {
  test('is an OpenAPI 3.1 document listing every route with its method', async () => {
    const res = await call(`${t.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toContain('SignalGate');
    const { routes } = createApp({ config: t.config, services: t.services, logger: createLogger('silent') });
    expect(routes.length).toBeGreaterThan(30);
    for (const r of routes) {
      expect([r.method, r.path, Boolean(doc.paths[r.path]?.[r.method])]).toEqual([r.method, r.path, true]);
    }
    for (const path of ['/v2/tokens/create', '/v2/tokens', '/v2/tokens/refresh', '/v2/tokens/{token_id}', '/v2/presence', '/v2/history',
      '/v2/admin/orgs', '/v2/admin/orgs/{org_id}/rules/default', '/v2/admin/orgs/{org_id}/keys/{key_id}/rotate', '/v2/admin/orgs/{org_id}/audit']) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });

  test('documents the request schemas the service validates with (seed fields, required lists)', async () => {
    const doc = (await call(`${t.url}/openapi.json`)).body;
    const schemas = doc.components.schemas as Record<string, Json>;
    expect(schemas.CreateTokenRequest!.required.sort()).toEqual(['organization_id', 'secret_key', 'user_email']);
    expect(Object.keys(schemas.MintTokenRequest!.properties)).toEqual(expect.arrayContaining(['user_id', 'user_email', 'ttl_seconds', 'ttl', 'permissions', 'topics', 'acl', 'integration_id', 'replace_existing']));
    expect(schemas.RefreshTokenRequest!.required.sort()).toEqual(['current_token_password', 'token_id']);
    expect(Object.keys(schemas.TokenResponse!.properties)).toEqual(expect.arrayContaining([
      'access_token', 'token_type', 'expires_in', 'mqtt_credentials', 'username', 'password', 'token', 'token_id', 'user_email', 'user_id',
      'provider', 'expires_at', 'refresh_recommended_at', 'organization_id', 'integration_id']));
    expect(Object.keys(schemas.OrgLimits!.properties)).toEqual(['max_connections', 'max_messages_per_second', 'max_bytes_per_second',
      'max_payload_bytes', 'token_messages_per_second', 'max_connects_per_second', 'max_subscriptions_per_connection',
      'max_retained_messages', 'max_retained_bytes', 'max_queued_messages', 'max_queued_bytes', 'max_history_topics', 'max_history_bytes']);
    expect(schemas.UpdateOrgRequest!.properties.limits.properties.max_connects_per_second).toBeDefined();
    expect(Object.keys(doc.components.securitySchemes)).toEqual(expect.arrayContaining(['orgKey', 'adminKey', 'mqttCredential']));
    const mint = doc.paths['/v2/tokens'].post;
    expect(Object.keys(mint.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '413', '415', '429']));
  });
});

describe('what an outsider can read or keep (issue 14, item 8)', () => {
  test('/metrics: loopback scrapers by default; elsewhere only with the admin key, never an org key', async () => {
    expect((await call(`${t.url}/metrics`)).status).toBe(200);
    const closed = await startApi('ops-metrics', { SIGNALGATE_METRICS_ALLOW: '' });
    try {
      expect((await call(`${closed.url}/metrics`)).status).toBe(401);
      const { secretKey } = await closed.services.orgs.create('Tenant');
      expect((await call(`${closed.url}/metrics`, { key: secretKey })).status).toBe(403);
      const admin = await fetch(`${closed.url}/metrics`, { headers: { 'X-Admin-Key': ADMIN_KEY } });
      expect([admin.status, (await admin.text()).includes('signalgate_')]).toEqual([200, true]);
    } finally {
      await closed.stop();
    }
    const proxied = await startApi('ops-metrics-proxy', { SIGNALGATE_METRICS_ALLOW: '10.0.0.0/8', SIGNALGATE_TRUST_PROXY: 'loopback' });
    try {
      expect((await call(`${proxied.url}/metrics`, { headers: { 'X-Forwarded-For': '10.1.2.3' } })).status).toBe(200);
      expect((await call(`${proxied.url}/metrics`, { headers: { 'X-Forwarded-For': '203.0.113.9' } })).status).toBe(401);
    } finally {
      await proxied.stop();
    }
  });

  test('answers that carry a password or key are never cached (Cache-Control: no-store)', async () => {
    const minted = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'cache' } });
    expect([minted.status, minted.headers.get('cache-control')]).toEqual([200, 'no-store']);
    const created = await call(`${t.url}/v2/admin/orgs`, { body: { name: 'Cached?' }, headers: { 'X-Admin-Key': ADMIN_KEY } });
    expect([created.status, created.headers.get('cache-control')]).toEqual([201, 'no-store']);
    expect((await call(`${t.url}/v2/nope`)).headers.get('cache-control')).toBe('no-store');
  });

  test('the data directory is 0700 and the database files 0600', async () => {
    const mode = (p: string) => fs.statSync(p).mode & 0o777;
    expect(mode(t.dataDir)).toBe(0o700);
    for (const f of fs.readdirSync(t.dataDir).filter((n) => n.startsWith('signalgate.db'))) expect([f, mode(path.join(t.dataDir, f))]).toEqual([f, 0o600]);
  });
});
