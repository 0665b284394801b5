// The declared-state file (`signalgate start --state`, `signalgate apply -f`, `signalgate export`):
// organisations with fixed ids and keys, their settings, limits, rule sets, integrations and
// identity providers. Field names are the admin API's (snake_case), so a body that works there
// works here. Every object is strict: an unknown key is a mistake worth a line number.
import { z } from 'zod';
import { ORG_LIMITS } from '../orgLimits.js';
import { PROVIDER_TYPES } from '../identity/presets.js';
import { ORG_ID_PATTERN, SECRET_KEY_PATTERN, UUID_PATTERN } from '../credentials/secrets.js';
import { NAME_PATTERN, NAME_RULE } from '../services/names.js';
import { INTEGRATION_ID_PATTERN } from '../services/integrations.js';

export const STATE_VERSION = 1;

const Filters = z.array(z.string().min(1).max(1024)).max(1000);
const Name = z.string().regex(NAME_PATTERN, NAME_RULE);

export const RulesSchema = z.strictObject({
  publish: Filters,
  subscribe: Filters,
  presence: z.boolean().optional(),
  history: z.boolean().optional(),
  deny_publish: Filters.optional(),
  deny_subscribe: Filters.optional(),
});

const RuleSetSchema = RulesSchema.extend({ name: Name });

const IntegrationSchema = z.strictObject({
  integration_id: z.string().regex(INTEGRATION_ID_PATTERN, 'use 1-128 letters, digits, and . _ : -'),
  /** A named rule set of this file (or `default`). */
  rule_set: z.string().max(100),
  description: z.string().max(500).optional(),
});

const ProviderSchema = z.strictObject({
  name: Name.optional(),
  type: z.enum(PROVIDER_TYPES),
  issuer: z.string().max(2048),
  jwks_url: z.string().max(2048).optional(),
  /** HMAC secret; write `${ENV_VAR}`. Never exported. Omitted for a provider that exists: the stored one stays. */
  secret: z.string().max(4096).optional(),
  /** The provider verifies with a shared secret (export writes it for such a provider, without the secret). */
  hmac: z.literal(true).optional(),
  audience: z.string().max(512).optional(),
  user_id_claim: z.string().max(100).optional(),
  email_claim: z.string().max(100).optional(),
});

const SecretKeySchema = z.strictObject({
  secret: z.string().regex(SECRET_KEY_PATTERN, 'must be a secret key: sk_ or cs_ and 20-200 letters, digits, _ or -'),
  name: z.string().min(1).max(100).optional(),
});

const positive = z.number().int().positive();

const SettingsSchema = z.strictObject({
  default_ttl_seconds: positive.optional(),
  min_ttl_seconds: positive.optional(),
  max_ttl_seconds: positive.optional(),
  max_token_lifetime_seconds: positive.optional(),
});

const LimitsSchema = z.strictObject(Object.fromEntries(ORG_LIMITS.map((l) => [l.field, positive.nullable().optional()])) as Record<string, z.ZodOptional<z.ZodNullable<typeof positive>>>);

export const OrgSchema = z.strictObject({
  /** `org_` + 12 of [a-z0-9]; with only a UUID given, one is derived from it (the same every time). */
  id: z.string().regex(ORG_ID_PATTERN, 'must be org_ followed by 12 lowercase letters or digits').optional(),
  uuid: z.string().regex(UUID_PATTERN, 'must be a UUID').optional(),
  name: z.string().min(1).max(200).optional(),
  settings: SettingsSchema.optional(),
  limits: LimitsSchema.optional(),
  secret_keys: z.array(SecretKeySchema).max(20).optional(),
  default_rules: RulesSchema.optional(),
  /** Named rule sets. When the list is given, named sets not in it are deleted (the file is their truth). */
  rule_sets: z.array(RuleSetSchema).max(200).optional(),
  integrations: z.array(IntegrationSchema).max(200).optional(),
  providers: z.array(ProviderSchema).max(20).optional(),
}).refine((o) => o.id !== undefined || o.uuid !== undefined, { message: 'give id (org_…) or uuid', path: ['id'] });

export const StateSchema = z.strictObject({
  version: z.literal(STATE_VERSION).optional(),
  organizations: z.array(OrgSchema).max(1000),
});

export type DeclaredState = z.infer<typeof StateSchema>;
export type DeclaredOrg = z.infer<typeof OrgSchema>;
export type DeclaredRules = z.infer<typeof RulesSchema>;
