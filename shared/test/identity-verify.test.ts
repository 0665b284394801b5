// Verifying identity-provider JWTs: tokens come from a real OpenID provider (oidc-provider on
// loopback, through its token endpoint) and are checked against its real jwks_uri; HMAC providers'
// tokens are signed with jose. Each refusal is asserted by its reason, so a test cannot pass because
// some other check happened to fail first.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
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

/** The provider's real key set as JSON text followed by `padding` spaces: still a valid key set. */
async function paddedKeySet(padding: number): Promise<Buffer> {
  const text = await (await fetch(idp.jwksUrl)).text();
  return Buffer.concat([Buffer.from(text), Buffer.alloc(padding, ' ')]);
}

/**
 * Counts the response-body bytes this process pulls out of fetch (after any content decoding)
 * until `stop`. Requests still go out; only the bodies are counted on their way through. This is
 * what the verifier read, which a server cannot tell: kernel buffers absorb what nobody reads.
 */
function countBodyBytesRead(): { bytes: () => number; stop: () => void } {
  const original = globalThis.fetch;
  let bytes = 0;
  globalThis.fetch = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const res = await original(input, init);
    if (!res.body) return res;
    const counted = res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    }));
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return { bytes: () => bytes, stop: () => { globalThis.fetch = original; } };
}

/** A loopback server answering every request with `handler`, and the number of requests it got. */
async function serveCounting(handler: http.RequestListener) {
  let requests = 0;
  const server = await serve((req, res) => {
    requests += 1;
    handler(req, res);
  });
  return { ...server, requests: () => requests };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

  test('audience "*", typed on purpose by the admin, accepts any aud (even an empty one)', async () => {
    const anyAudience = providerConfigOf({ type: 'oidc', issuer: idp.issuer, jwksUrl: idp.jwksUrl, audience: '*' });
    expect(anyAudience.audience).toBe('*');
    expect((await verifier.verify(anyAudience, await idp.issueToken({ sub: 'user-1', audience: 'another-api' }))).userId).toBe('user-1');
    expect((await verifier.verify(anyAudience, await idp.issueToken({ sub: 'user-2', claims: { aud: [] } }))).userId).toBe('user-2');
    // "*" is not a wildcard inside a real audience: a token whose aud is literally "*" is just another audience.
    await expectRefused(verifier.verify(provider, await idp.issueToken({ sub: 'user-3', audience: '*' })), 'wrong_audience');
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

  test('an email is used only when email_verified is true or "true"; any other value drops it', async () => {
    for (const [verified, email] of [[0, null], ['no', null], ['False', null], ['TRUE', 'ada@example.com'], [true, 'ada@example.com']] as const) {
      const jwt = await idp.issueToken({ sub: 'user-1', email: 'ada@example.com', claims: { email_verified: verified } });
      expect((await verifier.verify(provider, jwt)).email).toBe(email);
    }
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
      const p = providerConfigOf({ type: 'oidc', issuer: own.issuer, jwksUrl: own.jwksUrl, audience: own.defaultAudience });
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
      const p = providerConfigOf({ type: 'oidc', issuer: own.issuer, jwksUrl: own.jwksUrl, audience: own.defaultAudience });
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
    const p = providerConfigOf({ type: 'oidc', issuer: idp.issuer, audience: idp.defaultAudience });
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
      const p = providerConfigOf({ type: 'oidc', issuer: impostor.url, audience: '*' });
      const jwt = await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'RS256' }).setIssuer(impostor.url).setExpirationTime('5m')
        .sign(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
      const err = await expectRefused(new IdentityVerifier().verify(p, jwt), 'keys_unavailable');
      expect(err.diagnostic).toContain('another issuer');
    } finally {
      await impostor.close();
    }
  });

  test('an unreachable JWKS or discovery endpoint is keys_unavailable (503 provider_unavailable), naming the URL', async () => {
    const jwt = await idp.issueToken({ sub: 'user-1' });
    const dead = await deadUrl();
    const err = await expectRefused(new IdentityVerifier().verify({ ...provider, jwksUrl: `${dead}/jwks` }, jwt), 'keys_unavailable');
    expect(err.message).toContain(`${dead}/jwks`);
    const viaDiscovery = providerConfigOf({ type: 'oidc', issuer: dead, audience: '*' });
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
      expect(err.diagnostic).toContain('300 ms');
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

describe('fetching key sets and discovery documents', () => {
  // Far above any real key set or discovery document (kilobytes), far below what hurts: each body
  // here would be accepted whole by a reader without a size limit.
  const OVERSIZED = 1024 * 1024;
  const READ_AT_MOST = 256 * 1024;

  /** Verifies an idp token against a key set served by `handler`; the refusal and the bytes read. */
  async function verifyAgainst(handler: http.RequestListener) {
    const hostile = await serve(handler);
    const jwt = await idp.issueToken({ sub: 'user-1' });
    const counter = countBodyBytesRead();
    try {
      const err = await expectRefused(new IdentityVerifier().verify({ ...provider, jwksUrl: `${hostile.url}/jwks` }, jwt), 'keys_unavailable');
      return { err, bytesRead: counter.bytes() };
    } finally {
      counter.stop();
      await hostile.close();
    }
  }

  test('a gzip bomb at the jwks_url is refused after reading a bounded amount, never inflated whole', async () => {
    // 16 MiB of key set once inflated, ~16 KiB on the wire: only the inflated length can refuse it.
    const bomb = zlib.gzipSync(await paddedKeySet(16 * 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(32 * 1024);
    const { bytesRead } = await verifyAgainst((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': bomb.length });
      res.end(bomb);
    });
    expect(bytesRead).toBeLessThan(READ_AT_MOST);
  });

  test('an oversized key set without Content-Length (chunked) is refused once the limit is read', async () => {
    const body = await paddedKeySet(OVERSIZED);
    const { bytesRead } = await verifyAgainst((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let at = 0; at < body.length; at += 16 * 1024) res.write(body.subarray(at, at + 16 * 1024));
      res.end();
    });
    expect(bytesRead).toBeLessThan(READ_AT_MOST);
  });

  test('a Content-Length above the limit is refused before the body is read', async () => {
    const body = await paddedKeySet(OVERSIZED);
    const { err, bytesRead } = await verifyAgainst((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
    expect(bytesRead).toBeLessThan(READ_AT_MOST);
    expect(err.diagnostic).toContain(String(body.length));
  });

  test('an oversized discovery document is refused the same way', async () => {
    const issuer = await serve((req, res) => {
      const doc = Buffer.from(JSON.stringify({ issuer: `http://${req.headers.host}`, jwks_uri: idp.jwksUrl }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(doc);
      for (let sent = 0; sent < OVERSIZED; sent += 16 * 1024) res.write(Buffer.alloc(16 * 1024, ' '));
      res.end();
    });
    try {
      // Signed by the real provider's keys, for the issuer whose discovery document names them.
      const jwt = await idp.issueToken({ sub: 'user-1', claims: { iss: issuer.url } });
      const p = providerConfigOf({ type: 'oidc', issuer: issuer.url, audience: idp.defaultAudience });
      const counter = countBodyBytesRead();
      try {
        await expectRefused(new IdentityVerifier().verify(p, jwt), 'keys_unavailable');
        expect(counter.bytes()).toBeLessThan(READ_AT_MOST);
      } finally {
        counter.stop();
      }
    } finally {
      await issuer.close();
    }
  });

  test('key sets and discovery documents are asked for uncompressed, and real-sized ones verify', async () => {
    const encodings: Record<string, string | undefined> = {};
    // ~40 KiB: a few times the largest public key sets (Microsoft Entra's, with x5c chains).
    const keySet = await paddedKeySet(36 * 1024);
    const issuer = await serve((req, res) => {
      encodings[req.url!] = req.headers['accept-encoding'];
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer: `http://${req.headers.host}`, jwks_uri: `http://${req.headers.host}/jwks` }));
      else res.end(keySet);
    });
    try {
      const p = providerConfigOf({ type: 'oidc', issuer: issuer.url, audience: idp.defaultAudience });
      expect((await new IdentityVerifier().verify(p, await idp.issueToken({ sub: 'user-1', claims: { iss: issuer.url } }))).userId).toBe('user-1');
      expect(encodings).toEqual({ '/.well-known/openid-configuration': 'identity', '/jwks': 'identity' });
    } finally {
      await issuer.close();
    }
  });

  test.each([
    ['answering 503', (res: http.ServerResponse) => { res.statusCode = 503; res.end('down'); }],
    ['answering 200 with something that is not a key set', (res: http.ServerResponse) => { res.setHeader('content-type', 'application/json'); res.end('{"keys":"none"}'); }],
    ['answering 200 with HTML', (res: http.ServerResponse) => { res.setHeader('content-type', 'text/html'); res.end('<html>maintenance</html>'); }],
  ])('a key set %s is fetched once per cooldown, not once per token', async (_what, answer) => {
    const failing = await serveCounting((_req, res) => answer(res));
    try {
      const v = new IdentityVerifier({ jwksCooldownMs: 800 });
      const p = { ...provider, jwksUrl: `${failing.url}/jwks` };
      const jwt = await idp.issueToken({ sub: 'user-1' });
      for (let n = 0; n < 25; n++) await expectRefused(v.verify(p, jwt), 'keys_unavailable');
      expect(failing.requests()).toBe(1);
      await sleep(900);
      await expectRefused(v.verify(p, jwt), 'keys_unavailable');
      expect(failing.requests()).toBe(2);
    } finally {
      await failing.close();
    }
  });

  test('a failed refetch (for an unknown kid) does not stop tokens whose key is already loaded', async () => {
    let up = true;
    const flaky = await serveCounting((_req, res) => {
      if (!up) {
        res.statusCode = 503;
        res.end();
        return;
      }
      void fetch(idp.jwksUrl).then((r) => r.text()).then((text) => {
        res.setHeader('content-type', 'application/json');
        res.end(text);
      });
    });
    try {
      const v = new IdentityVerifier({ jwksCooldownMs: 600 });
      const p = { ...provider, jwksUrl: `${flaky.url}/jwks` };
      const known = await idp.issueToken({ sub: 'user-1' });
      expect((await v.verify(p, known)).userId).toBe('user-1');
      up = false;
      await sleep(650);
      const unknownKid = await new SignJWT({ sub: 'user-2', aud: idp.defaultAudience }).setProtectedHeader({ alg: 'ES256', kid: 'not-published' })
        .setIssuer(idp.issuer).setExpirationTime('5m').sign(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
      await expectRefused(v.verify(p, unknownKid), 'keys_unavailable');
      expect(flaky.requests()).toBe(2);
      expect((await v.verify(p, known)).userId).toBe('user-1');
      await expectRefused(v.verify(p, unknownKid), 'keys_unavailable');
      expect(flaky.requests()).toBe(2);
    } finally {
      await flaky.close();
    }
  });

  test("a failed key fetch answers only that the provider's keys could not be loaded; the cause stays on the error, for logs", async () => {
    const metadata = await serve((req, res) => {
      if (req.url === '/status') {
        res.statusCode = 500;
        res.end('internal');
        return;
      }
      res.setHeader('content-type', 'text/plain');
      res.end('ami-id\nhostname\niam/\n');
    });
    const dead = await deadUrl();
    try {
      const jwt = await idp.issueToken({ sub: 'user-1' });
      for (const [url, cause] of [[`${metadata.url}/latest/meta-data/`, /JSON/], [`${metadata.url}/status`, /HTTP 500/], [`${dead}/jwks`, /ECONNREFUSED/]] as const) {
        const err = await expectRefused(new IdentityVerifier().verify({ ...provider, jwksUrl: url }, jwt), 'keys_unavailable');
        expect(err.message).toBe(`could not load the identity provider's signing keys from ${url}`);
        expect(err.diagnostic).toMatch(cause);
      }
      const p = providerConfigOf({ type: 'oidc', issuer: metadata.url, audience: '*' });
      const forMetadata = await idp.issueToken({ sub: 'user-1', claims: { iss: metadata.url } });
      const err = await expectRefused(new IdentityVerifier().verify(p, forMetadata), 'keys_unavailable');
      expect(err.message).toBe(`could not discover the identity provider's keys from ${metadata.url}/.well-known/openid-configuration`);
      expect(err.diagnostic).toMatch(/JSON/);
      expect(err.cause).toBeDefined();
    } finally {
      await metadata.close();
    }
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
