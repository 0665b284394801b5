// Verifying identity-provider JWTs: tokens come from a real OpenID provider (oidc-provider on
// loopback, through its token endpoint) and are checked against its real jwks_uri; HMAC providers'
// tokens are signed with jose. Each refusal is asserted by its reason, so a test cannot pass because
// some other check happened to fail first.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SignJWT, type JWK } from 'jose';
import { IdentityTokenError, IdentityVerifier, providerConfigOf, type IdentityRefusal, type ProviderConfig } from '../src/identity/index.js';
import { startOidcProvider, type OidcTestProvider } from '../../tests/support/oidcProvider.js';

let idp: OidcTestProvider;
let provider: ProviderConfig;
const verifier = new IdentityVerifier();

beforeAll(async () => {
  idp = await startOidcProvider();
  provider = providerConfigOf({ type: 'oidc', issuer: idp.issuer, jwksUrl: idp.jwksUrl, audience: idp.defaultAudience });
});
afterAll(async () => {
  await idp.close();
});

/** The refusal `verify` throws; fails the test if it resolves. */
async function refusal(promise: Promise<unknown>): Promise<IdentityTokenError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(IdentityTokenError);
    return err as IdentityTokenError;
  }
  throw new Error('the token was accepted');
}

async function expectRefused(promise: Promise<unknown>, reason: IdentityRefusal, code: 'invalid_token' | 'token_expired' = 'invalid_token') {
  const err = await refusal(promise);
  // Keys that cannot be fetched are the provider's failure, not the token's: 503, retryable.
  const expected = reason === 'keys_unavailable' ? { code: 'provider_unavailable', status: 503 } : { code, status: 401 };
  expect({ reason: err.reason, code: err.code, status: err.status }).toEqual({ reason, ...expected });
  return err;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const partsOf = (jwt: string) => jwt.split('.') as [string, string, string];
const payloadOf = (jwt: string) => JSON.parse(Buffer.from(partsOf(jwt)[1], 'base64url').toString()) as Record<string, unknown>;

/** A loopback server answering every request with `handler`, closed by the returned function. */
async function serve(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A URL nothing listens on. */
async function deadUrl(): Promise<string> {
  const s = await serve(() => {});
  await s.close();
  return s.url;
}

describe('tokens of a JWKS provider', () => {
  test('a valid token gives the user id and email, and all its claims', async () => {
    const jwt = await idp.issueToken({ sub: 'user-1', email: 'ada@example.com', claims: { plan: 'pro' } });
    const identity = await verifier.verify(provider, jwt);
    expect(identity.userId).toBe('user-1');
    expect(identity.email).toBe('ada@example.com');
    expect(identity.claims).toMatchObject({ iss: idp.issuer, aud: idp.defaultAudience, plan: 'pro' });
  });

  test.each(['RS256', 'PS256', 'ES256', 'EdDSA'] as const)('%s-signed tokens verify', async (alg) => {
    const jwt = await idp.issueToken({ sub: `user-${alg}`, alg });
    expect(JSON.parse(Buffer.from(partsOf(jwt)[0], 'base64url').toString())).toMatchObject({ alg, kid: idp.kidOf(alg) });
    expect((await verifier.verify(provider, jwt)).userId).toBe(`user-${alg}`);
  });

  test('a token whose payload was changed after signing is refused (bad signature)', async () => {
    const jwt = await idp.issueToken({ sub: 'user-1' });
    const [header, , signature] = partsOf(jwt);
    const tampered = `${header}.${b64url({ ...payloadOf(jwt), sub: 'admin' })}.${signature}`;
    await expectRefused(verifier.verify(provider, tampered), 'bad_signature');
  });

  test('an expired token is token_expired', async () => {
    const jwt = await idp.issueToken({ sub: 'user-1', expiresIn: -120 });
    const err = await expectRefused(verifier.verify(provider, jwt), 'expired', 'token_expired');
    expect(err.message).toMatch(/expired/);
  });

  test('a token without exp is refused, saying why', async () => {
    const jwt = await idp.issueToken({ sub: 'user-1', omitExp: true });
    expect(payloadOf(jwt)).not.toHaveProperty('exp');
    const err = await expectRefused(verifier.verify(provider, jwt), 'missing_exp');
    expect(err.message).toContain('exp');
  });

  test('a token whose nbf is in the future is refused', async () => {
    await expectRefused(verifier.verify(provider, await idp.issueToken({ sub: 'user-1', notBefore: 120 })), 'not_yet_valid');
  });

  test('clock skew up to 30 s is tolerated on exp and nbf; the tolerance is configurable', async () => {
    const justExpired = await idp.issueToken({ sub: 'user-1', expiresIn: -10 });
    const almostValid = await idp.issueToken({ sub: 'user-1', notBefore: 10 });
    expect((await verifier.verify(provider, justExpired)).userId).toBe('user-1');
    expect((await verifier.verify(provider, almostValid)).userId).toBe('user-1');
    const strict = new IdentityVerifier({ clockToleranceSeconds: 0 });
    await expectRefused(strict.verify(provider, justExpired), 'expired', 'token_expired');
    await expectRefused(strict.verify(provider, almostValid), 'not_yet_valid');
  });

  test('the verifier clock decides: a valid token is expired an hour later', async () => {
    const jwt = await idp.issueToken({ sub: 'user-1', expiresIn: 300 });
    const later = new IdentityVerifier({ clock: () => Date.now() + 3600_000 });
    await expectRefused(later.verify(provider, jwt), 'expired', 'token_expired');
  });

  test('a token from another issuer is refused, even when signed by keys the provider trusts', async () => {
    const jwt = await idp.issueToken({ sub: 'user-1' });
    const other = { ...provider, issuer: `${idp.issuer}/tenant-b` };
    await expectRefused(verifier.verify(other, jwt), 'wrong_issuer');
  });

  test('a token for another audience is refused; with no audience configured, aud is not checked', async () => {
    const jwt = await idp.issueToken({ sub: 'user-1', audience: 'another-api' });
    const err = await expectRefused(verifier.verify(provider, jwt), 'wrong_audience');
    expect(err.message).toContain(idp.defaultAudience);
    expect((await verifier.verify({ ...provider, audience: null }, jwt)).userId).toBe('user-1');
  });

  test('the supabase preset expects aud "authenticated" of the same keys', async () => {
    const supabase = providerConfigOf({ type: 'supabase', issuer: idp.issuer, jwksUrl: idp.jwksUrl });
    expect((await verifier.verify(supabase, await idp.issueToken({ sub: 'user-1', audience: 'authenticated' }))).userId).toBe('user-1');
    await expectRefused(verifier.verify(supabase, await idp.issueToken({ sub: 'user-1' })), 'wrong_audience');
  });

  test('an unsigned token (alg "none") is refused', async () => {
    const claims = payloadOf(await idp.issueToken({ sub: 'user-1' }));
    const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ ...claims, sub: 'admin' })}.`;
    await expectRefused(verifier.verify(provider, unsigned), 'algorithm_not_allowed');
  });

  test("an HS256 token signed with the provider's RSA public key as the HMAC secret is refused", async () => {
    const jwks = (await (await fetch(idp.jwksUrl)).json()) as { keys: JWK[] };
    const rsa = jwks.keys.find((k) => k.kid === idp.kidOf('RS256'))!;
    const pem = crypto.createPublicKey({ key: rsa as crypto.JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const claims = payloadOf(await idp.issueToken({ sub: 'user-1' }));
    for (const secret of [Buffer.from(pem), Buffer.from(JSON.stringify(rsa))]) {
      const forged = await new SignJWT({ ...claims, sub: 'admin' }).setProtectedHeader({ alg: 'HS256', kid: rsa.kid! }).sign(new Uint8Array(secret));
      await expectRefused(verifier.verify(provider, forged), 'algorithm_not_allowed');
    }
  });

  test('a user id claim that would change an MQTT topic is refused naming the claim; a custom claim can hold the id', async () => {
    const err = await expectRefused(verifier.verify(provider, await idp.issueToken({ sub: 'team/alice' })), 'bad_claim');
    expect(err.message).toContain('"sub"');
    const custom = { ...provider, userIdClaim: 'https://example.com/uid' };
    const jwt = await idp.issueToken({ sub: 'auth0|123', claims: { 'https://example.com/uid': 'alice' } });
    expect((await verifier.verify(custom, jwt)).userId).toBe('alice');
  });

  test('an unverified email is dropped (null), the identity still verifies', async () => {
    const jwt = await idp.issueToken({ sub: 'user-1', email: 'ceo@example.com', claims: { email_verified: false } });
    expect(await verifier.verify(provider, jwt)).toMatchObject({ userId: 'user-1', email: null });
  });

  test('refusals never quote the token', async () => {
    const jwt = await idp.issueToken({ sub: 'user-1', audience: 'another-api' });
    const [header, payload, signature] = partsOf(jwt);
    for (const candidate of [jwt, `${header}.${payload}.${signature.slice(0, -2)}AA`, 'garbage']) {
      const err = await refusal(verifier.verify(provider, candidate));
      for (const part of [header, payload, signature]) expect(err.message).not.toContain(part);
    }
  });

  test('strings that are not a compact JWS, or are far larger than any IdP token, are malformed', async () => {
    await expectRefused(verifier.verify(provider, 'not-a-jwt'), 'malformed');
    await expectRefused(verifier.verify(provider, 'a.b.c.d.e'), 'malformed');
    const huge = await idp.issueToken({ sub: 'user-1', claims: { pad: 'x'.repeat(20_000) } });
    await expectRefused(verifier.verify(provider, huge), 'malformed');
  });
});

describe('keys', () => {
  test('a rotated key is picked up by the same verifier: the new kid is refetched, the vanished kid refused', async () => {
    const own = await startOidcProvider();
    try {
      const p = providerConfigOf({ type: 'oidc', issuer: own.issuer, jwksUrl: own.jwksUrl });
      const v = new IdentityVerifier({ jwksCooldownMs: 0 });
      const before = await own.issueToken({ sub: 'user-1' });
      expect((await v.verify(p, before)).userId).toBe('user-1');
      const oldKid = own.kidOf();
      await own.rotateKeys();
      expect(own.kidOf()).not.toBe(oldKid);
      const after = await own.issueToken({ sub: 'user-2' });
      expect((await v.verify(p, after)).userId).toBe('user-2');
      await expectRefused(v.verify(p, before), 'unknown_key');
    } finally {
      await own.close();
    }
  });

  test('an unknown kid refetches the key set at most once per cooldown', async () => {
    const own = await startOidcProvider();
    try {
      const p = providerConfigOf({ type: 'oidc', issuer: own.issuer, jwksUrl: own.jwksUrl });
      const v = new IdentityVerifier({ jwksCooldownMs: 60_000 });
      expect((await v.verify(p, await own.issueToken({ sub: 'user-1' }))).userId).toBe('user-1');
      await own.rotateKeys();
      // Fetched moments ago: the new kid is not looked up again until the cooldown has passed.
      await expectRefused(v.verify(p, await own.issueToken({ sub: 'user-2' })), 'unknown_key');
    } finally {
      await own.close();
    }
  });

  test("an 'oidc' provider without jwks_url finds the keys through the issuer's discovery document", async () => {
    const p = providerConfigOf({ type: 'oidc', issuer: idp.issuer });
    expect(p.jwksUrl).toBeNull();
    const v = new IdentityVerifier();
    expect((await v.verify(p, await idp.issueToken({ sub: 'user-1' }))).userId).toBe('user-1');
    expect((await v.verify(p, await idp.issueToken({ sub: 'user-2' }))).userId).toBe('user-2');
    expect(v.cached).toEqual({ keySets: 1, discoveries: 1 });
  });

  test('a discovery document naming another issuer is not trusted', async () => {
    const impostor = await serve((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: idp.issuer, jwks_uri: idp.jwksUrl }));
    });
    try {
      const p = providerConfigOf({ type: 'oidc', issuer: impostor.url });
      const jwt = await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'RS256' }).setIssuer(impostor.url).setExpirationTime('5m')
        .sign(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
      const err = await expectRefused(new IdentityVerifier().verify(p, jwt), 'keys_unavailable');
      expect(err.message).toContain('another issuer');
    } finally {
      await impostor.close();
    }
  });

  test('an unreachable JWKS or discovery endpoint is keys_unavailable (503 provider_unavailable), naming the URL', async () => {
    const jwt = await idp.issueToken({ sub: 'user-1' });
    const dead = await deadUrl();
    const err = await expectRefused(new IdentityVerifier().verify({ ...provider, jwksUrl: `${dead}/jwks` }, jwt), 'keys_unavailable');
    expect(err.message).toContain(`${dead}/jwks`);
    const viaDiscovery = providerConfigOf({ type: 'oidc', issuer: dead });
    const jwtForDead = await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'ES256' }).setIssuer(dead).setExpirationTime('5m')
      .sign(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const discoveryErr = await expectRefused(new IdentityVerifier().verify(viaDiscovery, jwtForDead), 'keys_unavailable');
    expect(discoveryErr.message).toContain(`${dead}/.well-known/openid-configuration`);
  });

  test('a JWKS endpoint that never answers is given up after the fetch timeout', async () => {
    const silent = await serve(() => {});
    try {
      const jwt = await idp.issueToken({ sub: 'user-1' });
      const started = Date.now();
      const err = await expectRefused(new IdentityVerifier({ fetchTimeoutMs: 300 }).verify({ ...provider, jwksUrl: `${silent.url}/jwks` }, jwt), 'keys_unavailable');
      expect(Date.now() - started).toBeLessThan(3000);
      expect(err.message).toContain('300 ms');
    } finally {
      await silent.close();
    }
  });

  test('the key-set cache is bounded: the least recently used URL is dropped', async () => {
    const v = new IdentityVerifier({ maxCachedIssuers: 2 });
    const jwt = await idp.issueToken({ sub: 'user-1' });
    for (const n of [1, 2, 3]) await v.verify({ ...provider, jwksUrl: `${idp.jwksUrl}?copy=${n}` }, jwt);
    expect(v.cached.keySets).toBe(2);
  });
});

describe('tokens of an HMAC (shared secret) provider', () => {
  const secret = 'a-supabase-legacy-jwt-secret-of-40-chars!';
  const issuer = 'https://abcdefghijklmnop.supabase.co/auth/v1';
  const hmac = providerConfigOf({ type: 'supabase', issuer, secret });
  const key = new TextEncoder().encode(secret);
  const sign = (claims: Record<string, unknown>, alg = 'HS256', signingKey: Uint8Array | crypto.KeyObject = key) =>
    new SignJWT({ iss: issuer, aud: 'authenticated', email: 'ada@example.com', exp: Math.floor(Date.now() / 1000) + 600, ...claims })
      .setProtectedHeader({ alg }).setIssuedAt().sign(signingKey);

  test.each(['HS256', 'HS384', 'HS512'])('a %s token signed with the secret verifies', async (alg) => {
    expect(await verifier.verify(hmac, await sign({ sub: 'user-1' }, alg))).toMatchObject({ userId: 'user-1', email: 'ada@example.com' });
  });

  test('a token signed with another secret is refused, and the secret never appears in the error', async () => {
    const err = await expectRefused(verifier.verify(hmac, await sign({ sub: 'user-1' }, 'HS256', new TextEncoder().encode(`${secret}-other`))), 'bad_signature');
    expect(err.message).not.toContain(secret);
  });

  test('asymmetric or unsigned tokens are refused by a secret provider', async () => {
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    await expectRefused(verifier.verify(hmac, await sign({ sub: 'user-1' }, 'RS256', rsa)), 'algorithm_not_allowed');
    const unsigned = `${b64url({ alg: 'none' })}.${b64url({ iss: issuer, aud: 'authenticated', sub: 'admin', exp: Math.floor(Date.now() / 1000) + 600 })}.`;
    await expectRefused(verifier.verify(hmac, unsigned), 'algorithm_not_allowed');
  });

  test('the same time, issuer and audience rules apply', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRefused(verifier.verify(hmac, await sign({ sub: 'user-1', exp: now - 120 })), 'expired', 'token_expired');
    await expectRefused(verifier.verify(hmac, await sign({ sub: 'user-1', aud: 'anon' })), 'wrong_audience');
    const noExp = await new SignJWT({ sub: 'user-1', aud: 'authenticated' }).setProtectedHeader({ alg: 'HS256' }).setIssuer(issuer).sign(key);
    await expectRefused(verifier.verify(hmac, noExp), 'missing_exp');
    await expectRefused(verifier.verify({ ...hmac, issuer: 'https://other.supabase.co/auth/v1' }, await sign({ sub: 'user-1' })), 'wrong_issuer');
  });
});
