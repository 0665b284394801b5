// Rule sets: the org default (PUT …/rules/default) and named sets that integrations bind to.
// Filter validation (structure, placeholders, reserved `$`) is the shared RuleService's.
import { NAME_PATTERN, NAME_RULE } from '@signalgate/shared';
import { z } from '../../http/openapi.js';
import { defineRoute, type RouteDef } from '../../http/route.js';
import type { RouteDeps } from '../../http/deps.js';
import { RuleSetView, ruleSetView } from '../../views/admin.js';
import { Deleted, MANAGEMENT, OrgParams } from './params.js';

const RuleSetParams = OrgParams.extend({ rule_set: z.string().max(100).openapi({ description: 'Rule set id or name' }) });
const Filters = z.array(z.string().max(65535)).max(256);
const RulesBody = z.object({
  publish: Filters.openapi({ example: ['chat/#'] }),
  subscribe: Filters.openapi({ example: ['chat/#', 'users/${user_id}/#'] }),
  presence: z.boolean().optional().openapi({ description: 'Default false' }),
  history: z.boolean().optional().openapi({ description: 'Default false' }),
  deny_publish: Filters.optional().openapi({ description: 'Filters publishing is denied on, whatever the allow lists say (default none)', example: ['admin/#'] }),
  deny_subscribe: Filters.optional().openapi({ description: 'A subscription that could receive a topic of these filters is refused (default none)', example: ['admin/#'] }),
}).openapi('Rules');
const CreateRuleSetRequest = RulesBody.extend({
  name: z.string().regex(NAME_PATTERN, NAME_RULE),
}).openapi('CreateRuleSetRequest');

const rulesOf = (b: z.infer<typeof RulesBody>) => ({
  publish: b.publish, subscribe: b.subscribe, presence: b.presence ?? false, history: b.history ?? false,
  denyPublish: b.deny_publish ?? [], denySubscribe: b.deny_subscribe ?? [],
});

export function adminRuleRoutes({ services, auth, orgAccess: access }: RouteDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'get', path: '/v2/admin/orgs/{org_id}/rules', tags: ['admin'], security: MANAGEMENT, summary: 'List rule sets (default first)',
      authenticate: (req) => auth.management(req), params: OrgParams, response: z.object({ rule_sets: z.array(RuleSetView) }), errors: [401, 403, 404],
      async handle({ auth: caller, params }) {
        await access(caller, params.org_id);
        return { rule_sets: (await services.rules.list(params.org_id)).map(ruleSetView) };
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/admin/orgs/{org_id}/rules', tags: ['admin'], security: MANAGEMENT, status: 201, summary: 'Create a named rule set',
      authenticate: (req) => auth.management(req), params: OrgParams, body: CreateRuleSetRequest, response: RuleSetView, errors: [400, 401, 403, 404, 409],
      async handle({ auth: caller, params, body }) {
        await access(caller, params.org_id);
        return ruleSetView(await services.rules.create(params.org_id, body.name, rulesOf(body)));
      },
    }),
    // Declared before the generic `{rule_set}` route so it documents (and matches) on its own.
    defineRoute({
      method: 'put', path: '/v2/admin/orgs/{org_id}/rules/default', tags: ['admin'], security: MANAGEMENT,
      summary: "Replace the organization's default rule set (every token's upper bound)",
      authenticate: (req) => auth.management(req), params: OrgParams, body: RulesBody, response: RuleSetView, errors: [400, 401, 403, 404],
      async handle({ auth: caller, params, body }) {
        await access(caller, params.org_id);
        return ruleSetView(await services.rules.setDefault(params.org_id, rulesOf(body)));
      },
    }),
    defineRoute({
      method: 'get', path: '/v2/admin/orgs/{org_id}/rules/{rule_set}', tags: ['admin'], security: MANAGEMENT, summary: 'One rule set',
      authenticate: (req) => auth.management(req), params: RuleSetParams, response: RuleSetView, errors: [401, 403, 404],
      async handle({ auth: caller, params }) {
        await access(caller, params.org_id);
        return ruleSetView(await services.rules.get(params.org_id, params.rule_set));
      },
    }),
    defineRoute({
      method: 'put', path: '/v2/admin/orgs/{org_id}/rules/{rule_set}', tags: ['admin'], security: MANAGEMENT,
      summary: "Replace a rule set's rules; connected clients are re-evaluated",
      authenticate: (req) => auth.management(req), params: RuleSetParams, body: RulesBody, response: RuleSetView, errors: [400, 401, 403, 404],
      async handle({ auth: caller, params, body }) {
        await access(caller, params.org_id);
        return ruleSetView(await services.rules.update(params.org_id, params.rule_set, rulesOf(body)));
      },
    }),
    defineRoute({
      method: 'delete', path: '/v2/admin/orgs/{org_id}/rules/{rule_set}', tags: ['admin'], security: MANAGEMENT,
      summary: 'Delete a rule set that no integration uses (not the default)',
      authenticate: (req) => auth.management(req), params: RuleSetParams, response: Deleted, errors: [401, 403, 404, 409],
      async handle({ auth: caller, params }) {
        await access(caller, params.org_id);
        await services.rules.delete(params.org_id, params.rule_set);
        return { deleted: true as const };
      },
    }),
  ];
}
