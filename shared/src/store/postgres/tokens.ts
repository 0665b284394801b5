// Tokens and the passwords each keeps, on PostgreSQL: the statements of ../tokens.ts.
import type { Sql } from './sql.js';
import type { TokenStore } from '../types.js';
import { PASSWORDS_KEPT_PER_TOKEN, toToken, type TokenRecord, type TokenRow } from '../tokens.js';

// SQLite's statements that list live tokens have no ORDER BY and answer in insertion (rowid) order;
// a PostgreSQL heap has no such order (an updated row moves), so these say `ORDER BY issued_at, id`,
// the same order for tokens minted one after another.
export class PgTokens implements TokenStore {
  constructor(private readonly sql: Sql) {}

  /** One statement: the token and its first password are stored together even outside a transaction. */
  async insert(t: Omit<TokenRecord, 'refreshedAt' | 'lastUsedAt' | 'revokedAt' | 'revokeReason'>): Promise<void> {
    await this.sql.query(`WITH t AS (
        INSERT INTO tokens (id, org_id, user_ref, password_hash, integration_id, provider, scopes, api_key_id, issued_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id, password_hash, issued_at)
      INSERT INTO token_passwords (password_hash, token_id, created_at) SELECT password_hash, id, issued_at FROM t`,
    [t.id, t.orgId, t.userRef, t.passwordHash, t.integrationId, t.provider, JSON.stringify(t.scopes), t.apiKeyId, t.issuedAt, t.expiresAt]);
  }

  async byIds(ids: readonly string[]): Promise<TokenRecord[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.sql.query<TokenRow>('SELECT * FROM tokens WHERE id = ANY($1::text[])', [[...ids]]);
    return rows.map(toToken);
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const { rows } = await this.sql.query<TokenRow>('SELECT * FROM tokens WHERE id = $1', [id]);
    return rows[0] && toToken(rows[0]);
  }

  /** The token any of whose kept passwords has this hash. */
  async byPasswordHash(hash: string): Promise<TokenRecord | undefined> {
    const { rows } = await this.sql.query<TokenRow>(
      'SELECT t.* FROM token_passwords p JOIN tokens t ON t.id = p.token_id WHERE p.password_hash = $1', [hash]);
    return rows[0] && toToken(rows[0]);
  }

  /**
   * Makes `newHash` the newest password (when `oldHash` still is) and keeps the earlier ones within
   * the bound, in one statement (atomic on the pool too). The update is guarded by the old hash: two
   * refreshes racing with the same password cannot both win. The statement's parts share one
   * snapshot, so the prune does not see the password added beside it: it keeps the first (lowest id,
   * insertion order) and one fewer of the most recent old ones, which leaves the same rows as
   * SQLite's insert-then-prune.
   */
  async rotate(id: string, oldHash: string, newHash: string, expiresAt: number, now: number): Promise<boolean> {
    const { rows } = await this.sql.query<{ n: number }>(`WITH rotated AS (
        UPDATE tokens SET password_hash = $3, expires_at = $4, refreshed_at = $5
        WHERE id = $1 AND password_hash = $2 AND revoked_at IS NULL AND expires_at > $5 RETURNING id),
      added AS (
        INSERT INTO token_passwords (password_hash, token_id, created_at) SELECT $3, id, $5 FROM rotated),
      pruned AS (
        DELETE FROM token_passwords WHERE token_id IN (SELECT id FROM rotated)
          AND id <> (SELECT MIN(id) FROM token_passwords WHERE token_id = $1)
          AND id NOT IN (SELECT id FROM token_passwords WHERE token_id = $1 ORDER BY id DESC LIMIT $6))
      SELECT COUNT(*)::int AS n FROM rotated`,
    [id, oldHash, newHash, expiresAt, now, PASSWORDS_KEPT_PER_TOKEN - 2]);
    return rows[0]!.n > 0;
  }

  async revoke(id: string, reason: string, now: number): Promise<boolean> {
    const r = await this.sql.query('UPDATE tokens SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL', [now, reason, id]);
    return (r.rowCount ?? 0) > 0;
  }

  async liveOfUser(orgId: string, userRef: string, now: number): Promise<TokenRecord[]> {
    const { rows } = await this.sql.query<TokenRow>(
      'SELECT * FROM tokens WHERE org_id = $1 AND user_ref = $2 AND revoked_at IS NULL AND expires_at > $3 ORDER BY issued_at, id',
      [orgId, userRef, now]);
    return rows.map(toToken);
  }

  /** Live tokens the API key `keyId` minted. */
  async liveOfKey(orgId: string, keyId: string, now: number): Promise<TokenRecord[]> {
    const { rows } = await this.sql.query<TokenRow>(
      'SELECT * FROM tokens WHERE api_key_id = $1 AND org_id = $2 AND revoked_at IS NULL AND expires_at > $3 ORDER BY issued_at, id',
      [keyId, orgId, now]);
    return rows.map(toToken);
  }

  async listOfUser(orgId: string, userRef: string, limit = 1000): Promise<TokenRecord[]> {
    const { rows } = await this.sql.query<TokenRow>(
      'SELECT * FROM tokens WHERE org_id = $1 AND user_ref = $2 ORDER BY issued_at DESC LIMIT $3', [orgId, userRef, limit]);
    return rows.map(toToken);
  }

  async listOfOrg(orgId: string, liveOnly: boolean, now: number): Promise<TokenRecord[]> {
    const { rows } = await this.sql.query<TokenRow>(`SELECT * FROM tokens
      WHERE org_id = $1 AND (NOT $2::boolean OR (revoked_at IS NULL AND expires_at > $3)) ORDER BY issued_at DESC LIMIT 1000`,
    [orgId, liveOnly, now]);
    return rows.map(toToken);
  }

  /** A session using token `id` ended at `at`. */
  async touch(id: string, at: number): Promise<void> {
    await this.sql.query('UPDATE tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)', [id, at]);
  }

  /** Removes tokens that expired before `before` (kept a while so refresh/CONNACK can say "expired"). */
  async purgeExpired(before: number): Promise<number> {
    return (await this.sql.query('DELETE FROM tokens WHERE expires_at < $1', [before])).rowCount ?? 0;
  }
}
