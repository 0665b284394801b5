// A bound on work that holds a scarce resource: argon2 runs on libuv's thread pool (4 threads by
// default, shared with file and DNS work), so unbounded concurrent key checks starve everything
// else in the process (1,000 wrong keys at once once took a legitimate mint from 110 ms to 48 s).
// At most `maxRunning` run at once and `maxWaiting` wait; past that the caller is told to come back
// (503 server_busy, or CONNACK server_busy), which a client handles better than a stalled server.
import { SignalGateError } from '../errors.js';

export class ConcurrencyGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly maxRunning: number, readonly maxWaiting: number) {
    if (!(maxRunning >= 1)) throw new RangeError('maxRunning must be at least 1');
    if (!(maxWaiting >= 0)) throw new RangeError('maxWaiting must not be negative');
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.maxRunning) {
      if (this.waiting.length >= this.maxWaiting) {
        throw new SignalGateError('server_busy', 'too many credential checks in progress; retry shortly', { retryAfterSeconds: 1 });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next waiter, if any, so `running` stays counted.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  get inUse(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
