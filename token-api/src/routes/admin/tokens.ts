// Tokens of an organisation for operators and dashboards: list, revoke one, revoke all of a user.
import { SignalGateError } from '@signalgate/shared';
import { z } from '../../http/openapi.js';
import { defineRoute, type RouteDef } from '../../http/route.js';
import type { RouteDeps } from '../../http/deps.js';
import { assertOrgAccess } from '../../http/callers.js';
import { requestContextOf } from '../../http/requestContext.js';
import { TokenList, TokenView, tokenViewOf, tokenViews } from '../../views/tokens.js';
import { MANAGEMENT, OrgParams } from './params.js';

const ListQuery = z.object({
  user: z.string().max(320).optional().openapi({ description: 'user_id, user_email or user_ref' }),
  live: z.enum(['true', 'false', '1', '0']).optional(),
});
const TokenParams = OrgParams.extend({ token_id: z.string().max(100) });
const UserParams = OrgParams.extend({ user: z.string().max(320).openapi({ description: 'user_id, user_email or user_ref' }) });

export function adminTokenRoutes({ services, auth, metrics, orgAccess: access }: RouteDeps): RouteDef[] {
  const keyIdOf = (caller: Parameters<typeof assertOrgAccess>[0]) => (caller.kind === 'org' ? caller.apiKeyId : undefined);
  return [
    defineRoute({
      method: 'get', path: '/v2/admin/orgs/{org_id}/tokens', tags: ['admin'], security: MANAGEMENT, summary: 'List tokens (never passwords)',
      authenticate: (req) => auth.management(req), params: OrgParams, query: ListQuery, response: TokenList, errors: [400, 401, 403, 404],
      async handle({ auth: caller, params, query }) {
        await access(caller, params.org_id);
        const now = Date.now();
        const liveOnly = query.live === 'true' || query.live === '1';
        return { tokens: await tokenViews(services, await services.tokens.list(params.org_id, { user: query.user, liveOnly }), now) };
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/admin/orgs/{org_id}/tokens/{token_id}/revoke', tags: ['admin'], security: MANAGEMENT,
      summary: 'Revoke a token; its sessions end within a second',
      authenticate: (req) => auth.management(req), params: TokenParams, response: TokenView, errors: [401, 403, 404],
      async handle({ auth: caller, params, req }) {
        await access(caller, params.org_id);
        const wasRevoked = (await services.tokens.get(params.org_id, params.token_id)).revokedAt !== null;
        const t = await services.tokens.revoke(params.org_id, params.token_id, 'revoked', requestContextOf(req, keyIdOf(caller)));
        if (!wasRevoked) metrics.tokensRevoked.inc();
        return tokenViewOf(services, t);
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/admin/orgs/{org_id}/users/{user}/revoke-tokens', tags: ['admin'], security: MANAGEMENT,
      summary: "Revoke every live token of a user (e.g. the user left)",
      authenticate: (req) => auth.management(req), params: UserParams, response: z.object({ revoked: z.array(z.string()) }), errors: [401, 403, 404],
      async handle({ auth: caller, params, req }) {
        await access(caller, params.org_id);
        const user = await services.tokens.findUser(params.org_id, params.user);
        if (!user) throw new SignalGateError('not_found', `user '${params.user}' not found in ${params.org_id}`);
        const revoked = await services.tokens.revokeUser(params.org_id, user.userRef, 'revoked', requestContextOf(req, keyIdOf(caller)));
        if (revoked.length > 0) metrics.tokensRevoked.inc(revoked.length);
        return { revoked };
      },
    }),
  ];
}
