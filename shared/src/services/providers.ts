// The identity providers of an organisation (admin API, CLI, dashboard). The configuration is
// validated and completed from the type's preset by identity/; a shared secret is stored for HMAC
// verification and never answered back.
import { SignalGateError, invalid, notFound } from '../errors.js';
import { providerConfigOf, type ProviderInput } from '../identity/index.js';
import type { IdentityProvider } from '../store/identityProviders.js';
import type { Store, StoreTx } from '../store/types.js';
import { NAME_PATTERN, NAME_RULE } from './names.js';
import { nonPublicTargetProblem } from './publicTargets.js';
import { systemClock, type Clock } from './clock.js';

export interface NewProvider extends ProviderInput {
  /** Defaults to the type (`supabase`, …): what token answers name as `provider`. */
  name?: string | undefined;
}

/** Bounds what one organisation can make every exchange search and cache. */
export const MAX_PROVIDERS_PER_ORG = 20;

export class ProviderService {
  constructor(private readonly store: Store, private readonly clock: Clock = systemClock) {}

  list(orgId: string): Promise<IdentityProvider[]> {
    return this.store.providers.list(orgId);
  }

  async get(orgId: string, name: string, db: StoreTx = this.store): Promise<IdentityProvider> {
    const p = await db.providers.get(orgId, name);
    if (!p) throw notFound('provider_not_found', `identity provider '${name}' not found in ${orgId}`);
    return p;
  }

  /**
   * `by`: the operator may point a provider anywhere; an organisation (its own key) only at https
   * URLs on public hosts, since SignalGate fetches them from inside the operator's network.
   */
  async add(orgId: string, input: NewProvider, by: 'operator' | 'organization' = 'operator'): Promise<IdentityProvider> {
    const name = input.name ?? input.type;
    if (!NAME_PATTERN.test(name)) throw invalid('name', NAME_RULE);
    const config = providerConfigOf(input);
    if (by === 'organization') {
      // What SignalGate will fetch: the JWKS, or the issuer's discovery document (a secret needs neither).
      const fetched: [string, string] | null =
        config.jwksUrl !== null ? ['jwks_url', config.jwksUrl] : config.secret === null ? ['issuer', config.issuer] : null;
      if (fetched) {
        const [field, url] = fetched;
        const problem = nonPublicTargetProblem(url);
        if (problem) throw new SignalGateError('forbidden', `${field} ${problem}: only the operator (admin key or CLI) may configure such a provider`);
      }
    }
    const now = this.clock();
    return this.store.transaction(async (tx) => {
      if (!await tx.orgs.get(orgId)) throw notFound('organization_not_found', `organization ${orgId} not found`);
      if (await tx.providers.get(orgId, name)) throw new SignalGateError('conflict', `identity provider '${name}' already exists`);
      if (await tx.providers.byIssuer(orgId, config.issuer)) {
        throw new SignalGateError('conflict', `an identity provider with issuer ${config.issuer} already exists`);
      }
      if ((await tx.providers.list(orgId)).length >= MAX_PROVIDERS_PER_ORG) {
        throw new SignalGateError('conflict', `an organization has at most ${MAX_PROVIDERS_PER_ORG} identity providers`);
      }
      const provider: IdentityProvider = { orgId, name, createdAt: now, ...config };
      await tx.providers.insert(provider);
      await tx.audit.record({ event: 'provider.added', orgId, detail: { provider: name, type: config.type, issuer: config.issuer } }, now);
      return provider;
    });
  }

  remove(orgId: string, name: string): Promise<void> {
    const now = this.clock();
    return this.store.transaction(async (tx) => {
      await this.get(orgId, name, tx);
      await tx.providers.delete(orgId, name);
      await tx.audit.record({ event: 'provider.removed', orgId, detail: { provider: name } }, now);
    });
  }
}
