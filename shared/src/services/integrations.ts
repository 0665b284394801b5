import { SignalGateError, invalid, notFound } from '../errors.js';
import type { Store } from '../store/store.js';
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

  list(orgId: string): Integration[] {
    return this.store.integrations.list(orgId);
  }

  get(orgId: string, id: string): Integration {
    const i = this.store.integrations.get(orgId, id);
    if (!i) throw notFound('integration_not_found', `integration '${id}' not found in ${orgId}`);
    return i;
  }

  create(orgId: string, id: string, ruleSet: string, description: string | null = null): Integration {
    if (!INTEGRATION_ID_PATTERN.test(id)) throw invalid('integration_id', 'use 1-128 letters, digits, and . _ : -');
    const now = this.clock();
    return this.store.transaction(() => {
      const rs = this.rules.get(orgId, ruleSet);
      if (this.store.integrations.get(orgId, id)) throw new SignalGateError('conflict', `integration '${id}' already exists`);
      this.store.integrations.insert({ orgId, id, ruleSetId: rs.id, description }, now);
      this.store.audit.record({ event: 'integration.created', orgId, detail: { integration_id: id, rule_set_id: rs.id } }, now);
      return this.store.integrations.get(orgId, id)!;
    });
  }

  delete(orgId: string, id: string): void {
    const now = this.clock();
    this.store.transaction(() => {
      this.get(orgId, id);
      this.store.integrations.delete(orgId, id);
      this.store.changes.append('rules.changed', orgId, null, now);
      this.store.audit.record({ event: 'integration.deleted', orgId, detail: { integration_id: id } }, now);
    });
  }
}
