// What the SDK may learn about where it runs, without the DOM typings (it also runs in Node).

export interface PageLocation {
  protocol: string;
  hostname: string;
}

const g = globalThis as { window?: unknown; document?: unknown; location?: PageLocation };

/** A browser page (or anything pretending to be one): secret keys must never be used there. */
export const isBrowserEnvironment = (): boolean => typeof g.window !== 'undefined' || typeof g.document !== 'undefined';

/** The page's location in a browser, for default hosts; undefined in Node. */
export function pageLocation(): PageLocation | undefined {
  if (!isBrowserEnvironment() || !g.location || typeof g.location.hostname !== 'string' || g.location.hostname === '') return undefined;
  return { protocol: g.location.protocol, hostname: g.location.hostname };
}

/** navigator.userAgent where there is one (browsers, React Native; Node ≥ 21 says "Node.js/…"). */
export function userAgent(): string | undefined {
  const ua = (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent;
  return typeof ua === 'string' ? ua : undefined;
}
