// Reads the change feed for this process: every revoke, refresh, rule or org edit and kick, made
// here or by any other process on the same store. The broker ends sessions on it and the caches in
// front of the store (CONNECT credentials, API keys) drop what it names. It reads `since(lastSeq)`
// when the store pushes a wake-up (PostgreSQL: NOTIFY from any process; SQLite: this process's own
// appends) and on a poll (SQLite: other processes on the file; PostgreSQL: a lost listener
// connection). Reads never overlap; a wake-up during a read reads again after it.
import type { Change } from '../store/changes.js';
import type { Store } from '../store/types.js';
import type { LocalChange } from '../store/localChanges.js';

export type ChangeListener = (changes: readonly Change[]) => void | Promise<void>;

/** since() answers at most this many rows: a full page means there may be more. */
const PAGE = 10_000;

export class ChangeFollower {
  private lastSeq = 0;
  private readonly listeners = new Set<ChangeListener>();
  private users = 0;
  private starting: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopPush: (() => void) | undefined;
  private reading: Promise<void> | null = null;
  private again = false;
  private lastReadAt = -Infinity;
  private pollMs = 200;
  private failing = false;

  private warn: (err: unknown, message: string) => void = () => {};

  constructor(
    private readonly store: Store,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * `listener` hears this process's own changes as they commit (Store.onLocalChanges), before the
   * feed is read, and every process's when it is: for caches, which must drop an entry at once.
   */
  subscribeCache(listener: (changes: readonly LocalChange[]) => void): () => void {
    const stopLocal = this.store.onLocalChanges?.(listener);
    const stopFeed = this.subscribe(listener);
    return () => {
      stopLocal?.();
      stopFeed();
    };
  }

  /** Starts following (counted: the broker and the API of one process share it). */
  async start(pollMs: number, warn: (err: unknown, message: string) => void): Promise<void> {
    this.users++;
    if (this.users > 1) return this.starting ?? undefined;
    this.pollMs = pollMs;
    this.warn = warn;
    this.starting = (async () => {
      this.lastSeq = await this.store.changes.lastSeq();
      this.lastReadAt = this.now();
      this.timer = setInterval(() => void this.wake(), pollMs);
      this.timer.unref();
      this.stopPush = this.store.onChange?.(() => void this.wake());
    })();
    return this.starting;
  }

  stop(): void {
    if (this.users === 0 || --this.users > 0) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopPush?.();
    this.stopPush = undefined;
    this.lastReadAt = -Infinity;
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Whether what the feed would have said is known up to a moment ago: followed, and read within
   * a few polls. Caches trust themselves only then (a broker cut off from the database must not
   * keep admitting a credential revoked meanwhile through a part of the network it cannot see).
   */
  get fresh(): boolean {
    return this.users > 0 && this.now() - this.lastReadAt < Math.max(5 * this.pollMs, 2000);
  }

  /** Reads what is new now (also: after a write in this process, to apply it at once). */
  wake(): Promise<void> {
    if (this.users === 0) return Promise.resolve();
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = this.read().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  private async read(): Promise<void> {
    for (;;) {
      this.again = false;
      const startedAt = this.now();
      let changes: Change[];
      try {
        changes = await this.store.changes.since(this.lastSeq);
      } catch (err) {
        // Once per outage, not once per poll (five a second at the default).
        if (!this.failing) this.warn(err, 'could not read the change feed; retrying every poll');
        this.failing = true;
        return;
      }
      if (this.failing) this.warn(undefined, 'the change feed is readable again');
      this.failing = false;
      if (changes.length > 0) {
        this.lastSeq = changes[changes.length - 1]!.seq;
        for (const listener of this.listeners) {
          try {
            await listener(changes);
          } catch (err) {
            this.warn(err, 'could not apply changes');
          }
        }
      }
      this.lastReadAt = startedAt;
      if (!this.again && changes.length < PAGE) return;
    }
  }
}
