// What token routes answer. The mint/refresh body is one superset of every documented shape
// (seeds 000–003), so each seed's destructuring finds its fields.
import { mqttUsername, tokenState, type IssuedToken, type Services, type TokenRecord, type User } from '@signalgate/shared';
import { z } from '../http/openapi.js';
import { isoOrNull, isoSeconds } from './time.js';
import { usersOf } from './users.js';

export const TokenResponse = z
  .object({
    access_token: z.string().openapi({ example: 'tkn_…' }),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().openapi({ example: 3600 }),
    mqtt_credentials: z.object({ username: z.string().openapi({ example: 'u7k2m9x4p1q8@org_k7xm4pqr2n5t' }), password: z.string() }),
    username: z.string(),
    password: z.string(),
    token: z.string(),
    token_id: z.string().openapi({ format: 'uuid' }),
    user_email: z.string().nullable(),
    user_id: z.string(),
    provider: z.string().openapi({ description: "`cloudsignal` for key-minted tokens, else the identity provider's name", example: 'cloudsignal' }),
    expires_at: z.string().openapi({ example: '2026-03-27T14:00:00Z' }),
    refresh_recommended_at: z.string().openapi({ example: '2026-03-27T13:54:00Z' }),
    organization_id: z.string(),
    organization_uuid: z.string().openapi({ format: 'uuid' }),
    integration_id: z.string().nullable(),
  })
  .openapi('TokenResponse');

/** `/v1/create`: the v2 body plus the field names of CloudSignal's v1 token service. */
export const TokenResponseV1 = TokenResponse.extend({
  mqtt_username: z.string(),
  token_password: z.string(),
  org_short_id: z.string().openapi({ example: 'org_k7xm4pqr2n5t' }),
}).openapi('TokenResponseV1');

export function tokenResponse(t: IssuedToken): z.infer<typeof TokenResponse> {
  return {
    access_token: t.password,
    token_type: 'Bearer',
    expires_in: t.ttlSeconds,
    mqtt_credentials: { username: t.username, password: t.password },
    username: t.username,
    password: t.password,
    token: t.password,
    token_id: t.tokenId,
    user_email: t.userEmail,
    user_id: t.userId,
    provider: t.provider ?? 'cloudsignal',
    expires_at: isoSeconds(t.expiresAt),
    refresh_recommended_at: isoSeconds(t.refreshRecommendedAt),
    organization_id: t.orgId,
    organization_uuid: t.orgUuid,
    integration_id: t.integrationId,
  };
}

export function tokenResponseV1(t: IssuedToken): z.infer<typeof TokenResponseV1> {
  return { ...tokenResponse(t), mqtt_username: t.username, token_password: t.password, org_short_id: t.orgId };
}

/** A token as listed: everything but the password and its hash. */
export const TokenView = z
  .object({
    token_id: z.string(),
    organization_id: z.string(),
    user_id: z.string().nullable(),
    user_ref: z.string(),
    user_email: z.string().nullable(),
    username: z.string(),
    integration_id: z.string().nullable(),
    provider: z.string().openapi({ description: "`cloudsignal` for key-minted tokens, else the identity provider's name" }),
    api_key_id: z.string().nullable().openapi({ description: 'The API key that minted the token (null: the admin key, the dashboard, an exchange)' }),
    status: z.enum(['live', 'expired', 'revoked']),
    issued_at: z.string(),
    expires_at: z.string(),
    refreshed_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
    revoke_reason: z.string().nullable(),
  })
  .openapi('Token');

function tokenView(t: TokenRecord, user: User | undefined, now: number): z.infer<typeof TokenView> {
  return {
    token_id: t.id,
    organization_id: t.orgId,
    user_id: user?.userId ?? null,
    user_ref: t.userRef,
    user_email: user?.userEmail ?? null,
    username: mqttUsername(t.userRef, t.orgId),
    integration_id: t.integrationId,
    provider: t.provider ?? 'cloudsignal',
    api_key_id: t.apiKeyId,
    status: tokenState(t, now),
    issued_at: new Date(t.issuedAt).toISOString(),
    expires_at: new Date(t.expiresAt).toISOString(),
    refreshed_at: isoOrNull(t.refreshedAt),
    revoked_at: isoOrNull(t.revokedAt),
    revoke_reason: t.revokeReason,
  };
}

/** Tokens as listed, with their users' ids and emails (each user read once, not once per token). */
export async function tokenViews(services: Services, tokens: readonly TokenRecord[], now = Date.now()): Promise<z.infer<typeof TokenView>[]> {
  const userOf = await usersOf(services, tokens);
  return tokens.map((t) => tokenView(t, userOf(t), now));
}

/** One token as listed. */
export async function tokenViewOf(services: Services, t: TokenRecord, now = Date.now()): Promise<z.infer<typeof TokenView>> {
  return tokenView(t, await services.store.users.byRef(t.orgId, t.userRef), now);
}

export const TokenList = z.object({ tokens: z.array(TokenView) }).openapi('TokenList');
