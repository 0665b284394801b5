import { SignalGateError, invalid, notFound } from '../errors.js';
import type { Store, StoreTx } from '../store/types.js';
import type { Integration } from '../store/integrations.js';
import { RuleService } from './rules.js';
import { systemClock, type Clock } from './clock.js';

/** Integration ids are caller-chosen tags (seed 000: "optional-source-tag"). */
export const INTEGRATION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export class IntegrationService {
  private readonly rules: RuleService;

  constructor(private readonly store: Store, private readonly clock: Clock = systemClock) {
    this.rules = new RuleService(store, clock);
  }

  list(orgId: string): Promise<Integration[]> {
    return this.store.integrations.list(orgId);
  }

  async get(orgId: string, id: string, db: StoreTx = this.store): Promise<Integration> {
    const i = await db.integrations.get(orgId, id);
    if (!i) throw notFound('integration_not_found', `integration '${id}' not found in ${orgId}`);
    return i;
  }

  async create(orgId: string, id: string, ruleSet: string, description: string | null = null): Promise<Integration> {
    if (!INTEGRATION_ID_PATTERN.test(id)) throw invalid('integration_id', 'use 1-128 letters, digits, and . _ : -');
    const now = this.clock();
    return this.store.transaction(async (tx) => {
      const rs = await this.rules.get(orgId, ruleSet, tx);
      if (await tx.integrations.get(orgId, id)) throw new SignalGateError('conflict', `integration '${id}' already exists`);
      await tx.integrations.insert({ orgId, id, ruleSetId: rs.id, description }, now);
      await tx.audit.record({ event: 'integration.created', orgId, detail: { integration_id: id, rule_set_id: rs.id } }, now);
      return (await tx.integrations.get(orgId, id))!;
    });
  }

  delete(orgId: string, id: string): Promise<void> {
    const now = this.clock();
    return this.store.transaction(async (tx) => {
      await this.get(orgId, id, tx);
      await tx.integrations.delete(orgId, id);
      await tx.changes.append('rules.changed', orgId, null, now);
      await tx.audit.record({ event: 'integration.deleted', orgId, detail: { integration_id: id } }, now);
    });
  }
}
