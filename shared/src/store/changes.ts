// The change feed: every revoke, refresh, rule edit and kick is appended here in the same
// transaction as the change itself, so a broker in another process (polling by `seq`) never misses one.
import type { Db } from './db.js';

/**
 * `key.revoked` and `key.rotated` carry the key id: its backend sessions (`server@<org>`) end or
 * take the key's new expiry. `user.changed` (ref: the user_ref) says a user's email changed, which
 * `${user_email}` rules read.
 */
export type ChangeKind = 'token.revoked' | 'token.refreshed' | 'key.revoked' | 'key.rotated' | 'rules.changed' | 'org.changed' | 'user.changed' | 'session.kick';

export interface Change {
  seq: number;
  at: number;
  kind: ChangeKind;
  orgId: string;
  ref: string | null;
}

export interface ChangeRow { seq: number; at: number; kind: ChangeKind; org_id: string; ref: string | null }

export const toChange = (r: ChangeRow): Change => ({ seq: r.seq, at: r.at, kind: r.kind, orgId: r.org_id, ref: r.ref });

export class ChangeFeed {
  private readonly appendStmt;
  private readonly sinceStmt;
  private readonly lastStmt;
  private readonly trimStmt;

  constructor(db: Db) {
    this.appendStmt = db.prepare('INSERT INTO changes (at, kind, org_id, ref) VALUES (?, ?, ?, ?)');
    this.sinceStmt = db.prepare<[number], ChangeRow>('SELECT * FROM changes WHERE seq > ? ORDER BY seq LIMIT 10000');
    this.lastStmt = db.prepare<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM changes');
    this.trimStmt = db.prepare('DELETE FROM changes WHERE at < ?');
  }

  append(kind: ChangeKind, orgId: string, ref: string | null, now: number): void {
    this.appendStmt.run(now, kind, orgId, ref);
  }

  since(seq: number): Change[] {
    return this.sinceStmt.all(seq).map(toChange);
  }

  lastSeq(): number {
    return this.lastStmt.get()!.seq ?? 0;
  }

  trim(before: number): void {
    this.trimStmt.run(before);
  }
}
