// Revokes, refreshes, rule edits and kicks reach the broker through the change feed, whether they
// were made in this process or by another one on the same SQLite file: polling `changes` every
// SIGNALGATE_CHANGE_POLL_MS keeps "ended within 1 s" true for both with one code path.
import { keySessionId, KEY_SESSION_NO_EXPIRY, type Change, type Logger, type Store } from '@signalgate/shared';
import type { SessionRegistry } from './sessions.js';
import type { SessionOwners } from './sessionOwners.js';

export class ChangeWatcher {
  private lastSeq: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly sessions: SessionRegistry,
    private readonly owners: SessionOwners,
    private readonly logger: Logger,
    private readonly pollMs: number,
  ) {
    this.lastSeq = store.changes.lastSeq();
  }

  start(): void {
    this.timer = setInterval(() => this.poll(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  poll(): void {
    let changes: Change[];
    try {
      changes = this.store.changes.since(this.lastSeq);
    } catch (err) {
      this.logger.warn({ err }, 'could not read the change feed; retrying');
      return;
    }
    const orgsToRefresh = new Set<string>();
    for (const c of changes) {
      this.lastSeq = c.seq;
      try {
        this.apply(c, orgsToRefresh);
      } catch (err) {
        this.logger.error({ err, change: c }, 'could not apply a change');
      }
    }
    for (const orgId of orgsToRefresh) {
      try {
        this.sessions.refreshOrg(orgId);
      } catch (err) {
        this.logger.error({ err, org: orgId }, 'could not re-evaluate the sessions of an organisation');
      }
      this.owners.narrowStored(orgId).catch((err: unknown) => this.logger.error({ err, org: orgId }, 'could not narrow the stored sessions of an organisation'));
    }
  }

  private apply(c: Change, orgsToRefresh: Set<string>): void {
    switch (c.kind) {
      // A revoked token's sessions end, and the stored sessions it last held are wiped.
      case 'token.revoked':
        if (c.ref) this.revoke(c.ref);
        break;
      case 'token.refreshed': {
        const token = c.ref ? this.store.tokens.get(c.ref) : undefined;
        if (token) this.sessions.setExpiry(token.id, token.expiresAt);
        break;
      }
      // Backends' `server@<org>` sessions are registered under `key:<key_id>` (see keySessionId).
      case 'key.revoked':
        if (c.ref) this.revoke(keySessionId(c.ref));
        break;
      case 'key.rotated': {
        const key = c.ref ? this.store.apiKeys.get(c.ref) : undefined;
        if (key) this.sessions.setExpiry(keySessionId(key.id), key.expiresAt ?? KEY_SESSION_NO_EXPIRY);
        break;
      }
      case 'rules.changed':
      case 'org.changed':
        orgsToRefresh.add(c.orgId);
        break;
      case 'session.kick': {
        const client = c.ref ? this.sessions.findClient(c.orgId, c.ref) : undefined;
        if (client) this.sessions.end(client, 'kicked');
        break;
      }
    }
  }

  private revoke(tokenId: string): void {
    this.owners.revokeToken(tokenId);
    for (const client of this.sessions.clientsOfToken(tokenId)) this.sessions.end(client, 'revoked');
  }
}
