// Audit trail of credential events. By construction it has no column for a secret.
import type { Db } from './db.js';

export type AuditEvent =
  | 'token.minted' | 'token.refreshed' | 'token.revoked' | 'token.refresh_failed' | 'token.exchanged' | 'token.exchange_failed'
  | 'provider.added' | 'provider.removed'
  | 'key.created' | 'key.revoked' | 'key.rotated'
  | 'org.created' | 'rules.changed' | 'integration.created' | 'integration.deleted'
  | 'auth.failed' | 'session.kicked' | 'dashboard.signed_in';

export interface AuditEntry {
  id: number;
  at: number;
  event: AuditEvent;
  orgId: string | null;
  userId: string | null;
  userRef: string | null;
  tokenId: string | null;
  ip: string | null;
  userAgent: string | null;
  expiresAt: number | null;
  detail: Record<string, unknown> | null;
}

export type NewAuditEntry = Partial<Omit<AuditEntry, 'id' | 'at' | 'event'>> & { event: AuditEvent };

export interface AuditRow {
  id: number; at: number; event: AuditEvent; org_id: string | null; user_id: string | null; user_ref: string | null;
  token_id: string | null; ip: string | null; user_agent: string | null; expires_at: number | null; detail: string | null;
}

export interface AuditQuery {
  orgId?: string | undefined;
  userId?: string | undefined;
  event?: string | undefined;
  beforeId?: number | undefined;
  limit?: number | undefined;
}

export const toEntry = (r: AuditRow): AuditEntry => ({
  id: r.id, at: r.at, event: r.event, orgId: r.org_id, userId: r.user_id, userRef: r.user_ref, tokenId: r.token_id,
  ip: r.ip, userAgent: r.user_agent, expiresAt: r.expires_at, detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null,
});

export class AuditLog {
  private readonly insertStmt;
  private readonly queryStmt;
  private readonly allStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(`INSERT INTO audit (at, event, org_id, user_id, user_ref, token_id, ip, user_agent, expires_at, detail)
      VALUES (@at, @event, @orgId, @userId, @userRef, @tokenId, @ip, @userAgent, @expiresAt, @detail)`);
    this.queryStmt = db.prepare<Record<string, unknown>, AuditRow>(`SELECT * FROM audit
      WHERE (@orgId IS NULL OR org_id = @orgId) AND (@userId IS NULL OR user_id = @userId OR user_ref = @userId)
        AND (@event IS NULL OR event = @event) AND (@beforeId IS NULL OR id < @beforeId)
      ORDER BY id DESC LIMIT @limit`);
    this.allStmt = db.prepare<Record<string, unknown>, AuditRow>(`SELECT * FROM audit
      WHERE (@orgId IS NULL OR org_id = @orgId) AND (@before IS NULL OR at < @before) ORDER BY id`);
  }

  record(e: NewAuditEntry, now: number): void {
    this.insertStmt.run({
      at: now, event: e.event, orgId: e.orgId ?? null, userId: e.userId ?? null, userRef: e.userRef ?? null,
      tokenId: e.tokenId ?? null, ip: e.ip ?? null, userAgent: e.userAgent?.slice(0, 512) ?? null,
      expiresAt: e.expiresAt ?? null, detail: e.detail ? JSON.stringify(e.detail) : null,
    });
  }

  /**
   * Every row (of one org, before a time), oldest first: for export before a purge. Read whole, not
   * lazily: an iterator left open would run outside the store's transaction gate and keep the
   * connection busy for the next transaction.
   */
  all(q: { orgId: string | null; before: number | null }): AuditEntry[] {
    return this.allStmt.all({ orgId: q.orgId, before: q.before }).map(toEntry);
  }

  query(q: AuditQuery): AuditEntry[] {
    return this.queryStmt
      .all({ orgId: q.orgId ?? null, userId: q.userId ?? null, event: q.event ?? null, beforeId: q.beforeId ?? null, limit: Math.min(q.limit ?? 100, 1000) })
      .map(toEntry);
  }
}
