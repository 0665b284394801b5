// The deletes behind retention (services/retention.ts) on PostgreSQL: the statements of ../retention.ts.
import type { Sql } from './sql.js';
import type { RetentionOps } from '../types.js';
import type { PurgeCounts, PurgeCutoffs } from '../retention.js';

// Rows per DELETE. Each runs as its own statement (on the pool: its own transaction), so a purge
// never holds many row locks or one long transaction while the API and the brokers write.
const BATCH = 5000;

// Users are picked by their primary key (SQLite's statement picks them by rowid).
const PURGES: Record<keyof PurgeCounts, string> = {
  tokens: `DELETE FROM tokens WHERE id IN (SELECT id FROM tokens
    WHERE (revoked_at IS NOT NULL AND revoked_at < $1) OR expires_at < $1 LIMIT ${BATCH})`,
  users: `DELETE FROM users WHERE (org_id, user_ref) IN (SELECT u.org_id, u.user_ref FROM users u WHERE u.created_at < $1
    AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.org_id = u.org_id AND t.user_ref = u.user_ref) LIMIT ${BATCH})`,
  audit: `DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 LIMIT ${BATCH})`,
  changes: `DELETE FROM changes WHERE seq IN (SELECT seq FROM changes WHERE at < $1
    AND seq < (SELECT MAX(seq) FROM changes) LIMIT ${BATCH})`,
  history: `DELETE FROM history WHERE id IN (SELECT id FROM history WHERE at < $1 LIMIT ${BATCH})`,
};

export class PgRetention implements RetentionOps {
  constructor(private readonly sql: Sql) {}

  /** Deletes everything past the cutoffs, one batch per statement; returns how many rows of each. */
  async purge(c: PurgeCutoffs): Promise<PurgeCounts> {
    const counts: PurgeCounts = { tokens: 0, users: 0, audit: 0, changes: 0, history: 0 };
    const run = async (kind: keyof PurgeCounts, before: number | null) => {
      if (before === null) return;
      for (;;) {
        const n = (await this.sql.query(PURGES[kind], [before])).rowCount ?? 0;
        counts[kind] += n;
        if (n < BATCH) break;
      }
    };
    await run('tokens', c.tokensEndedBefore);
    await run('users', c.usersCreatedBefore);
    await run('audit', c.auditBefore);
    // The newest change row is kept: a broker starting later reads its position from it.
    await run('changes', c.changesBefore);
    await run('history', c.historyBefore);
    return counts;
  }
}
