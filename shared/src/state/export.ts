// The current state in the declared-state format (`signalgate export`), without a secret: secret
// keys are not listed (only their hashes are stored) and providers' HMAC secrets are left out (an
// apply keeps the stored one). Applying the export to the same data dir changes nothing.
import { Document } from 'yaml';
import { limitFields } from '../orgLimits.js';
import type { Rules } from '../acl/rights.js';
import type { Services } from '../services/context.js';
import type { Org } from '../store/orgs.js';
import { STATE_VERSION, type DeclaredOrg, type DeclaredRules, type DeclaredState } from './schema.js';

const rulesView = (r: Rules): DeclaredRules => ({
  publish: r.publish, subscribe: r.subscribe, presence: r.presence, history: r.history,
  ...(r.denyPublish?.length ? { deny_publish: r.denyPublish } : {}),
  ...(r.denySubscribe?.length ? { deny_subscribe: r.denySubscribe } : {}),
});

export async function exportState(services: Services, orgRefs?: readonly string[]): Promise<DeclaredState> {
  const orgs: Org[] = orgRefs ? await Promise.all(orgRefs.map((ref) => services.orgs.get(ref))) : await services.orgs.list();
  const organizations: DeclaredOrg[] = [];
  for (const org of orgs) organizations.push(await exportOrg(services, org));
  return { version: STATE_VERSION, organizations };
}

async function exportOrg(services: Services, org: Org): Promise<DeclaredOrg> {
  const sets = await services.rules.list(org.id);
  const nameOf = new Map(sets.map((rs) => [rs.id, rs.isDefault ? 'default' : rs.name]));
  return {
    id: org.id,
    uuid: org.uuid,
    name: org.name,
    settings: {
      default_ttl_seconds: org.defaultTtlSeconds, min_ttl_seconds: org.minTtlSeconds,
      max_ttl_seconds: org.maxTtlSeconds, max_token_lifetime_seconds: org.maxTokenLifetimeSeconds,
    },
    limits: limitFields(org.limits),
    default_rules: rulesView(await services.rules.getDefault(org.id)),
    rule_sets: sets.filter((rs) => !rs.isDefault).map((rs) => ({ name: rs.name, ...rulesView(rs) })),
    integrations: (await services.integrations.list(org.id)).map((i) => ({
      integration_id: i.id, rule_set: nameOf.get(i.ruleSetId) ?? i.ruleSetId, ...(i.description !== null ? { description: i.description } : {}),
    })),
    providers: (await services.providers.list(org.id)).map((p) => ({
      name: p.name, type: p.type, issuer: p.issuer,
      ...(p.jwksUrl !== null ? { jwks_url: p.jwksUrl } : {}),
      ...(p.audience !== null ? { audience: p.audience } : {}),
      ...(p.secret !== null ? { hmac: true as const } : {}),
      user_id_claim: p.userIdClaim, email_claim: p.emailClaim,
    })),
  };
}

/** The state as a YAML file, with a header saying what it leaves out. */
export function stateToYaml(state: DeclaredState): string {
  const doc = new Document(state);
  doc.commentBefore = [
    ' SignalGate declared state (signalgate export). Apply with `signalgate apply -f <file>` or',
    ' `signalgate start --state <file>`. Secrets are not exported: add each organisation\'s keys as',
    '   secret_keys:',
    '     - secret: ${MY_SECRET_KEY}   # an environment variable, never the key in clear',
    ' and HMAC provider secrets the same way (a provider marked `hmac: true` without one keeps its stored secret).',
  ].join('\n');
  return doc.toString({ lineWidth: 0 });
}
