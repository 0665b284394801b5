// The token routes: the documented mint shapes (seeds 000–003), the v1 shape (ai-chat), the
// identity-provider exchange (the official SDK's externalToken), refresh, revoke, list.
import type { Request } from 'express';
import { PERMISSIONS, SignalGateError, type IssuedToken } from '@signalgate/shared';
import { z } from '../http/openapi.js';
import { defineRoute, type RouteDef } from '../http/route.js';
import type { RouteDeps } from '../http/deps.js';
import type { OrgCaller } from '../http/callers.js';
import { requestContextOf } from '../http/requestContext.js';
import { TokenList, TokenResponse, TokenResponseV1, TokenView, tokenResponse, tokenResponseV1, tokenViewOf, tokenViews } from '../views/tokens.js';

const Filters = z.array(z.string().max(65535)).max(256);

/** Scope and lifetime fields every mint shape accepts (null is treated as absent). */
const mintOptions = {
  ttl_seconds: z.number().int().positive().nullish().openapi({ description: 'Lifetime in seconds (default: the org default, 3600)' }),
  ttl: z.number().int().positive().nullish().openapi({ description: 'Alias of ttl_seconds (seed 000)' }),
  permissions: z.array(z.enum(PERMISSIONS)).nullish(),
  topics: Filters.nullish().openapi({ description: 'MQTT filters the permissions apply to' }),
  acl: z.object({ publish: Filters.nullish(), subscribe: Filters.nullish() }).nullish(),
  integration_id: z.string().max(128).nullish(),
  replace_existing: z.boolean().nullish(),
};

const CreateTokenRequest = z
  .object({
    organization_id: z.string().max(64).openapi({ example: 'org_k7xm4pqr2n5t', description: 'The short id or the UUID' }),
    secret_key: z.string().max(512).openapi({ example: 'sk_…' }),
    user_email: z.string().max(320).openapi({ example: 'user@example.com' }),
    user_id: z.string().max(256).nullish(),
    ...mintOptions,
  })
  .openapi('CreateTokenRequest');

const MintTokenRequest = z
  .object({
    user_id: z.string().max(256).nullish().openapi({ example: 'user-123' }),
    user_email: z.string().max(320).nullish(),
    organization_id: z.string().max(64).nullish().openapi({ description: 'Optional: the key determines the organization' }),
    secret_key: z.string().max(512).nullish().openapi({ description: 'Only when no Authorization header is sent' }),
    ...mintOptions,
  })
  .openapi('MintTokenRequest');

const ExchangeTokenRequest = z
  .object({
    organization_id: z.string().max(64).openapi({ example: 'org_k7xm4pqr2n5t', description: 'The short id or the UUID' }),
    token: z.string().max(16_384).openapi({ description: "An identity provider's JWT (Supabase, Firebase, Auth0, Clerk, OIDC) or a SignalGate access_token" }),
    integration_id: z.string().max(128).nullish(),
  })
  .openapi('ExchangeTokenRequest');

const RefreshTokenRequest = z
  .object({ token_id: z.string().max(100), current_token_password: z.string().max(512) })
  .openapi('RefreshTokenRequest');

const TokenIdParams = z.object({ token_id: z.string().max(100) });
const ListQuery = z.object({
  user_id: z.string().max(320).optional(),
  user_email: z.string().max(320).optional(),
  live: z.enum(['true', 'false', '1', '0']).optional(),
});

type MintOptions = z.infer<z.ZodObject<typeof mintOptions>>;
const orUndefined = <T>(v: T | null | undefined) => (v === null ? undefined : v);

export function tokenRoutes({ services, limits, auth, metrics }: RouteDeps): RouteDef[] {
  const mintErrors = [400, 401, 403, 404, 413, 415, 429];

  /** The shared mint path: per-key rate limit, org check (the key decides the org), mint, metrics. */
  async function mint(req: Request, key: OrgCaller, who: { userId?: string | null; userEmail?: string | null; orgId?: string | null }, o: MintOptions) {
    await limits.consumeForKey(key.apiKeyId);
    // organization_id may be either id of the key's org.
    if (who.orgId != null) {
      const named = await services.store.orgs.byRef(who.orgId);
      if (!named) throw new SignalGateError('organization_not_found', `organization ${who.orgId} not found`);
      if (named.id !== key.orgId) throw new SignalGateError('wrong_organization', 'the secret key does not belong to organization_id');
    }
    const issued: IssuedToken = await services.tokens.mint(
      {
        orgId: key.orgId,
        userId: orUndefined(who.userId),
        userEmail: orUndefined(who.userEmail),
        ttlSeconds: orUndefined(o.ttl_seconds) ?? orUndefined(o.ttl),
        permissions: orUndefined(o.permissions),
        topics: orUndefined(o.topics),
        acl: o.acl == null ? undefined : { publish: orUndefined(o.acl.publish), subscribe: orUndefined(o.acl.subscribe) },
        integrationId: orUndefined(o.integration_id),
        replaceExisting: orUndefined(o.replace_existing),
      },
      requestContextOf(req, key.apiKeyId),
    );
    return counted(issued);
  }

  /** /v2/tokens/create and /v1/create: the key and the user in the body. */
  async function createFromBody(req: Request, body: z.output<typeof CreateTokenRequest>) {
    const key = await auth.secretKey(req, body.secret_key);
    return mint(req, key, { userId: body.user_id, userEmail: body.user_email, orgId: body.organization_id }, body);
  }

  function counted(issued: IssuedToken): IssuedToken {
    metrics.tokensMinted.inc();
    if (issued.replacedTokenIds.length > 0) metrics.tokensRevoked.inc(issued.replacedTokenIds.length);
    return issued;
  }

  return [
    defineRoute({
      method: 'post', path: '/v2/tokens/create', tags: ['tokens'],
      summary: 'Mint an MQTT credential with the secret key in the body (seeds 000/002)',
      before: [limits.mintPerIp], body: CreateTokenRequest, response: TokenResponse, errors: mintErrors,
      handle: async ({ req, body }) => tokenResponse(await createFromBody(req, body)),
    }),
    defineRoute({
      method: 'post', path: '/v1/create', tags: ['tokens'],
      summary: 'The v1 shape of /v2/tokens/create (CloudSignal ai-chat): adds mqtt_username, token_password, org_short_id',
      before: [limits.mintPerIp], body: CreateTokenRequest, response: TokenResponseV1, errors: mintErrors,
      handle: async ({ req, body }) => tokenResponseV1(await createFromBody(req, body)),
    }),
    defineRoute({
      method: 'post', path: '/v2/tokens/exchange', tags: ['tokens'],
      summary: "Exchange an identity provider's JWT (or a SignalGate access_token) for MQTT credentials",
      before: [limits.mintPerIp], body: ExchangeTokenRequest, response: TokenResponse, errors: [400, 401, 404, 413, 415, 429],
      async handle({ req, body }) {
        const org = await services.orgs.get(body.organization_id);
        // Like create: per address (mintPerIp), every refused token against the address's failure
        // budget, and per credential: here the organisation (this call has no key), charged only
        // for a verified identity so that garbage cannot use up an organisation's budget.
        const { issued, minted } = await limits.guardAuth(req, () => services.exchange.exchange({
          orgId: org.id, token: body.token, integrationId: orUndefined(body.integration_id),
          beforeMint: () => limits.consumeForKey(`exchange:${org.id}`),
        }, requestContextOf(req)));
        return tokenResponse(minted ? counted(issued) : issued);
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/tokens', tags: ['tokens'], security: ['orgKey'],
      summary: 'Mint an MQTT credential with Authorization: Bearer sk_… (seeds 001/003)',
      before: [limits.mintPerIp], body: MintTokenRequest, response: TokenResponse, errors: mintErrors,
      async handle({ req, body }) {
        const key = await auth.orgKey(req, orUndefined(body.secret_key));
        return tokenResponse(await mint(req, key, { userId: body.user_id, userEmail: body.user_email, orgId: body.organization_id }, body));
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/tokens/refresh', tags: ['tokens'],
      summary: 'Rotate the password of a live token and extend its expiry (proof of possession, seed 002)',
      before: [limits.mintPerIp], body: RefreshTokenRequest, response: TokenResponse, errors: [400, 401, 404, 413, 415, 429],
      async handle({ req, body }) {
        const issued = await limits.guardAuth(req, () =>
          services.tokens.refresh(body.token_id, body.current_token_password, requestContextOf(req)));
        metrics.tokensRefreshed.inc();
        return tokenResponse(issued);
      },
    }),
    defineRoute({
      method: 'get', path: '/v2/tokens', tags: ['tokens'], security: ['orgKey'],
      summary: "List the organization's tokens, or one user's (never passwords)",
      authenticate: (req) => auth.orgKey(req), query: ListQuery, response: TokenList, errors: [400, 401],
      async handle({ auth: key, query }) {
        const liveOnly = query.live === 'true' || query.live === '1';
        const user = query.user_id ?? query.user_email;
        const now = Date.now();
        return { tokens: await tokenViews(services, await services.tokens.list(key.orgId, { user, liveOnly }), now) };
      },
    }),
    defineRoute({
      method: 'get', path: '/v2/tokens/{token_id}', tags: ['tokens'], security: ['orgKey'],
      summary: 'One token of the organization (never its password)',
      authenticate: (req) => auth.orgKey(req), params: TokenIdParams, response: TokenView, errors: [401, 404],
      async handle({ auth: key, params }) {
        return tokenViewOf(services, await services.tokens.get(key.orgId, params.token_id));
      },
    }),
    defineRoute({
      method: 'delete', path: '/v2/tokens/{token_id}', tags: ['tokens'], security: ['orgKey'],
      summary: 'Revoke a token; its live sessions end within a second',
      authenticate: (req) => auth.orgKey(req), params: TokenIdParams, response: TokenView, errors: [401, 404],
      async handle({ auth: key, params, req }) {
        const wasRevoked = (await services.tokens.get(key.orgId, params.token_id)).revokedAt !== null;
        const t = await services.tokens.revoke(key.orgId, params.token_id, 'revoked', requestContextOf(req, key.apiKeyId));
        if (!wasRevoked) metrics.tokensRevoked.inc();
        return tokenViewOf(services, t);
      },
    }),
  ];
}
