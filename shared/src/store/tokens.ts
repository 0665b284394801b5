import type { Db } from './db.js';
import type { RuleLayer } from '../acl/rights.js';

export interface TokenRecord {
  id: string;
  orgId: string;
  userRef: string;
  passwordHash: string;
  integrationId: string | null;
  /** The token's own layers of the rights intersection (from the mint request). */
  scopes: RuleLayer[];
  apiKeyId: string | null;
  issuedAt: number;
  expiresAt: number;
  refreshedAt: number | null;
  revokedAt: number | null;
  revokeReason: string | null;
}

export interface TokenRow {
  id: string; org_id: string; user_ref: string; password_hash: string; integration_id: string | null; scopes: string;
  api_key_id: string | null; issued_at: number; expires_at: number; refreshed_at: number | null; revoked_at: number | null;
  revoke_reason: string | null;
}

export const toToken = (r: TokenRow): TokenRecord => ({
  id: r.id, orgId: r.org_id, userRef: r.user_ref, passwordHash: r.password_hash, integrationId: r.integration_id,
  scopes: JSON.parse(r.scopes) as RuleLayer[], apiKeyId: r.api_key_id, issuedAt: r.issued_at, expiresAt: r.expires_at,
  refreshedAt: r.refreshed_at, revokedAt: r.revoked_at, revokeReason: r.revoke_reason,
});

export type TokenState = 'live' | 'expired' | 'revoked';

export const tokenState = (t: Pick<TokenRecord, 'revokedAt' | 'expiresAt'>, now: number): TokenState =>
  t.revokedAt !== null ? 'revoked' : t.expiresAt <= now ? 'expired' : 'live';

export class TokenRepository {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly byHashStmt;
  private readonly rotateStmt;
  private readonly revokeStmt;
  private readonly liveOfUserStmt;
  private readonly listOfUserStmt;
  private readonly listOfOrgStmt;
  private readonly purgeStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(`INSERT INTO tokens (id, org_id, user_ref, password_hash, integration_id, scopes, api_key_id, issued_at, expires_at)
      VALUES (@id, @orgId, @userRef, @passwordHash, @integrationId, @scopes, @apiKeyId, @issuedAt, @expiresAt)`);
    this.getStmt = db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE id = ?');
    this.byHashStmt = db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE password_hash = ?');
    // Guarded by the old hash: two refreshes racing with the same password cannot both win.
    this.rotateStmt = db.prepare(`UPDATE tokens SET password_hash = @newHash, expires_at = @expiresAt, refreshed_at = @now
      WHERE id = @id AND password_hash = @oldHash AND revoked_at IS NULL AND expires_at > @now`);
    this.revokeStmt = db.prepare('UPDATE tokens SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL');
    this.liveOfUserStmt = db.prepare<[string, string, number], TokenRow>(
      'SELECT * FROM tokens WHERE org_id = ? AND user_ref = ? AND revoked_at IS NULL AND expires_at > ?');
    this.listOfUserStmt = db.prepare<[string, string, number], TokenRow>(
      'SELECT * FROM tokens WHERE org_id = ? AND user_ref = ? ORDER BY issued_at DESC LIMIT ?');
    this.listOfOrgStmt = db.prepare<[string, number, number], TokenRow>(
      `SELECT * FROM tokens WHERE org_id = ? AND (? = 0 OR (revoked_at IS NULL AND expires_at > ?)) ORDER BY issued_at DESC LIMIT 1000`);
    this.purgeStmt = db.prepare('DELETE FROM tokens WHERE expires_at < ?');
  }

  insert(t: Omit<TokenRecord, 'refreshedAt' | 'revokedAt' | 'revokeReason'>): void {
    this.insertStmt.run({ ...t, scopes: JSON.stringify(t.scopes) });
  }

  get(id: string): TokenRecord | undefined {
    const r = this.getStmt.get(id);
    return r && toToken(r);
  }

  byPasswordHash(hash: string): TokenRecord | undefined {
    const r = this.byHashStmt.get(hash);
    return r && toToken(r);
  }

  rotate(id: string, oldHash: string, newHash: string, expiresAt: number, now: number): boolean {
    return this.rotateStmt.run({ id, oldHash, newHash, expiresAt, now }).changes > 0;
  }

  revoke(id: string, reason: string, now: number): boolean {
    return this.revokeStmt.run(now, reason, id).changes > 0;
  }

  liveOfUser(orgId: string, userRef: string, now: number): TokenRecord[] {
    return this.liveOfUserStmt.all(orgId, userRef, now).map(toToken);
  }

  listOfUser(orgId: string, userRef: string, limit = 1000): TokenRecord[] {
    return this.listOfUserStmt.all(orgId, userRef, limit).map(toToken);
  }

  listOfOrg(orgId: string, liveOnly: boolean, now: number): TokenRecord[] {
    return this.listOfOrgStmt.all(orgId, liveOnly ? 1 : 0, now).map(toToken);
  }

  /** Removes tokens that expired before `before` (kept a while so refresh/CONNACK can say "expired"). */
  purgeExpired(before: number): number {
    return this.purgeStmt.run(before).changes;
  }
}
