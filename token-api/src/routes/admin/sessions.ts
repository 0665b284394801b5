// Live MQTT sessions (written by the broker) and the kick request.
import { z } from '../../http/openapi.js';
import { defineRoute, type RouteDef } from '../../http/route.js';
import type { RouteDeps } from '../../http/deps.js';
import { requestContextOf } from '../../http/requestContext.js';
import { SessionView, sessionViews } from '../../views/admin.js';
import { MANAGEMENT, OrgParams } from './params.js';

const SessionParams = OrgParams.extend({ client_id: z.string().max(65535) });

export function adminSessionRoutes({ services, auth, orgAccess: access }: RouteDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'get', path: '/v2/admin/orgs/{org_id}/sessions', tags: ['admin'], security: MANAGEMENT, summary: 'Live MQTT sessions of the organization',
      authenticate: (req) => auth.management(req), params: OrgParams, response: z.object({ sessions: z.array(SessionView) }), errors: [401, 403, 404],
      async handle({ auth: caller, params }) {
        await access(caller, params.org_id);
        return { sessions: await sessionViews(services, await services.sessions.list(params.org_id)) };
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/admin/orgs/{org_id}/sessions/{client_id}/kick', tags: ['admin'], security: MANAGEMENT,
      summary: 'Disconnect a client (the broker holding it acts within a second)',
      authenticate: (req) => auth.management(req), params: SessionParams, response: z.object({ kicked: SessionView }), errors: [401, 403, 404],
      async handle({ auth: caller, params, req }) {
        await access(caller, params.org_id);
        const [kicked] = await sessionViews(services, [await services.sessions.kick(params.org_id, params.client_id, requestContextOf(req))]);
        return { kicked };
      },
    }),
  ];
}
