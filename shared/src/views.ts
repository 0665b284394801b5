// How admin objects are shown, as plain snake_case records: one mapper for the API and the CLI
// (the API's zod schemas check the shapes). Secrets never appear.
import type { IdentityProvider } from './store/identityProviders.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** An identity provider as anyone may see it (the official SDK's getProviders). */
export const publicProviderView = (p: IdentityProvider) => ({
  provider: p.name,
  type: p.type,
  issuer: p.issuer,
  audience: p.audience,
  jwks_url: p.jwksUrl,
  enabled: true as const,
});

/** What operators see besides: the claim mapping and which kind of key verifies. */
export const providerView = (p: IdentityProvider) => ({
  ...publicProviderView(p),
  organization_id: p.orgId,
  verification: (p.secret !== null ? 'secret' : p.jwksUrl !== null ? 'jwks' : 'discovery') as 'secret' | 'jwks' | 'discovery',
  user_id_claim: p.userIdClaim,
  email_claim: p.emailClaim,
  created_at: iso(p.createdAt),
});
