// In-memory rate limits (rate-limiter-flexible) on mint and refresh: per API key and per client IP,
// plus a budget of failed authentications per IP against key brute force and refresh-password
// guessing. Over a limit → 429 with Retry-After. Limits are per process (one API instance).
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Request, RequestHandler } from 'express';
import { SignalGateError, type Config } from '@signalgate/shared';
import { clientIp } from './requestContext.js';

const WINDOW_SECONDS = 60;

const retryAfterOf = (res: RateLimiterRes) => Math.max(1, Math.ceil(res.msBeforeNext / 1000));

function tooMany(what: string, res: RateLimiterRes): SignalGateError {
  return new SignalGateError('rate_limited', `too many ${what}; retry later`, { retryAfterSeconds: retryAfterOf(res) });
}

async function consume(limiter: RateLimiterMemory, key: string, what: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) throw tooMany(what, rejection);
    throw rejection;
  }
}

export class RateLimits {
  private readonly perKey: RateLimiterMemory;
  private readonly perIp: RateLimiterMemory;
  private readonly authFailures: RateLimiterMemory;

  constructor(config: Pick<Config, 'mintRatePerKey' | 'mintRatePerIp' | 'authFailuresPerIp'>) {
    this.perKey = new RateLimiterMemory({ keyPrefix: 'mint-key', points: config.mintRatePerKey, duration: WINDOW_SECONDS });
    this.perIp = new RateLimiterMemory({ keyPrefix: 'mint-ip', points: config.mintRatePerIp, duration: WINDOW_SECONDS });
    this.authFailures = new RateLimiterMemory({ keyPrefix: 'auth-fail', points: config.authFailuresPerIp, duration: WINDOW_SECONDS });
  }

  /** Middleware for the mint and refresh routes: counts every request of the client IP. */
  readonly mintPerIp: RequestHandler = (req, _res, next) => {
    consume(this.perIp, clientIp(req), 'token requests from this address').then(() => next(), next);
  };

  consumeForKey(keyId: string): Promise<void> {
    return consume(this.perKey, keyId, 'token requests for this API key');
  }

  /**
   * Runs an authentication step for the caller's IP: refused outright once the IP has used up its
   * failure budget, and a 401/404 from the step is counted against it.
   */
  async guardAuth<T>(req: Request, step: () => Promise<T> | T): Promise<T> {
    const ip = clientIp(req);
    const seen = await this.authFailures.get(ip);
    if (seen && seen.consumedPoints >= this.authFailures.points) throw tooMany('failed authentication attempts from this address', seen);
    try {
      return await step();
    } catch (err) {
      // Not provider_not_found: issuers are public (GET /v2/providers), so there is nothing to guess,
      // and counting it would let one misconfigured app lock out everyone behind its address.
      if (err instanceof SignalGateError && (err.status === 401 || err.code === 'token_not_found')) {
        await consume(this.authFailures, ip, 'failed authentication attempts from this address').catch((limited: unknown) => {
          // The failure that crosses the budget still answers with its own 401; the next one gets 429.
          if (!(limited instanceof SignalGateError)) throw limited;
        });
      }
      throw err;
    }
  }
}
