// Identity providers an organisation trusts for /v2/tokens/exchange: one row per provider, unique
// by name and by issuer within the org (the JWT's `iss` picks the row).
import type { Db } from './db.js';
import type { ProviderConfig, ProviderType } from '../identity/index.js';

export interface IdentityProvider extends ProviderConfig {
  orgId: string;
  /** What the API answers as `provider` (default: the type, e.g. `supabase`). */
  name: string;
  createdAt: number;
}

export interface ProviderRow {
  org_id: string; name: string; type: string; issuer: string; jwks_url: string | null; secret: string | null;
  audience: string | null; user_id_claim: string; email_claim: string; created_at: number;
}

export const toProvider = (r: ProviderRow): IdentityProvider => ({
  orgId: r.org_id, name: r.name, type: r.type as ProviderType, issuer: r.issuer, jwksUrl: r.jwks_url, secret: r.secret,
  audience: r.audience, userIdClaim: r.user_id_claim, emailClaim: r.email_claim, createdAt: r.created_at,
});

export class IdentityProviderRepository {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly byIssuerStmt;
  private readonly listStmt;
  private readonly deleteStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(`INSERT INTO identity_providers (org_id, name, type, issuer, jwks_url, secret, audience, user_id_claim, email_claim, created_at)
      VALUES (@orgId, @name, @type, @issuer, @jwksUrl, @secret, @audience, @userIdClaim, @emailClaim, @createdAt)`);
    this.getStmt = db.prepare<[string, string], ProviderRow>('SELECT * FROM identity_providers WHERE org_id = ? AND name = ?');
    this.byIssuerStmt = db.prepare<[string, string], ProviderRow>('SELECT * FROM identity_providers WHERE org_id = ? AND issuer = ?');
    this.listStmt = db.prepare<[string], ProviderRow>('SELECT * FROM identity_providers WHERE org_id = ? ORDER BY name');
    this.deleteStmt = db.prepare('DELETE FROM identity_providers WHERE org_id = ? AND name = ?');
  }

  insert(p: IdentityProvider): void {
    this.insertStmt.run(p);
  }

  get(orgId: string, name: string): IdentityProvider | undefined {
    const r = this.getStmt.get(orgId, name);
    return r && toProvider(r);
  }

  byIssuer(orgId: string, issuer: string): IdentityProvider | undefined {
    const r = this.byIssuerStmt.get(orgId, issuer);
    return r && toProvider(r);
  }

  list(orgId: string): IdentityProvider[] {
    return this.listStmt.all(orgId).map(toProvider);
  }

  delete(orgId: string, name: string): boolean {
    return this.deleteStmt.run(orgId, name).changes > 0;
  }
}
