// Identity-provider presets: what an organisation configures, completed from the provider type's
// known defaults and validated once, when the provider is added (never per token).
//
// The audience (`aud`) per type: supabase defaults to "authenticated"; firebase is always the
// project id from the issuer; oidc and auth0 require one (OpenID Connect Core §3.1.3.7), where "*"
// is the explicit "any audience of this issuer"; clerk needs none (its session tokens carry no
// aud) but checks one given. "*" is stored as typed and means no aud check at verification.
import { invalid } from '../errors.js';

export const PROVIDER_TYPES = ['supabase', 'firebase', 'auth0', 'clerk', 'oidc'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/** What an organisation configured (the store row, without org/ids bookkeeping). */
export interface ProviderConfig {
  type: ProviderType;
  /** The exact `iss` expected. */
  issuer: string;
  /** Asymmetric keys. null with a secret, or for 'oidc' without one: discovered from the issuer. */
  jwksUrl: string | null;
  /** Shared HMAC secret (Supabase's legacy HS256 "JWT secret"), used as its UTF-8 bytes. */
  secret: string | null;
  /**
   * Expected `aud`. ANY_AUDIENCE ("*", typed by the admin on purpose) and null (clerk, whose session
   * tokens carry none, when no audience was given) are not checked.
   */
  audience: string | null;
  userIdClaim: string;
  emailClaim: string;
}

export interface ProviderInput {
  type: ProviderType;
  issuer: string;
  jwksUrl?: string | undefined;
  secret?: string | undefined;
  audience?: string | undefined;
  userIdClaim?: string | undefined;
  emailClaim?: string | undefined;
}

/**
 * The audience an admin types to accept tokens for any audience of the issuer. Deliberately a value
 * and not an omission: OpenID Connect Core §3.1.3.7 makes the aud check a MUST, because without it
 * any other application of the same issuer (another Google client, another API of the Auth0
 * tenant) could replay its users' tokens here.
 */
export const ANY_AUDIENCE = '*';

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits). */
export const MIN_SECRET_BYTES = 32;
const MAX_URL_LENGTH = 2048;
const MAX_CLAIM_NAME_LENGTH = 100;

// Firebase ID tokens are signed by Google with RS256 only; these are the same keys Google also
// publishes as X.509 certificates (firebase.google.com/docs/auth/admin/verify-id-tokens).
export const FIREBASE_JWKS_URL = 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com';
// Firebase: "iss must be https://securetoken.google.com/<projectId>, aud must be <projectId>" (same page).
const FIREBASE_ISSUER = /^https:\/\/securetoken\.google\.com\/([^/?#]+)$/;

/**
 * `<issuer>/.well-known/<name>`, with one slash: Auth0's issuer already ends in '/', and OpenID
 * Connect Discovery §4 removes a terminating '/' before appending the well-known path.
 */
export function wellKnownUrl(issuer: string, name: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/${name}`;
}

/** An absolute http(s) URL without credentials or fragment, or null when it is not one. */
function httpUrl(value: string): URL | null {
  if (value.length > MAX_URL_LENGTH) return null;
  const url = URL.parse(value);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return null;
  if (url.username || url.password || url.hash || value.includes('#')) return null;
  return url;
}

function claimName(field: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (value.length === 0 || value.length > MAX_CLAIM_NAME_LENGTH || /[\u0000-\u001f]/.test(value)) {
    throw invalid(field, `must be a claim name of 1-${MAX_CLAIM_NAME_LENGTH} printable characters`);
  }
  return value;
}

/**
 * Fills the type's defaults and validates. Returns the full config or throws invalid_request naming
 * the field (in the HTTP API's spelling: `jwks_url`, `user_id_claim`, …). The issuer is kept exactly
 * as given, since it is compared byte for byte with `iss`.
 */
export function providerConfigOf(input: ProviderInput): ProviderConfig {
  const { type, issuer } = input;
  if (!(PROVIDER_TYPES as readonly string[]).includes(type)) throw invalid('type', `must be one of ${PROVIDER_TYPES.join(', ')}`);

  const issuerUrl = httpUrl(issuer);
  if (!issuerUrl) throw invalid('issuer', 'must be an absolute http(s) URL without credentials or fragment');
  if (issuerUrl.search) throw invalid('issuer', 'must not have a query (OpenID issuers never do)');

  if (input.jwksUrl !== undefined && !httpUrl(input.jwksUrl)) {
    throw invalid('jwks_url', 'must be an absolute http(s) URL without credentials or fragment');
  }
  if (input.secret !== undefined && Buffer.byteLength(input.secret, 'utf8') < MIN_SECRET_BYTES) {
    throw invalid('secret', `must be at least ${MIN_SECRET_BYTES} bytes (HS256 needs a key as long as its hash)`);
  }
  if (input.jwksUrl !== undefined && input.secret !== undefined) {
    throw invalid('secret', 'give either jwks_url (asymmetric keys) or secret (HMAC), not both');
  }
  if (input.audience !== undefined && (input.audience.length === 0 || input.audience.length > 512)) {
    throw invalid('audience', 'must be 1-512 characters');
  }

  const secret = input.secret ?? null;
  const given = input.jwksUrl ?? null;
  let jwksUrl: string | null;
  let audience = input.audience ?? null;

  switch (type) {
    case 'supabase':
      // Supabase Auth publishes its signing keys at <project>.supabase.co/auth/v1/.well-known/jwks.json
      // (supabase.com/docs/guides/auth/signing-keys); user sessions carry aud "authenticated" (jwt-fields).
      jwksUrl = secret ? null : (given ?? wellKnownUrl(issuer, 'jwks.json'));
      audience ??= 'authenticated';
      break;
    case 'firebase': {
      const projectId = FIREBASE_ISSUER.exec(issuer)?.[1];
      if (!projectId) throw invalid('issuer', 'firebase issuers are https://securetoken.google.com/<project-id>');
      if (secret) throw invalid('secret', 'firebase ID tokens are signed by Google with RS256; a shared secret cannot verify them');
      if (audience !== null && audience !== projectId) {
        throw invalid('audience', `firebase ID tokens carry the project id (${projectId}) as aud`);
      }
      jwksUrl = given ?? FIREBASE_JWKS_URL;
      audience = projectId;
      break;
    }
    case 'auth0':
      // Auth0 sets iss to https://<tenant-domain>/ with the trailing slash; without it no token
      // would ever match, so say so now rather than refuse every exchange later.
      if (!issuer.endsWith('/')) throw invalid('issuer', 'auth0 issuers end with a slash: https://<tenant-domain>/ (as Auth0 sets iss)');
      // Every API and application of a tenant shares its issuer and keys: the audience (the API
      // identifier for access tokens, the client id for ID tokens) is what tells them apart.
      if (audience === null) throw invalid('audience', `is required for auth0: the API identifier or client id your tokens carry as aud (or "${ANY_AUDIENCE}" to accept any application of the tenant)`);
      // Auth0 serves each tenant's keys at https://<tenant-domain>/.well-known/jwks.json (auth0.com/docs/jwks).
      jwksUrl = secret ? null : (given ?? wellKnownUrl(issuer, 'jwks.json'));
      break;
    case 'clerk':
      // Clerk: the Frontend API (the session token's iss) serves /.well-known/jwks.json
      // (clerk.com/docs/guides/sessions/manual-jwt-verification). Session tokens carry no aud (their
      // default claims are azp, exp, iat, iss, nbf, sid, sub…: clerk.com/docs/guides/sessions/session-tokens),
      // so none is required; one given (a JWT template that sets aud) is checked.
      jwksUrl = secret ? null : (given ?? wellKnownUrl(issuer, 'jwks.json'));
      break;
    case 'oidc':
      // OpenID Connect Core §3.1.3.7: the client MUST check that aud contains its client id.
      if (audience === null) throw invalid('audience', `is required for oidc: the client id (or API audience) your tokens carry as aud (or "${ANY_AUDIENCE}" to accept any client of the issuer)`);
      // No jwks_url and no secret: the verifier reads jwks_uri from the issuer's discovery document.
      jwksUrl = given;
      break;
  }

  return {
    type,
    issuer,
    jwksUrl,
    secret,
    audience,
    userIdClaim: claimName('user_id_claim', input.userIdClaim, 'sub'),
    emailClaim: claimName('email_claim', input.emailClaim, 'email'),
  };
}
