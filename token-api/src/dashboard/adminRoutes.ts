// Admin API routes the dashboard needs beyond the management basics: explain an ACL decision
// ("test a topic"), mint a token for a user from the page, and the org's usage series. They take
// the same callers as every admin route (admin key, org key, or a dashboard session).
import { SignalGateError, explainDecision, isEmailAddress, layerOfRules, type NamedLayer, type PlaceholderValues } from '@signalgate/shared';
import { z } from '../http/openapi.js';
import { defineRoute, type RouteDef } from '../http/route.js';
import type { RouteDeps } from '../http/deps.js';
import { requestContextOf } from '../http/requestContext.js';
import { TokenResponse, tokenResponse } from '../views/tokens.js';
import { MANAGEMENT, OrgParams } from '../routes/admin/params.js';
import { usageSeries } from './usageSeries.js';

const ExplainRequest = z.object({
  action: z.enum(['publish', 'subscribe']),
  topic: z.string().min(1).max(65535).openapi({ description: 'Topic name (publish) or filter (subscribe)', example: 'chat/room1' }),
  user: z.string().max(320).optional().openapi({ description: 'user_id or user_email (an existing user, or a would-be one)' }),
  client_id: z.string().max(256).optional().openapi({ description: 'For ${client_id} rules' }),
  integration_id: z.string().max(128).optional().openapi({ description: 'Add this integration’s rule set as a layer' }),
  token_id: z.string().max(100).optional().openapi({ description: 'Use this token’s layers (default, integration, its own scopes) and user' }),
}).openapi('ExplainRequest');

const LayerVerdict = z.object({
  layer: z.string(), allowed: z.boolean(), unrestricted: z.boolean(), filter: z.string().nullable(), expanded: z.string().nullable(), reason: z.string(),
});
const Explanation = z.object({
  action: z.enum(['publish', 'subscribe']),
  topic: z.string(),
  allowed: z.boolean(),
  decided_by: z.object({ layer: z.string().nullable(), filter: z.string().nullable(), reason: z.string() }),
  layers: z.array(LayerVerdict),
  user: z.object({ user_id: z.string().nullable(), user_email: z.string().nullable(), client_id: z.string().nullable() }),
}).openapi('AclExplanation');

const MintForUserRequest = z.object({
  user_id: z.string().max(256).optional(),
  user_email: z.string().max(320).optional(),
  integration_id: z.string().max(128).optional(),
  ttl_seconds: z.number().int().positive().optional(),
  replace_existing: z.boolean().optional(),
}).openapi('AdminMintRequest');

const UsageQuery = z.object({ minutes: z.coerce.number().int().min(1).max(24 * 60).optional().openapi({ description: 'Window, default 15' }) });
const Usage = z.object({
  organization_id: z.string(),
  bucket_seconds: z.number(),
  connections_now: z.number().int(),
  points: z.array(z.object({ at: z.string(), connections: z.number().int(), messages_per_second: z.number() })),
}).openapi('OrgUsage');


export function dashboardAdminRoutes({ services, auth, limits, metrics, config, orgAccess: access }: RouteDeps): RouteDef[] {

  /** The layers a token of this user would have, named for people. */
  async function layersFor(orgId: string, body: z.infer<typeof ExplainRequest>): Promise<{ layers: NamedLayer[]; values: PlaceholderValues; userId: string | null; email: string | null }> {
    const def = await services.rules.getDefault(orgId);
    const defaultName = `org default rule set '${def.name}'`;
    if (body.token_id !== undefined) {
      const token = await services.tokens.get(orgId, body.token_id);
      const user = await services.store.users.byRef(orgId, token.userRef);
      const all = await services.connect.layersOf(token);
      const names = [defaultName, ...(token.integrationId !== null ? [`integration '${token.integrationId}'`] : [])];
      const layers = all.map((layer, i) => ({ name: names[i] ?? `token scope ${i - names.length + 1}`, layer }));
      const values: PlaceholderValues = { ...(user ? { user_id: user.userId } : {}), ...(user?.userEmail ? { user_email: user.userEmail } : {}) };
      if (body.client_id !== undefined) values.client_id = body.client_id;
      return { layers, values, userId: user?.userId ?? null, email: user?.userEmail ?? null };
    }
    const layers: NamedLayer[] = [{ name: defaultName, layer: layerOfRules(def) }];
    if (body.integration_id !== undefined) {
      const integration = (await services.integrations.list(orgId)).find((i) => i.id === body.integration_id);
      if (!integration) throw new SignalGateError('integration_not_found', `integration '${body.integration_id}' not found in ${orgId}`);
      const rs = await services.rules.get(orgId, integration.ruleSetId);
      layers.push({ name: `integration '${integration.id}' (rule set '${rs.name}')`, layer: layerOfRules(rs) });
    }
    const known = body.user !== undefined ? await services.tokens.findUser(orgId, body.user) : undefined;
    const userId = known?.userId ?? (body.user !== undefined && !isEmailAddress(body.user) ? body.user : null);
    const email = known?.userEmail ?? (body.user !== undefined && isEmailAddress(body.user) ? body.user : null);
    const values: PlaceholderValues = {};
    // An unknown email-only user has no user_id yet (the mint will generate one): ${user_id} rules grant nothing here.
    if (userId !== null) values.user_id = userId;
    if (email !== null) values.user_email = email;
    if (body.client_id !== undefined) values.client_id = body.client_id;
    return { layers, values, userId, email };
  }

  return [
    defineRoute({
      method: 'post', path: '/v2/admin/orgs/{org_id}/acl/explain', tags: ['admin'], security: MANAGEMENT,
      summary: 'Would this user be allowed to publish/subscribe this topic? Names the layer and filter that decided',
      authenticate: (req) => auth.management(req), params: OrgParams, body: ExplainRequest, response: Explanation, errors: [400, 401, 403, 404],
      async handle({ auth: caller, params, body }) {
        await access(caller, params.org_id);
        const { layers, values, userId, email } = await layersFor(params.org_id, body);
        return { ...explainDecision(body.action, body.topic, layers, values), user: { user_id: userId, user_email: email, client_id: body.client_id ?? null } };
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/admin/orgs/{org_id}/tokens', tags: ['admin'], security: MANAGEMENT, status: 201,
      summary: "Mint a token for a user of the organization (the dashboard's \"mint\"; same body as the v2 mint response)",
      // Per address like every other mint (SIGNALGATE_MINT_RATE_PER_IP), and per key for an org key.
      before: [limits.mintPerIp],
      authenticate: (req) => auth.management(req), params: OrgParams, body: MintForUserRequest, response: TokenResponse, errors: [400, 401, 403, 404, 429],
      async handle({ auth: caller, params, body, req }) {
        await access(caller, params.org_id);
        if (caller.kind === 'org') await limits.consumeForKey(caller.apiKeyId);
        const issued = await services.tokens.mint(
          { orgId: params.org_id, userId: body.user_id, userEmail: body.user_email, integrationId: body.integration_id, ttlSeconds: body.ttl_seconds, replaceExisting: body.replace_existing },
          requestContextOf(req, caller.kind === 'org' ? caller.apiKeyId : undefined),
        );
        metrics.tokensMinted.inc();
        if (issued.replacedTokenIds.length > 0) metrics.tokensRevoked.inc(issued.replacedTokenIds.length);
        return tokenResponse(issued);
      },
    }),
    defineRoute({
      method: 'get', path: '/v2/admin/orgs/{org_id}/usage', tags: ['admin'], security: MANAGEMENT,
      summary: 'Connections and messages per second of the organization over a recent window (sampled by the brokers)',
      authenticate: (req) => auth.management(req), params: OrgParams, query: UsageQuery, response: Usage, errors: [400, 401, 403, 404],
      async handle({ auth: caller, params, query }) {
        await access(caller, params.org_id);
        const now = Date.now();
        const from = now - (query.minutes ?? 15) * 60_000;
        const { bucketMs, points } = usageSeries(await services.store.usage.since(params.org_id, from), from, now, config.usageSampleMs);
        const connectionsNow = (await services.sessions.list(params.org_id)).length;
        return {
          organization_id: params.org_id,
          bucket_seconds: bucketMs / 1000,
          connections_now: connectionsNow,
          points: points.map((p) => ({ at: new Date(p.at).toISOString(), connections: p.connections, messages_per_second: Math.round(p.messagesPerSecond * 100) / 100 })),
        };
      },
    }),
  ];
}
