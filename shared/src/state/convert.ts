// Declared-state entries (the file's snake_case) as the services take them.
import type { Rules } from '../acl/rights.js';
import type { NewProvider } from '../services/providers.js';
import type { DeclaredOrg, DeclaredRules } from './schema.js';

export const rulesOfDeclared = (r: DeclaredRules): Rules => ({
  publish: r.publish, subscribe: r.subscribe, presence: r.presence ?? false, history: r.history ?? false,
  denyPublish: r.deny_publish ?? [], denySubscribe: r.deny_subscribe ?? [],
});

export const providerInputOf = (p: NonNullable<DeclaredOrg['providers']>[number]): NewProvider => ({
  name: p.name, type: p.type, issuer: p.issuer, jwksUrl: p.jwks_url, secret: p.secret,
  audience: p.audience, userIdClaim: p.user_id_claim, emailClaim: p.email_claim,
});
