import type { Db } from './db.js';

export interface ApiKey {
  id: string;
  orgId: string;
  prefix: string;
  hash: string;
  name: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** Set when a rotation gave the key an overlap window, or when created with an expiry. */
  expiresAt: number | null;
  replacedBy: string | null;
}

export interface ApiKeyRow {
  id: string; org_id: string; prefix: string; hash: string; name: string | null; created_at: number;
  last_used_at: number | null; revoked_at: number | null; expires_at: number | null; replaced_by: string | null;
}

export const toApiKey = (r: ApiKeyRow): ApiKey => ({
  id: r.id, orgId: r.org_id, prefix: r.prefix, hash: r.hash, name: r.name, createdAt: r.created_at,
  lastUsedAt: r.last_used_at, revokedAt: r.revoked_at, expiresAt: r.expires_at, replacedBy: r.replaced_by,
});

/** last_used_at is advisory, kept to the minute: writing it on every request would put a write on every call. */
export const LAST_USED_RESOLUTION_MS = 60_000;
export const isLastUseStale = (k: ApiKey, now: number) => k.lastUsedAt === null || k.lastUsedAt < now - LAST_USED_RESOLUTION_MS;

export const isKeyUsable = (k: ApiKey, now: number) => k.revokedAt === null && (k.expiresAt === null || k.expiresAt > now);

export class ApiKeyRepository {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly byPrefixStmt;
  private readonly listStmt;
  private readonly touchStmt;
  private readonly revokeStmt;
  private readonly expireStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(`INSERT INTO api_keys (id, org_id, prefix, hash, name, created_at, expires_at)
      VALUES (@id, @orgId, @prefix, @hash, @name, @createdAt, @expiresAt)`);
    this.getStmt = db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?');
    this.byPrefixStmt = db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE prefix = ?');
    this.listStmt = db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE org_id = ? ORDER BY created_at, id');
    this.touchStmt = db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)');
    this.revokeStmt = db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
    this.expireStmt = db.prepare('UPDATE api_keys SET expires_at = ?, replaced_by = ? WHERE id = ?');
  }

  insert(k: Pick<ApiKey, 'id' | 'orgId' | 'prefix' | 'hash' | 'name' | 'createdAt' | 'expiresAt'>): void {
    this.insertStmt.run(k);
  }

  get(id: string): ApiKey | undefined {
    const r = this.getStmt.get(id);
    return r && toApiKey(r);
  }

  findByPrefix(prefix: string): ApiKey[] {
    return this.byPrefixStmt.all(prefix).map(toApiKey);
  }

  list(orgId: string): ApiKey[] {
    return this.listStmt.all(orgId).map(toApiKey);
  }

  touch(id: string, now: number): void {
    this.touchStmt.run(now, id, now - LAST_USED_RESOLUTION_MS);
  }

  revoke(id: string, now: number): boolean {
    return this.revokeStmt.run(now, id).changes > 0;
  }

  setExpiry(id: string, expiresAt: number, replacedBy: string | null): void {
    this.expireStmt.run(expiresAt, replacedBy, id);
  }
}
