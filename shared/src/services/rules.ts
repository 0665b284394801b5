// Rule sets: the org default and named sets bound to integrations. Validation lives here so the
// API, the CLI and the dashboard explain a bad filter the same way.
import { ruleFilterProblem, type Rules } from '../acl/index.js';
import { SignalGateError, invalid, notFound } from '../errors.js';
import { newRuleSetId } from '../credentials/secrets.js';
import type { Store } from '../store/store.js';
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

  list(orgId: string): RuleSet[] {
    return this.store.ruleSets.list(orgId);
  }

  get(orgId: string, idOrName: string): RuleSet {
    const rs = this.store.ruleSets.get(orgId, idOrName) ?? this.store.ruleSets.getByName(orgId, idOrName);
    if (!rs) throw notFound('rule_set_not_found', `rule set '${idOrName}' not found in ${orgId}`);
    return rs;
  }

  getDefault(orgId: string): RuleSet {
    const rs = this.store.ruleSets.getDefault(orgId);
    if (!rs) throw notFound('rule_set_not_found', `organization ${orgId} has no default rule set`);
    return rs;
  }

  create(orgId: string, name: string, rules: Rules): RuleSet {
    if (!NAME_PATTERN.test(name)) throw invalid('name', NAME_RULE);
    assertValidRules(rules);
    const now = this.clock();
    return this.store.transaction(() => {
      if (this.store.ruleSets.getByName(orgId, name)) throw new SignalGateError('conflict', `a rule set named '${name}' already exists`);
      const id = newRuleSetId();
      this.store.ruleSets.insert({ id, orgId, name, isDefault: false, ...rules }, now);
      this.store.audit.record({ event: 'rules.changed', orgId, detail: { rule_set_id: id, action: 'created' } }, now);
      return this.store.ruleSets.get(orgId, id)!;
    });
  }

  /** Replaces a set's rules; connected clients of the org are re-evaluated by the broker. */
  update(orgId: string, idOrName: string, rules: Rules): RuleSet {
    assertValidRules(rules);
    const now = this.clock();
    return this.store.transaction(() => {
      const rs = this.get(orgId, idOrName);
      this.store.ruleSets.updateRules(orgId, rs.id, rules, now);
      this.store.changes.append('rules.changed', orgId, rs.id, now);
      this.store.audit.record({ event: 'rules.changed', orgId, detail: { rule_set_id: rs.id, action: 'updated' } }, now);
      return this.store.ruleSets.get(orgId, rs.id)!;
    });
  }

  setDefault(orgId: string, rules: Rules): RuleSet {
    return this.update(orgId, this.getDefault(orgId).id, rules);
  }

  delete(orgId: string, idOrName: string): void {
    const now = this.clock();
    this.store.transaction(() => {
      const rs = this.get(orgId, idOrName);
      if (rs.isDefault) throw new SignalGateError('conflict', 'the default rule set cannot be deleted');
      const users = this.store.integrations.countUsingRuleSet(orgId, rs.id);
      if (users > 0) throw new SignalGateError('conflict', `rule set '${rs.name}' is bound to ${users} integration(s); delete those first`);
      this.store.ruleSets.delete(orgId, rs.id);
      this.store.audit.record({ event: 'rules.changed', orgId, detail: { rule_set_id: rs.id, action: 'deleted' } }, now);
    });
  }
}
