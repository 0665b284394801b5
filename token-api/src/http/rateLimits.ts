// In-memory rate limits (rate-limiter-flexible) on mint and refresh: per API key and per client IP,
// plus a budget of failed authentications per IP against key brute force and refresh-password
// guessing (FailureBudget, the one the broker's `server@` logins use: synchronous, so a check and
// its charge cannot interleave). Over a limit → 429 with Retry-After. Limits are per process.
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Request, RequestHandler } from 'express';
import { FailureBudget, FailureBudgetSpent, SignalGateError, type BeforeSlowCheck, type Config } from '@signalgate/shared';

const isAuthFailure = (err: unknown) => err instanceof SignalGateError && (err.status === 401 || err.code === 'token_not_found');
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
  private readonly authFailures: FailureBudget;

  constructor(config: Pick<Config, 'mintRatePerKey' | 'mintRatePerIp' | 'authFailuresPerIp'>) {
    this.perKey = new RateLimiterMemory({ keyPrefix: 'mint-key', points: config.mintRatePerKey, duration: WINDOW_SECONDS });
    this.perIp = new RateLimiterMemory({ keyPrefix: 'mint-ip', points: config.mintRatePerIp, duration: WINDOW_SECONDS });
    this.authFailures = new FailureBudget(config.authFailuresPerIp, WINDOW_SECONDS * 1000);
  }

  /** Middleware for the mint and refresh routes: counts every request of the client IP. */
  readonly mintPerIp: RequestHandler = (req, _res, next) => {
    consume(this.perIp, clientIp(req), 'token requests from this address').then(() => next(), next);
  };

  consumeForKey(keyId: string): Promise<void> {
    return consume(this.perKey, keyId, 'token requests for this API key');
  }

  /**
   * Runs an authentication step under the caller's IP failure budget (FailureBudget.attempt: a
   * slow check is charged before it runs, a cheap valid credential always passes, a failure (401,
   * unknown token) is counted and `onFailure`, the audit row, runs while the budget lasts). A spent
   * budget answers 429. Every secret here is 256-bit random: the budget is about cost, not guessing.
   * The failure is answered once `onFailure` has settled: the audit row is written before the 401.
   */
  async guardAuth<T>(req: Request, step: (beforeSlowCheck: BeforeSlowCheck) => Promise<T> | T, onFailure?: (err: SignalGateError) => Promise<void> | void): Promise<T> {
    const ip = clientIp(req);
    const budget = this.authFailures;
    const recording: Promise<void>[] = [];
    const onCounted = onFailure && ((err: unknown) => {
      recording.push(Promise.resolve(onFailure(err as SignalGateError)));
    });
    try {
      // Not provider_not_found: issuers are public (GET /v2/providers), so there is nothing to guess,
      // and counting it would let one misconfigured app lock out everyone behind its address.
      return await budget.attempt(ip, Date.now, step, isAuthFailure, onCounted);
    } catch (err) {
      await Promise.all(recording);
      if (!(err instanceof FailureBudgetSpent)) throw err;
      const retryAfterSeconds = Math.max(1, Math.ceil(budget.retryAfterMs(ip, Date.now()) / 1000));
      throw new SignalGateError('rate_limited', 'too many failed authentication attempts from this address; retry later', { retryAfterSeconds });
    }
  }
}
