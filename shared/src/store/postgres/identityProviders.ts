// Identity providers on PostgreSQL: the statements of ../identityProviders.ts.
import type { Sql } from './sql.js';
import type { IdentityProviderStore } from '../types.js';
import { toProvider, type IdentityProvider, type ProviderRow } from '../identityProviders.js';

export class PgIdentityProviders implements IdentityProviderStore {
  constructor(private readonly sql: Sql) {}

  async insert(p: IdentityProvider): Promise<void> {
    await this.sql.query(`INSERT INTO identity_providers (org_id, name, type, issuer, jwks_url, secret, audience, user_id_claim, email_claim, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [p.orgId, p.name, p.type, p.issuer, p.jwksUrl, p.secret, p.audience, p.userIdClaim, p.emailClaim, p.createdAt]);
  }

  async get(orgId: string, name: string): Promise<IdentityProvider | undefined> {
    const { rows } = await this.sql.query<ProviderRow>('SELECT * FROM identity_providers WHERE org_id = $1 AND name = $2', [orgId, name]);
    return rows[0] && toProvider(rows[0]);
  }

  async byIssuer(orgId: string, issuer: string): Promise<IdentityProvider | undefined> {
    const { rows } = await this.sql.query<ProviderRow>('SELECT * FROM identity_providers WHERE org_id = $1 AND issuer = $2', [orgId, issuer]);
    return rows[0] && toProvider(rows[0]);
  }

  async list(orgId: string): Promise<IdentityProvider[]> {
    const { rows } = await this.sql.query<ProviderRow>('SELECT * FROM identity_providers WHERE org_id = $1 ORDER BY name', [orgId]);
    return rows.map(toProvider);
  }

  async delete(orgId: string, name: string): Promise<boolean> {
    return ((await this.sql.query('DELETE FROM identity_providers WHERE org_id = $1 AND name = $2', [orgId, name])).rowCount ?? 0) > 0;
  }
}
