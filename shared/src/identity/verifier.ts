// Verifies an identity provider's JWT with jose and maps it to a SignalGate identity. Nothing here
// signs, hashes or compares bytes itself: jose checks the signature and the time/issuer/audience
// claims; this module chooses what jose may accept and turns its errors into refusals.
import { errors, jwtVerify, type JWTVerifyOptions } from 'jose';
import { identityOf, isCompactJws, type VerifiedIdentity } from './claims.js';
import { ProviderKeys } from './keys.js';
import { ANY_AUDIENCE, type ProviderConfig } from './presets.js';
import { IdentityTokenError, refuse } from './refusal.js';

/**
 * A provider verified by public keys accepts only asymmetric algorithms, one with a shared secret
 * only HMAC: never `none`, and never the HS/RS confusion where a token is HMAC-signed with the
 * provider's public key as the secret.
 */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;

export interface IdentityVerifierOptions {
  /** Leeway for exp and nbf, for clock skew between the IdP and us (default 30 s). */
  clockToleranceSeconds?: number;
  /** Timeout of each JWKS or discovery fetch (default 5 s). */
  fetchTimeoutMs?: number;
  /** A key set older than this is refetched before use (default 10 min, jose's default). */
  jwksCacheMaxAgeMs?: number;
  /** Shortest time between two refetches of one key set for unknown kids, and between retries of a failed discovery (default 30 s). */
  jwksCooldownMs?: number;
  /** How long a discovered jwks_uri is used before asking the issuer again (default 1 h). */
  discoveryMaxAgeMs?: number;
  /** Key sets and discovery answers kept (each, least recently used dropped first; default 100). */
  maxCachedIssuers?: number;
  /** Milliseconds since the epoch, for exp/nbf (default Date.now). */
  clock?: () => number;
}

const encoder = new TextEncoder();

export class IdentityVerifier {
  private readonly toleranceSeconds: number;
  private readonly clock: () => number;
  private readonly keys: ProviderKeys;

  constructor(opts: IdentityVerifierOptions = {}) {
    this.toleranceSeconds = opts.clockToleranceSeconds ?? 30;
    this.clock = opts.clock ?? Date.now;
    this.keys = new ProviderKeys({
      fetchTimeoutMs: opts.fetchTimeoutMs ?? 5000,
      jwksCacheMaxAgeMs: opts.jwksCacheMaxAgeMs ?? 10 * 60_000,
      jwksCooldownMs: opts.jwksCooldownMs ?? 30_000,
      discoveryMaxAgeMs: opts.discoveryMaxAgeMs ?? 60 * 60_000,
      maxCachedIssuers: opts.maxCachedIssuers ?? 100,
    });
  }

  /** Number of cached key sets and discovery answers. */
  get cached(): { keySets: number; discoveries: number } {
    return this.keys.cached;
  }

  /**
   * The identity in `jwt` if `provider` signed it and it is current. Throws IdentityTokenError (a
   * SignalGateError): token_expired for an exp in the past beyond the tolerance, invalid_token for
   * everything else, its `reason` saying which. Messages never quote the token or the secret.
   */
  async verify(provider: ProviderConfig, jwt: string): Promise<VerifiedIdentity> {
    if (typeof jwt !== 'string' || !isCompactJws(jwt)) throw refuse('malformed', 'token is not a compact signed JWT (header.payload.signature)');
    const hmac = provider.secret !== null;
    const options: JWTVerifyOptions = {
      issuer: provider.issuer,
      ...(provider.audience !== null && provider.audience !== ANY_AUDIENCE ? { audience: provider.audience } : {}),
      algorithms: [...(hmac ? HMAC_ALGORITHMS : ASYMMETRIC_ALGORITHMS)],
      clockTolerance: this.toleranceSeconds,
      // A token without exp would be valid forever: refused, whatever the provider.
      requiredClaims: ['exp'],
      currentDate: new Date(this.clock()),
    };
    let payload: Record<string, unknown>;
    try {
      ({ payload } = provider.secret !== null
        ? await jwtVerify(jwt, encoder.encode(provider.secret), options)
        : await jwtVerify(jwt, await this.keys.resolverFor(provider), options));
    } catch (err) {
      throw refusalOf(err, provider);
    }
    return identityOf(provider, payload);
  }
}

/** jose's error for a token, as a refusal that names the rule it broke. */
function refusalOf(err: unknown, provider: ProviderConfig): IdentityTokenError {
  if (err instanceof IdentityTokenError) return err;
  if (err instanceof errors.JWTExpired) return refuse('expired', 'token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'exp':
        return err.reason === 'missing'
          ? refuse('missing_exp', 'token has no exp claim; tokens that never expire are refused')
          : refuse('bad_claim', 'token claim "exp" must be a number');
      case 'nbf':
        return err.reason === 'check_failed' ? refuse('not_yet_valid', 'token is not valid yet (nbf is in the future)') : refuse('bad_claim', 'token claim "nbf" must be a number');
      case 'iss':
        return refuse('wrong_issuer', `token iss is not the provider's issuer (${provider.issuer})`);
      case 'aud':
        return refuse('wrong_audience', `token aud does not include ${provider.audience ?? 'the expected audience'}`);
      default:
        return refuse('bad_claim', `token claim "${err.claim}" is invalid`);
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return refuse('algorithm_not_allowed', provider.secret !== null
      ? `this provider verifies HMAC signatures only (${HMAC_ALGORITHMS.join(', ')})`
      : `this provider verifies asymmetric signatures only (${ASYMMETRIC_ALGORITHMS.join(', ')}); HMAC and "none" are refused`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return refuse('bad_signature', "token signature does not verify with the provider's key");
  if (err instanceof errors.JWKSNoMatchingKey) {
    return refuse('unknown_key', "no key in the provider's key set matches the token's kid and alg (the set is refetched at most once per cooldown)");
  }
  if (err instanceof errors.JWKSMultipleMatchingKeys) {
    return refuse('unknown_key', 'token has no kid and the provider publishes several keys for its algorithm');
  }
  if (err instanceof errors.JOSEError) return refuse('malformed', 'token is not a well-formed signed JWT', err);
  // Anything else (a key jose will not use, e.g. an RSA modulus under 2048 bits): fail closed.
  return refuse('bad_signature', "token could not be verified with the provider's key", err);
}
