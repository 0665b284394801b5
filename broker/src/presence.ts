// Presence: a retained `$presence/<user_id>` message in the organisation's namespace, published
// when a user's first session on this broker opens ("online") and when the last one ends
// ("offline"). Subscribing needs the `presence` permission (EffectiveRights.canSubscribe).
//
// Only where someone could read it: the org's default rule set bounds every token's rights, so
// when it does not grant `presence` no client of the org can subscribe, and "online" is not
// published (measured: the retained publish was ~4 % of the broker's CPU per connect and
// disconnect in a connect storm). When the rules start granting it, the users online here are
// announced (`announceOrg`); a user announced "online" always gets their "offline", whatever the
// rules say by then, so a retained "online" never outlives its sessions.
import type { Aedes } from 'aedes';
import { internalTopic, PRESENCE_ROOT, type Logger } from '@signalgate/shared';
import type { BrokerMetrics } from './metrics.js';

interface PresenceSubject {
  orgId: string;
  userId: string;
  userRef: string;
}

interface UserPresence {
  subject: PresenceSubject;
  /** Sessions of the user open on this broker. */
  sessions: number;
  /** The last retained message published for the user says "online". */
  announced: boolean;
}

export class PresencePublisher {
  private readonly users = new Map<string, UserPresence>();
  private aedes: Aedes | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: BrokerMetrics,
    /** Whether presence of `orgId` can be read by anyone (its default rule set grants `presence`). */
    private readonly wanted: (orgId: string) => boolean,
  ) {}

  attach(aedes: Aedes): void {
    this.aedes = aedes;
  }

  /**
   * A user's session opened. Users are counted only while their org's presence is wanted (or they
   * were announced): a record per user of every org was ~140 bytes of each idle connection, and
   * announceOrg counts the others from the sessions when presence starts being wanted.
   */
  connected(s: PresenceSubject): void {
    const key = `${s.orgId}\u0000${s.userRef}`;
    let u = this.users.get(key);
    if (!u) {
      if (!this.wanted(s.orgId)) return;
      this.users.set(key, (u = { subject: s, sessions: 0, announced: false }));
    }
    if (++u.sessions === 1) this.announce(u);
  }

  disconnected(s: PresenceSubject): void {
    const key = `${s.orgId}\u0000${s.userRef}`;
    const u = this.users.get(key);
    if (!u) return;
    if (--u.sessions > 0) return;
    this.users.delete(key);
    if (u.announced || this.wanted(s.orgId)) this.publish(u.subject, 'offline', 0);
  }

  /** The org's rules now grant presence: announce its users online here (`open`: their sessions) that were not. */
  announceOrg(orgId: string, open: readonly PresenceSubject[]): void {
    const counting = new Set<string>();
    for (const s of open) {
      const key = `${s.orgId}\u0000${s.userRef}`;
      let u = this.users.get(key);
      if (u && !counting.has(key)) continue; // counted since its first session
      if (!u) {
        this.users.set(key, (u = { subject: s, sessions: 0, announced: false }));
        counting.add(key);
      }
      u.sessions++;
    }
    for (const u of this.users.values()) if (u.subject.orgId === orgId && !u.announced) this.announce(u);
  }

  private announce(u: UserPresence): void {
    u.announced = this.publish(u.subject, 'online', u.sessions);
  }

  private publish(s: PresenceSubject, status: 'online' | 'offline', clients: number): boolean {
    if (!this.aedes || this.aedes.closed) return false;
    const body = { user_id: s.userId, user_ref: s.userRef, status, clients, at: new Date().toISOString() };
    this.metrics.presenceMessages.inc({ status });
    this.aedes.publish(
      {
        cmd: 'publish', topic: internalTopic(s.orgId, `${PRESENCE_ROOT}/${s.userId}`), payload: Buffer.from(JSON.stringify(body)),
        qos: 0, retain: true, dup: false,
      },
      (err?: Error | null) => {
        if (err) this.logger.warn({ err, org: s.orgId, user: s.userId }, 'presence publish failed');
      },
    );
    return true;
  }
}
