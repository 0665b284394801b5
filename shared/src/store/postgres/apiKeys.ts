// API keys on PostgreSQL: the statements of ../apiKeys.ts.
import type { Sql } from './sql.js';
import type { ApiKeyStore } from '../types.js';
import { LAST_USED_RESOLUTION_MS, toApiKey, type ApiKey, type ApiKeyRow } from '../apiKeys.js';

export class PgApiKeys implements ApiKeyStore {
  constructor(private readonly sql: Sql) {}

  async insert(k: Pick<ApiKey, 'id' | 'orgId' | 'prefix' | 'hash' | 'name' | 'createdAt' | 'expiresAt'>): Promise<void> {
    await this.sql.query(`INSERT INTO api_keys (id, org_id, prefix, hash, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [k.id, k.orgId, k.prefix, k.hash, k.name, k.createdAt, k.expiresAt]);
  }

  async get(id: string): Promise<ApiKey | undefined> {
    const { rows } = await this.sql.query<ApiKeyRow>('SELECT * FROM api_keys WHERE id = $1', [id]);
    return rows[0] && toApiKey(rows[0]);
  }

  async findByPrefix(prefix: string): Promise<ApiKey[]> {
    const { rows } = await this.sql.query<ApiKeyRow>('SELECT * FROM api_keys WHERE prefix = $1', [prefix]);
    return rows.map(toApiKey);
  }

  async list(orgId: string): Promise<ApiKey[]> {
    const { rows } = await this.sql.query<ApiKeyRow>('SELECT * FROM api_keys WHERE org_id = $1 ORDER BY created_at, id', [orgId]);
    return rows.map(toApiKey);
  }

  async touch(id: string, now: number): Promise<void> {
    await this.sql.query('UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)',
      [now, id, now - LAST_USED_RESOLUTION_MS]);
  }

  async revoke(id: string, now: number): Promise<boolean> {
    return ((await this.sql.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id])).rowCount ?? 0) > 0;
  }

  async setExpiry(id: string, expiresAt: number, replacedBy: string | null): Promise<void> {
    await this.sql.query('UPDATE api_keys SET expires_at = $1, replaced_by = $2 WHERE id = $3', [expiresAt, replacedBy, id]);
  }
}
