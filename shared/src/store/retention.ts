// The deletes behind retention (services/retention.ts): rows past their keeping time, in batches
// so that no purge holds SQLite's write lock for long while the API and the broker write.
import type { Db } from './db.js';

const BATCH = 5000;

export interface PurgeCutoffs {
  /** Tokens that expired or were revoked before this (their passwords go with them). */
  tokensEndedBefore: number;
  /** Users with no token left, created before this. */
  usersCreatedBefore: number;
  /** Audit rows written before this (null: kept for ever). */
  auditBefore: number | null;
  /** Change-feed rows written before this. */
  changesBefore: number;
  /** History messages recorded before this. */
  historyBefore: number;
}

export type PurgeCounts = Record<'tokens' | 'users' | 'audit' | 'changes' | 'history', number>;

export class RetentionStore {
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      tokens: db.prepare(`DELETE FROM tokens WHERE id IN (SELECT id FROM tokens
        WHERE (revoked_at IS NOT NULL AND revoked_at < @before) OR expires_at < @before LIMIT ${BATCH})`),
      users: db.prepare(`DELETE FROM users WHERE rowid IN (SELECT u.rowid FROM users u WHERE u.created_at < @before
        AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.org_id = u.org_id AND t.user_ref = u.user_ref) LIMIT ${BATCH})`),
      audit: db.prepare(`DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < @before LIMIT ${BATCH})`),
      changes: db.prepare(`DELETE FROM changes WHERE seq IN (SELECT seq FROM changes WHERE at < @before
        AND seq < (SELECT MAX(seq) FROM changes) LIMIT ${BATCH})`),
      history: db.prepare(`DELETE FROM history WHERE id IN (SELECT id FROM history WHERE at < @before LIMIT ${BATCH})`),
    };
  }

  /** Deletes everything past the cutoffs, one batch per transaction; returns how many rows of each. */
  purge(c: PurgeCutoffs): PurgeCounts {
    const counts: PurgeCounts = { tokens: 0, users: 0, audit: 0, changes: 0, history: 0 };
    const run = (kind: keyof PurgeCounts, before: number | null) => {
      if (before === null) return;
      for (;;) {
        const n = this.db.transaction(() => this.stmts[kind].run({ before }).changes)();
        counts[kind] += n;
        if (n < BATCH) break;
      }
    };
    run('tokens', c.tokensEndedBefore);
    run('users', c.usersCreatedBefore);
    run('audit', c.auditBefore);
    // The newest change row is kept: a broker starting later reads its position from it.
    run('changes', c.changesBefore);
    run('history', c.historyBefore);
    return counts;
  }
}
