// The change feed on PostgreSQL: the statements of ../changes.ts, with commit order kept equal to
// `seq` order (see append).
import type { Sql } from './sql.js';
import type { ChangeFeedStore } from '../types.js';
import { toChange, type Change, type ChangeKind, type ChangeRow } from '../changes.js';

/** The advisory lock that orders appends to the feed ('SGch'); no other code takes it. */
const CHANGES_APPEND_LOCK = 0x53476368;

export class PgChanges implements ChangeFeedStore {
  constructor(private readonly sql: Sql) {}

  /**
   * A reader polls since(lastSeq) and moves past the highest `seq` it saw. On PostgreSQL a `seq` is
   * drawn when the row is inserted but seen only at commit, so a transaction holding seq 5 could
   * commit after another's seq 6 was read, and row 5 would be skipped for ever. The transaction-level
   * advisory lock, taken in the same statement before the row (and its `seq`) exists and held until
   * COMMIT or ROLLBACK, makes appending transactions draw and commit their seqs one at a time. (This
   * relies on the identity's default CACHE 1: a per-session cache would hand out seqs out of order.)
   * Its cost: transactions that append to the feed commit one after another from their append on.
   */
  async append(kind: ChangeKind, orgId: string, ref: string | null, now: number): Promise<void> {
    await this.sql.query(`WITH ordered AS (SELECT pg_advisory_xact_lock(${CHANGES_APPEND_LOCK}))
      INSERT INTO changes (at, kind, org_id, ref) SELECT $1, $2, $3, $4 FROM ordered`, [now, kind, orgId, ref]);
  }

  async since(seq: number): Promise<Change[]> {
    const { rows } = await this.sql.query<ChangeRow>('SELECT * FROM changes WHERE seq > $1 ORDER BY seq LIMIT 10000', [seq]);
    return rows.map(toChange);
  }

  async lastSeq(): Promise<number> {
    const { rows } = await this.sql.query<{ seq: number | null }>('SELECT MAX(seq) AS seq FROM changes');
    return rows[0]!.seq ?? 0;
  }

  async trim(before: number): Promise<void> {
    await this.sql.query('DELETE FROM changes WHERE at < $1', [before]);
  }
}
