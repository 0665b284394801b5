import { invalid, notFound, SignalGateError } from '../errors.js';
import { newOrgId, newOrgUuid, newRuleSetId, ORG_ID_PATTERN, UUID_PATTERN } from '../credentials/secrets.js';
import type { Store, StoreTx } from '../store/types.js';
import type { Org, OrgSettings } from '../store/orgs.js';
import { ALLOW_ALL_RULES } from './rules.js';
import type { ApiKeyService, IssuedKey } from './apiKeys.js';
import { systemClock, type Clock } from './clock.js';

export const MAX_TTL_SECONDS = 7 * 86_400;
/** The longest absolute lifetime an organisation may give its tokens (a year). */
export const MAX_TOKEN_LIFETIME_SECONDS = 365 * 86_400;

export interface NewOrg {
  org: Org;
  secretKey: string;
  key: IssuedKey['key'];
}

export class OrgService {
  constructor(private readonly store: Store, private readonly keys: ApiKeyService, private readonly clock: Clock = systemClock) {}

  /**
   * Creates an organisation with an allow-all default rule set (narrow it with
   * `org set-default-rules`) and its first secret key, returned once.
   */
  async create(name: string): Promise<NewOrg> {
    return (await this.createIf(name, async () => true))!;
  }

  /** `create`, when `condition` holds in its transaction (null when it does not). */
  async createIf(name: string, condition: (tx: StoreTx) => Promise<boolean>): Promise<NewOrg | null> {
    const draft = await this.keys.draft('initial');
    // The org and its first key in one transaction: a crash leaves no org without a key.
    return this.store.transaction(async (tx) => {
      if (!await condition(tx)) return null;
      const org = await this.insertWithIds(tx, newOrgId(), newOrgUuid(), name);
      return { org, secretKey: draft.secretKey, key: await this.keys.insertDraft(tx, org.id, draft) };
    });
  }

  /**
   * An organisation whose ids the caller chose (declared state, an app's CLOUDSIGNAL_ORG_ID), with
   * the allow-all default rule set and no key. 409 when either id is taken.
   */
  createWithIds(id: string, uuid: string, name: string): Promise<Org> {
    return this.store.transaction((tx) => this.insertWithIds(tx, id, uuid, name));
  }

  private async insertWithIds(tx: StoreTx, id: string, uuid: string, name: string): Promise<Org> {
    const trimmed = name.trim();
    if (trimmed.length === 0 || trimmed.length > 200) throw invalid('name', 'must be 1-200 characters');
    if (!ORG_ID_PATTERN.test(id)) throw invalid('id', 'must be org_ followed by 12 lowercase letters or digits');
    if (!UUID_PATTERN.test(uuid)) throw invalid('uuid', 'must be a UUID');
    const now = this.clock();
    if ((await tx.orgs.byRef(id)) || (await tx.orgs.byRef(uuid))) throw new SignalGateError('conflict', `organization ${id} / ${uuid} already exists`);
    await tx.orgs.insert(id, uuid.toLowerCase(), trimmed, now);
    await tx.ruleSets.insert({ id: newRuleSetId(), orgId: id, name: 'default', isDefault: true, ...ALLOW_ALL_RULES }, now);
    await tx.audit.record({ event: 'org.created', orgId: id, detail: { name: trimmed } }, now);
    return (await tx.orgs.get(id))!;
  }

  /** By either id (`org_…` or the UUID); 404 when neither names one. */
  async get(ref: string, db: StoreTx = this.store): Promise<Org> {
    const org = await db.orgs.byRef(ref);
    if (!org) throw notFound('organization_not_found', `organization ${ref} not found`);
    return org;
  }

  list(): Promise<Org[]> {
    return this.store.orgs.list();
  }

  update(id: string, settings: OrgSettings): Promise<Org> {
    const now = this.clock();
    return this.store.transaction(async (tx) => {
      const org = await this.get(id, tx);
      id = org.id;
      const next: Org = {
        ...org,
        name: settings.name ?? org.name,
        defaultTtlSeconds: settings.defaultTtlSeconds ?? org.defaultTtlSeconds,
        minTtlSeconds: settings.minTtlSeconds ?? org.minTtlSeconds,
        maxTtlSeconds: settings.maxTtlSeconds ?? org.maxTtlSeconds,
        maxTokenLifetimeSeconds: settings.maxTokenLifetimeSeconds ?? org.maxTokenLifetimeSeconds,
        limits: { ...org.limits, ...settings.limits },
      };
      if (next.minTtlSeconds < 1) throw invalid('min_ttl_seconds', 'must be at least 1');
      if (next.maxTtlSeconds > MAX_TTL_SECONDS) throw invalid('max_ttl_seconds', `must be at most ${MAX_TTL_SECONDS}`);
      if (next.minTtlSeconds > next.maxTtlSeconds) throw invalid('min_ttl_seconds', 'must not exceed max_ttl_seconds');
      // A token minted with the longest TTL must fit in the lifetime.
      if (!Number.isInteger(next.maxTokenLifetimeSeconds) || next.maxTokenLifetimeSeconds < next.maxTtlSeconds || next.maxTokenLifetimeSeconds > MAX_TOKEN_LIFETIME_SECONDS) {
        throw invalid('max_token_lifetime_seconds', `must be an integer from max_ttl_seconds (${next.maxTtlSeconds}) to ${MAX_TOKEN_LIFETIME_SECONDS}`);
      }
      if (next.defaultTtlSeconds < next.minTtlSeconds || next.defaultTtlSeconds > next.maxTtlSeconds) {
        throw invalid('default_ttl_seconds', `must be within ${next.minTtlSeconds}-${next.maxTtlSeconds}`);
      }
      for (const [k, v] of Object.entries(next.limits)) {
        if (v !== null && (!Number.isInteger(v) || v < 1)) throw invalid(k, 'must be a positive integer or null');
      }
      await tx.orgs.update(next);
      await tx.changes.append('org.changed', id, null, now);
      return next;
    });
  }
}
