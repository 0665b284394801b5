// Token introspection: `GET /v2/tokens/self` with a tkn_ password as Bearer describes its token
// (username, token_id, expiry; never the password). Browser pages call it (CORS: http/cors.ts).
import { SignalGateError, credentialKindOf, mqttUsername, refreshRecommendedAt } from '@signalgate/shared';
import { z } from '../http/openapi.js';
import { defineRoute, type RouteDef } from '../http/route.js';
import type { RouteDeps } from '../http/deps.js';
import { bearerOf } from '../http/callers.js';
import { isoSeconds } from '../views/time.js';

const TokenSelf = z
  .object({
    token_id: z.string().openapi({ format: 'uuid' }),
    username: z.string().openapi({ example: 'u7k2m9x4p1q8@org_k7xm4pqr2n5t' }),
    organization_id: z.string(),
    user_id: z.string(),
    user_email: z.string().nullable(),
    expires_at: z.string().openapi({ example: '2026-03-27T14:00:00Z' }),
    refresh_recommended_at: z.string().openapi({ example: '2026-03-27T13:54:00Z' }),
    expires_in: z.number().int(),
  })
  .openapi('TokenSelf');

export function tokenSelfRoutes({ auth }: RouteDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'get', path: '/v2/tokens/self', tags: ['tokens'], security: ['mqttCredential'],
      summary: 'Describe the live MQTT credential given as Bearer tkn_… (username, token_id, expiry; never the password)',
      authenticate: async (req) => {
        // Only an MQTT password: an org key is not a token and has no "self".
        if (credentialKindOf(bearerOf(req) ?? '') !== 'mqtt_password') throw new SignalGateError('unauthorized', 'Authorization: Bearer tkn_… (a live MQTT password) is required');
        const caller = await auth.reader(req);
        if (caller.kind !== 'mqtt') throw new SignalGateError('unauthorized', 'invalid, expired or revoked MQTT credential');
        return caller;
      },
      response: TokenSelf, errors: [401, 429],
      handle({ auth: { token, user } }) {
        return {
          token_id: token.id,
          username: mqttUsername(token.userRef, token.orgId),
          organization_id: token.orgId,
          user_id: user.userId,
          user_email: user.userEmail,
          expires_at: isoSeconds(token.expiresAt),
          refresh_recommended_at: isoSeconds(refreshRecommendedAt(token.refreshedAt ?? token.issuedAt, token.expiresAt)),
          expires_in: Math.max(0, Math.round((token.expiresAt - Date.now()) / 1000)),
        };
      },
    }),
  ];
}
