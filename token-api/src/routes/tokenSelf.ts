// Token introspection for the client SDK. Seeds 000/002 hand the browser only `access_token` (the
// tkn_ password), yet MQTT needs the username too, and auto-refresh needs the token_id: the SDK asks
// `GET /v2/tokens/self` with the password as Bearer. The password is the whole authority here (no
// cookies), so the two routes a browser SDK calls directly answer CORS from any origin: a page that
// could call them already holds the credential they act on.
import type { RequestHandler } from 'express';
import { SignalGateError } from '@signalgate/shared';
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

/** Same rule as a mint's answer: 90 % into the current lifetime (which a refresh restarts). */
const REFRESH_FRACTION = 0.9;

export function tokenSelfRoutes({ auth }: RouteDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'get', path: '/v2/tokens/self', tags: ['tokens'], security: ['mqttCredential'],
      summary: 'Describe the live MQTT credential given as Bearer tkn_… (username, token_id, expiry; never the password)',
      authenticate: async (req) => {
        // Only an MQTT password: an org key is not a token and has no "self".
        if (!/^tkn_/.test(bearerOf(req) ?? '')) throw new SignalGateError('unauthorized', 'Authorization: Bearer tkn_… (a live MQTT password) is required');
        const caller = await auth.reader(req);
        if (caller.kind !== 'mqtt') throw new SignalGateError('unauthorized', 'invalid, expired or revoked MQTT credential');
        return caller;
      },
      response: TokenSelf, errors: [401, 429],
      handle({ auth: { token, user } }) {
        const start = token.refreshedAt ?? token.issuedAt;
        const lifetime = token.expiresAt - start;
        return {
          token_id: token.id,
          username: `${token.userRef}@${token.orgId}`,
          organization_id: token.orgId,
          user_id: user.userId,
          user_email: user.userEmail,
          expires_at: isoSeconds(token.expiresAt),
          refresh_recommended_at: isoSeconds(start + Math.floor(lifetime * REFRESH_FRACTION)),
          expires_in: Math.max(0, Math.round((token.expiresAt - Date.now()) / 1000)),
        };
      },
    }),
  ];
}

const BROWSER_SDK_PATHS = new Set(['/v2/tokens/self', '/v2/tokens/refresh']);

/** CORS for the routes the browser SDK calls itself (credential-authorised, never cookies). */
export const browserSdkCors: RequestHandler = (req, res, next) => {
  if (!BROWSER_SDK_PATHS.has(req.path)) return next();
  res.setHeader('Access-Control-Allow-Origin', '*');
  if (req.method !== 'OPTIONS') return next();
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
  res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
  res.setHeader('Access-Control-Max-Age', '600');
  res.status(204).end();
};
