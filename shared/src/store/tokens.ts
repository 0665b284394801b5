import type { Db } from './db.js';
import type { RuleLayer } from '../acl/rights.js';

export interface TokenRecord {
  id: string;
  orgId: string;
  userRef: string;
  /** The newest password's hash: the one a refresh must prove. Earlier ones still open connections (token_passwords). */
  passwordHash: string;
  integrationId: string | null;
  /** The identity provider whose JWT was exchanged for this token; null for key-minted tokens. */
  provider: string | null;
  /** The token's own layers of the rights intersection (from the mint request). */
  scopes: RuleLayer[];
  apiKeyId: string | null;
  issuedAt: number;
  expiresAt: number;
  refreshedAt: number | null;
  /** When a session using this token last ended (null: none has, or none was seen). */
  lastUsedAt: number | null;
  revokedAt: number | null;
  revokeReason: string | null;
}

export interface TokenRow {
  id: string; org_id: string; user_ref: string; password_hash: string; integration_id: string | null; scopes: string;
  provider: string | null; api_key_id: string | null; issued_at: number; expires_at: number; refreshed_at: number | null; last_used_at: number | null; revoked_at: number | null;
  revoke_reason: string | null;
}

export const toToken = (r: TokenRow): TokenRecord => ({
  id: r.id, orgId: r.org_id, userRef: r.user_ref, passwordHash: r.password_hash, integrationId: r.integration_id,
  provider: r.provider, scopes: JSON.parse(r.scopes) as RuleLayer[], apiKeyId: r.api_key_id, issuedAt: r.issued_at, expiresAt: r.expires_at,
  refreshedAt: r.refreshed_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at, revokeReason: r.revoke_reason,
});

export type TokenState = 'live' | 'expired' | 'revoked';

export const tokenState = (t: Pick<TokenRecord, 'revokedAt' | 'expiresAt'>, now: number): TokenState =>
  t.revokedAt !== null ? 'revoked' : t.expiresAt <= now ? 'expired' : 'live';

/**
 * Passwords a token keeps besides its newest: the first (mqtt.js reconnects with the password of
 * the client's first CONNECT for its whole life) and the most recent ones, up to this many in all.
 */
export const PASSWORDS_KEPT_PER_TOKEN = 8;

export class TokenRepository {
  private readonly insertStmt;
  private readonly insertPasswordStmt;
  private readonly prunePasswordsStmt;
  private readonly getStmt;
  private readonly byIdsStmt;
  private readonly byHashStmt;
  private readonly rotateStmt;
  private readonly revokeStmt;
  private readonly liveOfUserStmt;
  private readonly liveOfKeyStmt;
  private readonly listOfUserStmt;
  private readonly listOfOrgStmt;
  private readonly purgeStmt;
  private readonly touchStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(`INSERT INTO tokens (id, org_id, user_ref, password_hash, integration_id, provider, scopes, api_key_id, issued_at, expires_at)
      VALUES (@id, @orgId, @userRef, @passwordHash, @integrationId, @provider, @scopes, @apiKeyId, @issuedAt, @expiresAt)`);
    this.insertPasswordStmt = db.prepare('INSERT INTO token_passwords (password_hash, token_id, created_at) VALUES (?, ?, ?)');
    // rowid order is insertion order: the lowest is the first password, never pruned.
    this.prunePasswordsStmt = db.prepare(`DELETE FROM token_passwords WHERE token_id = @id
      AND rowid <> (SELECT MIN(rowid) FROM token_passwords WHERE token_id = @id)
      AND rowid NOT IN (SELECT rowid FROM token_passwords WHERE token_id = @id ORDER BY rowid DESC LIMIT @recent)`);
    this.getStmt = db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE id = ?');
    this.byIdsStmt = db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE id IN (SELECT value FROM json_each(?))');
    this.byHashStmt = db.prepare<[string], TokenRow>(
      'SELECT t.* FROM token_passwords p JOIN tokens t ON t.id = p.token_id WHERE p.password_hash = ?');
    // Guarded by the old hash: two refreshes racing with the same password cannot both win.
    this.rotateStmt = db.prepare(`UPDATE tokens SET password_hash = @newHash, expires_at = @expiresAt, refreshed_at = @now
      WHERE id = @id AND password_hash = @oldHash AND revoked_at IS NULL AND expires_at > @now`);
    this.revokeStmt = db.prepare('UPDATE tokens SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL');
    this.liveOfUserStmt = db.prepare<[string, string, number], TokenRow>(
      'SELECT * FROM tokens WHERE org_id = ? AND user_ref = ? AND revoked_at IS NULL AND expires_at > ?');
    this.liveOfKeyStmt = db.prepare<[string, string, number], TokenRow>(
      'SELECT * FROM tokens WHERE api_key_id = ? AND org_id = ? AND revoked_at IS NULL AND expires_at > ?');
    this.listOfUserStmt = db.prepare<[string, string, number], TokenRow>(
      'SELECT * FROM tokens WHERE org_id = ? AND user_ref = ? ORDER BY issued_at DESC LIMIT ?');
    this.listOfOrgStmt = db.prepare<[string, number, number], TokenRow>(
      `SELECT * FROM tokens WHERE org_id = ? AND (? = 0 OR (revoked_at IS NULL AND expires_at > ?)) ORDER BY issued_at DESC LIMIT 1000`);
    this.purgeStmt = db.prepare('DELETE FROM tokens WHERE expires_at < ?');
    this.touchStmt = db.prepare('UPDATE tokens SET last_used_at = @at WHERE id = @id AND (last_used_at IS NULL OR last_used_at < @at)');
  }

  insert(t: Omit<TokenRecord, 'refreshedAt' | 'lastUsedAt' | 'revokedAt' | 'revokeReason'>): void {
    this.insertStmt.run({ ...t, scopes: JSON.stringify(t.scopes) });
    this.insertPasswordStmt.run(t.passwordHash, t.id, t.issuedAt);
  }

  get(id: string): TokenRecord | undefined {
    const r = this.getStmt.get(id);
    return r && toToken(r);
  }

  /** The tokens among `ids` (in no order; unknown ids are left out): one read for many sessions. */
  byIds(ids: readonly string[]): TokenRecord[] {
    return ids.length === 0 ? [] : this.byIdsStmt.all(JSON.stringify(ids)).map(toToken);
  }

  /** The token any of whose kept passwords has this hash. */
  byPasswordHash(hash: string): TokenRecord | undefined {
    const r = this.byHashStmt.get(hash);
    return r && toToken(r);
  }

  /** Makes `newHash` the newest password (when `oldHash` still is) and keeps the earlier ones within the bound. */
  rotate(id: string, oldHash: string, newHash: string, expiresAt: number, now: number): boolean {
    if (this.rotateStmt.run({ id, oldHash, newHash, expiresAt, now }).changes === 0) return false;
    this.insertPasswordStmt.run(newHash, id, now);
    this.prunePasswordsStmt.run({ id, recent: PASSWORDS_KEPT_PER_TOKEN - 1 });
    return true;
  }

  revoke(id: string, reason: string, now: number): boolean {
    return this.revokeStmt.run(now, reason, id).changes > 0;
  }

  liveOfUser(orgId: string, userRef: string, now: number): TokenRecord[] {
    return this.liveOfUserStmt.all(orgId, userRef, now).map(toToken);
  }

  /** Live tokens the API key `keyId` minted. */
  liveOfKey(orgId: string, keyId: string, now: number): TokenRecord[] {
    return this.liveOfKeyStmt.all(keyId, orgId, now).map(toToken);
  }

  listOfUser(orgId: string, userRef: string, limit = 1000): TokenRecord[] {
    return this.listOfUserStmt.all(orgId, userRef, limit).map(toToken);
  }

  listOfOrg(orgId: string, liveOnly: boolean, now: number): TokenRecord[] {
    return this.listOfOrgStmt.all(orgId, liveOnly ? 1 : 0, now).map(toToken);
  }

  /** A session using token `id` ended at `at`. */
  touch(id: string, at: number): void {
    this.touchStmt.run({ id, at });
  }

  /** Removes tokens that expired before `before` (kept a while so refresh/CONNACK can say "expired"). */
  purgeExpired(before: number): number {
    return this.purgeStmt.run(before).changes;
  }
}
