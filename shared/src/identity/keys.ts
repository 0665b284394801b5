// Where a JWKS provider's public keys come from: jose's remote key sets (cached per URL, refetched on
// an unknown kid at most once per cooldown, fetched with a timeout), and for 'oidc' providers
// without a jwks_url the jwks_uri of the issuer's discovery document. Both caches are bounded by
// URL/issuer count: providers are configured by admins, but every org may add its own.
import { createRemoteJWKSet, errors, type JWTVerifyGetKey } from 'jose';
import { wellKnownUrl, type ProviderConfig } from './presets.js';
import { IdentityTokenError, refuse } from './refusal.js';

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

interface Discovery {
  jwksUrl: Promise<string>;
  /** Until when this answer (or failure) stands; Infinity while the fetch is in flight. */
  until: number;
}

/** What went wrong reaching a URL, without anything from a token. */
function describeFetchFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof errors.JWKSTimeout || (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))) {
    return `no answer within ${timeoutMs} ms`;
  }
  if (err instanceof Error) {
    const code = (err.cause as { code?: unknown } | undefined)?.code;
    return typeof code === 'string' ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

export class ProviderKeys {
  private readonly keySets: BoundedCache<RemoteKeySet>;
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
        return await keySet(header, token);
      } catch (err) {
        if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
        throw refuse('keys_unavailable', `could not load the identity provider's signing keys from ${url}: ${describeFetchFailure(err, this.opts.fetchTimeoutMs)}`, err);
      }
    };
  }

  private keySetOf(url: string): RemoteKeySet {
    let keySet = this.keySets.get(url);
    if (!keySet) {
      keySet = createRemoteJWKSet(new URL(url), {
        timeoutDuration: this.opts.fetchTimeoutMs,
        cooldownDuration: this.opts.jwksCooldownMs,
        cacheMaxAge: this.opts.jwksCacheMaxAgeMs,
      });
      this.keySets.set(url, keySet);
    }
    return keySet;
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
    const fail = (why: string, cause?: unknown) =>
      refuse('keys_unavailable', `could not discover the identity provider's keys from ${url}: ${why}`, cause);
    let doc: unknown;
    try {
      // No redirects, as jose does for the key set itself: the configured issuer is the authority.
      const res = await fetch(url, { redirect: 'manual', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.opts.fetchTimeoutMs) });
      if (res.status !== 200) throw fail(`HTTP ${res.status}`);
      doc = await res.json();
    } catch (err) {
      if (err instanceof IdentityTokenError) throw err;
      throw fail(describeFetchFailure(err, this.opts.fetchTimeoutMs), err);
    }
    const { issuer: named, jwks_uri: jwksUri } = (doc ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    // OpenID Connect Discovery §4.3: the document's issuer MUST equal the issuer it was fetched for.
    if (named !== issuer) throw fail('the document names another issuer');
    if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri) || !/^https?:$/.test(new URL(jwksUri).protocol)) {
      throw fail('the document has no http(s) jwks_uri');
    }
    return jwksUri;
  }
}
