// Live MQTT sessions on PostgreSQL: the statements of ../sessions.ts.
import type { Sql } from './sql.js';
import type { SessionStore } from '../types.js';
import { toSession, type SessionRecord, type SessionRow } from '../sessions.js';

export class PgSessions implements SessionStore {
  constructor(private readonly sql: Sql) {}

  async upsert(s: SessionRecord): Promise<void> {
    await this.sql.query(`INSERT INTO sessions (broker_id, org_id, client_id, user_ref, token_id, address, protocol, connected_at, expires_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
      ON CONFLICT (org_id, client_id) DO UPDATE SET broker_id = excluded.broker_id, user_ref = excluded.user_ref,
        token_id = excluded.token_id, address = excluded.address, protocol = excluded.protocol,
        connected_at = excluded.connected_at, expires_at = excluded.expires_at`,
    [s.brokerId, s.orgId, s.clientId, s.userRef, s.tokenId, s.address, s.protocol, s.connectedAt, s.expiresAt]);
  }

  /**
   * False when no row went (a newer connect of that client id, here or on another broker, holds it).
   * Only the broker that holds the session may remove it, and only rows of that connect or older.
   */
  async removeUpTo(orgId: string, clientId: string, brokerId: string, connectedAt: number): Promise<boolean> {
    const r = await this.sql.query('DELETE FROM sessions WHERE org_id = $1 AND client_id = $2 AND broker_id = $3 AND connected_at <= $4',
      [orgId, clientId, brokerId, connectedAt]);
    return (r.rowCount ?? 0) > 0;
  }

  async byClient(orgId: string, clientId: string): Promise<SessionRecord | undefined> {
    const { rows } = await this.sql.query<SessionRow>('SELECT * FROM sessions WHERE org_id = $1 AND client_id = $2', [orgId, clientId]);
    return rows[0] && toSession(rows[0]);
  }

  async list(orgId: string): Promise<SessionRecord[]> {
    const { rows } = await this.sql.query<SessionRow>('SELECT * FROM sessions WHERE org_id = $1 ORDER BY connected_at', [orgId]);
    return rows.map(toSession);
  }

  /** In connect order (SQLite's statement names none and answers in rowid order; a PostgreSQL heap has none). */
  async ofUser(orgId: string, userRef: string): Promise<SessionRecord[]> {
    const { rows } = await this.sql.query<SessionRow>(
      'SELECT * FROM sessions WHERE org_id = $1 AND user_ref = $2 ORDER BY connected_at, client_id', [orgId, userRef]);
    return rows.map(toSession);
  }

  async countOfUser(orgId: string, userRef: string): Promise<number> {
    const { rows } = await this.sql.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM sessions WHERE org_id = $1 AND user_ref = $2', [orgId, userRef]);
    return rows[0]!.n;
  }

  /** A broker that (re)starts owns no sessions: rows it left behind are stale. */
  async clearBroker(brokerId: string): Promise<void> {
    await this.sql.query('DELETE FROM sessions WHERE broker_id = $1', [brokerId]);
  }

  /** Brokers that have rows (a starting broker removes those of dead ones). */
  async brokerIds(): Promise<string[]> {
    const { rows } = await this.sql.query<{ broker_id: string }>('SELECT DISTINCT broker_id FROM sessions');
    return rows.map((r) => r.broker_id);
  }

  async setExpiryOfToken(tokenId: string, expiresAt: number): Promise<void> {
    await this.sql.query('UPDATE sessions SET expires_at = $1 WHERE token_id = $2', [expiresAt, tokenId]);
  }
}
