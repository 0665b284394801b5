// Live sessions as recorded by the broker(s) in `sessions`: listing, presence per user, and the
// kick request (a `session.kick` change the broker holding the client acts on).
import { notFound } from '../errors.js';
import type { Store } from '../store/types.js';
import type { SessionRecord } from '../store/sessions.js';
import type { User } from '../store/users.js';
import { systemClock, type Clock } from './clock.js';
import { SERVER_USER_REF } from './connect.js';

export interface PresenceEntry {
  user: Pick<User, 'userRef' | 'userId' | 'userEmail'>;
  sessions: SessionRecord[];
  /** Earliest connect among the user's live sessions. */
  since: number;
}

export class SessionService {
  constructor(private readonly store: Store, private readonly clock: Clock = systemClock) {}

  /** Sessions of the org whose credential has not expired (rows a crashed broker left behind age out). */
  async list(orgId: string): Promise<SessionRecord[]> {
    const now = this.clock();
    return (await this.store.sessions.list(orgId)).filter((s) => s.expiresAt > now);
  }

  /** Who is online: one entry per user with a live session, oldest connection first (backends' `server@` sessions are no user). */
  async presence(orgId: string): Promise<PresenceEntry[]> {
    const byUser = new Map<string, SessionRecord[]>();
    for (const s of await this.list(orgId)) if (s.userRef !== SERVER_USER_REF) byUser.set(s.userRef, [...(byUser.get(s.userRef) ?? []), s]);
    const users = new Map((await this.store.users.byRefs(orgId, [...byUser.keys()])).map((u) => [u.userRef, u]));
    const out: PresenceEntry[] = [];
    for (const [userRef, sessions] of byUser) {
      const u = users.get(userRef);
      out.push({
        user: { userRef, userId: u?.userId ?? userRef, userEmail: u?.userEmail ?? null },
        sessions,
        since: Math.min(...sessions.map((s) => s.connectedAt)),
      });
    }
    return out.sort((a, b) => a.since - b.since);
  }

  /** Asks the broker holding `clientId` to disconnect it (via the change feed); 404 if not connected. */
  kick(orgId: string, clientId: string, ctx: { ip?: string | undefined; userAgent?: string | undefined } = {}): Promise<SessionRecord> {
    const now = this.clock();
    return this.store.transaction(async (tx) => {
      const session = await tx.sessions.byClient(orgId, clientId);
      if (!session) throw notFound('not_found', `no session with client id '${clientId}' in ${orgId}`);
      await tx.changes.append('session.kick', orgId, clientId, now);
      await tx.audit.record({ event: 'session.kicked', orgId, userRef: session.userRef, tokenId: session.tokenId,
        ip: ctx.ip, userAgent: ctx.userAgent, detail: { client_id: clientId } }, now);
      return session;
    });
  }
}
