// The broker's rows in the sessions table, written in batches. Measured (bench/connect.mjs with
// --cpu-prof): one autocommit INSERT on connect and one DELETE on disconnect were ~18 % of the
// broker's CPU at a few thousand connects/s, nearly all of it the per-statement COMMIT. The rows are
// a view for the API (presence, session lists), not what authorises anything, so the writes of one
// event-loop turn are queued and committed together in the check phase of that turn (group commit).
// An upsert takes a callback run after its commit: CONNACK waits for it, so a client that has its
// CONNACK is listed, as before.
import type { Logger, SessionRecord, Store } from '@signalgate/shared';

type Committed = (err: Error | null) => void;

type RowWrite =
  | { kind: 'upsert'; row: SessionRecord; committed: Committed }
  | { kind: 'remove'; orgId: string; clientId: string; brokerId: string; connectedAt: number };

export class SessionRowWriter {
  private pending: RowWrite[] = [];
  private scheduled = false;

  constructor(private readonly store: Store, private readonly logger: Logger) {}

  upsert(row: SessionRecord, committed: Committed): void {
    this.queue({ kind: 'upsert', row, committed });
  }

  remove(orgId: string, clientId: string, brokerId: string, connectedAt: number): void {
    this.queue({ kind: 'remove', orgId, clientId, brokerId, connectedAt });
  }

  /** Writes what is queued now, in order (also called at shutdown before the broker's rows are cleared). */
  flush(): void {
    this.scheduled = false;
    const writes = this.pending;
    this.pending = [];
    if (writes.length === 0) return;
    const outcomes: (Error | null)[] = [];
    try {
      this.store.transaction(() => {
        for (const w of writes) {
          try {
            if (w.kind === 'upsert') this.store.sessions.upsert(w.row);
            else this.store.sessions.remove(w.orgId, w.clientId, w.brokerId, w.connectedAt);
            outcomes.push(null);
          } catch (err) {
            if (w.kind === 'remove') this.logger.error({ err, org: w.orgId, client: w.clientId }, 'could not remove a session row');
            outcomes.push(err as Error);
          }
        }
      });
    } catch (err) {
      this.logger.error({ err, rows: writes.length }, 'could not write session rows');
      outcomes.length = 0;
      for (let i = 0; i < writes.length; i++) outcomes.push(err as Error);
    }
    writes.forEach((w, i) => {
      if (w.kind === 'upsert') w.committed(outcomes[i] ?? null);
    });
  }

  private queue(w: RowWrite): void {
    this.pending.push(w);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }
}
