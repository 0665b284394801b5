// How management objects appear in admin responses (snake_case, ISO times, no hashes).
import { isKeyUsable, limitFields, ORG_LIMITS, providerView as sharedProviderView, publicProviderView as sharedPublicProviderView, type ApiKey, type IdentityProvider, type AuditEntry, type Integration, type Org, type RuleSet, type SessionRecord, type Services, type User } from '@signalgate/shared';
import { z } from '../http/openapi.js';
import { isoOrNull } from './time.js';
import { usersOf } from './users.js';

const iso = (ms: number) => new Date(ms).toISOString();

export const OrgLimitsView = z.object(
  Object.fromEntries(ORG_LIMITS.map((l) => [l.field, z.number().int().nullable().openapi({ description: `${l.help}; null: no limit` })])),
).openapi('OrgLimits');

export const OrgView = z.object({
  organization_id: z.string(),
  organization_uuid: z.string().openapi({ format: 'uuid', description: 'The same organization; accepted wherever organization_id is' }),
  name: z.string(),
  created_at: z.string(),
  default_ttl_seconds: z.number().int(),
  min_ttl_seconds: z.number().int(),
  max_ttl_seconds: z.number().int(),
  max_token_lifetime_seconds: z.number().int().openapi({ description: 'A token lives at most this long from its mint, however often it is refreshed' }),
  limits: OrgLimitsView,
}).openapi('Organization');

export const orgView = (o: Org): z.infer<typeof OrgView> => ({
  organization_id: o.id,
  organization_uuid: o.uuid,
  name: o.name,
  created_at: iso(o.createdAt),
  default_ttl_seconds: o.defaultTtlSeconds,
  min_ttl_seconds: o.minTtlSeconds,
  max_ttl_seconds: o.maxTtlSeconds,
  max_token_lifetime_seconds: o.maxTokenLifetimeSeconds,
  limits: limitFields(o.limits),
});

export const KeyView = z.object({
  key_id: z.string(),
  organization_id: z.string(),
  prefix: z.string().openapi({ description: 'Public start of the key, for recognising it; the secret is never shown again' }),
  name: z.string().nullable(),
  status: z.enum(['active', 'revoked', 'expired']),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  replaced_by: z.string().nullable(),
}).openapi('ApiKey');

export const keyView = (k: ApiKey, now = Date.now()): z.infer<typeof KeyView> => ({
  key_id: k.id,
  organization_id: k.orgId,
  prefix: k.prefix,
  name: k.name,
  status: k.revokedAt !== null ? 'revoked' : isKeyUsable(k, now) ? 'active' : 'expired',
  created_at: iso(k.createdAt),
  last_used_at: isoOrNull(k.lastUsedAt),
  revoked_at: isoOrNull(k.revokedAt),
  expires_at: isoOrNull(k.expiresAt),
  replaced_by: k.replacedBy,
});

export const RuleSetView = z.object({
  rule_set_id: z.string(),
  name: z.string(),
  is_default: z.boolean(),
  publish: z.array(z.string()),
  subscribe: z.array(z.string()),
  presence: z.boolean(),
  history: z.boolean(),
  deny_publish: z.array(z.string()),
  deny_subscribe: z.array(z.string()),
  created_at: z.string(),
  updated_at: z.string(),
}).openapi('RuleSet');

export const ruleSetView = (r: RuleSet): z.infer<typeof RuleSetView> => ({
  rule_set_id: r.id, name: r.name, is_default: r.isDefault, publish: r.publish, subscribe: r.subscribe,
  presence: r.presence, history: r.history, deny_publish: r.denyPublish ?? [], deny_subscribe: r.denySubscribe ?? [],
  created_at: iso(r.createdAt), updated_at: iso(r.updatedAt),
});

export const IntegrationView = z.object({
  integration_id: z.string(),
  rule_set_id: z.string(),
  rule_set: z.string().nullable(),
  description: z.string().nullable(),
  created_at: z.string(),
}).openapi('Integration');

const integrationView = (i: Integration, ruleSetName: string | null): z.infer<typeof IntegrationView> => ({
  integration_id: i.id,
  rule_set_id: i.ruleSetId,
  rule_set: ruleSetName,
  description: i.description,
  created_at: iso(i.createdAt),
});

/** Integrations of `orgId` with their rule sets' names (the org's rule sets read once, not once per integration). */
export async function integrationViews(services: Services, orgId: string, integrations: readonly Integration[]): Promise<z.infer<typeof IntegrationView>[]> {
  const names = new Map((await services.store.ruleSets.list(orgId)).map((r) => [r.id, r.name]));
  return integrations.map((i) => integrationView(i, names.get(i.ruleSetId) ?? null));
}

export const SessionView = z.object({
  client_id: z.string(),
  user_id: z.string().nullable(),
  user_ref: z.string(),
  token_id: z.string(),
  address: z.string().nullable(),
  protocol: z.string(),
  broker_id: z.string(),
  connected_at: z.string(),
  expires_at: z.string(),
}).openapi('Session');

const sessionView = (s: SessionRecord, user: User | undefined): z.infer<typeof SessionView> => ({
  client_id: s.clientId,
  user_id: user?.userId ?? null,
  user_ref: s.userRef,
  token_id: s.tokenId,
  address: s.address,
  protocol: s.protocol,
  broker_id: s.brokerId,
  connected_at: iso(s.connectedAt),
  expires_at: iso(s.expiresAt),
});

/** Sessions with their users' ids (each user read once, not once per session). */
export async function sessionViews(services: Services, sessions: readonly SessionRecord[]): Promise<z.infer<typeof SessionView>[]> {
  const userOf = await usersOf(services, sessions);
  return sessions.map((s) => sessionView(s, userOf(s)));
}

export const AuditView = z.object({
  id: z.number().int(),
  at: z.string(),
  event: z.string(),
  organization_id: z.string().nullable(),
  user_id: z.string().nullable(),
  user_ref: z.string().nullable(),
  token_id: z.string().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  expires_at: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
}).openapi('AuditEntry');

export const auditView = (a: AuditEntry): z.infer<typeof AuditView> => ({
  id: a.id, at: iso(a.at), event: a.event, organization_id: a.orgId, user_id: a.userId, user_ref: a.userRef, token_id: a.tokenId,
  ip: a.ip, user_agent: a.userAgent, expires_at: isoOrNull(a.expiresAt), detail: a.detail,
});

/** An identity provider as anyone may see it (the SDK's getProviders): never the shared secret. */
export const PublicProviderView = z.object({
  provider: z.string().openapi({ example: 'supabase' }),
  type: z.string().openapi({ example: 'supabase' }),
  issuer: z.string().openapi({ example: 'https://abcd.supabase.co/auth/v1' }),
  audience: z.string().nullable(),
  jwks_url: z.string().nullable().openapi({ description: 'null for a shared-secret (HS256) provider or OIDC discovery' }),
  enabled: z.literal(true),
}).openapi('IdentityProvider');

/** What operators see besides: the claim mapping and which kind of key verifies (the secret itself never). */
export const ProviderView = PublicProviderView.extend({
  organization_id: z.string(),
  verification: z.enum(['jwks', 'secret', 'discovery']),
  user_id_claim: z.string(),
  email_claim: z.string(),
  created_at: z.string(),
}).openapi('IdentityProviderDetail');

// The mappers are shared with the CLI; the schemas above check their shape.
export const publicProviderView: (p: IdentityProvider) => z.infer<typeof PublicProviderView> = sharedPublicProviderView;
export const providerView: (p: IdentityProvider) => z.infer<typeof ProviderView> = sharedProviderView;
