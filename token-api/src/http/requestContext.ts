// Who asked, for audit rows and rate limits. `req.ip` honours X-Forwarded-For only when the
// operator configured trusted proxies (SIGNALGATE_TRUST_PROXY); otherwise it is the socket peer.
import type { Request } from 'express';
import type { RequestContext } from '@signalgate/shared';

export const clientIp = (req: Request): string => req.ip ?? req.socket.remoteAddress ?? 'unknown';

export const requestContextOf = (req: Request, apiKeyId?: string): RequestContext => ({
  ip: clientIp(req),
  userAgent: req.get('user-agent'),
  ...(apiKeyId !== undefined ? { apiKeyId } : {}),
});

/** Express "trust proxy" from the configured text: a hop count, true/false, or a list of addresses/subnets. */
export function trustProxySetting(value: string | undefined): boolean | number | string {
  if (value === undefined) return false;
  if (/^\d+$/.test(value)) return Number(value);
  if (/^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  return value;
}
