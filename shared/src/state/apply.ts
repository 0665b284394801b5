// Making the store say what a declared-state file says, idempotently: what already matches is not
// written (no audit row, no change row, no broker re-evaluation), so applying the same file twice
// changes nothing. All writes but key imports happen in one transaction: a running broker sees the
// whole new state at once (rule changes reach connected clients through the change feed), and a
// failure leaves the store as it was. Keys are hashed (argon2) before it and imported after it.
//
// What the file does not mention is left alone: organisations it does not list, an org's keys it
// does not list (keys are credentials in use; revoke them explicitly), and whole sections it omits.
// A section it lists (rule_sets, integrations, providers) is that org's truth: entries not in it go.
import { createHash } from 'node:crypto';
import { SignalGateError } from '../errors.js';
import { limitsFromFields, ORG_LIMITS } from '../orgLimits.js';
import type { Rules } from '../acl/rights.js';
import type { Services } from '../services/context.js';
import type { OrgSettings } from '../store/orgs.js';
import type { IdentityProvider } from '../store/identityProviders.js';
import type { NewProvider } from '../services/providers.js';
import { providerConfigOf } from '../identity/presets.js';
import { isKeyUsable } from '../store/apiKeys.js';
import { publicPrefixOf } from '../credentials/secrets.js';
import type { DeclaredOrg, DeclaredState } from './schema.js';
import { providerInputOf, rulesOfDeclared } from './convert.js';

export interface ApplyOptions {
  /**
   * min_ttl_seconds for organisations whose file entry does not set it (ephemeral mode: 1, so a
   * test can watch a token of a few seconds expire). Undefined: what the org has (60 when new).
   */
  defaultMinTtlSeconds?: number;
}

export interface ApplyReport {
  /** One line per change made ("org_…: rule set 'readonly' updated"); empty when nothing changed. */
  changes: string[];
  /** The organisations of the file, as stored after the apply. */
  organizations: Array<{ id: string; uuid: string; name: string }>;
}

/** The short id an org declared only by UUID gets: the same for the same UUID, every run. */
export function orgIdFromUuid(uuid: string): string {
  const digest = createHash('sha256').update(`signalgate-org-id:${uuid.toLowerCase()}`).digest();
  let id = 'org_';
  for (let i = 0; i < 12; i++) id += 'abcdefghijklmnopqrstuvwxyz0123456789'[digest[i]! % 36];
  return id;
}

/** The UUID an org declared only by short id gets (version 4 layout, derived, stable). */
export function orgUuidFromId(id: string): string {
  const h = createHash('sha256').update(`signalgate-org-uuid:${id}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const snakeCase = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const sameRules = (a: Rules, b: Rules) =>
  JSON.stringify([a.publish, a.subscribe, a.presence, a.history, a.denyPublish ?? [], a.denySubscribe ?? []]) ===
  JSON.stringify([b.publish, b.subscribe, b.presence, b.history, b.denyPublish ?? [], b.denySubscribe ?? []]);

/** Whether a stored provider already is the declared one (a declared provider without a secret keeps the stored secret). */
function sameProvider(stored: IdentityProvider, input: NewProvider): boolean {
  const want = providerConfigOf(input.secret === undefined && stored.secret !== null && input.jwksUrl === undefined ? { ...input, secret: stored.secret } : input);
  return JSON.stringify([stored.type, stored.issuer, stored.jwksUrl, stored.secret, stored.audience, stored.userIdClaim, stored.emailClaim]) ===
    JSON.stringify([want.type, want.issuer, want.jwksUrl, want.secret, want.audience, want.userIdClaim, want.emailClaim]);
}

export async function applyState(services: Services, state: DeclaredState, options: ApplyOptions = {}): Promise<ApplyReport> {
  const { store } = services;
  const changes: string[] = [];
  const { orgs, ids } = await mergeSameOrgs(services, state.organizations);

  // Keys first (argon2, outside the transaction): which declared secrets are stored already, and where.
  const toImport: Array<{ orgId: string; secret: string; name: string | null }> = [];
  const declaredBy = new Map<string, string>();
  const now = Date.now();
  for (const [i, org] of orgs.entries()) {
    const orgId = ids[i]!.id;
    for (const k of org.secret_keys ?? []) {
      const shown = `${publicPrefixOf(k.secret)}…`;
      const other = declaredBy.get(k.secret);
      if (other !== undefined && other !== orgId) throw new SignalGateError('conflict', `the secret key ${shown} is declared for ${other} and for ${orgId}`);
      if (other !== undefined) continue;
      declaredBy.set(k.secret, orgId);
      const found = await services.keys.find(k.secret);
      if (!found) toImport.push({ orgId, secret: k.secret, name: k.name ?? null });
      else if (found.orgId !== orgId) throw new SignalGateError('conflict', `the secret key ${shown} declared for ${orgId} is a key of another organization`);
      else if (!isKeyUsable(found, now)) throw new SignalGateError('conflict', `the secret key ${found.id} of ${orgId} (${shown}) is revoked or expired: declare a new one`);
    }
  }

  await store.transaction(async (tx) => {
    changes.length = 0; // PostgreSQL may run the body again
    const inTx = services.within(tx);
    for (const [i, org] of orgs.entries()) {
      try {
        await applyOrg(inTx, org, ids[i]!, options, (line) => changes.push(`${ids[i]!.id}: ${line}`));
      } catch (err) {
        // Say which entry: the services' messages name a field, not the organisation.
        if (err instanceof SignalGateError) throw new SignalGateError(err.code, `organizations[${i}] (${ids[i]!.id}): ${err.message}`);
        throw err;
      }
    }
  });
  for (const k of toImport) {
    const key = await services.keys.import(k.orgId, k.secret, k.name);
    changes.push(`${k.orgId}: secret key ${key.id} (${key.prefix}…) imported`);
  }
  const organizations: ApplyReport['organizations'] = [];
  for (const { id } of ids) {
    const o = (await store.orgs.get(id))!;
    organizations.push({ id: o.id, uuid: o.uuid, name: o.name });
  }
  return { changes, organizations };
}

/**
 * Entries that name one organisation (the file's `id` and the app's CLOUDSIGNAL_ORG_ID as its UUID)
 * become one: a later entry may add keys to an earlier one, nothing else.
 */
async function mergeSameOrgs(services: Services, declared: readonly DeclaredOrg[]): Promise<{ orgs: DeclaredOrg[]; ids: ResolvedIds[] }> {
  const orgs: DeclaredOrg[] = [];
  const ids: ResolvedIds[] = [];
  for (const [i, org] of declared.entries()) {
    const resolved = await resolveIds(services, org);
    const j = ids.findIndex((r) => r.id === resolved.id);
    if (j < 0) {
      orgs.push(org);
      ids.push(resolved);
      continue;
    }
    const extra = Object.keys(org).filter((k) => !['id', 'uuid', 'name', 'secret_keys'].includes(k));
    if (extra.length > 0) throw new SignalGateError('conflict', `organizations[${i}] is ${resolved.id} again (declared as organizations[${j}]): declare it once`);
    const keys = [...(orgs[j]!.secret_keys ?? []), ...(org.secret_keys ?? [])];
    orgs[j] = { ...orgs[j]!, secret_keys: keys.filter((k, n) => keys.findIndex((x) => x.secret === k.secret) === n) };
  }
  return { orgs, ids };
}

/** Both ids of a declared org: as declared, else as stored, else derived. A declared pair must not contradict the store. */
interface ResolvedIds { id: string; uuid: string; exists: boolean }

async function resolveIds(services: Services, org: DeclaredOrg): Promise<ResolvedIds> {
  const byId = org.id === undefined ? undefined : await services.store.orgs.get(org.id);
  const byUuid = org.uuid === undefined ? undefined : await services.store.orgs.byRef(org.uuid);
  if (byId && byUuid && byId.id !== byUuid.id) throw new SignalGateError('conflict', `${org.id} and ${org.uuid} are two different organizations here`);
  const stored = byId ?? byUuid;
  if (stored) {
    if (org.id !== undefined && stored.id !== org.id) throw new SignalGateError('conflict', `organization ${org.uuid} exists with the id ${stored.id}, not ${org.id}`);
    if (org.uuid !== undefined && stored.uuid !== org.uuid.toLowerCase()) throw new SignalGateError('conflict', `organization ${org.id} exists with the uuid ${stored.uuid}, not ${org.uuid}`);
    return { id: stored.id, uuid: stored.uuid, exists: true };
  }
  const id = org.id ?? orgIdFromUuid(org.uuid!);
  return { id, uuid: (org.uuid ?? orgUuidFromId(id)).toLowerCase(), exists: false };
}

async function applyOrg(services: Services, org: DeclaredOrg, ids: ResolvedIds, options: ApplyOptions, changed: (line: string) => void): Promise<void> {
  const orgId = ids.id;
  if (!await services.store.orgs.get(orgId)) {
    await services.orgs.createWithIds(orgId, ids.uuid, org.name ?? orgId);
    changed('created');
  }
  const current = (await services.store.orgs.get(orgId))!;

  const settings: OrgSettings = {};
  if (org.name !== undefined && org.name !== current.name) settings.name = org.name;
  const s = org.settings ?? {};
  const minTtl = s.min_ttl_seconds ?? options.defaultMinTtlSeconds;
  if (minTtl !== undefined && minTtl !== current.minTtlSeconds) settings.minTtlSeconds = minTtl;
  if (s.default_ttl_seconds !== undefined && s.default_ttl_seconds !== current.defaultTtlSeconds) settings.defaultTtlSeconds = s.default_ttl_seconds;
  if (s.max_ttl_seconds !== undefined && s.max_ttl_seconds !== current.maxTtlSeconds) settings.maxTtlSeconds = s.max_ttl_seconds;
  if (s.max_token_lifetime_seconds !== undefined && s.max_token_lifetime_seconds !== current.maxTokenLifetimeSeconds) settings.maxTokenLifetimeSeconds = s.max_token_lifetime_seconds;
  const limits = limitsFromFields(org.limits ?? {});
  const changedLimits = Object.fromEntries(Object.entries(limits).filter(([k, v]) => current.limits[k as keyof typeof current.limits] !== v));
  if (Object.keys(changedLimits).length > 0) settings.limits = changedLimits;
  if (Object.keys(settings).length > 0) {
    await services.orgs.update(orgId, settings);
    const fields = [...Object.keys(settings).filter((k) => k !== 'limits').map(snakeCase), ...Object.keys(changedLimits).map((k) => ORG_LIMITS.find((l) => l.key === k)!.field)];
    changed(`settings updated (${fields.join(', ')})`);
  }

  if (org.default_rules) {
    const want = rulesOfDeclared(org.default_rules);
    if (!sameRules(await services.rules.getDefault(orgId), want)) {
      await services.rules.setDefault(orgId, want);
      changed('default rules updated');
    }
  }

  const declaredSets = org.rule_sets;
  for (const rs of declaredSets ?? []) {
    const want = rulesOfDeclared(rs);
    const stored = await services.store.ruleSets.getByName(orgId, rs.name);
    if (!stored) {
      await services.rules.create(orgId, rs.name, want);
      changed(`rule set '${rs.name}' created`);
    } else if (!sameRules(stored, want)) {
      await services.rules.update(orgId, stored.id, want);
      changed(`rule set '${rs.name}' updated`);
    }
  }

  if (org.integrations) {
    const declared = new Set(org.integrations.map((i) => i.integration_id));
    for (const integ of await services.integrations.list(orgId)) {
      if (!declared.has(integ.id)) {
        await services.integrations.delete(orgId, integ.id);
        changed(`integration '${integ.id}' deleted`);
      }
    }
    for (const integ of org.integrations) {
      const ruleSet = await services.rules.get(orgId, integ.rule_set);
      const stored = await services.store.integrations.get(orgId, integ.integration_id);
      const description = integ.description ?? null;
      if (stored && stored.ruleSetId === ruleSet.id && stored.description === description) continue;
      // Rebinding is delete + create in this one transaction: no reader sees the integration missing.
      if (stored) await services.integrations.delete(orgId, integ.integration_id);
      await services.integrations.create(orgId, integ.integration_id, ruleSet.id, description);
      changed(`integration '${integ.integration_id}' ${stored ? 'updated' : 'created'}`);
    }
  }

  if (declaredSets) {
    const declared = new Set(declaredSets.map((r) => r.name));
    for (const rs of await services.rules.list(orgId)) {
      if (rs.isDefault || declared.has(rs.name)) continue;
      await services.rules.delete(orgId, rs.id);
      changed(`rule set '${rs.name}' deleted`);
    }
  }

  if (org.providers) {
    const inputs = org.providers.map(providerInputOf);
    const declared = new Set(inputs.map((p) => p.name ?? p.type));
    for (const p of await services.providers.list(orgId)) {
      if (!declared.has(p.name)) {
        await services.providers.remove(orgId, p.name);
        changed(`provider '${p.name}' removed`);
      }
    }
    for (const [j, input] of inputs.entries()) {
      const name = input.name ?? input.type;
      const stored = await services.store.providers.get(orgId, name);
      if (org.providers[j]!.hmac && input.secret === undefined && !stored?.secret) {
        throw new SignalGateError('invalid_request', `provider '${name}' verifies with a shared secret (hmac: true): give it as secret: \${SOME_VARIABLE}`);
      }
      if (stored && sameProvider(stored, input)) continue;
      const keep = stored && input.secret === undefined && input.jwksUrl === undefined && stored.secret !== null ? { ...input, secret: stored.secret } : input;
      if (stored) await services.providers.remove(orgId, name);
      await services.providers.add(orgId, keep);
      changed(`provider '${name}' ${stored ? 'updated' : 'added'}`);
    }
  }
}
