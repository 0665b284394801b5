// Presence: a retained `$presence/<user_id>` message in the organisation's namespace, published
// when a user's first session on this broker opens ("online") and when the last one ends
// ("offline"). Subscribing needs the `presence` permission (EffectiveRights.canSubscribe).
import type { Aedes } from 'aedes';
import { internalTopic, PRESENCE_ROOT, type Logger, type User } from '@signalgate/shared';

interface PresenceSubject {
  orgId: string;
  userId: string;
  userRef: string;
}

export class PresencePublisher {
  private readonly sessionsPerUser = new Map<string, number>();
  private aedes: Aedes | null = null;

  constructor(private readonly logger: Logger) {}

  attach(aedes: Aedes): void {
    this.aedes = aedes;
  }

  connected(s: PresenceSubject, _user: User): void {
    const key = `${s.orgId}\u0000${s.userRef}`;
    const n = (this.sessionsPerUser.get(key) ?? 0) + 1;
    this.sessionsPerUser.set(key, n);
    if (n === 1) this.publish(s, 'online', n);
  }

  disconnected(s: PresenceSubject): void {
    const key = `${s.orgId}\u0000${s.userRef}`;
    const n = (this.sessionsPerUser.get(key) ?? 1) - 1;
    if (n > 0) {
      this.sessionsPerUser.set(key, n);
      return;
    }
    this.sessionsPerUser.delete(key);
    this.publish(s, 'offline', 0);
  }

  private publish(s: PresenceSubject, status: 'online' | 'offline', clients: number): void {
    if (!this.aedes || this.aedes.closed) return;
    const body = { user_id: s.userId, user_ref: s.userRef, status, clients, at: new Date().toISOString() };
    this.aedes.publish(
      {
        cmd: 'publish', topic: internalTopic(s.orgId, `${PRESENCE_ROOT}/${s.userId}`), payload: Buffer.from(JSON.stringify(body)),
        qos: 0, retain: true, dup: false,
      },
      (err?: Error | null) => {
        if (err) this.logger.warn({ err, org: s.orgId, user: s.userId }, 'presence publish failed');
      },
    );
  }
}
