// What keeps clients from flooding the log: strings they choose (usernames, client ids, topics,
// paths) are cut to a readable length, and repeated refusals are logged on the 1st, 2nd, 4th, 8th…
// occurrence with the count so far, never one line each.

/** Strings a client sends are logged up to this length. */
const LOGGED_CHARS = 128;

/** Whether the `count`th occurrence (1-based) is logged. */
export const isLoggedOccurrence = (count: number): boolean => (count & (count - 1)) === 0;

/** `s` cut to LOGGED_CHARS, marked with an ellipsis where it was cut. */
export const clipped = <T extends string | undefined>(s: T): T =>
  (s !== undefined && s.length > LOGGED_CHARS ? `${s.slice(0, LOGGED_CHARS)}…` : s) as T;

/**
 * Counts occurrences per key (an address and a reason) in fixed windows and says which to log.
 * Bounded: past `maxKeys` the counts start afresh, which at worst logs a few more lines.
 */
export class LogSampler {
  private counts = new Map<string, number>();
  private windowStart = 0;

  constructor(private readonly windowMs = 60_000, private readonly maxKeys = 10_000) {}

  /** The occurrence number of `key` in this window when it is one to log, else null. */
  sample(key: string, now: number): number | null {
    if (now - this.windowStart >= this.windowMs || (this.counts.size >= this.maxKeys && !this.counts.has(key))) {
      this.counts = new Map();
      this.windowStart = now;
    }
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return isLoggedOccurrence(n) ? n : null;
  }
}
