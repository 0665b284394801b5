import type { Db } from './db.js';

export interface User {
  orgId: string;
  userRef: string;
  userId: string;
  userEmail: string | null;
  createdAt: number;
}

export interface UserRow { org_id: string; user_ref: string; user_id: string; user_email: string | null; created_at: number }

export const toUser = (r: UserRow): User => ({ orgId: r.org_id, userRef: r.user_ref, userId: r.user_id, userEmail: r.user_email, createdAt: r.created_at });

export class UserRepository {
  private readonly insertStmt;
  private readonly byIdStmt;
  private readonly byRefStmt;
  private readonly byEmailStmt;
  private readonly setEmailStmt;
  private readonly byRefsStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare('INSERT INTO users (org_id, user_ref, user_id, user_email, created_at) VALUES (?, ?, ?, ?, ?)');
    this.byIdStmt = db.prepare<[string, string], UserRow>('SELECT * FROM users WHERE org_id = ? AND user_id = ?');
    this.byRefStmt = db.prepare<[string, string], UserRow>('SELECT * FROM users WHERE org_id = ? AND user_ref = ?');
    // Several users may share an email only if they were minted by user_id; the oldest wins the lookup.
    this.byEmailStmt = db.prepare<[string, string], UserRow>('SELECT * FROM users WHERE org_id = ? AND user_email = ? ORDER BY created_at LIMIT 1');
    this.setEmailStmt = db.prepare('UPDATE users SET user_email = ? WHERE org_id = ? AND user_ref = ?');
    this.byRefsStmt = db.prepare<[string, string], UserRow>('SELECT * FROM users WHERE org_id = ? AND user_ref IN (SELECT value FROM json_each(?))');
  }

  /** The users of `orgId` among `userRefs` (in no order; refs with no user are left out): one read for a listing. */
  byRefs(orgId: string, userRefs: readonly string[]): User[] {
    return userRefs.length === 0 ? [] : this.byRefsStmt.all(orgId, JSON.stringify(userRefs)).map(toUser);
  }

  insert(u: User): void {
    this.insertStmt.run(u.orgId, u.userRef, u.userId, u.userEmail, u.createdAt);
  }

  byId(orgId: string, userId: string): User | undefined {
    const r = this.byIdStmt.get(orgId, userId);
    return r && toUser(r);
  }

  byRef(orgId: string, userRef: string): User | undefined {
    const r = this.byRefStmt.get(orgId, userRef);
    return r && toUser(r);
  }

  byEmail(orgId: string, email: string): User | undefined {
    const r = this.byEmailStmt.get(orgId, email);
    return r && toUser(r);
  }

  setEmail(orgId: string, userRef: string, email: string): void {
    this.setEmailStmt.run(email, orgId, userRef);
  }
}
