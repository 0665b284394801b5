// In-memory rate limits (rate-limiter-flexible) on mint and refresh: per API key and per client IP,
// plus a budget of failed authentications per IP against key brute force and refresh-password
// guessing (FailureBudget, the one the broker's `server@` logins use: synchronous, so a check and
// its charge cannot interleave). Over a limit → 429 with Retry-After. Limits are per process.
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Request, RequestHandler } from 'express';
import { FailureBudget, SignalGateError, type BeforeSlowCheck, type Config } from '@signalgate/shared';
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
   * Runs an authentication step under the caller's IP failure budget. The budget bounds the work
   * and the audit rows failures cost, not who may authenticate: every secret here is 256-bit random,
   * so guessing is hopeless and the budget is about cost. Hence:
   * - A slow check (argon2, for a key not cached yet: the step calls `beforeSlowCheck`) is charged
   *   one failure before it runs and given it back if it passes, so requests of one address arriving
   *   while checks run cannot all pass: at most the budget's worth of argon2 runs per address per
   *   minute. Once the budget is spent, no slow check runs (429).
   * - A cheap check (a cached key, a tkn_ or refresh password) always runs: a valid credential is
   *   never refused because others behind the same address (a proxy, a NAT) failed.
   * - A failure (401, unknown token) is counted, and `onFailure` (the audit row) runs, only while
   *   the budget lasts; past it the failure answers 429 instead, with nothing written. The failure
   *   that spends the budget still answers with its own 401.
   */
  async guardAuth<T>(req: Request, step: (beforeSlowCheck: BeforeSlowCheck) => Promise<T> | T, onFailure?: (err: SignalGateError) => void): Promise<T> {
    const ip = clientIp(req);
    const budget = this.authFailures;
    const exhausted = () => {
      const retryAfterSeconds = Math.max(1, Math.ceil(budget.retryAfterMs(ip, Date.now()) / 1000));
      return new SignalGateError('rate_limited', 'too many failed authentication attempts from this address; retry later', { retryAfterSeconds });
    };
    let charged = false;
    const beforeSlowCheck = () => {
      if (budget.exhausted(ip, Date.now())) throw exhausted();
      budget.fail(ip, Date.now());
      charged = true;
    };
    try {
      const result = await step(beforeSlowCheck);
      if (charged) budget.refund(ip, Date.now());
      return result;
    } catch (err) {
      // Not provider_not_found: issuers are public (GET /v2/providers), so there is nothing to guess,
      // and counting it would let one misconfigured app lock out everyone behind its address.
      const failure = err instanceof SignalGateError && (err.status === 401 || err.code === 'token_not_found');
      if (!failure) {
        if (charged) budget.refund(ip, Date.now());
        throw err;
      }
      if (!charged) {
        if (budget.exhausted(ip, Date.now())) throw exhausted();
        budget.fail(ip, Date.now());
      }
      onFailure?.(err);
      throw err;
    }
  }
}
