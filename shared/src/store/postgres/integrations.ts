// Integrations on PostgreSQL: the statements of ../integrations.ts.
import type { Sql } from './sql.js';
import type { IntegrationStore } from '../types.js';
import { toIntegration, type Integration, type IntegrationRow } from '../integrations.js';

export class PgIntegrations implements IntegrationStore {
  constructor(private readonly sql: Sql) {}

  async insert(i: Omit<Integration, 'createdAt'>, now: number): Promise<void> {
    await this.sql.query('INSERT INTO integrations (org_id, id, rule_set_id, description, created_at) VALUES ($1, $2, $3, $4, $5)',
      [i.orgId, i.id, i.ruleSetId, i.description, now]);
  }

  async get(orgId: string, id: string): Promise<Integration | undefined> {
    const { rows } = await this.sql.query<IntegrationRow>('SELECT * FROM integrations WHERE org_id = $1 AND id = $2', [orgId, id]);
    return rows[0] && toIntegration(rows[0]);
  }

  async list(orgId: string): Promise<Integration[]> {
    const { rows } = await this.sql.query<IntegrationRow>('SELECT * FROM integrations WHERE org_id = $1 ORDER BY id', [orgId]);
    return rows.map(toIntegration);
  }

  async delete(orgId: string, id: string): Promise<boolean> {
    return ((await this.sql.query('DELETE FROM integrations WHERE org_id = $1 AND id = $2', [orgId, id])).rowCount ?? 0) > 0;
  }

  async countUsingRuleSet(orgId: string, ruleSetId: string): Promise<number> {
    const { rows } = await this.sql.query<{ n: number }>('SELECT COUNT(*) AS n FROM integrations WHERE org_id = $1 AND rule_set_id = $2', [orgId, ruleSetId]);
    return rows[0]!.n;
  }
}
