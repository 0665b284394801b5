import type { Db } from './db.js';
import { UUID_PATTERN } from '../credentials/secrets.js';

export interface OrgLimits {
  maxConnections: number | null;
  maxMessagesPerSecond: number | null;
  maxBytesPerSecond: number | null;
  maxPayloadBytes: number | null;
  tokenMessagesPerSecond: number | null;
  /** New CONNECTs per second across the organisation; beyond it the broker refuses the CONNECT. */
  maxConnectsPerSecond: number | null;
}

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
  max_ttl_seconds: number; max_token_lifetime_seconds: number; max_connections: number | null; max_messages_per_second: number | null;
  max_bytes_per_second: number | null; max_payload_bytes: number | null; token_messages_per_second: number | null;
  max_connects_per_second: number | null;
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
  limits: {
    maxConnections: r.max_connections,
    maxMessagesPerSecond: r.max_messages_per_second,
    maxBytesPerSecond: r.max_bytes_per_second,
    maxPayloadBytes: r.max_payload_bytes,
    tokenMessagesPerSecond: r.token_messages_per_second,
    maxConnectsPerSecond: r.max_connects_per_second,
  },
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
      max_connections = @maxConnections,
      max_messages_per_second = @maxMessagesPerSecond, max_bytes_per_second = @maxBytesPerSecond,
      max_payload_bytes = @maxPayloadBytes, token_messages_per_second = @tokenMessagesPerSecond,
      max_connects_per_second = @maxConnectsPerSecond WHERE id = @id`);
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
