// Organisations: created and listed by the operator; read and tuned (TTL bounds) by the org's own
// key too. Broker limits protect the whole server, so only the operator sets them.
import { limitsFromFields, ORG_LIMITS, SignalGateError, type OrgSettings } from '@signalgate/shared';
import { z } from '../../http/openapi.js';
import { defineRoute, type RouteDef } from '../../http/route.js';
import type { RouteDeps } from '../../http/deps.js';
import { adminOnly, assertOrgAccess } from '../../http/callers.js';
import { OrgView, orgView } from '../../views/admin.js';
import { ADMIN_ONLY, MANAGEMENT, OrgParams } from './params.js';

const CreateOrgRequest = z.object({ name: z.string().min(1).max(200).openapi({ example: 'Acme' }) }).openapi('CreateOrgRequest');
const CreatedOrg = z.object({
  organization_id: z.string(),
  secret_key: z.string().openapi({ description: 'Shown once; only an argon2id hash is stored' }),
  key_id: z.string(),
  organization: OrgView,
}).openapi('CreatedOrg');

const limit = z.number().int().positive().nullable().optional();
const UpdateOrgRequest = z.object({
  name: z.string().min(1).max(200).optional(),
  default_ttl_seconds: z.number().int().positive().optional(),
  min_ttl_seconds: z.number().int().positive().optional(),
  max_ttl_seconds: z.number().int().positive().optional(),
  max_token_lifetime_seconds: z.number().int().positive().optional()
    .openapi({ description: 'How long a token lives from its mint however often it is refreshed (at least max_ttl_seconds; default 604800)' }),
  limits: z.object(Object.fromEntries(ORG_LIMITS.map((l) => [l.field, limit.openapi({ description: l.help })])))
    .optional().openapi({ description: 'Broker limits and quotas (admin key only); null removes a limit' }),
}).openapi('UpdateOrgRequest');

function settingsOf(body: z.infer<typeof UpdateOrgRequest>): OrgSettings {
  const s: OrgSettings = {};
  if (body.name !== undefined) s.name = body.name;
  if (body.default_ttl_seconds !== undefined) s.defaultTtlSeconds = body.default_ttl_seconds;
  if (body.min_ttl_seconds !== undefined) s.minTtlSeconds = body.min_ttl_seconds;
  if (body.max_ttl_seconds !== undefined) s.maxTtlSeconds = body.max_ttl_seconds;
  if (body.max_token_lifetime_seconds !== undefined) s.maxTokenLifetimeSeconds = body.max_token_lifetime_seconds;
  if (body.limits) s.limits = limitsFromFields(body.limits);
  return s;
}

export function adminOrgRoutes({ services, auth }: RouteDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'post', path: '/v2/admin/orgs', tags: ['admin'], security: ADMIN_ONLY, status: 201,
      summary: 'Create an organization and its first secret key (shown once)',
      authenticate: (req) => adminOnly(auth.management(req)), body: CreateOrgRequest, response: CreatedOrg, errors: [400, 401, 403],
      async handle({ body }) {
        const { org, secretKey, key } = await services.orgs.create(body.name);
        return { organization_id: org.id, secret_key: secretKey, key_id: key.id, organization: orgView(org) };
      },
    }),
    defineRoute({
      method: 'get', path: '/v2/admin/orgs', tags: ['admin'], security: MANAGEMENT,
      summary: 'List organizations (an org key sees only its own)',
      authenticate: (req) => auth.management(req), response: z.object({ organizations: z.array(OrgView) }), errors: [401],
      async handle({ auth: caller }) {
        const orgs = caller.kind === 'admin' ? await services.orgs.list() : [await services.orgs.get(caller.orgId)];
        return { organizations: orgs.map(orgView) };
      },
    }),
    defineRoute({
      method: 'get', path: '/v2/admin/orgs/{org_id}', tags: ['admin'], security: MANAGEMENT, summary: 'One organization and its settings',
      authenticate: (req) => auth.management(req), params: OrgParams, response: OrgView, errors: [401, 403, 404],
      async handle({ auth: caller, params }) {
        assertOrgAccess(caller, params.org_id);
        return orgView(await services.orgs.get(params.org_id));
      },
    }),
    defineRoute({
      method: 'patch', path: '/v2/admin/orgs/{org_id}', tags: ['admin'], security: MANAGEMENT,
      summary: 'Update name, TTL bounds (min/default/max) and, with the admin key, broker limits',
      authenticate: (req) => auth.management(req), params: OrgParams, body: UpdateOrgRequest, response: OrgView, errors: [400, 401, 403, 404],
      async handle({ auth: caller, params, body }) {
        assertOrgAccess(caller, params.org_id);
        if (body.limits !== undefined && caller.kind !== 'admin') throw new SignalGateError('forbidden', 'limits can only be changed with the admin key');
        return orgView(await services.orgs.update(params.org_id, settingsOf(body)));
      },
    }),
  ];
}
