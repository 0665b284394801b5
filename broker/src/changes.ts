// Revokes, refreshes, rule edits and kicks reach the broker through the change feed, whether they
// were made in this process or by another one on the same database. The process reads the feed
// once (services.changes, a ChangeFollower: every SIGNALGATE_CHANGE_POLL_MS, and at once when the
// store pushes); this applies what it reads to the sessions here, one batch after another, which
// keeps "ended within 1 s" true for both with one code path.
//
// The follower has moved past a batch once it is handed over, so a change whose store reads fail
// (the database cannot answer, a statement timed out, a plan went stale after a migration) is kept
// and applied again with the next batch, or after a backoff from one poll interval up to 30 s if
// none comes; a change failing MAX_ATTEMPTS times is given up, loudly.
import { keySessionId, KEY_SESSION_NO_EXPIRY, type Change, type ChangeFollower, type Logger, type Store } from '@signalgate/shared';
import type { SessionRegistry } from './sessions.js';
import type { SessionOwners } from './sessionOwners.js';

const MAX_ATTEMPTS = 20;
const MAX_BACKOFF_MS = 30_000;

export class ChangeWatcher {
  private unsubscribe: (() => void) | null = null;
  private stopped = false;
  /** Batches are applied one after another (a retry between two of them too). Never rejects. */
  private applying: Promise<void> = Promise.resolve();
  /** Changes whose store reads failed, with how often. */
  private retryChanges: { change: Change; attempts: number }[] = [];
  /** Orgs whose re-evaluation failed. */
  private readonly retryOrgs = new Set<string>();
  private retryTimer: NodeJS.Timeout | null = null;
  /** Rounds in a row that left something to retry (the backoff; past MAX_ATTEMPTS orgs are given up). */
  private failedRounds = 0;

  constructor(
    private readonly store: Store,
    private readonly follower: ChangeFollower,
    private readonly sessions: SessionRegistry,
    private readonly owners: SessionOwners,
    private readonly logger: Logger,
    private readonly pollMs: number,
  ) {}

  /** Follows the changes appended from now on (before any client: none is missed). */
  async start(): Promise<void> {
    this.unsubscribe = this.follower.subscribe((batch) => this.enqueue(batch));
    await this.follower.start(this.pollMs, (err, message) => this.logger.warn({ err }, message));
  }

  /** Stops following; resolves once a batch being applied is done. */
  async stop(): Promise<void> {
    if (this.stopped) return this.applying;
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.follower.stop();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.applying;
  }

  private enqueue(batch: readonly Change[]): Promise<void> {
    this.applying = this.applying
      .then(() => (this.stopped ? undefined : this.apply(batch)))
      .catch((err: unknown) => this.logger.error({ err }, 'could not apply changes'));
    return this.applying;
  }

  private async apply(batch: readonly Change[]): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const changes = [...this.retryChanges, ...batch.map((change) => ({ change, attempts: 0 }))];
    this.retryChanges = [];
    const orgsToRefresh = new Set(this.failedRounds < MAX_ATTEMPTS ? this.retryOrgs : []);
    this.retryOrgs.clear();
    for (const entry of changes) {
      const c = entry.change;
      this.sessions.changeMarks.changed(c.orgId);
      try {
        await this.applyOne(c, orgsToRefresh);
      } catch (err) {
        if (++entry.attempts < MAX_ATTEMPTS) {
          this.retryChanges.push(entry);
          this.logger.warn({ err, change: c, attempts: entry.attempts }, 'could not apply a change; retrying');
        } else {
          this.logger.error({ err, change: c, attempts: entry.attempts }, 'could not apply a change; giving it up');
        }
      }
    }
    // One org at a time: a re-evaluation reads the org's sessions' tokens and users in batches,
    // and several orgs at once would compete for the store's connections with every CONNECT.
    for (const orgId of orgsToRefresh) {
      try {
        await this.sessions.refreshOrg(orgId);
      } catch (err) {
        this.retryOrgs.add(orgId);
        this.logger.error({ err, org: orgId }, 'could not re-evaluate the sessions of an organisation; retrying');
      }
      try {
        await this.owners.narrowStored(orgId);
      } catch (err) {
        this.retryOrgs.add(orgId);
        this.logger.error({ err, org: orgId }, 'could not narrow the stored sessions of an organisation; retrying');
      }
    }
    if (this.retryChanges.length === 0 && this.retryOrgs.size === 0) {
      this.failedRounds = 0;
    } else if (!this.stopped) {
      this.failedRounds++;
      const delay = Math.min(this.pollMs * 2 ** Math.min(this.failedRounds - 1, 10), MAX_BACKOFF_MS);
      this.retryTimer = setTimeout(() => void this.enqueue([]), delay);
      this.retryTimer.unref();
    }
  }

  private async applyOne(c: Change, orgsToRefresh: Set<string>): Promise<void> {
    switch (c.kind) {
      // A revoked token's sessions end, and the stored sessions it last held are wiped.
      case 'token.revoked':
        if (c.ref) this.revoke(c.ref);
        break;
      case 'token.refreshed': {
        const token = c.ref ? await this.store.tokens.get(c.ref) : undefined;
        if (token) this.sessions.setExpiry(token.id, token.expiresAt);
        break;
      }
      // Backends' `server@<org>` sessions are registered under `key:<key_id>` (see keySessionId).
      case 'key.revoked':
        if (c.ref) this.revoke(keySessionId(c.ref));
        break;
      case 'key.rotated': {
        const key = c.ref ? await this.store.apiKeys.get(c.ref) : undefined;
        if (key) this.sessions.setExpiry(keySessionId(key.id), key.expiresAt ?? KEY_SESSION_NO_EXPIRY);
        break;
      }
      // A user's email is a placeholder value (`${user_email}`): their sessions' rights are read anew.
      case 'rules.changed':
      case 'org.changed':
      case 'user.changed':
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
