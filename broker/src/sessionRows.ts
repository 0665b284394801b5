// The sessions table, written behind: CONNACK does not wait for the row. Rows are an index for the
// API (session list, presence, kick), not state the broker reads back, and a broker that dies loses
// nothing by losing them (a restart clears a dead broker's rows). Measured, one autocommit INSERT
// at connect and one DELETE at close were a quarter of the broker's CPU in a connect storm; here
// every change of one window (flushMs) is written in one transaction. A session that opens and
// closes within a window is never inserted, only its (indexed, batched) removal runs: whether an
// older row of its client id exists is not tracked per connection (a set of written keys was ~90
// bytes of every idle connection). The price: the list lags the broker by ≤ flushMs.
//
// One flush at a time: two windows' transactions in flight could commit in either order (on
// PostgreSQL), and an upsert committed after the removal that followed it would leave a ghost row.
import type { Logger, SessionRecord, Store } from '@signalgate/shared';

type Pending = { upsert: SessionRecord } | { remove: { orgId: string; clientId: string; connectedAt: number } };

const keyOf = (orgId: string, clientId: string) => `${orgId}\u0000${clientId}`;

export class SessionRowWriter {
  /** The last wanted change per (org, client id); later changes replace earlier ones. */
  private pending = new Map<string, Pending>();
  /** Tokens whose session ended, and when (tokens.last_used_at: replace_existing spares them a while). */
  private ended = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  /** The flush under way, if any (the next one is scheduled when it ends). */
  private flushing: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly brokerId: string,
    private readonly logger: Logger,
    private readonly flushMs = 50,
  ) {}

  upsert(row: SessionRecord): void {
    if (this.stopped) return;
    this.pending.set(keyOf(row.orgId, row.clientId), { upsert: row });
    this.schedule();
  }

  /** The session that connected at `connectedAt` with `tokenId` ended (a newer one of the same client id may exist). */
  remove(orgId: string, clientId: string, connectedAt: number, tokenId: string): void {
    if (this.stopped) return;
    this.ended.set(tokenId, Date.now());
    this.schedule();
    const key = keyOf(orgId, clientId);
    const p = this.pending.get(key);
    if (p && 'upsert' in p && p.upsert.connectedAt !== connectedAt) return; // a newer session's upsert will overwrite the row
    // (Its own upsert, if still pending, is replaced: a row of an earlier session of the id may exist.)
    this.pending.set(key, { remove: { orgId, clientId, connectedAt } });
    this.schedule();
  }

  /**
   * A refresh moved the expiry of an open session. The API updated the rows it found, but a row
   * written behind it (pending then, or flushed since) may still hold the old expiry: write the
   * session's row again, unless its own removal is already pending.
   */
  refresh(row: SessionRecord): void {
    const p = this.pending.get(keyOf(row.orgId, row.clientId));
    // A pending removal of an older connection of the id (taken over by this one) does not count.
    if (p === undefined || ('upsert' in p ? p.upsert.connectedAt === row.connectedAt : p.remove.connectedAt < row.connectedAt)) this.upsert(row);
  }

  /** Writes what is pending now (after the flush under way, if one is); resolves when written or given up. Never rejects. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0 && this.ended.size === 0) return;
    this.flushing = this.write().finally(() => {
      this.flushing = null;
      this.schedule(); // what came meanwhile, or what failed
    });
    return this.flushing;
  }

  private async write(): Promise<void> {
    const batch = this.pending;
    const ended = this.ended;
    this.pending = new Map();
    this.ended = new Map();
    try {
      await this.store.transaction(async (tx) => {
        for (const [tokenId, at] of ended) await tx.tokens.touch(tokenId, at);
        for (const change of batch.values()) {
          if ('upsert' in change) await tx.sessions.upsert(change.upsert);
          else await tx.sessions.removeUpTo(change.remove.orgId, change.remove.clientId, this.brokerId, change.remove.connectedAt);
        }
      });
    } catch (err) {
      if (this.stopped) return; // the broker clears its rows anyway
      // Kept for the next window (changes that arrived since win: they are newer).
      for (const [key, change] of batch) if (!this.pending.has(key)) this.pending.set(key, change);
      for (const [tokenId, at] of ended) if (!this.ended.has(tokenId)) this.ended.set(tokenId, at);
      this.logger.warn({ err, rows: batch.size }, 'could not write session rows; retrying');
    }
  }

  /** Marks these tokens as used now (the broker is about to stop writing). Never rejects. */
  async touchNow(tokenIds: string[]): Promise<void> {
    if (tokenIds.length === 0) return;
    const at = Date.now();
    try {
      await this.store.transaction(async (tx) => {
        for (const id of tokenIds) await tx.tokens.touch(id, at);
      });
    } catch (err) {
      this.logger.warn({ err, tokens: tokenIds.length }, 'could not record the last use of tokens at shutdown');
    }
  }

  /**
   * The broker is closing and clears all its rows in one go: pending changes are moot. Resolves
   * when a flush under way has ended (its rows must not land after the broker's are cleared).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending.clear();
    this.ended.clear();
    while (this.flushing) await this.flushing;
  }

  private schedule(): void {
    if (this.timer || this.flushing || this.stopped) return;
    if (this.pending.size === 0 && this.ended.size === 0) return;
    this.timer = setTimeout(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }
}
