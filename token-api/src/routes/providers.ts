// Identity providers: the public list the official SDK's getProviders() reads, and their management
// under the admin API (admin key, or the organisation's own key).
import { PROVIDER_TYPES } from '@signalgate/shared';
import { z } from '../http/openapi.js';
import { defineRoute, type RouteDef } from '../http/route.js';
import type { RouteDeps } from '../http/deps.js';
import { ProviderView, PublicProviderView, providerView, publicProviderView } from '../views/admin.js';
import { Deleted, MANAGEMENT, OrgParams } from './admin/params.js';

const ProvidersQuery = z.object({
  organization_id: z.string().max(64).openapi({ description: 'The short id or the UUID' }),
});
const ProviderParams = OrgParams.extend({ provider: z.string().max(100) });
const AddProviderRequest = z.object({
  name: z.string().max(100).optional().openapi({ description: 'Answered as `provider`; default: the type' }),
  type: z.enum(PROVIDER_TYPES),
  issuer: z.string().max(2048).openapi({ example: 'https://abcd.supabase.co/auth/v1' }),
  jwks_url: z.string().max(2048).optional().openapi({ description: "Default: the type's preset (OIDC: discovery)" }),
  secret: z.string().max(4096).optional().openapi({ description: 'Shared HMAC secret (Supabase legacy HS256); never answered back' }),
  audience: z.string().max(512).optional(),
  user_id_claim: z.string().max(100).optional().openapi({ description: 'Default: sub' }),
  email_claim: z.string().max(100).optional().openapi({ description: 'Default: email' }),
}).openapi('AddProviderRequest');

export function providerRoutes({ services, auth, orgAccess: access }: RouteDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'get', path: '/v2/providers', tags: ['tokens'],
      summary: "The organization's identity providers, whose JWTs /v2/tokens/exchange accepts (no secrets)",
      query: ProvidersQuery, response: z.object({ providers: z.array(PublicProviderView) }).openapi('ProviderList'), errors: [400, 404],
      async handle({ query }) {
        const org = await services.orgs.get(query.organization_id);
        return { providers: (await services.providers.list(org.id)).map(publicProviderView) };
      },
    }),
    defineRoute({
      method: 'get', path: '/v2/admin/orgs/{org_id}/providers', tags: ['admin'], security: MANAGEMENT, summary: 'List identity providers',
      authenticate: (req) => auth.management(req), params: OrgParams, response: z.object({ providers: z.array(ProviderView) }), errors: [401, 403, 404],
      async handle({ auth: caller, params }) {
        await access(caller, params.org_id);
        return { providers: (await services.providers.list(params.org_id)).map(providerView) };
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/admin/orgs/{org_id}/providers', tags: ['admin'], security: MANAGEMENT, status: 201,
      summary: 'Trust an identity provider: its JWTs may be exchanged for MQTT credentials',
      authenticate: (req) => auth.management(req), params: OrgParams, body: AddProviderRequest, response: ProviderView, errors: [400, 401, 403, 404, 409],
      async handle({ auth: caller, params, body }) {
        await access(caller, params.org_id);
        return providerView(await services.providers.add(params.org_id, {
          name: body.name, type: body.type, issuer: body.issuer, jwksUrl: body.jwks_url, secret: body.secret,
          audience: body.audience, userIdClaim: body.user_id_claim, emailClaim: body.email_claim,
        }, caller.kind === 'admin' ? 'operator' : 'organization'));
      },
    }),
    defineRoute({
      method: 'delete', path: '/v2/admin/orgs/{org_id}/providers/{provider}', tags: ['admin'], security: MANAGEMENT,
      summary: 'Stop trusting an identity provider (tokens already exchanged stay valid until they expire or are revoked)',
      authenticate: (req) => auth.management(req), params: ProviderParams, response: Deleted, errors: [401, 403, 404],
      async handle({ auth: caller, params }) {
        await access(caller, params.org_id);
        await services.providers.remove(params.org_id, params.provider);
        return { deleted: true as const };
      },
    }),
  ];
}
