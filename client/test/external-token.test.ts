// connectWithToken({externalToken}) as the official SDK means it: the token (an identity provider's
// JWT, or an access_token your server minted) is exchanged through POST /v2/tokens/exchange with
// organization_id; failures are classified as the official SDK classifies them; getProviders()
// reads GET /v2/providers. Against the real token API and broker, with a Supabase-style HS256
// provider added through the admin API and JWTs signed with jose.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { SignJWT } from 'jose';
import CloudSignal, { CloudSignalError, TOKEN_ERRORS, type CloudSignalOptions, type TokenErrorType, type TokenInfo } from '@signalgate/client';
import { Inbox, connectClient, eventually, mintLikeSeed002, newOrg, postJson, sleep, startStack, type Org, type Stack } from './support/fixtures.js';
import { WireTap } from './support/wireTap.js';

const ISSUER = 'https://sgtest.supabase.co/auth/v1';
const SECRET = 'a-supabase-jwt-secret-of-at-least-32-bytes-long';
const REFRESH_TTL = 3;

let stack: Stack;
/** Narrowed default rules (rooms/#, users/${user_id}/#) and the Supabase provider. */
let org: Org;
let orgUuid: string;
/** Short-lived tokens (REFRESH_TTL s by default), the same provider. */
let shortOrg: Org;
let tap: WireTap;
const clients: CloudSignal[] = [];
const raw: MqttClient[] = [];
let n = 0;

interface Call {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
}

beforeAll(async () => {
  stack = await startStack('sdk-exchange');
  org = await newOrg(stack, 'Exchange Co');
  orgUuid = (await stack.services.orgs.get(org.orgId)).uuid;
  await stack.services.rules.update(org.orgId, 'default', {
    publish: ['rooms/#', 'users/${user_id}/#'], subscribe: ['rooms/#', 'users/${user_id}/#'], presence: true, history: true,
  });
  await addSupabaseProvider(org);
  shortOrg = await newOrg(stack, 'Short TTL Co');
  await stack.services.orgs.update(shortOrg.orgId, { minTtlSeconds: 1, defaultTtlSeconds: REFRESH_TTL });
  await addSupabaseProvider(shortOrg);
  tap = await WireTap.start(stack.broker.ports.mqtt!);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.destroy()));
  for (const r of raw) r.end(true);
  await tap.stop();
  await stack.stop();
});

/** The admin API, authorised by the organisation's own secret key. */
async function addSupabaseProvider(o: Org): Promise<void> {
  const res = await postJson(`${stack.api.url}/v2/admin/orgs/${o.orgId}/providers`, { type: 'supabase', issuer: ISSUER, secret: SECRET },
    { Authorization: `Bearer ${o.secretKey}` });
  if (res.status !== 201) throw new Error(`adding the provider failed: ${res.status} ${await res.text()}`);
}

/** A Supabase-style access token: HS256, aud `authenticated`, role, email. */
async function supabaseJwt(sub: string, o: { issuer?: string; secret?: string; expiresAt?: number; email?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const exp = o.expiresAt ?? now + 3600;
  return new SignJWT({ email: o.email ?? `${sub}@example.com`, role: 'authenticated' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(o.issuer ?? ISSUER)
    .setSubject(sub)
    .setAudience('authenticated')
    .setIssuedAt(Math.min(now, exp - 60))
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(o.secret ?? SECRET));
}

/** A fetch that records what the SDK asks the token service, then asks it. */
function recordingFetch(calls: Call[]): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    calls.push({ method: init?.method ?? 'GET', path: url.pathname, body: init?.body ? (JSON.parse(String(init.body)) as Record<string, unknown>) : undefined });
    return fetch(input, init);
  };
}

function sdk(opts: CloudSignalOptions = {}): CloudSignal {
  const c = new CloudSignal({ tokenServiceUrl: stack.api.url, authRetryDelaySeconds: 0.05, ...opts });
  clients.push(c);
  return c;
}

/** A plain mqtt.js peer with a key-minted token of `o`. */
async function peer(o: Org): Promise<MqttClient> {
  const t = await mintLikeSeed002(stack, o, `peer-${n++}@example.com`, { ttl_seconds: 600 });
  const c = await connectClient(stack.mqttUrl, { username: t.username, password: t.password });
  raw.push(c);
  return c;
}

const rejection = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as CloudSignalError);

describe('externalToken: an identity provider JWT', () => {
  test.each([
    { preset: 'desktop', protocolVersion: 5 },
    { preset: 'mobile', protocolVersion: 4 },
  ] as const)('$preset (MQTT protocol level $protocolVersion): exchanged, connected, and it publishes and subscribes within the org default rules', async ({ preset, protocolVersion }) => {
    const sub = `sb-${preset}-${n++}`;
    const calls: Call[] = [];
    const client = sdk({ preset, fetch: recordingFetch(calls) });
    const inbox = new Inbox();
    client.onMessage(inbox.push);
    const jwt = await supabaseJwt(sub);
    const before = tap.connections.length;
    await client.connectWithToken({ host: tap.url, organizationId: org.orgId, externalToken: jwt });

    expect(calls).toEqual([{ method: 'POST', path: '/v2/tokens/exchange', body: { organization_id: org.orgId, token: jwt } }]);
    expect(client.tokenInfo).toMatchObject({ provider: 'supabase', organizationId: org.orgId });
    const connect = tap.connections[before]!.fromClient[0] as { protocolVersion: number; username: string };
    expect(connect.protocolVersion).toBe(protocolVersion);
    expect(connect.username).toBe(client.tokenInfo!.username);
    // The JWT's sub is the user, so ${user_id} in the default rules is the sub.
    expect(await stack.services.tokens.findUser(org.orgId, sub)).toMatchObject({ userId: sub, userEmail: `${sub}@example.com` });

    const other = await peer(org);
    const fromClient = new Inbox();
    other.on('message', (topic, payload) => fromClient.push(topic, payload.toString()));
    await other.subscribeAsync('rooms/lobby', { qos: 1 });
    await client.subscribe(`users/${sub}/inbox`);
    await client.subscribe('rooms/lobby');
    await expect(client.subscribe('users/somebody-else/inbox')).rejects.toMatchObject({ code: 'subscription_denied' });
    await expect(client.subscribe('secret/#')).rejects.toMatchObject({ code: 'subscription_denied' });

    await client.transmit('rooms/lobby', { from: sub });
    await fromClient.waitFor('rooms/lobby');
    expect(JSON.parse(fromClient.on('rooms/lobby')[0] as string)).toEqual({ from: sub });
    await other.publishAsync('rooms/lobby', JSON.stringify({ from: 'peer' }), { qos: 1 });
    await inbox.waitFor('rooms/lobby', 2);
    expect(inbox.on('rooms/lobby')).toEqual([{ from: sub }, { from: 'peer' }]);
    // users/<sub>/… is this user's own: it publishes there and hears itself.
    await client.transmit(`users/${sub}/inbox`, { to: sub });
    await inbox.waitFor(`users/${sub}/inbox`);
    expect(inbox.on(`users/${sub}/inbox`)).toEqual([{ to: sub }]);
  });

  test('organizationId may be the UUID; the deprecated idToken alias is exchanged the same way', async () => {
    const calls: Call[] = [];
    const client = sdk({ fetch: recordingFetch(calls) });
    const jwt = await supabaseJwt(`sb-uuid-${n++}`);
    await client.connectWithToken({ host: stack.mqttUrl, organizationId: orgUuid, idToken: jwt });
    expect(client.isConnected).toBe(true);
    expect(calls).toEqual([{ method: 'POST', path: '/v2/tokens/exchange', body: { organization_id: orgUuid, token: jwt } }]);
    expect(client.tokenInfo).toMatchObject({ organizationId: org.orgId, provider: 'supabase' });
  });

  test('an exchanged token is auto-refreshed (token_id + current password) past its first expiry, and keeps its subscriptions', async () => {
    const calls: Call[] = [];
    const client = sdk({ fetch: recordingFetch(calls) });
    const refreshed: TokenInfo[] = [];
    const errors: string[] = [];
    client.setTokenRefreshedCallback((info) => refreshed.push(info));
    client.setTokenErrorCallback((err) => errors.push(err.message));
    const inbox = new Inbox();
    client.onMessage(inbox.push);
    await client.connectWithToken({ host: stack.mqttUrl, organizationId: shortOrg.orgId, externalToken: await supabaseJwt(`sb-refresh-${n++}`) });
    const first = client.tokenInfo!;
    expect(first.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(REFRESH_TTL * 1000);
    await client.subscribe('rooms/refresh');

    await eventually(() => refreshed.length >= 2, 'two refreshes', 10_000);
    await sleep(Math.max(0, first.expiresAt.getTime() - Date.now()) + 300);
    expect(errors).toEqual([]);
    expect(refreshed.every((info) => info.tokenId === first.tokenId && info.provider === 'supabase')).toBe(true);
    const refreshCalls = calls.filter((c) => c.path === '/v2/tokens/refresh');
    expect(refreshCalls.length).toBeGreaterThanOrEqual(2);
    expect(refreshCalls[0]!.body).toMatchObject({ token_id: first.tokenId });
    // The second refresh proved possession of the password the first one returned, not the first password.
    expect(refreshCalls[1]!.body!.current_token_password).not.toBe(refreshCalls[0]!.body!.current_token_password);
    expect(calls.filter((c) => c.path === '/v2/tokens/exchange')).toHaveLength(1);
    expect((await stack.services.tokens.get(shortOrg.orgId, first.tokenId)).expiresAt).toBeGreaterThan(first.expiresAt.getTime());

    expect(client.isConnected).toBe(true);
    const other = await peer(shortOrg);
    await other.publishAsync('rooms/refresh', JSON.stringify({ after: 'expiry of the first password' }), { qos: 1 });
    await inbox.waitFor('rooms/refresh');
    expect(inbox.on('rooms/refresh')).toEqual([{ after: 'expiry of the first password' }]);
  }, 20_000);

  test('an exchanged token that can no longer be refreshed (revoked) ends in auth_failed + onAuthError; the SDK does not exchange again', async () => {
    const calls: Call[] = [];
    const client = sdk({ fetch: recordingFetch(calls) });
    const authErrors: CloudSignalError[] = [];
    client.onAuthError = (err) => authErrors.push(err);
    await client.connectWithToken({ host: stack.mqttUrl, organizationId: org.orgId, externalToken: await supabaseJwt(`sb-revoked-${n++}`) });
    await stack.services.tokens.revoke(org.orgId, client.tokenInfo!.tokenId);
    await eventually(() => client.status === 'auth_failed', 'auth_failed after the revocation', 10_000);
    expect(authErrors.at(-1)).toMatchObject({ code: 'token_revoked', status: 401, type: TOKEN_ERRORS.AUTH_FAILED });
    expect(authErrors.at(-1)!.message).toMatch(/revoked/);
    expect(calls.filter((c) => c.path === '/v2/tokens/refresh').length).toBeGreaterThanOrEqual(1);
    expect(calls.filter((c) => c.path === '/v2/tokens/exchange')).toHaveLength(1);
  });
});

describe('externalToken: a SignalGate access_token', () => {
  test('an access_token from /v2/tokens/create is exchanged for its own credentials and connects', async () => {
    const minted = await mintLikeSeed002(stack, org, `server-minted-${n++}@example.com`);
    const calls: Call[] = [];
    const client = sdk({ fetch: recordingFetch(calls) });
    await client.connectWithToken({ host: stack.wsUrl, organizationId: org.orgId, externalToken: minted.access_token });
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(['POST /v2/tokens/exchange']);
    expect(client.tokenInfo).toMatchObject({ tokenId: minted.token_id, username: minted.mqtt_credentials.username, organizationId: org.orgId });
    await client.subscribe('rooms/server-minted');
    await client.transmit('rooms/server-minted', 'hello');
  });
});

describe('exchange failures, classified as the official SDK does', () => {
  async function failure(opts: { organizationId: string; externalToken: string }): Promise<{ err: CloudSignalError; tokenErrors: [string, TokenErrorType][] }> {
    const client = sdk();
    const tokenErrors: [string, TokenErrorType][] = [];
    client.setTokenErrorCallback((err, type) => tokenErrors.push([err.code, type]));
    const err = await rejection(client.connectWithToken({ host: stack.mqttUrl, ...opts }));
    expect(err).toBeInstanceOf(CloudSignalError);
    expect(client.isConnected).toBe(false);
    return { err, tokenErrors };
  }

  test('a JWT from an issuer the organization has not configured: provider_not_found / PROVIDER_NOT_FOUND, naming the issuer', async () => {
    const issuer = 'https://unknown-project.supabase.co/auth/v1';
    const { err, tokenErrors } = await failure({ organizationId: org.orgId, externalToken: await supabaseJwt('sb-stranger', { issuer }) });
    expect(err).toMatchObject({ code: 'provider_not_found', status: 404, type: TOKEN_ERRORS.PROVIDER_NOT_FOUND });
    expect(err.message).toContain(issuer);
    expect(err.message).toMatch(/identity provider/i);
    expect(tokenErrors).toEqual([['provider_not_found', 'PROVIDER_NOT_FOUND']]);
    // No user, so no token and no session: the refused exchange minted nothing. (Counting the
    // org's session rows instead raced the write-behind of earlier tests' sessions.)
    expect(await stack.services.tokens.findUser(org.orgId, 'sb-stranger')).toBeUndefined();
  });

  test('an expired JWT: token_expired / TOKEN_EXPIRED', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) - 3600;
    const { err, tokenErrors } = await failure({ organizationId: org.orgId, externalToken: await supabaseJwt('sb-late', { expiresAt }) });
    expect(err).toMatchObject({ code: 'token_expired', status: 401, type: TOKEN_ERRORS.TOKEN_EXPIRED });
    expect(err.message).toMatch(/expired/i);
    expect(tokenErrors).toEqual([['token_expired', 'TOKEN_EXPIRED']]);
    expect(await stack.services.tokens.findUser(org.orgId, 'sb-late')).toBeUndefined();
  });

  test('a JWT signed with another secret: invalid_token / AUTH_FAILED', async () => {
    const { err } = await failure({ organizationId: org.orgId, externalToken: await supabaseJwt('sb-forger', { secret: 'not-the-project-secret-but-32-bytes-or-more' }) });
    expect(err).toMatchObject({ code: 'invalid_token', status: 401, type: TOKEN_ERRORS.AUTH_FAILED });
    expect(await stack.services.tokens.findUser(org.orgId, 'sb-forger')).toBeUndefined();
  });

  test('an unknown organization: organization_not_found / ORG_NOT_FOUND', async () => {
    const { err } = await failure({ organizationId: 'org_doesnotexist', externalToken: await supabaseJwt('sb-lost') });
    expect(err).toMatchObject({ code: 'organization_not_found', status: 404, type: TOKEN_ERRORS.ORG_NOT_FOUND });
    expect(err.message).toContain('org_doesnotexist');
  });

  test('too many exchanges from one address: rate_limited / RATE_LIMITED', async () => {
    const limited = await startStack('sdk-exchange-429', { SIGNALGATE_MINT_RATE_PER_IP: '1' });
    try {
      const o = await newOrg(limited, 'Busy Co');
      const attempt = async () => {
        const client = new CloudSignal({ tokenServiceUrl: limited.api.url });
        const err = await rejection(client.connectWithToken({ host: limited.mqttUrl, organizationId: o.orgId, externalToken: await supabaseJwt('sb-busy') }));
        await client.destroy();
        return err;
      };
      // The first exchange uses up the address's budget (and fails: this org has no provider).
      expect(await attempt()).toMatchObject({ code: 'provider_not_found' });
      expect(await attempt()).toMatchObject({ code: 'rate_limited', status: 429, type: TOKEN_ERRORS.RATE_LIMITED });
    } finally {
      await limited.stop();
    }
  });

  test('externalToken without organizationId is refused before any request', async () => {
    const calls: Call[] = [];
    const err = await rejection(sdk({ fetch: recordingFetch(calls) }).connectWithToken({ host: stack.mqttUrl, externalToken: await supabaseJwt('sb-orgless') }));
    expect(err).toMatchObject({ code: 'invalid_options' });
    expect(err.message).toMatch(/organizationId/);
    expect(calls).toEqual([]);
  });
});

describe('getProviders', () => {
  test("lists the organization's providers by either id, without any secret, before any connection", async () => {
    const client = sdk();
    const providers = await client.getProviders(org.orgId);
    expect(providers).toHaveLength(1);
    expect(providers[0]).toMatchObject({ provider: 'supabase', type: 'supabase', issuer: ISSUER, audience: 'authenticated', enabled: true });
    expect(JSON.stringify(providers)).not.toContain(SECRET);
    expect(Object.keys(providers[0]!).sort()).toEqual(['audience', 'enabled', 'issuer', 'jwks_url', 'provider', 'type']);
    expect(await client.getProviders(orgUuid)).toEqual(providers);
    expect(client.isConnected).toBe(false);
  });

  test('an organization without providers has an empty list; an unknown one is ORG_NOT_FOUND', async () => {
    const bare = await newOrg(stack, 'No IdP Co');
    expect(await sdk().getProviders(bare.orgId)).toEqual([]);
    await expect(sdk().getProviders('org_doesnotexist')).rejects.toMatchObject({ code: 'organization_not_found', status: 404, type: TOKEN_ERRORS.ORG_NOT_FOUND });
  });
});
