// The audit trail on PostgreSQL: the statements of ../audit.ts.
import type { Sql } from './sql.js';
import type { AuditStore } from '../types.js';
import { toEntry, type AuditEntry, type AuditQuery, type AuditRow, type NewAuditEntry } from '../audit.js';

export class PgAudit implements AuditStore {
  constructor(private readonly sql: Sql) {}

  async record(e: NewAuditEntry, now: number): Promise<void> {
    await this.sql.query(`INSERT INTO audit (at, event, org_id, user_id, user_ref, token_id, ip, user_agent, expires_at, detail)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, [
      now, e.event, e.orgId ?? null, e.userId ?? null, e.userRef ?? null, e.tokenId ?? null, e.ip ?? null,
      e.userAgent?.slice(0, 512) ?? null, e.expiresAt ?? null, e.detail ? JSON.stringify(e.detail) : null,
    ]);
  }

  /**
   * Every row (of one org, before a time), oldest first: for export before a purge. The interface's
   * iterator is synchronous, so the rows are read in full first; only their parsing is lazy.
   */
  async all(q: { orgId: string | null; before: number | null }): Promise<AuditEntry[]> {
    const { rows } = await this.sql.query<AuditRow>(`SELECT * FROM audit
      WHERE ($1::text IS NULL OR org_id = $1) AND ($2::bigint IS NULL OR at < $2) ORDER BY id`, [q.orgId, q.before]);
    return rows.map(toEntry);
  }

  async query(q: AuditQuery): Promise<AuditEntry[]> {
    const { rows } = await this.sql.query<AuditRow>(`SELECT * FROM audit
      WHERE ($1::text IS NULL OR org_id = $1) AND ($2::text IS NULL OR user_id = $2 OR user_ref = $2)
        AND ($3::text IS NULL OR event = $3) AND ($4::bigint IS NULL OR id < $4)
      ORDER BY id DESC LIMIT $5`,
    [q.orgId ?? null, q.userId ?? null, q.event ?? null, q.beforeId ?? null, Math.min(q.limit ?? 100, 1000)]);
    return rows.map(toEntry);
  }
}
