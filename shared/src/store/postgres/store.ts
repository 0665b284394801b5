// The PostgreSQL store: for brokers and APIs on more than one machine, all on one database.
//
// Every statement goes through one wrapping `Sql` (guarded), which turns a lost or refused connection
// into StoreUnavailable (503 / CONNACK 3): a caller must never take "the database is away" for "no such
// token". The pool drops broken connections and opens new ones, so once the database is back the
// next statement succeeds, with no restart.
//
// Transactions are SERIALIZABLE: the services' read-check-write bodies (a refresh guarded by the old
// password, a rule set's default) then behave as in SQLite, where one writer runs at a time. The
// price is that PostgreSQL may refuse a commit (40001) or pick a deadlock victim (40P01); the body is
// run again from the start on a new attempt, which is why a body must do nothing but store work.
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import type { QueryResult, QueryResultRow } from 'pg';
import { storeUnavailable } from '../../errors.js';
import { createLogger, type Logger } from '../../log.js';
import type { StoreOptions } from '../sqlite/store.js';
import type { Store, StoreTx, TransactionOptions } from '../types.js';
import { migratePostgres } from './migrations.js';
import { LocalChanges, noticingAppends, type LocalChange, type LocalChangeListener } from '../localChanges.js';
import type { Sql } from './sql.js';
import { PgOrgs } from './orgs.js';
import { PgRuleSets } from './ruleSets.js';
import { PgIntegrations } from './integrations.js';
import { PgApiKeys } from './apiKeys.js';
import { PgUsers } from './users.js';
import { PgTokens } from './tokens.js';
import { PgChanges } from './changes.js';
import { PgAudit } from './audit.js';
import { PgSessions } from './sessions.js';
import { PgHistory } from './history.js';
import { PgSettings } from './settings.js';
import { PgUsage } from './usage.js';
import { PgIdentityProviders } from './identityProviders.js';
import { PgRetention } from './retention.js';
import { PgConnectRecords } from './connectRecords.js';

export interface PostgresStoreOptions extends StoreOptions {
  /** Where pool and listener failures are reported (default: JSON warnings on stderr). */
  log?: Pick<Logger, 'warn'>;
  /** Connections the pool keeps at most (default 10). */
  maxConnections?: number;
}

/** The channel the `changes` trigger notifies (migrations.ts). */
export const CHANGES_CHANNEL = 'signalgate_changes';

const INT8 = 20;
const NUMERIC = 1700;

/**
 * Every integer column is BIGINT (epoch ms do not fit INTEGER), and pg returns int8 as a string by
 * default; the mappers shared with SQLite expect numbers. Our values are far below 2^53, so Number is
 * exact. NUMERIC is what SUM() of a BIGINT gives. Set on this store's connections only: pg's global
 * parser table is shared with whatever else in the process uses pg.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    (oid === INT8 || oid === NUMERIC) && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

// ENOENT: a Unix socket path with no server behind it (host=/var/run/postgresql, server stopped).
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT', 'ECONNABORTED', 'EADDRNOTAVAIL']);

/**
 * The database (or the way to it) is away, as opposed to a statement being wrong: socket errors, pg's
 * own "Connection terminated…" and pool checkout timeout, SQLSTATE class 08 (connection exception),
 * 57P01–57P03 (admin/crash shutdown, still starting), 53300 (too many connections), 57014 (a
 * statement cancelled: statement_timeout) and pg's own query_timeout.
 */
export function isConnectionFailure(err: unknown): boolean {
  // Duck-typed, not `instanceof Error`: a socket error is made by node's own Error, which is not the
  // Error of every realm this code may run in (a jest VM context, for one).
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (CONNECTION_ERRNOS.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code) || code === '53300' || code === '57014') return true;
  }
  return typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|not queryable|Query read timeout/i.test(message);
}

/** A serialization failure or deadlock, here or as a cause: the whole transaction may succeed if run again. */
function isRetryable(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    // 0A000 "cached plan must not change result type": a named statement prepared on this
    // connection before a migration changed its table; the next attempt prepares it anew.
    if (code === '40001' || code === '40P01' || code === '0A000') return true;
  }
  return false;
}

const isUniqueViolation = (err: unknown) => typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';

const asStoreError = (err: unknown) => (isConnectionFailure(err) ? storeUnavailable(err) : err);

type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/** The one place connection failures become StoreUnavailable: what every repository runs on. */
/**
 * Statement names by text: a named statement is parsed and planned once per connection, not per
 * call (measured on the CONNECT join: 6 ms unnamed against 0.85 ms named under load). The texts are
 * the repositories' constants, so this map stays small.
 */
const statementNames = new Map<string, string>();
const nameOf = (text: string) => {
  let name = statementNames.get(text);
  if (name === undefined) statementNames.set(text, (name = `sg${statementNames.size}`));
  return name;
};

const isStalePlan = (err: unknown) => typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '0A000';

/**
 * `pooled`: statements of the store itself (autocommit). One made from inside a transaction body is
 * a bug (the body must use its tx; on SQLite it throws too), and here it would also wait for a pool
 * connection the transaction may be holding the last of.
 */
function guarded(target: Queryable, pooled = false): Sql {
  const run = <R extends QueryResultRow>(query: unknown) => (target.query as (q: unknown) => Promise<QueryResult<R>>)(query);
  return {
    async query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
      if (pooled && insideTransaction.getStore()) throw new Error('store used directly inside a transaction body: use its tx');
      const query = values === undefined ? text : { name: nameOf(text), text, values };
      try {
        return await run<R>(query);
      } catch (err) {
        // A named statement prepared before a migration changed its table fails once per connection
        // (0A000); prepared anew it runs. Only outside a transaction: inside, the failure aborted it
        // and the transaction is retried whole.
        if (pooled && isStalePlan(err)) return run<R>(query).catch((again: unknown) => { throw asStoreError(again); });
        throw asStoreError(err);
      }
    },
  };
}

function repositories(sql: Sql, options: StoreOptions): StoreTx {
  return {
    orgs: new PgOrgs(sql),
    ruleSets: new PgRuleSets(sql),
    integrations: new PgIntegrations(sql),
    apiKeys: new PgApiKeys(sql),
    users: new PgUsers(sql),
    tokens: new PgTokens(sql),
    changes: new PgChanges(sql),
    audit: new PgAudit(sql),
    sessions: new PgSessions(sql),
    history: new PgHistory(sql, options.historyPerTopic ?? 100),
    settings: new PgSettings(sql),
    usage: new PgUsage(sql),
    providers: new PgIdentityProviders(sql),
    retention: new PgRetention(sql),
    connectRecords: new PgConnectRecords(sql),
  };
}

/** Attempts of one transaction before a serialization failure reaches the caller. */
const MAX_ATTEMPTS = 30;

const insideTransaction = new AsyncLocalStorage<true>();

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The one connection that LISTENs for the `changes` trigger. When it fails it reconnects, backing
 * off from 100 ms to 2 s, and wakes every reader once it listens again: notifications sent while it
 * was away are lost, and a woken reader catches up by `seq`. A heartbeat notices a connection that
 * died without a word (a peer gone without a FIN) within about 20 s.
 */
class ChangeListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private delay = 100;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly config: pg.ClientConfig, private readonly wakeAll: () => void, private readonly log: Pick<Logger, 'warn'>) {
    void this.connect();
    this.heartbeat = setInterval(() => {
      const c = this.client;
      c?.query('SELECT 1').catch((err: unknown) => this.failed(c, err));
    }, 15_000);
    this.heartbeat.unref();
  }

  private async connect(): Promise<void> {
    // Named apart from the pool's connections: an operator (or a test) can tell which one listens.
    const client = new pg.Client({ ...this.config, application_name: 'signalgate-listen', query_timeout: 5000 });
    this.client = client;
    client.on('error', (err) => this.failed(client, err));
    client.on('end', () => this.failed(client, new Error('Connection terminated')));
    client.on('notification', (n) => {
      if (n.channel === CHANGES_CHANNEL) this.wakeAll();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (err) {
      this.failed(client, err);
      return;
    }
    if (this.client !== client) {
      client.end().catch(() => undefined); // failed or stopped meanwhile
      return;
    }
    this.delay = 100;
    // Whatever was appended before this LISTEN took effect (the first or after a reconnect) notified no one.
    this.wakeAll();
  }

  private failed(client: pg.Client, err: unknown): void {
    if (this.client !== client) return; // already handled (error and end both come)
    this.client = undefined;
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    if (this.stopped) return;
    // Once per outage, not once per attempt.
    if (this.delay === 100) this.log.warn({ err }, `store: LISTEN ${CHANGES_CHANNEL} connection lost; reconnecting`);
    this.retryTimer = setTimeout(() => void this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, 2000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

// The repositories are assigned in the constructor (interface merging gives them their types).
export interface PostgresStore extends StoreTx {}
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;

  private readonly wakes = new Set<() => void>();
  private listener: ChangeListener | undefined;
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly clientConfig: pg.ClientConfig,
    private readonly options: PostgresStoreOptions,
    private readonly log: Pick<Logger, 'warn'>,
  ) {
    Object.assign(this, noticingAppends(repositories(guarded(pool, true), options), (c) => this.local.tell([c])));
  }

  private readonly local = new LocalChanges();

  readonly onLocalChanges = (listener: LocalChangeListener): (() => void) => this.local.subscribe(listener);

  /** Connects, brings the schema up to date and resolves with the store; StoreUnavailable when the database cannot be reached. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const log = options.log ?? createLogger('warn', 'signalgate', true);
    const clientConfig: pg.ClientConfig = {
      connectionString: url,
      types,
      connectionTimeoutMillis: 3000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: 'signalgate',
    };
    // query_timeout: a connection that goes silent without closing (a partition, a stalled proxy)
    // fails its statement after 10 s as "database unavailable" instead of hanging the caller (and
    // the change feed's reader) for ever; the pool then replaces it.
    const pool = new pg.Pool({ ...clientConfig, max: options.maxConnections ?? 10, idleTimeoutMillis: 30_000, query_timeout: 10_000 });
    // An idle connection the server dropped (restart, failover) is reported here and removed from the
    // pool; without a listener pg would rethrow it and end the process.
    pool.on('error', (err) => log.warn({ err }, 'store: an idle PostgreSQL connection failed; the pool replaces it'));
    try {
      await migratePostgres(pool);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw asStoreError(err);
    }
    return new PostgresStore(pool, clientConfig, options, log);
  }

  async transaction<T>(fn: (tx: StoreTx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const begin = options.insertOnly ? 'BEGIN ISOLATION LEVEL READ COMMITTED' : 'BEGIN ISOLATION LEVEL SERIALIZABLE';
    let uniqueViolations = 0;
    if (insideTransaction.getStore()) throw new Error('nested store transaction');
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw asStoreError(err);
      }
      let broken: Error | undefined;
      let failure: unknown;
      // A checked-out connection that dies between statements (the body awaiting something else)
      // emits 'error' with no query to fail; unheard, that would end the process. The next
      // statement then fails as "not queryable" (StoreUnavailable) and the client is destroyed.
      const onError = (err: Error) => { broken = err; };
      client.on('error', onError);
      try {
        const sql = guarded(client);
        await sql.query(begin);
        const appended: LocalChange[] = []; // this attempt's: a retried body appends again
        const tx = noticingAppends(repositories(sql, this.options), (c) => appended.push(c));
        const value = await insideTransaction.run(true, () => fn(tx));
        await sql.query('COMMIT');
        this.local.tell(appended);
        return value;
      } catch (err) {
        failure = err;
        // Also after a failed COMMIT (nothing is open then; PostgreSQL only warns). A ROLLBACK that
        // fails means the connection is gone: it is destroyed, not returned to the pool.
        await client.query('ROLLBACK').catch((e: Error) => { broken ??= e; });
      } finally {
        client.removeListener('error', onError);
        client.release(broken);
      }
      // An insert-only body meeting a concurrent insert of the same key sees that row next time.
      const again = isRetryable(failure) || (options.insertOnly === true && isUniqueViolation(failure) && ++uniqueViolations <= 3);
      if (attempt >= MAX_ATTEMPTS || !again) throw asStoreError(failure);
      // Full jitter over an exponential window (2 ms doubling, at most 200 ms): thirty bodies racing
      // on one row all commit (the contract's hot-row test; a linear 5 ms window ran out in 0.4 s).
      await sleep(Math.random() * Math.min(200, 2 ** attempt));
    }
  }

  async ping(): Promise<void> {
    await guarded(this.pool, true).query('SELECT 1');
  }

  onChange(wake: () => void): () => void {
    this.wakes.add(wake);
    if (!this.listener && !this.closed) {
      this.listener = new ChangeListener(this.clientConfig, () => {
        for (const w of [...this.wakes]) {
          try {
            w();
          } catch (err) {
            this.log.warn({ err }, 'store: a change-feed wake threw');
          }
        }
      }, this.log);
    }
    return () => {
      this.wakes.delete(wake);
      if (this.wakes.size === 0 && this.listener) {
        void this.listener.stop();
        this.listener = undefined;
      }
    };
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.wakes.clear();
      await this.listener?.stop();
      this.listener = undefined;
      await this.pool.end();
    })();
    return this.closed;
  }
}

export function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<Store> {
  return PostgresStore.open(url, options);
}
