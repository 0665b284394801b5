// Users on PostgreSQL: the statements of ../users.ts.
import type { Sql } from './sql.js';
import type { UserStore } from '../types.js';
import { toUser, type User, type UserRow } from '../users.js';

export class PgUsers implements UserStore {
  constructor(private readonly sql: Sql) {}

  async insert(u: User): Promise<void> {
    await this.sql.query('INSERT INTO users (org_id, user_ref, user_id, user_email, created_at) VALUES ($1, $2, $3, $4, $5)',
      [u.orgId, u.userRef, u.userId, u.userEmail, u.createdAt]);
  }

  async byId(orgId: string, userId: string): Promise<User | undefined> {
    const { rows } = await this.sql.query<UserRow>('SELECT * FROM users WHERE org_id = $1 AND user_id = $2', [orgId, userId]);
    return rows[0] && toUser(rows[0]);
  }

  async byRef(orgId: string, userRef: string): Promise<User | undefined> {
    const { rows } = await this.sql.query<UserRow>('SELECT * FROM users WHERE org_id = $1 AND user_ref = $2', [orgId, userRef]);
    return rows[0] && toUser(rows[0]);
  }

  /** Several users may share an email only if they were minted by user_id; the oldest wins (the first inserted on a tie). */
  async byEmail(orgId: string, email: string): Promise<User | undefined> {
    const { rows } = await this.sql.query<UserRow>(
      'SELECT * FROM users WHERE org_id = $1 AND user_email = $2 ORDER BY created_at, id LIMIT 1', [orgId, email]);
    return rows[0] && toUser(rows[0]);
  }

  async byRefs(orgId: string, userRefs: readonly string[]): Promise<User[]> {
    if (userRefs.length === 0) return [];
    const { rows } = await this.sql.query<UserRow>('SELECT * FROM users WHERE org_id = $1 AND user_ref = ANY($2::text[])', [orgId, [...userRefs]]);
    return rows.map(toUser);
  }

  async setEmail(orgId: string, userRef: string, email: string): Promise<void> {
    await this.sql.query('UPDATE users SET user_email = $1 WHERE org_id = $2 AND user_ref = $3', [email, orgId, userRef]);
  }
}
