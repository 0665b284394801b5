// The REST publisher's per-key budget (CloudSignal documents 100 requests/s per key, bursts to 200):
// a token bucket per API key, and the X-RateLimit-* headers every answer carries. Buckets of keys
// idle for a while are dropped, so the map stays bounded by the keys active in the last minute.
import type { Response } from 'express';
import { SignalGateError, TokenBucket } from '@signalgate/shared';

const IDLE_MS = 60_000;
const MAX_KEYS = 100_000;

export class PublishLimits {
  private readonly buckets = new Map<string, { bucket: TokenBucket; used: number }>();

  constructor(private readonly ratePerSecond: number, private readonly burst: number) {}

  /** Takes `cost` messages of `keyId`'s budget, sets the headers, and throws 429 when over it. */
  take(keyId: string, cost: number, res: Response, now = Date.now()): void {
    const entry = this.entryOf(keyId, now);
    const ok = entry.bucket.take(cost, now);
    const available = entry.bucket.available(now);
    res.set('X-RateLimit-Limit', String(this.ratePerSecond));
    res.set('X-RateLimit-Remaining', String(Math.max(0, Math.floor(available))));
    // When the bucket is full again, as epoch seconds (what CloudSignal's clients read as "reset").
    const fullInMs = Math.max(0, ((this.burst - available) / this.ratePerSecond) * 1000);
    res.set('X-RateLimit-Reset', String(Math.ceil((now + fullInMs) / 1000)));
    if (!ok) {
      const retryAfter = Math.max(1, Math.ceil(((Math.min(cost, this.burst) - available) / this.ratePerSecond)));
      throw new SignalGateError('rate_limited', `more than ${this.ratePerSecond} messages per second (burst ${this.burst}) for this API key`, { retryAfterSeconds: retryAfter });
    }
  }

  private entryOf(keyId: string, now: number) {
    let entry = this.buckets.get(keyId);
    if (!entry) {
      if (this.buckets.size >= MAX_KEYS) this.sweep(now);
      entry = { bucket: new TokenBucket(this.ratePerSecond, this.burst, now), used: now };
      this.buckets.set(keyId, entry);
    }
    entry.used = now;
    return entry;
  }

  private sweep(now: number): void {
    for (const [key, e] of this.buckets) if (now - e.used > IDLE_MS) this.buckets.delete(key);
    // Still full: the oldest go (a dropped key starts again with a full bucket, within the burst).
    for (const key of this.buckets.keys()) {
      if (this.buckets.size < MAX_KEYS) break;
      this.buckets.delete(key);
    }
  }
}
