// Integrations: caller-chosen tags (seed 000's integration_id) bound to a rule set.
import { z } from '../../http/openapi.js';
import { defineRoute, type RouteDef } from '../../http/route.js';
import type { RouteDeps } from '../../http/deps.js';
import { IntegrationView, integrationViews } from '../../views/admin.js';
import { Deleted, MANAGEMENT, OrgParams } from './params.js';

const IntegrationParams = OrgParams.extend({ integration_id: z.string().max(128) });
const CreateIntegrationRequest = z.object({
  integration_id: z.string().max(128).openapi({ example: 'web-app' }),
  rule_set: z.string().max(100).openapi({ description: 'Rule set id or name' }),
  description: z.string().max(500).optional(),
}).openapi('CreateIntegrationRequest');

export function adminIntegrationRoutes({ services, auth, orgAccess: access }: RouteDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'get', path: '/v2/admin/orgs/{org_id}/integrations', tags: ['admin'], security: MANAGEMENT, summary: 'List integrations',
      authenticate: (req) => auth.management(req), params: OrgParams, response: z.object({ integrations: z.array(IntegrationView) }), errors: [401, 403, 404],
      async handle({ auth: caller, params }) {
        await access(caller, params.org_id);
        return { integrations: await integrationViews(services, params.org_id, await services.integrations.list(params.org_id)) };
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/admin/orgs/{org_id}/integrations', tags: ['admin'], security: MANAGEMENT, status: 201,
      summary: 'Bind an integration id to a rule set',
      authenticate: (req) => auth.management(req), params: OrgParams, body: CreateIntegrationRequest, response: IntegrationView, errors: [400, 401, 403, 404, 409],
      async handle({ auth: caller, params, body }) {
        await access(caller, params.org_id);
        const created = await services.integrations.create(params.org_id, body.integration_id, body.rule_set, body.description ?? null);
        const [view] = await integrationViews(services, params.org_id, [created]);
        return view;
      },
    }),
    defineRoute({
      method: 'delete', path: '/v2/admin/orgs/{org_id}/integrations/{integration_id}', tags: ['admin'], security: MANAGEMENT,
      summary: 'Delete an integration (its tokens then grant nothing)',
      authenticate: (req) => auth.management(req), params: IntegrationParams, response: Deleted, errors: [401, 403, 404],
      async handle({ auth: caller, params }) {
        await access(caller, params.org_id);
        await services.integrations.delete(params.org_id, params.integration_id);
        return { deleted: true as const };
      },
    }),
  ];
}
