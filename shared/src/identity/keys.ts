// Where a JWKS provider's public keys come from: jose's remote key sets (cached per URL, refetched on
// an unknown kid at most once per cooldown), and for 'oidc' providers without a jwks_url the jwks_uri
// of the issuer's discovery document. Every fetch is fetchJsonDocument's (no redirects, a timeout, a
// size limit); jose's own fetch is replaced through its documented `customFetch` hook, which keeps
// its cache, cooldown and refetch-on-unknown-kid. A failed fetch is remembered per URL for the
// cooldown: jose only times successes, so a dead JWKS would otherwise be fetched once per token.
// Both caches are bounded by URL/issuer count: providers are configured by admins, but every org
// may add its own.
import { createRemoteJWKSet, customFetch, errors, type JWTVerifyGetKey } from 'jose';
import { DocumentFetchError, fetchJsonDocument, messageOf } from './documentFetch.js';
import { wellKnownUrl, type ProviderConfig } from './presets.js';
import { IdentityTokenError, keysUnavailable } from './refusal.js';

export interface KeySourceOptions {
  fetchTimeoutMs: number;
  jwksCacheMaxAgeMs: number;
  jwksCooldownMs: number;
  discoveryMaxAgeMs: number;
  maxCachedIssuers: number;
}

/** A Map that forgets its least recently used entry beyond `max`. */
class BoundedCache<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly max: number) {}

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}

type RemoteKeySet = ReturnType<typeof createRemoteJWKSet>;

interface KeySet {
  resolve: RemoteKeySet;
  /** The last failed fetch of this URL: answered again, without fetching, until `until`. */
  failure: { until: number; diagnostic: string; cause: unknown } | null;
}

interface Discovery {
  jwksUrl: Promise<string>;
  /** Until when this answer (or failure) stands; Infinity while the fetch is in flight. */
  until: number;
}

const isJsonObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The shape jose's createLocalJWKSet accepts (RFC 7517 §5), checked here so a failure is remembered. */
const isKeySetDocument = (doc: unknown) => isJsonObject(doc) && Array.isArray(doc['keys']) && doc['keys'].every(isJsonObject);

// The public messages name the URL (the org's own configuration, or what its issuer published) and
// nothing the fetch returned: see IdentityTokenError.diagnostic.
const keysFailedFrom = (url: string) => `could not load the identity provider's signing keys from ${url}`;
const discoveryFailedFrom = (url: string) => `could not discover the identity provider's keys from ${url}`;

export class ProviderKeys {
  private readonly keySets: BoundedCache<KeySet>;
  private readonly discoveries: BoundedCache<Discovery>;

  constructor(private readonly opts: KeySourceOptions) {
    this.keySets = new BoundedCache(opts.maxCachedIssuers);
    this.discoveries = new BoundedCache(opts.maxCachedIssuers);
  }

  /** Number of cached key sets and discovery answers (for tests and metrics). */
  get cached(): { keySets: number; discoveries: number } {
    return { keySets: this.keySets.size, discoveries: this.discoveries.size };
  }

  /**
   * jose's key resolver for a JWKS provider. "No key matches" passes through untouched (the caller
   * reports it as an unknown key); failing to fetch or read the key set becomes keys_unavailable.
   */
  async resolverFor(provider: Pick<ProviderConfig, 'issuer' | 'jwksUrl'>): Promise<JWTVerifyGetKey> {
    const url = provider.jwksUrl ?? (await this.discoveredJwksUrl(provider.issuer));
    const keySet = this.keySetOf(url);
    return async (header, token) => {
      try {
        return await keySet.resolve(header, token);
      } catch (err) {
        if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof IdentityTokenError) throw err;
        // A key in the set jose cannot import (an unknown kty or curve, a malformed modulus).
        throw keysUnavailable(keysFailedFrom(url), messageOf(err), err);
      }
    };
  }

  private keySetOf(url: string): KeySet {
    const cached = this.keySets.get(url);
    if (cached) return cached;
    const keySet: KeySet = {
      resolve: createRemoteJWKSet(new URL(url), {
        timeoutDuration: this.opts.fetchTimeoutMs,
        cooldownDuration: this.opts.jwksCooldownMs,
        cacheMaxAge: this.opts.jwksCacheMaxAgeMs,
        [customFetch]: (_href, init) => this.fetchKeySet(url, keySet, init.signal),
      }),
      failure: null,
    };
    this.keySets.set(url, keySet);
    return keySet;
  }

  /**
   * jose's fetch of a key set, bounded, and refused without fetching while an earlier failure stands.
   * Only fetches are refused: keys jose already holds keep verifying tokens meanwhile.
   */
  private async fetchKeySet(url: string, keySet: KeySet, signal: AbortSignal): Promise<Response> {
    const failed = keySet.failure;
    if (failed && failed.until > Date.now()) {
      const note = `remembered from a failed fetch; not retried until ${this.opts.jwksCooldownMs} ms after it`;
      throw keysUnavailable(keysFailedFrom(url), `${failed.diagnostic} (${note})`, failed.cause);
    }
    try {
      const doc = await fetchJsonDocument(url, { signal, timeoutMs: this.opts.fetchTimeoutMs, accept: 'application/json, application/jwk-set+json' });
      if (!isKeySetDocument(doc)) throw new DocumentFetchError('the body is not a JSON Web Key Set (an object with a "keys" array of objects)');
      keySet.failure = null;
      return new Response(JSON.stringify(doc), { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (err) {
      const diagnostic = messageOf(err);
      keySet.failure = { until: Date.now() + this.opts.jwksCooldownMs, diagnostic, cause: err };
      throw keysUnavailable(keysFailedFrom(url), diagnostic, err);
    }
  }

  /**
   * jwks_uri from `<issuer>/.well-known/openid-configuration`, cached for discoveryMaxAgeMs. Callers
   * arriving while it is fetched share that fetch; a failure is remembered for the JWKS cooldown so
   * a dead issuer is not asked again for every token.
   */
  private discoveredJwksUrl(issuer: string): Promise<string> {
    const hit = this.discoveries.get(issuer);
    if (hit && hit.until > Date.now()) return hit.jwksUrl;
    const entry: Discovery = { jwksUrl: this.fetchDiscovery(issuer), until: Infinity };
    entry.jwksUrl.then(
      () => { entry.until = Date.now() + this.opts.discoveryMaxAgeMs; },
      () => { entry.until = Date.now() + this.opts.jwksCooldownMs; },
    );
    this.discoveries.set(issuer, entry);
    return entry.jwksUrl;
  }

  private async fetchDiscovery(issuer: string): Promise<string> {
    const url = wellKnownUrl(issuer, 'openid-configuration');
    const fail = (diagnostic: string, cause?: unknown) => keysUnavailable(discoveryFailedFrom(url), diagnostic, cause);
    let doc: unknown;
    try {
      const timeoutMs = this.opts.fetchTimeoutMs;
      doc = await fetchJsonDocument(url, { signal: AbortSignal.timeout(timeoutMs), timeoutMs, accept: 'application/json' });
    } catch (err) {
      throw fail(messageOf(err), err);
    }
    const { issuer: named, jwks_uri: jwksUri } = (isJsonObject(doc) ? doc : {}) as { issuer?: unknown; jwks_uri?: unknown };
    // OpenID Connect Discovery §4.3: the document's issuer MUST equal the issuer it was fetched for.
    if (named !== issuer) throw fail('the document names another issuer');
    if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri) || !/^https?:$/.test(new URL(jwksUri).protocol)) {
      throw fail('the document has no http(s) jwks_uri');
    }
    return jwksUri;
  }
}
