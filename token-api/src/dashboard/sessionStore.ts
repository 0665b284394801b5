// Dashboard sign-ins, held in memory by this API process: a restart signs everybody out, which is
// the safe failure. The cookie carries a random id; the map is keyed by its SHA-256 so a heap
// dump holds nothing a browser could present. A session never holds the key it was opened with:
// it records WHO signed in (the admin, or which org key) and is re-checked on every request.
import { randomBytes, createHash } from 'node:crypto';

export type DashboardCaller =
  | { kind: 'admin'; /** the admin-key hash at sign-in: a changed admin key ends the session */ adminKeyHash: string }
  | { kind: 'org'; orgId: string; apiKeyId: string };

export interface DashboardSession {
  caller: DashboardCaller;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

/** A sign-in ends at the latest this long after it started, however active. */
export const ABSOLUTE_SESSION_MS = 12 * 3600 * 1000;

const digest = (id: string) => createHash('sha256').update(id).digest('base64url');

export class DashboardSessionStore {
  private readonly sessions = new Map<string, DashboardSession>();

  constructor(private readonly idleMs: number) {}

  /** Returns the cookie value (shown to the browser only) and the session. */
  create(caller: DashboardCaller, now: number): { id: string; session: DashboardSession } {
    this.sweep(now);
    const id = randomBytes(32).toString('base64url');
    const session: DashboardSession = { caller, csrfToken: randomBytes(32).toString('base64url'), createdAt: now, lastSeenAt: now };
    this.sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session for a cookie value (sliding idle expiry), or undefined. */
  get(id: string, now: number): DashboardSession | undefined {
    const key = digest(id);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    if (now - s.lastSeenAt > this.idleMs || now - s.createdAt > ABSOLUTE_SESSION_MS) {
      this.sessions.delete(key);
      return undefined;
    }
    s.lastSeenAt = now;
    return s;
  }

  destroy(id: string): void {
    this.sessions.delete(digest(id));
  }

  get size(): number {
    return this.sessions.size;
  }

  private sweep(now: number): void {
    for (const [k, s] of this.sessions) {
      if (now - s.lastSeenAt > this.idleMs || now - s.createdAt > ABSOLUTE_SESSION_MS) this.sessions.delete(k);
    }
  }
}
