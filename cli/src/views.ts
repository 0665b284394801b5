// The JSON shape of each admin object as the CLI prints it: snake_case names and ISO times, the
// same vocabulary as the token API. Secrets appear only where a command just created them.
import {
  isKeyUsable, limitFields, mqttUsername, tokenState,
  type ApiKey, type AuditEntry, type Integration, type Org, type RuleSet, type SessionRecord, type TokenRecord, type User,
} from '@signalgate/shared';
import { isoTime } from './output.js';

export const orgView = (o: Org) => ({
  organization_id: o.id,
  name: o.name,
  created_at: isoTime(o.createdAt),
  default_ttl_seconds: o.defaultTtlSeconds,
  min_ttl_seconds: o.minTtlSeconds,
  max_ttl_seconds: o.maxTtlSeconds,
  max_token_lifetime_seconds: o.maxTokenLifetimeSeconds,
  ...limitFields(o.limits),
});

const keyStatus = (k: ApiKey, now: number) => (k.revokedAt !== null ? 'revoked' : isKeyUsable(k, now) ? 'active' : 'expired');

export const keyView = (k: ApiKey, now: number) => ({
  key_id: k.id,
  organization_id: k.orgId,
  prefix: k.prefix,
  name: k.name,
  status: keyStatus(k, now),
  created_at: isoTime(k.createdAt),
  last_used_at: isoTime(k.lastUsedAt),
  expires_at: isoTime(k.expiresAt),
  revoked_at: isoTime(k.revokedAt),
  replaced_by: k.replacedBy,
});

export const ruleSetView = (r: RuleSet) => ({
  rule_set_id: r.id,
  organization_id: r.orgId,
  name: r.name,
  is_default: r.isDefault,
  publish: r.publish,
  subscribe: r.subscribe,
  presence: r.presence,
  history: r.history,
  deny_publish: r.denyPublish ?? [],
  deny_subscribe: r.denySubscribe ?? [],
  created_at: isoTime(r.createdAt),
  updated_at: isoTime(r.updatedAt),
});

export const integrationView = (i: Integration, ruleSetName: string | null) => ({
  integration_id: i.id,
  organization_id: i.orgId,
  rule_set_id: i.ruleSetId,
  rule_set_name: ruleSetName,
  description: i.description,
  created_at: isoTime(i.createdAt),
});

export const tokenView = (t: TokenRecord, user: User | undefined, now: number) => ({
  token_id: t.id,
  organization_id: t.orgId,
  user_ref: t.userRef,
  user_id: user?.userId ?? null,
  user_email: user?.userEmail ?? null,
  username: mqttUsername(t.userRef, t.orgId),
  integration_id: t.integrationId,
  api_key_id: t.apiKeyId,
  state: tokenState(t, now),
  issued_at: isoTime(t.issuedAt),
  refreshed_at: isoTime(t.refreshedAt),
  expires_at: isoTime(t.expiresAt),
  revoked_at: isoTime(t.revokedAt),
  revoke_reason: t.revokeReason,
});

export const sessionView = (s: SessionRecord, user: User | undefined) => ({
  client_id: s.clientId,
  organization_id: s.orgId,
  user_ref: s.userRef,
  user_id: user?.userId ?? null,
  username: mqttUsername(s.userRef, s.orgId),
  token_id: s.tokenId,
  address: s.address,
  protocol: s.protocol,
  connected_at: isoTime(s.connectedAt),
  expires_at: isoTime(s.expiresAt),
  broker_id: s.brokerId,
});

export const auditView = (e: AuditEntry) => ({
  id: e.id,
  at: isoTime(e.at),
  event: e.event,
  organization_id: e.orgId,
  user_id: e.userId,
  user_ref: e.userRef,
  token_id: e.tokenId,
  ip: e.ip,
  user_agent: e.userAgent,
  expires_at: isoTime(e.expiresAt),
  detail: e.detail,
});
