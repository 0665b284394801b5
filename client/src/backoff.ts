// Seed 004's retry backoff for auth-related retries: base · 2^attempt, capped at the ceiling
// (1 s → 2 s → 4 s → … → 32 s → 60 s → 60 s with the defaults).

export interface RetryBackoff {
  baseSeconds: number;
  ceilSeconds: number;
}

export const DEFAULT_RETRY_BACKOFF: RetryBackoff = { baseSeconds: 1, ceilSeconds: 60 };

/** Delay before retry number `attempt` (0-based), in seconds. */
export function backoffDelaySeconds(attempt: number, { baseSeconds, ceilSeconds }: RetryBackoff): number {
  // 2^attempt overflows to Infinity long after the ceiling is reached; min() keeps it finite.
  return Math.min(ceilSeconds, baseSeconds * 2 ** Math.max(0, attempt));
}

export function validBackoff(b: Partial<RetryBackoff> | undefined): RetryBackoff {
  const out = { ...DEFAULT_RETRY_BACKOFF, ...b };
  if (!(out.baseSeconds > 0) || !(out.ceilSeconds >= out.baseSeconds)) {
    throw new Error('retryBackoff needs baseSeconds > 0 and ceilSeconds >= baseSeconds');
  }
  return out;
}
