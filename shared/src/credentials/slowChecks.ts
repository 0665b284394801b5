// How long-lived secrets (sk_/cs_ keys, the admin key) are checked when they are not cached yet:
// argon2, through the process's ConcurrencyGate, and once per secret however many requests present
// it at the same moment (a backend's burst on a cold cache pays one argon2, not one each).
//
// `beforeSlowCheck` runs only for the caller that starts a check, right before argon2: the place to
// charge a failure budget in advance (limits/failureBudget.ts), so requests of one address arriving
// while checks run cannot all pass the budget. Callers that join a check in progress are not
// charged in advance; each counts its own failure afterwards.
import type { ConcurrencyGate } from '../limits/concurrencyGate.js';

export type BeforeSlowCheck = () => void;

export class SlowChecks {
  private readonly inFlight = new Map<string, Promise<unknown>>();
  /** Checks started since the process began (shared ones once): what the budgets bound. */
  started = 0;

  constructor(private readonly gate: ConcurrencyGate) {}

  /** `check` for the secret whose cache key is `cacheKey`, shared with a check of it already running. */
  run<T>(cacheKey: string, check: () => Promise<T>, beforeSlowCheck?: BeforeSlowCheck): Promise<T> {
    const running = this.inFlight.get(cacheKey);
    if (running) return running as Promise<T>;
    beforeSlowCheck?.();
    this.started++;
    const started = this.gate.run(check).finally(() => this.inFlight.delete(cacheKey));
    this.inFlight.set(cacheKey, started);
    return started;
  }
}
