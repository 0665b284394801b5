import type { Db } from './db.js';
import { UUID_PATTERN } from '../credentials/secrets.js';
import { limitsOfRow, ORG_LIMITS, type OrgLimits } from '../orgLimits.js';

export type { OrgLimits } from '../orgLimits.js';

export interface Org {
  /** `org_` + 12 characters: the short id of MQTT usernames. */
  id: string;
  /** The same organisation's UUID (the official SDK's "organization UUID"); either id is accepted. */
  uuid: string;
  name: string;
  createdAt: number;
  defaultTtlSeconds: number;
  minTtlSeconds: number;
  maxTtlSeconds: number;
  /** A token lives at most this long from its mint, however often it is refreshed. */
  maxTokenLifetimeSeconds: number;
  limits: OrgLimits;
}

export interface OrgRow {
  id: string; uuid: string; name: string; created_at: number; default_ttl_seconds: number; min_ttl_seconds: number;
  max_ttl_seconds: number; max_token_lifetime_seconds: number;
  /** The limit columns, named by ORG_LIMITS' `field`. */
  [limit: string]: unknown;
}

export const toOrg = (r: OrgRow): Org => ({
  id: r.id,
  uuid: r.uuid,
  name: r.name,
  createdAt: r.created_at,
  defaultTtlSeconds: r.default_ttl_seconds,
  minTtlSeconds: r.min_ttl_seconds,
  maxTtlSeconds: r.max_ttl_seconds,
  maxTokenLifetimeSeconds: r.max_token_lifetime_seconds,
  limits: limitsOfRow(r),
});

export interface OrgSettings {
  name?: string;
  defaultTtlSeconds?: number;
  minTtlSeconds?: number;
  maxTtlSeconds?: number;
  maxTokenLifetimeSeconds?: number;
  limits?: Partial<OrgLimits>;
}

export class OrgRepository {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly byUuidStmt;
  private readonly listStmt;
  private readonly updateStmt;
  private readonly deleteStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare('INSERT INTO orgs (id, uuid, name, created_at) VALUES (?, ?, ?, ?)');
    this.getStmt = db.prepare<[string], OrgRow>('SELECT * FROM orgs WHERE id = ?');
    this.byUuidStmt = db.prepare<[string], OrgRow>('SELECT * FROM orgs WHERE uuid = ?');
    this.listStmt = db.prepare<[], OrgRow>('SELECT * FROM orgs ORDER BY created_at, id');
    this.updateStmt = db.prepare(`UPDATE orgs SET name = @name, default_ttl_seconds = @defaultTtlSeconds,
      min_ttl_seconds = @minTtlSeconds, max_ttl_seconds = @maxTtlSeconds, max_token_lifetime_seconds = @maxTokenLifetimeSeconds,
      ${ORG_LIMITS.map((l) => `${l.field} = @${l.key}`).join(', ')} WHERE id = @id`);
    this.deleteStmt = db.prepare('DELETE FROM orgs WHERE id = ?');
  }

  insert(id: string, uuid: string, name: string, now: number): void {
    this.insertStmt.run(id, uuid, name, now);
  }

  /** By the short id (`org_…`), the form every other table stores. */
  get(id: string): Org | undefined {
    const r = this.getStmt.get(id);
    return r && toOrg(r);
  }

  /** By either id: the short one or the UUID (what callers outside may name an org by). */
  byRef(ref: string): Org | undefined {
    const r = this.getStmt.get(ref) ?? (UUID_PATTERN.test(ref) ? this.byUuidStmt.get(ref.toLowerCase()) : undefined);
    return r && toOrg(r);
  }

  list(): Org[] {
    return this.listStmt.all().map(toOrg);
  }

  /** Writes the whole settings record; callers merge and validate first. */
  update(org: Org): void {
    this.updateStmt.run({ id: org.id, name: org.name, defaultTtlSeconds: org.defaultTtlSeconds, minTtlSeconds: org.minTtlSeconds,
      maxTtlSeconds: org.maxTtlSeconds, maxTokenLifetimeSeconds: org.maxTokenLifetimeSeconds, ...org.limits });
  }

  delete(id: string): boolean {
    return this.deleteStmt.run(id).changes > 0;
  }
}
