import type { Db } from './db.js';

export interface Integration {
  orgId: string;
  id: string;
  ruleSetId: string;
  description: string | null;
  createdAt: number;
}

export interface IntegrationRow { org_id: string; id: string; rule_set_id: string; description: string | null; created_at: number }

export const toIntegration = (r: IntegrationRow): Integration => ({
  orgId: r.org_id, id: r.id, ruleSetId: r.rule_set_id, description: r.description, createdAt: r.created_at,
});

export class IntegrationRepository {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly listStmt;
  private readonly deleteStmt;
  private readonly countByRuleSetStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare('INSERT INTO integrations (org_id, id, rule_set_id, description, created_at) VALUES (?, ?, ?, ?, ?)');
    this.getStmt = db.prepare<[string, string], IntegrationRow>('SELECT * FROM integrations WHERE org_id = ? AND id = ?');
    this.listStmt = db.prepare<[string], IntegrationRow>('SELECT * FROM integrations WHERE org_id = ? ORDER BY id');
    this.deleteStmt = db.prepare('DELETE FROM integrations WHERE org_id = ? AND id = ?');
    this.countByRuleSetStmt = db.prepare<[string, string], { n: number }>('SELECT COUNT(*) AS n FROM integrations WHERE org_id = ? AND rule_set_id = ?');
  }

  insert(i: Omit<Integration, 'createdAt'>, now: number): void {
    this.insertStmt.run(i.orgId, i.id, i.ruleSetId, i.description, now);
  }

  get(orgId: string, id: string): Integration | undefined {
    const r = this.getStmt.get(orgId, id);
    return r && toIntegration(r);
  }

  list(orgId: string): Integration[] {
    return this.listStmt.all(orgId).map(toIntegration);
  }

  delete(orgId: string, id: string): boolean {
    return this.deleteStmt.run(orgId, id).changes > 0;
  }

  countUsingRuleSet(orgId: string, ruleSetId: string): number {
    return this.countByRuleSetStmt.get(orgId, ruleSetId)!.n;
  }
}
