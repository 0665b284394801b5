// POST /v2/tokens/exchange against a real OpenID provider on loopback (oidc-provider) and a
// Supabase-style shared-secret provider: what the official SDK's connectWithToken({ externalToken })
// sends.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SignJWT } from 'jose';
import { startOidcProvider, type OidcTestProvider } from '../../tests/support/oidcProvider.js';
import { ADMIN_KEY, call, expectErrorShape, startApi, type Json, type TestApi } from './support/server.js';

let t: TestApi;
let idp: OidcTestProvider;
let orgId: string;
let orgUuid: string;
let key: string;
let otherOrgId: string;
let otherKey: string;
const SUPABASE_ISSUER = 'https://abcd.supabase.co/auth/v1';
const SUPABASE_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';

beforeAll(async () => {
  idp = await startOidcProvider({ defaultAudience: 'signalgate-app' });
  // No refetch cooldown: the rotation test rotates seconds after the first fetch.
  t = await startApi('exchange', { SIGNALGATE_JWKS_COOLDOWN_SECONDS: '0' });
  const org = await t.services.orgs.create('Exchange Co');
  ({ id: orgId, uuid: orgUuid } = org.org);
  key = org.secretKey;
  const other = await t.services.orgs.create('Other Co');
  otherOrgId = other.org.id;
  otherKey = other.secretKey;
  // The fixture is on loopback: only the operator may point a provider there.
  await addProvider(ADMIN_KEY, orgId, { name: 'corp-sso', type: 'oidc', issuer: idp.issuer, jwks_url: idp.jwksUrl, audience: 'signalgate-app' });
  await addProvider(key, orgId, { type: 'supabase', issuer: SUPABASE_ISSUER, secret: SUPABASE_SECRET });
  // Narrow the org's rules so the exchanged token's rights are visible.
  await t.services.rules.setDefault(orgId, { publish: ['chat/${user_id}/#', 'rooms/#'], subscribe: ['chat/#', 'rooms/#'], presence: true, history: false });
});
afterAll(async () => {
  await t.stop();
  await idp.close();
});

async function addProvider(orgKey: string, org: string, body: Json) {
  const res = await call(`${t.url}/v2/admin/orgs/${org}/providers`, { key: orgKey, body });
  expect([res.status, res.body.error]).toEqual([201, undefined]);
}

const exchange = (body: Json, headers: Record<string, string> = {}) => call(`${t.url}/v2/tokens/exchange`, { body, headers });

const supabaseToken = (claims: Json, exp: string | number = '1h') =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuer(SUPABASE_ISSUER).setAudience('authenticated')
    .setIssuedAt().setExpirationTime(exp).sign(new TextEncoder().encode(SUPABASE_SECRET));

describe('an OIDC provider (JWKS)', () => {
  test("its access token mints MQTT credentials for the token's user: the create superset plus provider", async () => {
    const jwt = await idp.issueToken({ sub: 'user-4711', email: 'ada@example.com' });
    const res = await exchange({ organization_id: orgId, token: jwt });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      provider: 'corp-sso', user_id: 'user-4711', user_email: 'ada@example.com', token_type: 'Bearer',
      organization_id: orgId, organization_uuid: orgUuid,
    });
    expect(res.body.mqtt_credentials.username).toMatch(new RegExp(`@${orgId}$`));
    expect(res.body.access_token).toBe(res.body.mqtt_credentials.password);
    for (const f of ['token_id', 'expires_at', 'refresh_recommended_at']) expect(typeof res.body[f]).toBe('string');
    const verdict = await t.services.connect.checkConnect(res.body.username, res.body.password, 'cs_abcdefgh');
    if (!verdict.ok) throw new Error(`refused: ${verdict.reason}`);
    expect(verdict.rights.canPublish('chat/user-4711/x')).toBe(true);
    expect(verdict.rights.canPublish('chat/someone-else/x')).toBe(false);
    // The same user exchanging again is the same user (same username), with a new token.
    const again = await exchange({ organization_id: orgUuid, token: await idp.issueToken({ sub: 'user-4711' }) });
    expect(again.body.username).toBe(res.body.username);
    expect(again.body.token_id).not.toBe(res.body.token_id);
  });

  test('the exchanged token refreshes like any other, and keeps naming its provider', async () => {
    const res = await exchange({ organization_id: orgId, token: await idp.issueToken({ sub: 'refresher' }) });
    const refreshed = await call(`${t.url}/v2/tokens/refresh`, { body: { token_id: res.body.token_id, current_token_password: res.body.password } });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.provider).toBe('corp-sso');
  });

  test('integration_id narrows the rights as for create; an unknown one is 404', async () => {
    await t.services.rules.create(orgId, 'rooms-only', { publish: ['rooms/#'], subscribe: ['rooms/#'], presence: false, history: false });
    await t.services.integrations.create(orgId, 'rooms-app', 'rooms-only');
    const res = await exchange({ organization_id: orgId, token: await idp.issueToken({ sub: 'narrow' }), integration_id: 'rooms-app' });
    expect(res.status).toBe(200);
    const verdict = await t.services.connect.checkConnect(res.body.username, res.body.password, 'c1');
    if (!verdict.ok) throw new Error('refused');
    expect([verdict.rights.canPublish('rooms/a'), verdict.rights.canPublish('chat/narrow/x')]).toEqual([true, false]);
    const unknown = await exchange({ organization_id: orgId, token: await idp.issueToken({ sub: 'narrow' }), integration_id: 'nope' });
    expect([unknown.status, unknown.body.error]).toEqual([404, 'integration_not_found']);
  });

  test.each<[string, () => Promise<string>, number, string]>([
    ['a tampered payload', async () => {
      const [h, p, s] = (await idp.issueToken({ sub: 'mallory' })).split('.');
      const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Json;
      return [h, Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url'), s].join('.');
    }, 401, 'invalid_token'],
    ['an expired token', () => idp.issueToken({ sub: 'late', expiresIn: -120 }), 401, 'token_expired'],
    ['a wrong audience', () => idp.issueToken({ sub: 'aud', audience: 'another-api' }), 401, 'invalid_token'],
    ['alg: none', async () => {
      const [, p] = (await idp.issueToken({ sub: 'none' })).split('.');
      return `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
    }, 401, 'invalid_token'],
    ['HS256 signed with the public key', async () => {
      const jwks = (await (await fetch(idp.jwksUrl)).json()) as { keys: Json[] };
      const publicJwk = JSON.stringify(jwks.keys.find((k) => k.kty === 'RSA'));
      const [, p] = (await idp.issueToken({ sub: 'confused' })).split('.');
      return new SignJWT(JSON.parse(Buffer.from(p!, 'base64url').toString()) as Json)
        .setProtectedHeader({ alg: 'HS256', kid: idp.kidOf('RS256') }).sign(new TextEncoder().encode(publicJwk));
    }, 401, 'invalid_token'],
    ['a token of an issuer the org has not configured', async () => {
      const [h, p, s] = (await idp.issueToken({ sub: 'x' })).split('.');
      const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Json;
      return [h, Buffer.from(JSON.stringify({ ...claims, iss: 'https://unknown-idp.example.com' })).toString('base64url'), s].join('.');
    }, 404, 'provider_not_found'],
    ['garbage', async () => 'not-a-token', 401, 'invalid_token'],
    ['a three-part string that is no JWT', async () => 'abc.def.ghi', 401, 'invalid_token'],
  ])('%s is refused with the error the SDK classifies', async (_label, make, status, error) => {
    const res = await exchange({ organization_id: orgId, token: await make() });
    expect([res.status, res.body.error]).toEqual([status, error]);
    expectErrorShape(res.body);
  });

  test("the provider's key rotation is picked up: a token signed with the new key exchanges", async () => {
    const before = idp.kidOf();
    await idp.rotateKeys();
    expect(idp.kidOf()).not.toBe(before);
    const res = await exchange({ organization_id: orgId, token: await idp.issueToken({ sub: 'after-rotation' }) });
    expect([res.status, res.body.error]).toEqual([200, undefined]);
  });

  test("another org does not trust this org's provider: 404 provider_not_found", async () => {
    const res = await exchange({ organization_id: otherOrgId, token: await idp.issueToken({ sub: 'crossing' }) });
    expect([res.status, res.body.error]).toEqual([404, 'provider_not_found']);
    void otherKey;
  });
});

describe('a Supabase provider with the shared JWT secret (HS256)', () => {
  test("session.access_token exchanges; sub and email come from Supabase's claims", async () => {
    const jwt = await supabaseToken({ sub: '8b5e8f3a-6f53-4a3b-9d2e-1f0c7c5b2a11', email: 'sb@example.com', role: 'authenticated' });
    const res = await exchange({ organization_id: orgId, token: jwt });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ provider: 'supabase', user_id: '8b5e8f3a-6f53-4a3b-9d2e-1f0c7c5b2a11', user_email: 'sb@example.com' });
  });

  test("an exchange never rewrites a user's email (it would change ${user_email} for their other tokens); it fills a missing one", async () => {
    await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'alice-shared', user_email: 'alice@corp.example' } });
    const res = await exchange({ organization_id: orgId, token: await supabaseToken({ sub: 'alice-shared', email: 'mallory@evil.example' }) });
    expect(res.status).toBe(200);
    expect(res.body.user_email).toBe('alice@corp.example');
    expect((await t.services.tokens.findUser(orgId, 'alice-shared'))?.userEmail).toBe('alice@corp.example');
    await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'no-email-yet' } });
    const filled = await exchange({ organization_id: orgId, token: await supabaseToken({ sub: 'no-email-yet', email: 'new@example.com' }) });
    expect(filled.body.user_email).toBe('new@example.com');
  });

  test('signed with another secret, or expired: refused', async () => {
    const forged = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).setIssuer(SUPABASE_ISSUER).setAudience('authenticated')
      .setExpirationTime('1h').sign(new TextEncoder().encode('another-secret-that-is-also-32-bytes-long!!'));
    expect((await exchange({ organization_id: orgId, token: forged })).body.error).toBe('invalid_token');
    const expired = await supabaseToken({ sub: 'x' }, Math.floor(Date.now() / 1000) - 600);
    expect((await exchange({ organization_id: orgId, token: expired })).body.error).toBe('token_expired');
  });
});

describe('a SignalGate access_token (seed 002 passes one here)', () => {
  test("answers that token's own credentials, minting nothing", async () => {
    const created = await call(`${t.url}/v2/tokens/create`, { body: { organization_id: orgId, secret_key: key, user_email: 'own@example.com' } });
    const before = (await t.services.tokens.list(orgId)).length;
    const res = await exchange({ organization_id: orgId, token: created.body.access_token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      token_id: created.body.token_id, access_token: created.body.access_token, username: created.body.username,
      expires_at: created.body.expires_at, provider: 'cloudsignal', user_email: 'own@example.com',
    });
    expect((await t.services.tokens.list(orgId)).length).toBe(before);
  });

  test("another org's access_token, a revoked one, an unknown one: 401", async () => {
    const foreign = await call(`${t.url}/v2/tokens`, { key: otherKey, body: { user_id: 'foreigner' } });
    expect((await exchange({ organization_id: orgId, token: foreign.body.access_token })).body.error).toBe('invalid_token');
    const mine = await call(`${t.url}/v2/tokens`, { key, body: { user_id: 'revokee' } });
    await call(`${t.url}/v2/tokens/${mine.body.token_id}`, { method: 'DELETE', key });
    expect((await exchange({ organization_id: orgId, token: mine.body.access_token })).status).toBe(401);
    expect((await exchange({ organization_id: orgId, token: `tkn_${'Z'.repeat(43)}` })).status).toBe(401);
  });
});

describe('every exchange', () => {
  test('is audited: mints name the provider, refusals are recorded without the token', async () => {
    const jwt = await idp.issueToken({ sub: 'audited' });
    await exchange({ organization_id: orgId, token: jwt });
    await exchange({ organization_id: orgId, token: 'not-a-token' }, { 'User-Agent': 'audit-probe' });
    const rows = await t.services.store.audit.query({ orgId, limit: 1000 });
    expect(rows.find((r) => r.event === 'token.minted' && r.userId === 'audited')?.detail).toMatchObject({ provider: 'corp-sso' });
    const failed = rows.find((r) => r.event === 'token.exchange_failed' && r.userAgent === 'audit-probe');
    expect(failed?.detail).toEqual({ reason: 'invalid_token' });
    expect(JSON.stringify(rows)).not.toContain(jwt);
  });

  test('an unknown organization is 404 organization_not_found; a malformed body is 400', async () => {
    const res = await exchange({ organization_id: 'org_zzzzzzzzzzzz', token: 'x' });
    expect([res.status, res.body.error]).toEqual([404, 'organization_not_found']);
    const bad = await exchange({ organization_id: orgId });
    expect([bad.status, bad.body.error]).toEqual([400, 'invalid_request']);
    expect(bad.body.error_description).toMatch(/^token: /);
  });
});

describe('rate limits, like create', () => {
  let limited: TestApi;
  beforeAll(async () => {
    limited = await startApi('exchange-limits', { SIGNALGATE_MINT_RATE_PER_IP: '6', SIGNALGATE_AUTH_FAILURES_PER_IP: '2' });
  });
  afterAll(async () => limited.stop());

  test('per address: refused tokens use up the failure budget (an unknown issuer does not: issuers are public), then 429 with Retry-After', async () => {
    const { org } = await limited.services.orgs.create('Limited');
    const unknownIssuer = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://nobody.example')
      .setExpirationTime('1h').sign(new TextEncoder().encode(SUPABASE_SECRET));
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof call>> | undefined;
    for (const token of [unknownIssuer, unknownIssuer, unknownIssuer, 'garbage', 'garbage', 'garbage', 'garbage']) {
      last = await call(`${limited.url}/v2/tokens/exchange`, { body: { organization_id: org.id, token } });
      statuses.push(last.status);
    }
    // Two refusals use up the failure budget and the next is refused by it; the seventh request is past the per-address limit (6).
    expect(statuses).toEqual([404, 404, 404, 401, 401, 429, 429]);
    expect(last!.body.error_description).toMatch(/from this address/);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last!.body.error).toBe('rate_limited');
  });
});

describe('the per-organisation budget', () => {
  let limited: TestApi;
  beforeAll(async () => {
    limited = await startApi('exchange-org-budget', { SIGNALGATE_MINT_RATE_PER_KEY: '2', SIGNALGATE_TRUST_PROXY: 'loopback' });
  });
  afterAll(async () => limited.stop());

  test('is charged only for verified identities: garbage from many addresses cannot use it up', async () => {
    const created = await limited.services.orgs.create('Budget');
    await limited.services.providers.add(created.org.id, { type: 'supabase', issuer: SUPABASE_ISSUER, secret: SUPABASE_SECRET });
    const from = (n: number) => ({ 'X-Forwarded-For': `203.0.113.${n}` });
    for (let i = 1; i <= 5; i++) {
      const res = await call(`${limited.url}/v2/tokens/exchange`, { headers: from(i), body: { organization_id: created.org.id, token: 'garbage' } });
      expect(res.status).toBe(401);
    }
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call(`${limited.url}/v2/tokens/exchange`, { headers: from(100 + i), body: { organization_id: created.org.id, token: await supabaseToken({ sub: `u${i}` }) } });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 429]);
  });
});
