// Organisations on PostgreSQL: the statements of ../orgs.ts.
import type { Sql } from './sql.js';
import type { OrgStore } from '../types.js';
import { toOrg, type Org, type OrgRow } from '../orgs.js';
import { UUID_PATTERN } from '../../credentials/secrets.js';
import { ORG_LIMITS } from '../../orgLimits.js';

const UPDATE = `UPDATE orgs SET name = $2, default_ttl_seconds = $3, min_ttl_seconds = $4, max_ttl_seconds = $5,
  max_token_lifetime_seconds = $6, ${ORG_LIMITS.map((l, i) => `${l.field} = $${7 + i}`).join(', ')} WHERE id = $1`;

export class PgOrgs implements OrgStore {
  constructor(private readonly sql: Sql) {}

  async insert(id: string, uuid: string, name: string, now: number): Promise<void> {
    await this.sql.query('INSERT INTO orgs (id, uuid, name, created_at) VALUES ($1, $2, $3, $4)', [id, uuid, name, now]);
  }

  /** By the short id (`org_…`), the form every other table stores. */
  async get(id: string): Promise<Org | undefined> {
    const { rows } = await this.sql.query<OrgRow>('SELECT * FROM orgs WHERE id = $1', [id]);
    return rows[0] && toOrg(rows[0]);
  }

  /** By either id: the short one or the UUID (what callers outside may name an org by). */
  async byRef(ref: string): Promise<Org | undefined> {
    const byId = await this.get(ref);
    if (byId || !UUID_PATTERN.test(ref)) return byId;
    const { rows } = await this.sql.query<OrgRow>('SELECT * FROM orgs WHERE uuid = $1', [ref.toLowerCase()]);
    return rows[0] && toOrg(rows[0]);
  }

  async list(): Promise<Org[]> {
    const { rows } = await this.sql.query<OrgRow>('SELECT * FROM orgs ORDER BY created_at, id');
    return rows.map(toOrg);
  }

  /** Writes the whole settings record; callers merge and validate first. */
  async update(org: Org): Promise<void> {
    await this.sql.query(UPDATE, [org.id, org.name, org.defaultTtlSeconds, org.minTtlSeconds, org.maxTtlSeconds, org.maxTokenLifetimeSeconds,
      ...ORG_LIMITS.map((l) => org.limits[l.key])]);
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.sql.query('DELETE FROM orgs WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }
}
