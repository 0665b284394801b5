// Identity-provider presets and claim mapping: what an admin types is completed from the provider
// type's known defaults, or refused with the field at fault; verified claims become a user id and
// an email only when SignalGate can use them safely.
import { describe, expect, test } from '@jest/globals';
import { SignJWT } from 'jose';
import { SignalGateError } from '../src/errors.js';
import {
  FIREBASE_JWKS_URL,
  IdentityTokenError,
  identityOf,
  MAX_IDENTITY_TOKEN_LENGTH,
  providerConfigOf,
  unverifiedIssuerOf,
  type ProviderInput,
} from '../src/identity/index.js';

const SECRET = 'a-supabase-legacy-jwt-secret-of-40-chars!';

/** The invalid_request thrown for `input`, which must name `field`. */
function refusal(input: ProviderInput): SignalGateError {
  try {
    providerConfigOf(input);
  } catch (err) {
    expect(err).toBeInstanceOf(SignalGateError);
    expect((err as SignalGateError).code).toBe('invalid_request');
    expect((err as SignalGateError).status).toBe(400);
    return err as SignalGateError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('supabase', () => {
  const issuer = 'https://abcdefghijklmnop.supabase.co/auth/v1';

  test('keys from <issuer>/.well-known/jwks.json, audience "authenticated", claims sub and email', () => {
    expect(providerConfigOf({ type: 'supabase', issuer })).toEqual({
      type: 'supabase',
      issuer,
      jwksUrl: 'https://abcdefghijklmnop.supabase.co/auth/v1/.well-known/jwks.json',
      secret: null,
      audience: 'authenticated',
      userIdClaim: 'sub',
      emailClaim: 'email',
    });
  });

  test('the legacy JWT secret instead of keys: HMAC, no JWKS, same audience', () => {
    const config = providerConfigOf({ type: 'supabase', issuer, secret: SECRET });
    expect(config).toMatchObject({ jwksUrl: null, secret: SECRET, audience: 'authenticated' });
  });

  test('a given audience or jwks_url wins over the preset; the issuer is kept byte for byte', () => {
    const config = providerConfigOf({ type: 'supabase', issuer: `${issuer}/`, audience: 'anon', jwksUrl: 'https://keys.example.com/jwks' });
    expect(config).toMatchObject({ issuer: `${issuer}/`, audience: 'anon', jwksUrl: 'https://keys.example.com/jwks' });
    expect(providerConfigOf({ type: 'supabase', issuer: `${issuer}/` }).jwksUrl).toBe(`${issuer}/.well-known/jwks.json`);
  });
});

describe('firebase', () => {
  test("the project id from the issuer is the audience; Google's securetoken keys", () => {
    expect(providerConfigOf({ type: 'firebase', issuer: 'https://securetoken.google.com/my-app-1234' })).toMatchObject({
      jwksUrl: FIREBASE_JWKS_URL,
      audience: 'my-app-1234',
      secret: null,
    });
    expect(FIREBASE_JWKS_URL).toBe('https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com');
  });

  test('an issuer that is not https://securetoken.google.com/<project> is refused', () => {
    for (const issuer of ['https://securetoken.google.com/', 'https://securetoken.google.com/a/b', 'http://securetoken.google.com/app', 'https://accounts.google.com/app']) {
      expect(refusal({ type: 'firebase', issuer }).field).toBe('issuer');
    }
  });

  test('a shared secret, or an audience other than the project id, can never match a Firebase ID token', () => {
    const issuer = 'https://securetoken.google.com/my-app';
    expect(refusal({ type: 'firebase', issuer, secret: SECRET }).field).toBe('secret');
    const aud = refusal({ type: 'firebase', issuer, audience: 'other-app' });
    expect(aud.field).toBe('audience');
    expect(aud.message).toContain('my-app');
    expect(providerConfigOf({ type: 'firebase', issuer, audience: 'my-app' }).audience).toBe('my-app');
  });
});

describe('auth0', () => {
  test('keys at <tenant>/.well-known/jwks.json (one slash), the API audience as given', () => {
    expect(providerConfigOf({ type: 'auth0', issuer: 'https://tenant.eu.auth0.com/', audience: 'https://api.example.com' })).toMatchObject({
      jwksUrl: 'https://tenant.eu.auth0.com/.well-known/jwks.json',
      audience: 'https://api.example.com',
    });
  });

  test('an issuer without the trailing slash Auth0 puts in iss is refused, saying so', () => {
    const err = refusal({ type: 'auth0', issuer: 'https://tenant.eu.auth0.com', audience: 'https://api.example.com' });
    expect(err.field).toBe('issuer');
    expect(err.message).toContain('slash');
  });

  test('HS256 applications: the client secret instead of keys', () => {
    expect(providerConfigOf({ type: 'auth0', issuer: 'https://login.example.com/', secret: SECRET, audience: 'app' })).toMatchObject({ jwksUrl: null, secret: SECRET });
  });
});

describe('clerk', () => {
  test('keys at <frontend api>/.well-known/jwks.json, no audience (session tokens carry none)', () => {
    expect(providerConfigOf({ type: 'clerk', issuer: 'https://clerk.example.com' })).toMatchObject({
      jwksUrl: 'https://clerk.example.com/.well-known/jwks.json',
      audience: null,
    });
  });

  test('an audience given (a JWT template that sets aud) is kept and checked', () => {
    expect(providerConfigOf({ type: 'clerk', issuer: 'https://clerk.example.com', audience: 'signalgate' }).audience).toBe('signalgate');
  });
});

describe('oidc', () => {
  test('without jwks_url or secret: no JWKS yet (discovered from the issuer at first use)', () => {
    expect(providerConfigOf({ type: 'oidc', issuer: 'https://idp.example.com/realms/main', audience: 'app' })).toMatchObject({ jwksUrl: null, secret: null, audience: 'app' });
  });

  test('a given jwks_url or secret is used as is', () => {
    expect(providerConfigOf({ type: 'oidc', issuer: 'https://idp.example.com', jwksUrl: 'http://keycloak:8080/certs', audience: 'app' }).jwksUrl).toBe('http://keycloak:8080/certs');
    expect(providerConfigOf({ type: 'oidc', issuer: 'https://idp.example.com', secret: SECRET, audience: 'app' })).toMatchObject({ jwksUrl: null, secret: SECRET });
  });
});

describe('audience (OpenID Connect Core 3.1.3.7: the client MUST check aud)', () => {
  test.each([
    ['oidc', 'https://accounts.google.com'],
    ['auth0', 'https://tenant.eu.auth0.com/'],
  ] as const)('a %s provider without audience is refused, naming the field and the "*" opt-out', (type, issuer) => {
    const err = refusal({ type, issuer });
    expect(err.field).toBe('audience');
    expect(err.message).toContain('"*"');
    expect(refusal({ type, issuer, secret: SECRET }).field).toBe('audience');
  });

  test.each([
    ['oidc', 'https://accounts.google.com'],
    ['auth0', 'https://tenant.eu.auth0.com/'],
    ['clerk', 'https://clerk.example.com'],
  ] as const)('"*" on a %s provider means any audience, typed on purpose and stored as "*"', (type, issuer) => {
    expect(providerConfigOf({ type, issuer, audience: '*' }).audience).toBe('*');
  });

  test('firebase and supabase keep their presets: firebase refuses "*" (aud is always the project id)', () => {
    expect(refusal({ type: 'firebase', issuer: 'https://securetoken.google.com/my-app', audience: '*' }).field).toBe('audience');
    expect(providerConfigOf({ type: 'supabase', issuer: 'https://a.supabase.co/auth/v1' }).audience).toBe('authenticated');
  });
});

describe('validation', () => {
  test('the type must be known', () => {
    expect(refusal({ type: 'okta' as never, issuer: 'https://x.okta.com' }).field).toBe('type');
  });

  test('issuer and jwks_url must be absolute http(s) URLs without credentials, fragment (or, for issuers, query)', () => {
    for (const issuer of ['', 'idp.example.com', '/auth/v1', 'ftp://idp.example.com', 'https://user:pw@idp.example.com', 'https://idp.example.com#x', 'https://idp.example.com?tenant=1']) {
      expect(refusal({ type: 'oidc', issuer, audience: 'app' }).field).toBe('issuer');
    }
    for (const jwksUrl of ['file:///etc/passwd', 'keys.json', 'https://idp.example.com/keys#frag', `https://idp.example.com/${'k'.repeat(2100)}`]) {
      expect(refusal({ type: 'oidc', issuer: 'https://idp.example.com', jwksUrl, audience: 'app' }).field).toBe('jwks_url');
    }
  });

  test('a secret must be at least 32 bytes (counted in UTF-8, not characters) and never appears in the error', () => {
    const short = 'x'.repeat(31);
    const err = refusal({ type: 'supabase', issuer: 'https://a.supabase.co/auth/v1', secret: short });
    expect(err.field).toBe('secret');
    expect(err.message).not.toContain(short);
    expect(providerConfigOf({ type: 'oidc', issuer: 'https://a.example.com', secret: 'x'.repeat(32), audience: 'app' }).secret).toHaveLength(32);
    // 11 euro signs are 11 characters but 33 bytes.
    expect(providerConfigOf({ type: 'oidc', issuer: 'https://a.example.com', secret: '€'.repeat(11), audience: 'app' }).secret).toBe('€'.repeat(11));
  });

  test('jwks_url and secret together are refused: the key kind decides the algorithms', () => {
    expect(refusal({ type: 'oidc', issuer: 'https://a.example.com', jwksUrl: 'https://a.example.com/jwks', secret: SECRET, audience: 'app' }).field).toBe('secret');
    expect(refusal({ type: 'supabase', issuer: 'https://a.supabase.co/auth/v1', jwksUrl: 'https://a.supabase.co/jwks', secret: SECRET }).field).toBe('secret');
  });

  test('claim names default to sub and email; namespaced claims are fine, empty or control characters are not', () => {
    const config = providerConfigOf({ type: 'auth0', issuer: 'https://t.auth0.com/', audience: 'app', userIdClaim: 'https://example.com/uid', emailClaim: 'https://example.com/email' });
    expect(config).toMatchObject({ userIdClaim: 'https://example.com/uid', emailClaim: 'https://example.com/email' });
    expect(refusal({ type: 'oidc', issuer: 'https://a.example.com', audience: 'app', userIdClaim: '' }).field).toBe('user_id_claim');
    expect(refusal({ type: 'oidc', issuer: 'https://a.example.com', audience: 'app', emailClaim: 'e\nmail' }).field).toBe('email_claim');
    expect(refusal({ type: 'oidc', issuer: 'https://a.example.com', audience: 'app', userIdClaim: 'c'.repeat(101) }).field).toBe('user_id_claim');
  });

  test('an empty audience is refused rather than read as "not checked"', () => {
    expect(refusal({ type: 'oidc', issuer: 'https://a.example.com', audience: '' }).field).toBe('audience');
  });
});

describe('unverifiedIssuerOf', () => {
  const key = new TextEncoder().encode(SECRET);
  const signed = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key);

  test("reads iss of a compact JWS without checking anything (it only picks the provider)", async () => {
    expect(unverifiedIssuerOf(await signed({ iss: 'https://idp.example.com', sub: 'u' }))).toBe('https://idp.example.com');
    const forged = `${(await signed({ iss: 'https://idp.example.com' })).slice(0, -4)}AAAA`;
    expect(unverifiedIssuerOf(forged)).toBe('https://idp.example.com');
  });

  test('null for anything that is not a compact JWS with a string iss', async () => {
    expect(unverifiedIssuerOf('not a jwt')).toBeNull();
    expect(unverifiedIssuerOf('a.b')).toBeNull();
    expect(unverifiedIssuerOf('sg_at_0123456789')).toBeNull();
    expect(unverifiedIssuerOf('eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d')).toBeNull(); // a JWE
    expect(unverifiedIssuerOf(await signed({ sub: 'u' }))).toBeNull();
    expect(unverifiedIssuerOf(await signed({ iss: 42 }))).toBeNull();
    expect(unverifiedIssuerOf(await signed({ iss: '' }))).toBeNull();
    expect(unverifiedIssuerOf(await signed({ iss: 'https://idp.example.com', pad: 'x'.repeat(MAX_IDENTITY_TOKEN_LENGTH) }))).toBeNull();
    expect(unverifiedIssuerOf(`${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from('[1,2]').toString('base64url')}.sig`)).toBeNull();
  });
});

describe('claim mapping', () => {
  const provider = { userIdClaim: 'sub', emailClaim: 'email' };
  const reasonOf = (claims: Record<string, unknown>, p = provider) => {
    try {
      identityOf(p, claims);
    } catch (err) {
      expect(err).toBeInstanceOf(IdentityTokenError);
      expect((err as IdentityTokenError).code).toBe('invalid_token');
      return err as IdentityTokenError;
    }
    throw new Error('accepted');
  };

  test('the user id claim and the email claim, every claim kept', () => {
    expect(identityOf(provider, { sub: 'user-1', email: 'ada@example.com', role: 'authenticated' })).toEqual({
      userId: 'user-1',
      email: 'ada@example.com',
      claims: { sub: 'user-1', email: 'ada@example.com', role: 'authenticated' },
    });
    expect(identityOf({ userIdClaim: 'user_id', emailClaim: 'mail' }, { sub: 'x', user_id: 'fb-uid', mail: 'm@example.com' })).toMatchObject({ userId: 'fb-uid', email: 'm@example.com' });
    expect(identityOf(provider, { sub: 'u'.repeat(256) }).userId).toHaveLength(256);
  });

  test("a user id that would change an MQTT topic's structure, or is not a non-empty string, is refused naming the claim", () => {
    for (const sub of ['a/b', 'a+b', 'a#b', 'a\u0000b', '$SYS', '', 'u'.repeat(257), 42, null, ['a'], undefined]) {
      const err = reasonOf({ sub });
      expect(err.reason).toBe('bad_claim');
      expect(err.message).toContain('"sub"');
    }
    expect(reasonOf({ sub: 'ok', uid: 'a/b' }, { userIdClaim: 'uid', emailClaim: 'email' }).message).toContain('"uid"');
  });

  test('an email SignalGate cannot use is dropped, not refused: absent, not a string, not address-shaped, too long, or unverified', () => {
    const emailOf = (claims: Record<string, unknown>) => identityOf(provider, { sub: 'u', ...claims }).email;
    expect(emailOf({})).toBeNull();
    expect(emailOf({ email: 7 })).toBeNull();
    expect(emailOf({ email: 'not an email' })).toBeNull();
    expect(emailOf({ email: `${'a'.repeat(320)}@example.com` })).toBeNull();
    expect(emailOf({ email: 'ada@example.com', email_verified: false })).toBeNull();
    expect(emailOf({ email: 'ada@example.com', email_verified: 'false' })).toBeNull();
    expect(emailOf({ email: 'ada@example.com', email_verified: true })).toBe('ada@example.com');
    expect(emailOf({ email: 'ada+tag@example.com' })).toBe('ada+tag@example.com');
  });

  test('when the token carries email_verified, only true or "true" (any case) keeps the email', () => {
    const emailOf = (email_verified: unknown) => identityOf(provider, { sub: 'u', email: 'ada@example.com', email_verified }).email;
    for (const verified of [true, 'true', 'TRUE', 'True']) expect(emailOf(verified)).toBe('ada@example.com');
    for (const verified of [false, 'false', 'False', 'FALSE', 0, 1, '0', '1', 'no', 'yes', '', ' true', null, {}, [], ['true']]) {
      expect([verified, emailOf(verified)]).toEqual([verified, null]);
    }
  });

  test('without an email_verified claim the email is used (Supabase access tokens carry none at the top level)', () => {
    expect(identityOf(provider, { sub: 'u', email: 'ada@example.com' }).email).toBe('ada@example.com');
    expect(identityOf(provider, { sub: 'u', email: 'ada@example.com', user_metadata: { email_verified: false } }).email).toBe('ada@example.com');
  });
});
