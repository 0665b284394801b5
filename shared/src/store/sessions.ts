// Live MQTT sessions as the broker sees them; read by the API for presence and session lists.
import type { Db } from './db.js';

export interface SessionRecord {
  brokerId: string;
  orgId: string;
  clientId: string;
  userRef: string;
  tokenId: string;
  address: string | null;
  protocol: string;
  connectedAt: number;
  expiresAt: number;
}

export interface SessionRow {
  broker_id: string; org_id: string; client_id: string; user_ref: string; token_id: string; address: string | null;
  protocol: string; connected_at: number; expires_at: number;
}

export const toSession = (r: SessionRow): SessionRecord => ({
  brokerId: r.broker_id, orgId: r.org_id, clientId: r.client_id, userRef: r.user_ref, tokenId: r.token_id,
  address: r.address, protocol: r.protocol, connectedAt: r.connected_at, expiresAt: r.expires_at,
});

export class SessionRepository {
  private readonly upsertStmt;
  private readonly removeStmt;
  private readonly listStmt;
  private readonly byClientStmt;
  private readonly ofUserStmt;
  private readonly clearBrokerStmt;
  private readonly countUserStmt;
  private readonly setExpiryStmt;
  private readonly brokerIdsStmt;

  constructor(db: Db) {
    this.upsertStmt = db.prepare(`INSERT INTO sessions (broker_id, org_id, client_id, user_ref, token_id, address, protocol, connected_at, expires_at)
      VALUES (@brokerId, @orgId, @clientId, @userRef, @tokenId, @address, @protocol, @connectedAt, @expiresAt)
      ON CONFLICT (org_id, client_id) DO UPDATE SET broker_id = excluded.broker_id, user_ref = excluded.user_ref,
        token_id = excluded.token_id, address = excluded.address, protocol = excluded.protocol,
        connected_at = excluded.connected_at, expires_at = excluded.expires_at`);
    // Only the broker that holds the session may remove it, and only rows of that connect or older
    // (a takeover re-registers first; connect times are monotonic per broker).
    this.removeStmt = db.prepare('DELETE FROM sessions WHERE org_id = ? AND client_id = ? AND broker_id = ? AND connected_at <= ?');
    this.listStmt = db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE org_id = ? ORDER BY connected_at');
    this.byClientStmt = db.prepare<[string, string], SessionRow>('SELECT * FROM sessions WHERE org_id = ? AND client_id = ?');
    this.ofUserStmt = db.prepare<[string, string], SessionRow>('SELECT * FROM sessions WHERE org_id = ? AND user_ref = ?');
    this.countUserStmt = db.prepare<[string, string], { n: number }>('SELECT COUNT(*) AS n FROM sessions WHERE org_id = ? AND user_ref = ?');
    this.clearBrokerStmt = db.prepare('DELETE FROM sessions WHERE broker_id = ?');
    this.setExpiryStmt = db.prepare('UPDATE sessions SET expires_at = ? WHERE token_id = ?');
    this.brokerIdsStmt = db.prepare<[], { broker_id: string }>('SELECT DISTINCT broker_id FROM sessions');
  }

  upsert(s: SessionRecord): void {
    this.upsertStmt.run(s);
  }

  /** False when no row went (a newer connect of that client id, here or on another broker, holds it). */
  removeUpTo(orgId: string, clientId: string, brokerId: string, connectedAt: number): boolean {
    return this.removeStmt.run(orgId, clientId, brokerId, connectedAt).changes > 0;
  }

  byClient(orgId: string, clientId: string): SessionRecord | undefined {
    const r = this.byClientStmt.get(orgId, clientId);
    return r && toSession(r);
  }

  list(orgId: string): SessionRecord[] {
    return this.listStmt.all(orgId).map(toSession);
  }

  ofUser(orgId: string, userRef: string): SessionRecord[] {
    return this.ofUserStmt.all(orgId, userRef).map(toSession);
  }

  countOfUser(orgId: string, userRef: string): number {
    return this.countUserStmt.get(orgId, userRef)!.n;
  }

  /** A broker that (re)starts owns no sessions: rows it left behind are stale. */
  clearBroker(brokerId: string): void {
    this.clearBrokerStmt.run(brokerId);
  }

  /** Brokers that have rows (a starting broker removes those of dead ones). */
  brokerIds(): string[] {
    return this.brokerIdsStmt.all().map((r) => r.broker_id);
  }

  setExpiryOfToken(tokenId: string, expiresAt: number): void {
    this.setExpiryStmt.run(expiresAt, tokenId);
  }
}
