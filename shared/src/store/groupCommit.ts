// Group commit: write jobs that arrive in the same event-loop turn share one IMMEDIATE transaction.
// A mint is a handful of row writes, but each transaction's COMMIT writes every touched page to the
// WAL and every ~1000 pages a checkpoint fsyncs: measured, the COMMIT was most of a mint. Batching
// the mints of concurrent requests pays that once per batch. Durability is unchanged: a job's
// promise settles only after the batch committed, so a caller that answers 200 on it answers after
// the rows are in the WAL (which survives kill -9; synchronous=NORMAL, see db.ts).
// Each job runs in its own savepoint: a job that throws (a 403, a 404) rolls back only its writes
// and rejects only its own promise.
import type { Db } from './db.js';

interface Job {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;

  constructor(private readonly db: Db, private readonly maxBatch = 256) {}

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate runs after the I/O phase: every request parsed in this turn joins the batch.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.queue.splice(0, this.maxBatch);
    this.scheduled = false;
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.db.transaction(() => {
        for (const job of batch) {
          try {
            outcomes.push({ ok: true, value: this.db.transaction(job.fn)() }); // nested: a savepoint
          } catch (err) {
            outcomes.push({ ok: false, value: err });
          }
        }
      }).immediate();
    } catch (err) {
      for (const job of batch) job.reject(err); // the COMMIT itself failed: nothing of the batch is stored
      return;
    }
    batch.forEach((job, i) => (outcomes[i]!.ok ? job.resolve(outcomes[i]!.value) : job.reject(outcomes[i]!.value)));
  }
}
