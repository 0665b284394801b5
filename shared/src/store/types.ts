// The store interface every part programs against: one set of repositories, two implementations
// (sqlite/ embedded, postgres/ beyond one machine). Methods are asynchronous because PostgreSQL's
// are; SQLite answers them at once. A repository's shape is its SQLite class's public methods made
// asynchronous (Async<>): the PostgreSQL classes are checked against the same type, and the contract
// suite (shared/test/store.contract.ts) checks they behave the same.
import type { OrgRepository } from './orgs.js';
import type { RuleSetRepository } from './ruleSets.js';
import type { IntegrationRepository } from './integrations.js';
import type { ApiKeyRepository } from './apiKeys.js';
import type { UserRepository } from './users.js';
import type { TokenRepository } from './tokens.js';
import type { ChangeFeed } from './changes.js';
import type { AuditLog } from './audit.js';
import type { SessionRepository } from './sessions.js';
import type { HistoryRepository } from './history.js';
import type { SettingsRepository } from './settings.js';
import type { UsageRepository } from './usage.js';
import type { IdentityProviderRepository } from './identityProviders.js';
import type { RetentionStore } from './retention.js';
import type { ConnectRecordReader } from './connectRecords.js';
import type { LocalChangeListener } from './localChanges.js';

/** `T`'s methods returning promises; its plain properties as they are. */
export type Async<T> = {
  readonly [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : T[K];
};

export type OrgStore = Async<OrgRepository>;
export type RuleSetStore = Async<RuleSetRepository>;
export type IntegrationStore = Async<IntegrationRepository>;
export type ApiKeyStore = Async<ApiKeyRepository>;
export type UserStore = Async<UserRepository>;
export type TokenStore = Async<TokenRepository>;
export type ChangeFeedStore = Async<ChangeFeed>;
export type AuditStore = Async<AuditLog>;
export type SessionStore = Async<SessionRepository>;
export type HistoryStore = Async<HistoryRepository>;
export type SettingsStore = Async<SettingsRepository>;
export type UsageStore = Async<UsageRepository>;
export type IdentityProviderStore = Async<IdentityProviderRepository>;
export type RetentionOps = Async<RetentionStore>;
export type ConnectRecordStore = Async<ConnectRecordReader>;

/** The names of StoreTx's repositories. */
export const STORE_REPOSITORIES = [
  'orgs', 'ruleSets', 'integrations', 'apiKeys', 'users', 'tokens', 'changes', 'audit', 'sessions', 'history', 'settings', 'usage',
  'providers', 'retention', 'connectRecords',
] as const satisfies readonly (keyof StoreTx)[];

/** The repositories, as seen inside a transaction (`tx`) or outside it (the store itself). */
export interface StoreTx {
  readonly orgs: OrgStore;
  readonly ruleSets: RuleSetStore;
  readonly integrations: IntegrationStore;
  readonly apiKeys: ApiKeyStore;
  readonly users: UserStore;
  readonly tokens: TokenStore;
  readonly changes: ChangeFeedStore;
  readonly audit: AuditStore;
  readonly sessions: SessionStore;
  readonly history: HistoryStore;
  readonly settings: SettingsStore;
  readonly usage: UsageStore;
  readonly providers: IdentityProviderStore;
  readonly retention: RetentionOps;
  readonly connectRecords: ConnectRecordStore;
}

export type StoreKind = 'sqlite' | 'postgres';

export interface TransactionOptions {
  /**
   * `insertOnly`: the body's only rule is what unique keys enforce (a mint: find or insert the
   * user, insert the token). PostgreSQL then runs it READ COMMITTED and runs it again on a unique
   * violation (a concurrent insert of the same user), instead of SERIALIZABLE, whose predicate locks
   * made overlapping mints of new users fail more than once per mint (bench/RESULTS.md). SQLite
   * runs every transaction alone anyway.
   */
  insertOnly?: boolean;
}

export interface Store extends StoreTx {
  readonly kind: StoreKind;
  /**
   * Runs `fn` in one serializable transaction; resolves after COMMIT (a resolved mint is durable).
   * Inside, use only `tx`: the store's own repositories wait for the transaction to end (SQLite)
   * or run outside it (PostgreSQL). `fn` must do nothing but store work, and may run more than
   * once (PostgreSQL retries a serialization failure). No nesting.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Throws StoreUnavailable when the database cannot answer. */
  ping(): Promise<void>;
  /**
   * Calls `wake` soon after an append to the change feed: by any process on PostgreSQL
   * (LISTEN/NOTIFY), by this process on SQLite (other processes' appends are found by polling).
   * Returns a function that stops it.
   */
  readonly onChange?: (wake: () => void) => () => void;
  /**
   * Calls `listener` with what this process's own write appended to the change feed, right after
   * it committed and before the write's promise resolves (caches of this process drop at once).
   */
  readonly onLocalChanges?: (listener: LocalChangeListener) => () => void;
  close(): Promise<void>;
}

/**
 * `tx` seen as a store: its `transaction` runs the body in `tx` itself. For a unit of work made of
 * service calls that each open a transaction (a declared-state apply): services built on this
 * store all write in the one outer transaction.
 */
export function joinTransaction(tx: StoreTx, outer: Store): Store {
  const repositories = Object.fromEntries(STORE_REPOSITORIES.map((name) => [name, tx[name]])) as unknown as StoreTx;
  return {
    ...repositories,
    kind: outer.kind,
    transaction: (fn) => fn(tx),
    ping: () => outer.ping(),
    close: async () => {},
  };
}
