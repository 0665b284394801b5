// Usage samples on PostgreSQL: the statements of ../usage.ts.
import type { Sql } from './sql.js';
import type { UsageStore } from '../types.js';
import { toUsageSample, USAGE_RETENTION_MS, type UsageRow, type UsageSample } from '../usage.js';

export class PgUsage implements UsageStore {
  constructor(private readonly sql: Sql) {}

  /**
   * One statement per sampling tick, whatever the number of organisations: atomic on the pool as
   * SQLite's transaction is. Its parts share one snapshot, so the purge cannot see the new rows; a
   * sample already past the retention is not inserted instead, which leaves the rows SQLite's
   * insert-then-purge leaves.
   */
  async record(samples: readonly UsageSample[], now: number): Promise<void> {
    await this.sql.query(`WITH purged AS (DELETE FROM usage_samples WHERE at < $7)
      INSERT INTO usage_samples (org_id, broker_id, at, interval_ms, connections, messages)
      SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS s(org_id, broker_id, at, interval_ms, connections, messages)
      WHERE s.at >= $7`,
    [samples.map((s) => s.orgId), samples.map((s) => s.brokerId), samples.map((s) => s.at), samples.map((s) => s.intervalMs),
      samples.map((s) => s.connections), samples.map((s) => s.messages), now - USAGE_RETENTION_MS]);
  }

  async since(orgId: string, after: number): Promise<UsageSample[]> {
    const { rows } = await this.sql.query<UsageRow>('SELECT * FROM usage_samples WHERE org_id = $1 AND at > $2 ORDER BY at', [orgId, after]);
    return rows.map(toUsageSample);
  }
}
