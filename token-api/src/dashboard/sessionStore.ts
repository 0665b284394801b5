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

/**
 * Bounds on what sign-ins hold in memory: each needs a valid key, but one valid key signing in in a
 * loop must not grow the map without end. Per organisation (whatever key it signs in with, since an
 * org can make keys) and for the admin; past it the oldest sign-in of that caller ends, as if it had
 * expired. Past the total the oldest organisation sign-in ends: never the admin's for a tenant's.
 */
export const MAX_SESSIONS_PER_CALLER = 50;
export const MAX_SESSIONS = 10_000;

const callerKey = (c: DashboardCaller) => (c.kind === 'admin' ? 'admin' : `org:${c.orgId}`);

const digest = (id: string) => createHash('sha256').update(id).digest('base64url');

export class DashboardSessionStore {
  /** In creation order (a Map keeps insertion order), so the first entries are the oldest. */
  private readonly sessions = new Map<string, DashboardSession>();
  /** Sessions per caller (the admin, or one org key). */
  private readonly perCaller = new Map<string, number>();
  private lastSweep = 0;

  constructor(private readonly idleMs: number) {}

  /** Returns the cookie value (shown to the browser only) and the session. */
  create(caller: DashboardCaller, now: number): { id: string; session: DashboardSession } {
    // A full sweep at most once a minute: sign-ins in a loop must not each walk the whole map.
    if (now - this.lastSweep >= 60_000) this.sweep(now);
    const mine = callerKey(caller);
    if ((this.perCaller.get(mine) ?? 0) >= MAX_SESSIONS_PER_CALLER) {
      for (const [k, s] of this.sessions) {
        if (callerKey(s.caller) !== mine) continue;
        this.remove(k);
        break;
      }
    }
    if (this.sessions.size >= MAX_SESSIONS) {
      for (const [k, s] of this.sessions) {
        if (this.sessions.size < MAX_SESSIONS) break;
        if (s.caller.kind !== 'admin') this.remove(k);
      }
    }
    const id = randomBytes(32).toString('base64url');
    const session: DashboardSession = { caller, csrfToken: randomBytes(32).toString('base64url'), createdAt: now, lastSeenAt: now };
    this.sessions.set(digest(id), session);
    this.perCaller.set(mine, (this.perCaller.get(mine) ?? 0) + 1);
    return { id, session };
  }

  /** The live session for a cookie value (sliding idle expiry), or undefined. */
  get(id: string, now: number): DashboardSession | undefined {
    const key = digest(id);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    if (this.expired(s, now)) {
      this.remove(key);
      return undefined;
    }
    s.lastSeenAt = now;
    return s;
  }

  destroy(id: string): void {
    this.remove(digest(id));
  }

  get size(): number {
    return this.sessions.size;
  }

  private expired(s: DashboardSession, now: number): boolean {
    return now - s.lastSeenAt > this.idleMs || now - s.createdAt > ABSOLUTE_SESSION_MS;
  }

  private remove(key: string): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    const mine = callerKey(s.caller);
    const left = (this.perCaller.get(mine) ?? 1) - 1;
    if (left === 0) this.perCaller.delete(mine);
    else this.perCaller.set(mine, left);
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, s] of this.sessions) if (this.expired(s, now)) this.remove(k);
  }
}
