// How long SignalGate keeps what it would otherwise keep for ever: ended tokens (and users left
// without one), the audit trail, the change feed and message history. Run by the token API every
// hour (and `signalgate purge`); `signalgate audit export` saves the trail before it goes.
import type { PurgeCounts } from '../store/retention.js';
import type { Store } from '../store/types.js';
import { systemClock, type Clock } from './clock.js';

const DAY_MS = 86_400_000;
/** Change rows are read by brokers within a poll (SIGNALGATE_CHANGE_POLL_MS); an hour is ample. */
const CHANGES_KEPT_MS = 3600_000;

export interface RetentionSettings {
  /** Days an expired or revoked token (and a user without tokens) is kept. */
  retentionDays: number;
  /** Days audit rows are kept; 0 keeps them for ever. */
  auditRetentionDays: number;
  /** Days history messages are kept. */
  historyRetentionDays: number;
}

export class RetentionService {
  constructor(private readonly store: Store, readonly settings: RetentionSettings, private readonly clock: Clock = systemClock) {}

  purge(): Promise<PurgeCounts> {
    const now = this.clock();
    return this.store.retention.purge({
      tokensEndedBefore: now - this.settings.retentionDays * DAY_MS,
      usersCreatedBefore: now - this.settings.retentionDays * DAY_MS,
      auditBefore: this.settings.auditRetentionDays === 0 ? null : now - this.settings.auditRetentionDays * DAY_MS,
      changesBefore: now - CHANGES_KEPT_MS,
      historyBefore: now - this.settings.historyRetentionDays * DAY_MS,
    });
  }
}
