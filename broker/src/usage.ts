// Per-organisation usage for the dashboard's chart. The publish hook pays one Map increment per
// accepted message; every SIGNALGATE_USAGE_SAMPLE_MS the counts and the open connections of each
// organisation are written as one row per org (one transaction) and the counters start over.
import type { Logger, Store, UsageSample } from '@signalgate/shared';
import type { SessionRegistry } from './sessions.js';

export class UsageSampler {
  private messages = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private lastSampleAt = Date.now();
  /** The writes of samples, one after another (stop waits for the last). */
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly sessions: SessionRegistry,
    private readonly brokerId: string,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  /** Hot path: a message of `orgId` was accepted for routing. */
  countMessage(orgId: string): void {
    this.messages.set(orgId, (this.messages.get(orgId) ?? 0) + 1);
  }

  start(): void {
    if (this.timer) return;
    this.lastSampleAt = Date.now();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Takes a last sample; resolves once every sample is written (or given up). */
  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.sample();
  }

  /**
   * Writes one row for every org that had connections or messages since the last sample (counted
   * now, written after the samples before it). Never rejects: a failed write is logged.
   */
  sample(now = Date.now()): Promise<void> {
    const counted = this.messages;
    this.messages = new Map();
    const intervalMs = Math.max(1, now - this.lastSampleAt);
    this.lastSampleAt = now;
    const orgs = new Set([...counted.keys(), ...this.sessions.orgIds()]);
    if (orgs.size === 0) return this.writes;
    const samples: UsageSample[] = [...orgs].map((orgId) => ({
      orgId, brokerId: this.brokerId, at: now, intervalMs, connections: this.sessions.clientsOfOrg(orgId).length, messages: counted.get(orgId) ?? 0,
    }));
    this.writes = this.writes.then(() => this.store.usage.record(samples, now)).catch((err: unknown) => {
      this.logger.error({ err }, 'usage sample not written');
    });
    return this.writes;
  }
}
