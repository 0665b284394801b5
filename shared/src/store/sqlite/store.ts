// The embedded store: one better-sqlite3 connection, every repository's statements prepared once,
// the asynchronous interface (types.ts) answered at once.
//
// Transactions. better-sqlite3 is synchronous and its transaction belongs to the whole connection,
// so while a transaction body awaits, any other caller's statement would join it (and be rolled
// back with it, or read its uncommitted rows). So: while a transaction is open, the repositories
// reached through the store wait for it to end; only the body's `tx` runs. Transactions queued in
// one event-loop turn share one IMMEDIATE transaction, each in its own savepoint (group commit: a
// COMMIT writes every touched page to the WAL, measured as most of a mint; the batch pays it once).
// A body that throws rolls back only its own writes and rejects only its own promise; every promise
// settles after the COMMIT, so a 200 answered on it means the rows are in the WAL (kill -9 safe,
// synchronous=NORMAL, see db.ts).
import { AsyncLocalStorage } from 'node:async_hooks';
import { openDatabase, type Db } from '../db.js';
import { OrgRepository } from '../orgs.js';
import { RuleSetRepository } from '../ruleSets.js';
import { IntegrationRepository } from '../integrations.js';
import { ApiKeyRepository } from '../apiKeys.js';
import { UserRepository } from '../users.js';
import { TokenRepository } from '../tokens.js';
import { ChangeFeed } from '../changes.js';
import { AuditLog } from '../audit.js';
import { SessionRepository } from '../sessions.js';
import { HistoryRepository } from '../history.js';
import { SettingsRepository } from '../settings.js';
import { UsageRepository } from '../usage.js';
import { ConnectRecordReader } from '../connectRecords.js';
import { IdentityProviderRepository } from '../identityProviders.js';
import { RetentionStore } from '../retention.js';
import type { Async, Store, StoreTx, TransactionOptions } from '../types.js';
import { LocalChanges, noticingAppends, type LocalChange, type LocalChangeListener } from '../localChanges.js';

export interface StoreOptions {
  historyPerTopic?: number;
}

const MAX_BATCH = 256;

interface Job {
  fn: (tx: StoreTx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Which batch the running code belongs to: a store call from inside a body is a bug, not a wait. */
const insideBatch = new AsyncLocalStorage<object>();

class Gate {
  open: object | undefined;
  private waiters: (() => void)[] = [];

  /** Resolves once no transaction is open; undefined (no wait) when none is. */
  pass(): Promise<void> | undefined {
    if (this.open === undefined) return undefined;
    if (insideBatch.getStore() === this.open) {
      throw new Error('store used directly inside a transaction body: use its tx');
    }
    return new Promise<void>((resolve) => this.waiters.push(resolve)).then(() => this.pass());
  }

  close(): void {
    this.open = undefined;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** `repo`'s methods as promises; with a gate, each first waits for an open transaction to end. */
function asynchronous<T extends object>(repo: T, gate?: Gate): Async<T> {
  const out: Record<string, unknown> = {};
  const proto = Object.getPrototypeOf(repo) as object;
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor') continue;
    const desc = Object.getOwnPropertyDescriptor(proto, name)!;
    if (desc.get) {
      Object.defineProperty(out, name, { get: () => (repo as Record<string, unknown>)[name], enumerable: true });
      continue;
    }
    const method = (repo as Record<string, (...a: unknown[]) => unknown>)[name]!.bind(repo);
    out[name] = (...args: unknown[]): Promise<unknown> => {
      try {
        const wait = gate?.pass();
        return wait ? wait.then(() => method(...args)) : Promise.resolve(method(...args));
      } catch (err) {
        return Promise.reject(err);
      }
    };
  }
  return out as Async<T>;
}

function repositories(db: Db, options: StoreOptions): { [K in keyof StoreTx]: object } {
  return {
    orgs: new OrgRepository(db),
    ruleSets: new RuleSetRepository(db),
    integrations: new IntegrationRepository(db),
    apiKeys: new ApiKeyRepository(db),
    users: new UserRepository(db),
    tokens: new TokenRepository(db),
    changes: new ChangeFeed(db),
    audit: new AuditLog(db),
    sessions: new SessionRepository(db),
    history: new HistoryRepository(db, options.historyPerTopic ?? 100),
    settings: new SettingsRepository(db),
    usage: new UsageRepository(db),
    providers: new IdentityProviderRepository(db),
    retention: new RetentionStore(db),
    connectRecords: new ConnectRecordReader(db),
  };
}

function facades(repos: { [K in keyof StoreTx]: object }, gate?: Gate): StoreTx {
  const out: Record<string, unknown> = {};
  for (const [name, repo] of Object.entries(repos)) out[name] = asynchronous(repo, gate);
  return out as unknown as StoreTx;
}

// The repositories are assigned in the constructor (interface merging gives them their types).
export interface SqliteStore extends StoreTx {}
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;

  private readonly gate = new Gate();
  private readonly tx: StoreTx;
  private queue: Job[] = [];
  private scheduled = false;
  private flushing = false;

  private readonly wakers = new Set<() => void>();
  private readonly local = new LocalChanges();
  /** What the running batch's bodies appended to the change feed: told and woken for after COMMIT. */
  private appended: LocalChange[] = [];

  constructor(private readonly db: Db, options: StoreOptions = {}) {
    const repos = repositories(db, options);
    this.tx = noticingAppends(facades(repos), (c) => this.appended.push(c));
    Object.assign(this, noticingAppends(facades(repos, this.gate), (c) => {
      this.local.tell([c]);
      this.wake();
    }));
  }

  readonly onLocalChanges = (listener: LocalChangeListener): (() => void) => this.local.subscribe(listener);

  /**
   * Wakes `wake` after this process appended to the change feed (its own revokes apply at once);
   * appends by other processes on the file are found by the readers' poll.
   */
  readonly onChange = (wake: () => void): (() => void) => {
    this.wakers.add(wake);
    return () => this.wakers.delete(wake);
  };

  private wake(): void {
    for (const w of this.wakers) w();
  }

  static open(dataDir: string, options: StoreOptions = {}): SqliteStore {
    return new SqliteStore(openDatabase(dataDir), options);
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>, _options?: TransactionOptions): Promise<T> {
    if (insideBatch.getStore() !== undefined) return Promise.reject(new Error('nested store transaction'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  async ping(): Promise<void> {
    await this.gate.pass();
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setImmediate(r));
    if (this.db.open) this.db.close();
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    // setImmediate runs after the I/O phase: every request parsed in this turn joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    this.flushing = true;
    const token = {};
    this.gate.open = token;
    const outcomes: { ok: boolean; value: unknown }[] = [];
    let failed: unknown;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const job of batch) {
        this.db.exec('SAVEPOINT job');
        const appendedBefore = this.appended.length;
        try {
          const value = await insideBatch.run(token, () => job.fn(this.tx));
          this.db.exec('RELEASE job');
          outcomes.push({ ok: true, value });
        } catch (err) {
          this.db.exec('ROLLBACK TO job');
          this.db.exec('RELEASE job');
          this.appended.length = appendedBefore; // its appends are undone: nothing to tell
          outcomes.push({ ok: false, value: err });
        }
      }
      this.db.exec('COMMIT');
    } catch (err) {
      failed = err; // BEGIN or COMMIT failed: nothing of the batch is stored
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    }
    this.flushing = false;
    this.gate.close();
    const appended = this.appended;
    this.appended = [];
    if (failed === undefined && appended.length > 0) {
      this.local.tell(appended); // before any job's promise resolves
      this.wake();
    }
    if (failed !== undefined) for (const job of batch) job.reject(failed);
    else batch.forEach((job, i) => (outcomes[i]!.ok ? job.resolve(outcomes[i]!.value) : job.reject(outcomes[i]!.value)));
    if (this.queue.length > 0) this.schedule();
  }
}
