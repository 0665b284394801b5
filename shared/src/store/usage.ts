// Per-organisation usage samples written by the broker every few seconds (connections open,
// messages accepted in the interval); read by the admin API for the dashboard's usage chart.
import type { Db } from './db.js';

export interface UsageSample {
  orgId: string;
  brokerId: string;
  at: number;
  intervalMs: number;
  connections: number;
  messages: number;
}

export interface UsageRow { org_id: string; broker_id: string; at: number; interval_ms: number; connections: number; messages: number }

export const toUsageSample = (r: UsageRow): UsageSample => ({
  orgId: r.org_id, brokerId: r.broker_id, at: r.at, intervalMs: r.interval_ms, connections: r.connections, messages: r.messages,
});

/** Samples older than this are deleted as new ones are written. */
export const USAGE_RETENTION_MS = 24 * 3600 * 1000;

export class UsageRepository {
  private readonly insertStmt;
  private readonly sinceStmt;
  private readonly purgeStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(`INSERT INTO usage_samples (org_id, broker_id, at, interval_ms, connections, messages)
      VALUES (@orgId, @brokerId, @at, @intervalMs, @connections, @messages)`);
    this.sinceStmt = db.prepare<[string, number], UsageRow>('SELECT * FROM usage_samples WHERE org_id = ? AND at > ? ORDER BY at');
    this.purgeStmt = db.prepare('DELETE FROM usage_samples WHERE at < ?');
  }

  /** One transaction per sampling tick, whatever the number of organisations. */
  record(samples: readonly UsageSample[], now: number): void {
    this.db.transaction(() => {
      for (const s of samples) this.insertStmt.run(s);
      this.purgeStmt.run(now - USAGE_RETENTION_MS);
    })();
  }

  since(orgId: string, after: number): UsageSample[] {
    return this.sinceStmt.all(orgId, after).map(toUsageSample);
  }
}
