// Token buckets for per-organisation and per-token rate limits. Pure: the caller passes the time,
// so tests drive it without sleeping and the broker pays no clock call it does not already make.

export class TokenBucket {
  private tokens: number;
  private last: number;

  /**
   * `ratePerSecond` tokens flow in per second, up to `burst` (default: one second's worth).
   * The bucket starts full.
   */
  constructor(readonly ratePerSecond: number, readonly burst: number = ratePerSecond, now = 0) {
    if (!(ratePerSecond > 0) || !(burst > 0)) throw new RangeError('rate and burst must be positive');
    this.tokens = burst;
    this.last = now;
  }

  /**
   * Takes `cost` tokens if available. A single cost larger than the burst is let through once the
   * bucket is full and leaves it in debt (otherwise one big message could never pass a bytes/s limit
   * smaller than itself); the debt is paid back before anything else passes.
   */
  take(cost: number, now: number): boolean {
    this.refill(now);
    if (this.tokens < Math.min(cost, this.burst)) return false;
    this.tokens -= cost;
    return true;
  }

  /** Tokens available at `now` (may be negative while in debt). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
      this.last = now;
    }
  }
}

/** A bucket for a limit that may be switched off (`null`): an absent limit always allows. */
export function bucketFor(limit: number | null, now: number): TokenBucket | null {
  return limit === null ? null : new TokenBucket(limit, limit, now);
}
