import type { Db } from './db.js';
import type { Rules } from '../acl/rights.js';

export interface RuleSet extends Rules {
  id: string;
  orgId: string;
  name: string;
  isDefault: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface RuleSetRow {
  id: string; org_id: string; name: string; is_default: number; publish: string; subscribe: string;
  presence: number; history: number; deny_publish: string; deny_subscribe: string; created_at: number; updated_at: number;
}

/** The rules of a stored row (filter lists as JSON text, flags as 0/1). */
export const rulesOfRow = (r: Pick<RuleSetRow, 'publish' | 'subscribe' | 'presence' | 'history' | 'deny_publish' | 'deny_subscribe'>): Rules => ({
  publish: JSON.parse(r.publish) as string[],
  subscribe: JSON.parse(r.subscribe) as string[],
  presence: r.presence === 1,
  history: r.history === 1,
  denyPublish: JSON.parse(r.deny_publish) as string[],
  denySubscribe: JSON.parse(r.deny_subscribe) as string[],
});

/** The filter lists of `rules` as stored (JSON text). */
const storedLists = (rules: Rules) => ({
  publish: JSON.stringify(rules.publish), subscribe: JSON.stringify(rules.subscribe),
  denyPublish: JSON.stringify(rules.denyPublish ?? []), denySubscribe: JSON.stringify(rules.denySubscribe ?? []),
});

export const toRuleSet = (r: RuleSetRow): RuleSet => ({
  id: r.id,
  orgId: r.org_id,
  name: r.name,
  isDefault: r.is_default === 1,
  ...rulesOfRow(r),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class RuleSetRepository {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly getByNameStmt;
  private readonly getDefaultStmt;
  private readonly listStmt;
  private readonly updateStmt;
  private readonly deleteStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(`INSERT INTO rule_sets (id, org_id, name, is_default, publish, subscribe, presence, history, deny_publish, deny_subscribe, created_at, updated_at)
      VALUES (@id, @orgId, @name, @isDefault, @publish, @subscribe, @presence, @history, @denyPublish, @denySubscribe, @now, @now)`);
    this.getStmt = db.prepare<[string, string], RuleSetRow>('SELECT * FROM rule_sets WHERE org_id = ? AND id = ?');
    this.getByNameStmt = db.prepare<[string, string], RuleSetRow>('SELECT * FROM rule_sets WHERE org_id = ? AND name = ?');
    this.getDefaultStmt = db.prepare<[string], RuleSetRow>('SELECT * FROM rule_sets WHERE org_id = ? AND is_default = 1');
    this.listStmt = db.prepare<[string], RuleSetRow>('SELECT * FROM rule_sets WHERE org_id = ? ORDER BY is_default DESC, name');
    this.updateStmt = db.prepare(`UPDATE rule_sets SET publish = @publish, subscribe = @subscribe, presence = @presence,
      history = @history, deny_publish = @denyPublish, deny_subscribe = @denySubscribe, updated_at = @now WHERE org_id = @orgId AND id = @id`);
    this.deleteStmt = db.prepare('DELETE FROM rule_sets WHERE org_id = ? AND id = ? AND is_default = 0');
  }

  insert(rs: { id: string; orgId: string; name: string; isDefault: boolean } & Rules, now: number): void {
    this.insertStmt.run({ id: rs.id, orgId: rs.orgId, name: rs.name, isDefault: rs.isDefault ? 1 : 0,
      ...storedLists(rs), presence: rs.presence ? 1 : 0, history: rs.history ? 1 : 0, now });
  }

  get(orgId: string, id: string): RuleSet | undefined {
    const r = this.getStmt.get(orgId, id);
    return r && toRuleSet(r);
  }

  getByName(orgId: string, name: string): RuleSet | undefined {
    const r = this.getByNameStmt.get(orgId, name);
    return r && toRuleSet(r);
  }

  getDefault(orgId: string): RuleSet | undefined {
    const r = this.getDefaultStmt.get(orgId);
    return r && toRuleSet(r);
  }

  list(orgId: string): RuleSet[] {
    return this.listStmt.all(orgId).map(toRuleSet);
  }

  updateRules(orgId: string, id: string, rules: Rules, now: number): boolean {
    return this.updateStmt.run({ orgId, id, ...storedLists(rules), presence: rules.presence ? 1 : 0, history: rules.history ? 1 : 0, now }).changes > 0;
  }

  delete(orgId: string, id: string): boolean {
    return this.deleteStmt.run(orgId, id).changes > 0;
  }
}
