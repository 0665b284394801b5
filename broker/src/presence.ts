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
//
// In a cluster "first" and "last" are the user's across nodes (cluster/presenceCounts.ts): each
// node asks Redis at its own first and last session of the user, and only the answer "first (last)
// in the cluster" publishes. `clients` is then the count on the node that announced.
import type { Aedes } from 'aedes';
import { internalTopic, PRESENCE_ROOT, type Logger } from '@signalgate/shared';
import type { BrokerMetrics } from './metrics.js';
import type { ClusterPresence, PresenceSubject } from './cluster/presenceCounts.js';

interface UserPresence {
  subject: PresenceSubject;
  /** Sessions of the user open on this broker. */
  sessions: number;
  /** The last retained message published for the user says "online" (in a cluster: the user is counted in Redis). */
  announced: boolean;
}

export class PresencePublisher {
  private readonly users = new Map<string, UserPresence>();
  private aedes: Aedes | null = null;
  private cluster: ClusterPresence | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: BrokerMetrics,
    /** Whether presence of `orgId` can be read by anyone (its default rule set grants `presence`). */
    private readonly wanted: (orgId: string) => boolean,
  ) {}

  attach(aedes: Aedes, cluster: ClusterPresence | null): void {
    this.aedes = aedes;
    this.cluster = cluster;
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
    if (this.cluster) return this.leaveCluster(u);
    if (u.announced || this.wanted(s.orgId)) this.publish(u.subject, 'offline', 0);
  }

  /** A user of a dead node whose last node it was (cluster/presenceCounts.ts). */
  offline(s: PresenceSubject): void {
    this.publish(s, 'offline', 0);
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
    if (!this.cluster) {
      u.announced = this.publish(u.subject, 'online', u.sessions);
      return;
    }
    // Marked before Redis answers: a `last` for this user is then sent after this `first`, in order.
    u.announced = true;
    this.cluster.first(u.subject).then(
      (first) => { if (first) this.publish(u.subject, 'online', u.sessions); },
      (err: unknown) => this.logger.warn({ err, org: u.subject.orgId, user: u.subject.userId }, 'cluster presence not counted'),
    );
  }

  private leaveCluster(u: UserPresence): void {
    // A node shutting down leaves its users listed: the node that finds it gone says "offline" for
    // those it was the last node of (this one can no longer publish).
    if (!u.announced || !this.aedes || this.aedes.closed) return;
    this.cluster!.last(u.subject).then(
      (last) => { if (last) this.publish(u.subject, 'offline', 0); },
      (err: unknown) => this.logger.warn({ err, org: u.subject.orgId, user: u.subject.userId }, 'cluster presence not counted'),
    );
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
