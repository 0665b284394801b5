// A budget of failed authentications per caller (a client IP) per fixed window, the broker's
// counterpart of the API's rate-limiter-flexible budget (token-api/src/http/rateLimits.ts): the same
// SIGNALGATE_AUTH_FAILURES_PER_IP, the same minute. Pure: the caller passes the time.
//
// Bounded: an attacker rotating addresses must not grow it without end. Past `maxCallers` windows,
// expired ones are swept; if none has expired the oldest is dropped (its caller starts afresh, which
// costs the attacker the whole budget of a fresh address anyway).

/** Thrown by FailureBudget.attempt when the caller's budget is spent: no slow check ran, nothing was counted. */
export class FailureBudgetSpent extends Error {
  constructor() {
    super('failure budget spent');
  }
}

export class FailureBudget {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(readonly failuresPerWindow: number, readonly windowMs = 60_000, private readonly maxCallers = 100_000) {
    if (!(failuresPerWindow >= 1)) throw new RangeError('failuresPerWindow must be at least 1');
  }

  /** Whether `caller` has used up its failures in the current window (checked before any costly work). */
  exhausted(caller: string, now: number): boolean {
    const w = this.windows.get(caller);
    if (!w) return false;
    if (now - w.start >= this.windowMs) {
      this.windows.delete(caller);
      return false;
    }
    return w.failures >= this.failuresPerWindow;
  }

  /** Milliseconds until `caller`'s window ends (0 when it has none). */
  retryAfterMs(caller: string, now: number): number {
    const w = this.windows.get(caller);
    return w ? Math.max(0, w.start + this.windowMs - now) : 0;
  }

  /**
   * One authentication attempt of `caller` (the API's and the broker's `server@` logins both run
   * theirs here). The budget bounds cost, not who may authenticate:
   * - a slow check `step` is about to run (argon2: it calls `beforeSlowCheck`) is charged one failure
   *   first and given it back unless the attempt fails, so attempts arriving while checks run cannot
   *   all pass; once the budget is spent no slow check runs (FailureBudgetSpent);
   * - a cheap check always runs, so a valid credential is never refused for others' failures;
   * - a failure (`isFailure`) is counted once, `onFailure` runs, and the error is rethrown; past the
   *   budget FailureBudgetSpent is thrown instead and nothing is written. Other errors give back the
   *   charge and are rethrown.
   */
  async attempt<T>(
    caller: string,
    now: () => number,
    step: (beforeSlowCheck: () => void) => Promise<T> | T,
    isFailure: (err: unknown) => boolean,
    onFailure?: (err: unknown) => void,
  ): Promise<T> {
    let charged = false;
    const beforeSlowCheck = () => {
      if (this.exhausted(caller, now())) throw new FailureBudgetSpent();
      this.fail(caller, now());
      charged = true;
    };
    try {
      const result = await step(beforeSlowCheck);
      if (charged) this.refund(caller, now());
      return result;
    } catch (err) {
      if (!isFailure(err)) {
        if (charged) this.refund(caller, now());
        throw err;
      }
      if (!charged) {
        if (this.exhausted(caller, now())) throw new FailureBudgetSpent();
        this.fail(caller, now());
      }
      onFailure?.(err);
      throw err;
    }
  }

  /** Counts one failure of `caller`. */
  fail(caller: string, now: number): void {
    const w = this.windows.get(caller);
    if (w && now - w.start < this.windowMs) {
      w.failures++;
      return;
    }
    if (w) this.windows.delete(caller);
    else if (this.windows.size >= this.maxCallers) this.makeRoom(now);
    this.windows.set(caller, { start: now, failures: 1 });
  }

  /** Gives back one failure counted in advance (the attempt it was counted for succeeded). */
  refund(caller: string, now: number): void {
    const w = this.windows.get(caller);
    if (w && now - w.start < this.windowMs && w.failures > 0) w.failures--;
  }

  private makeRoom(now: number): void {
    for (const [caller, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(caller);
    if (this.windows.size >= this.maxCallers) {
      const oldest = this.windows.keys().next().value;
      if (oldest !== undefined) this.windows.delete(oldest);
    }
  }
}
