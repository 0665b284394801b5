// Rule sets: the org default and named sets bound to integrations. Validation lives here so the
// API, the CLI and the dashboard explain a bad filter the same way.
import { ruleFilterProblem, type Rules } from '../acl/index.js';
import { SignalGateError, invalid, notFound } from '../errors.js';
import { newRuleSetId } from '../credentials/secrets.js';
import type { Store, StoreTx } from '../store/types.js';
import type { RuleSet } from '../store/ruleSets.js';
import { systemClock, type Clock } from './clock.js';
import { NAME_PATTERN, NAME_RULE } from './names.js';

export const MAX_FILTERS_PER_ACTION = 256;

/**
 * A new organisation's default rule set: everything inside the organisation, including the `$`
 * spaces CloudSignal's packages use (a `#` never matches a `$` topic), so they work out of the box.
 */
export const ALLOW_ALL_RULES: Rules = {
  publish: ['#', '$notifications/#', '$spaces/#'], subscribe: ['#', '$notifications/#', '$spaces/#'], presence: true, history: true,
};

export function assertValidFilters(field: string, filters: readonly string[]): void {
  if (filters.length > MAX_FILTERS_PER_ACTION) throw invalid(field, `at most ${MAX_FILTERS_PER_ACTION} filters`);
  filters.forEach((f, i) => {
    const problem = ruleFilterProblem(f);
    if (problem) throw invalid(`${field}[${i}]`, `'${f}': ${problem}`);
  });
}

export function assertValidRules(rules: Rules): void {
  assertValidFilters('publish', rules.publish);
  assertValidFilters('subscribe', rules.subscribe);
  assertValidFilters('deny_publish', rules.denyPublish ?? []);
  assertValidFilters('deny_subscribe', rules.denySubscribe ?? []);
}

export class RuleService {
  constructor(private readonly store: Store, private readonly clock: Clock = systemClock) {}

  list(orgId: string): Promise<RuleSet[]> {
    return this.store.ruleSets.list(orgId);
  }

  async get(orgId: string, idOrName: string, db: StoreTx = this.store): Promise<RuleSet> {
    const rs = (await db.ruleSets.get(orgId, idOrName)) ?? (await db.ruleSets.getByName(orgId, idOrName));
    if (!rs) throw notFound('rule_set_not_found', `rule set '${idOrName}' not found in ${orgId}`);
    return rs;
  }

  async getDefault(orgId: string, db: StoreTx = this.store): Promise<RuleSet> {
    const rs = await db.ruleSets.getDefault(orgId);
    if (!rs) throw notFound('rule_set_not_found', `organization ${orgId} has no default rule set`);
    return rs;
  }

  async create(orgId: string, name: string, rules: Rules): Promise<RuleSet> {
    if (!NAME_PATTERN.test(name)) throw invalid('name', NAME_RULE);
    assertValidRules(rules);
    const now = this.clock();
    return this.store.transaction(async (tx) => {
      if (await tx.ruleSets.getByName(orgId, name)) throw new SignalGateError('conflict', `a rule set named '${name}' already exists`);
      const id = newRuleSetId();
      await tx.ruleSets.insert({ id, orgId, name, isDefault: false, ...rules }, now);
      await tx.audit.record({ event: 'rules.changed', orgId, detail: { rule_set_id: id, action: 'created' } }, now);
      return (await tx.ruleSets.get(orgId, id))!;
    });
  }

  /** Replaces a set's rules; connected clients of the org are re-evaluated by the broker. */
  async update(orgId: string, idOrName: string, rules: Rules): Promise<RuleSet> {
    assertValidRules(rules);
    return this.store.transaction(async (tx) => this.updateIn(tx, orgId, await this.get(orgId, idOrName, tx), rules));
  }

  async setDefault(orgId: string, rules: Rules): Promise<RuleSet> {
    assertValidRules(rules);
    return this.store.transaction(async (tx) => this.updateIn(tx, orgId, await this.getDefault(orgId, tx), rules));
  }

  private async updateIn(tx: StoreTx, orgId: string, rs: RuleSet, rules: Rules): Promise<RuleSet> {
    const now = this.clock();
    await tx.ruleSets.updateRules(orgId, rs.id, rules, now);
    await tx.changes.append('rules.changed', orgId, rs.id, now);
    await tx.audit.record({ event: 'rules.changed', orgId, detail: { rule_set_id: rs.id, action: 'updated' } }, now);
    return (await tx.ruleSets.get(orgId, rs.id))!;
  }

  delete(orgId: string, idOrName: string): Promise<void> {
    const now = this.clock();
    return this.store.transaction(async (tx) => {
      const rs = await this.get(orgId, idOrName, tx);
      if (rs.isDefault) throw new SignalGateError('conflict', 'the default rule set cannot be deleted');
      const users = await tx.integrations.countUsingRuleSet(orgId, rs.id);
      if (users > 0) throw new SignalGateError('conflict', `rule set '${rs.name}' is bound to ${users} integration(s); delete those first`);
      await tx.ruleSets.delete(orgId, rs.id);
      await tx.audit.record({ event: 'rules.changed', orgId, detail: { rule_set_id: rs.id, action: 'deleted' } }, now);
    });
  }
}
