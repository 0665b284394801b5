// When to renew a token: `refreshBufferSeconds` before `refresh_recommended_at`, but never earlier
// than halfway through the remaining lifetime (a buffer longer than a short TTL would otherwise
// refresh in a loop), and at once when the recommended time has passed.

/** setTimeout's limit (about 24.8 days); longer delays fire immediately. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RefreshTimes {
  refreshAt: number;
  expiresAt: number;
  now: number;
  bufferSeconds: number;
}

export function refreshDelayMs({ refreshAt, expiresAt, now, bufferSeconds }: RefreshTimes): number {
  const untilRecommended = refreshAt - now;
  const target = untilRecommended - bufferSeconds * 1000;
  const earliest = Math.min((expiresAt - now) / 2, untilRecommended);
  const delay = Math.min(Math.max(target, earliest), untilRecommended);
  return Math.min(MAX_TIMER_MS, Math.max(0, Math.floor(delay)));
}
