// The audit trail: newest first, filtered by user and event, paged with before_id.
import { z } from '../../http/openapi.js';
import { defineRoute, type RouteDef } from '../../http/route.js';
import type { RouteDeps } from '../../http/deps.js';
import { adminOnly, assertOrgAccess } from '../../http/callers.js';
import { AuditView, auditView } from '../../views/admin.js';
import { ADMIN_ONLY, MANAGEMENT, OrgParams } from './params.js';

const AuditQuery = z.object({
  user: z.string().max(320).optional().openapi({ description: 'user_id or user_ref' }),
  event: z.string().max(64).optional().openapi({ example: 'token.minted' }),
  before_id: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional().openapi({ description: 'Default 100' }),
});
const AllAuditQuery = AuditQuery.extend({ organization_id: z.string().max(64).optional() });
const AuditPage = z.object({
  entries: z.array(AuditView),
  next_before_id: z.number().int().nullable().openapi({ description: 'Pass as before_id for the next page; null at the end' }),
}).openapi('AuditPage');

export function adminAuditRoutes({ services, auth }: RouteDeps): RouteDef[] {
  const page = async (q: z.infer<typeof AllAuditQuery>, orgId: string | undefined) => {
    const limit = q.limit ?? 100;
    const entries = await services.store.audit.query({ orgId, userId: q.user, event: q.event, beforeId: q.before_id, limit });
    return { entries: entries.map(auditView), next_before_id: entries.length === limit ? entries[entries.length - 1]!.id : null };
  };
  return [
    defineRoute({
      method: 'get', path: '/v2/admin/orgs/{org_id}/audit', tags: ['admin'], security: MANAGEMENT, summary: "The organization's audit trail",
      authenticate: (req) => auth.management(req), params: OrgParams, query: AuditQuery, response: AuditPage, errors: [400, 401, 403, 404],
      async handle({ auth: caller, params, query }) {
        assertOrgAccess(caller, params.org_id);
        await services.orgs.get(params.org_id);
        return page(query, params.org_id);
      },
    }),
    defineRoute({
      method: 'get', path: '/v2/admin/audit', tags: ['admin'], security: ADMIN_ONLY, summary: 'The audit trail of every organization (incl. failed authentications)',
      authenticate: (req) => adminOnly(auth.management(req)), query: AllAuditQuery, response: AuditPage, errors: [400, 401, 403],
      async handle({ query }) {
        // Either id filters; an unknown one simply matches nothing.
        const ref = query.organization_id;
        return page(query, ref === undefined ? undefined : (await services.store.orgs.byRef(ref))?.id ?? ref);
      },
    }),
  ];
}
