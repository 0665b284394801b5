// Rule sets on PostgreSQL: the statements of ../ruleSets.ts (flags stored 0/1, lists as JSON text).
import type { Sql } from './sql.js';
import type { RuleSetStore } from '../types.js';
import { toRuleSet, type RuleSet, type RuleSetRow } from '../ruleSets.js';
import type { Rules } from '../../acl/rights.js';

/** The filter lists of `rules` as stored (JSON text), in column order publish, subscribe, deny_publish, deny_subscribe. */
const storedLists = (rules: Rules) => [
  JSON.stringify(rules.publish), JSON.stringify(rules.subscribe),
  JSON.stringify(rules.denyPublish ?? []), JSON.stringify(rules.denySubscribe ?? []),
];

export class PgRuleSets implements RuleSetStore {
  constructor(private readonly sql: Sql) {}

  async insert(rs: { id: string; orgId: string; name: string; isDefault: boolean } & Rules, now: number): Promise<void> {
    await this.sql.query(`INSERT INTO rule_sets (id, org_id, name, is_default, publish, subscribe, deny_publish, deny_subscribe, presence, history, created_at, updated_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
    [rs.id, rs.orgId, rs.name, rs.isDefault ? 1 : 0, ...storedLists(rs), rs.presence ? 1 : 0, rs.history ? 1 : 0, now]);
  }

  async get(orgId: string, id: string): Promise<RuleSet | undefined> {
    const { rows } = await this.sql.query<RuleSetRow>('SELECT * FROM rule_sets WHERE org_id = $1 AND id = $2', [orgId, id]);
    return rows[0] && toRuleSet(rows[0]);
  }

  async getByName(orgId: string, name: string): Promise<RuleSet | undefined> {
    const { rows } = await this.sql.query<RuleSetRow>('SELECT * FROM rule_sets WHERE org_id = $1 AND name = $2', [orgId, name]);
    return rows[0] && toRuleSet(rows[0]);
  }

  async getDefault(orgId: string): Promise<RuleSet | undefined> {
    const { rows } = await this.sql.query<RuleSetRow>('SELECT * FROM rule_sets WHERE org_id = $1 AND is_default = 1', [orgId]);
    return rows[0] && toRuleSet(rows[0]);
  }

  async list(orgId: string): Promise<RuleSet[]> {
    const { rows } = await this.sql.query<RuleSetRow>('SELECT * FROM rule_sets WHERE org_id = $1 ORDER BY is_default DESC, name', [orgId]);
    return rows.map(toRuleSet);
  }

  async updateRules(orgId: string, id: string, rules: Rules, now: number): Promise<boolean> {
    const r = await this.sql.query(`UPDATE rule_sets SET publish = $3, subscribe = $4, deny_publish = $5, deny_subscribe = $6,
      presence = $7, history = $8, updated_at = $9 WHERE org_id = $1 AND id = $2`,
    [orgId, id, ...storedLists(rules), rules.presence ? 1 : 0, rules.history ? 1 : 0, now]);
    return (r.rowCount ?? 0) > 0;
  }

  async delete(orgId: string, id: string): Promise<boolean> {
    return ((await this.sql.query('DELETE FROM rule_sets WHERE org_id = $1 AND id = $2 AND is_default = 0', [orgId, id])).rowCount ?? 0) > 0;
  }
}
