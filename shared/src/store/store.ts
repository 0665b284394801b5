// One object per process holding the database and every repository (statements prepared once).
import { RetentionStore } from './retention.js';
import { openDatabase, type Db } from './db.js';
import { OrgRepository } from './orgs.js';
import { RuleSetRepository } from './ruleSets.js';
import { IntegrationRepository } from './integrations.js';
import { ApiKeyRepository } from './apiKeys.js';
import { UserRepository } from './users.js';
import { TokenRepository } from './tokens.js';
import { ChangeFeed } from './changes.js';
import { AuditLog } from './audit.js';
import { SessionRepository } from './sessions.js';
import { HistoryRepository } from './history.js';
import { SettingsRepository } from './settings.js';
import { GroupCommit } from './groupCommit.js';
import { UsageRepository } from './usage.js';
import { ConnectRecordReader } from './connectRecords.js';
import { IdentityProviderRepository } from './identityProviders.js';

export interface StoreOptions {
  historyPerTopic?: number;
}

export class Store {
  readonly orgs: OrgRepository;
  readonly ruleSets: RuleSetRepository;
  readonly integrations: IntegrationRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly users: UserRepository;
  readonly tokens: TokenRepository;
  readonly changes: ChangeFeed;
  readonly audit: AuditLog;
  readonly sessions: SessionRepository;
  readonly history: HistoryRepository;
  readonly settings: SettingsRepository;
  readonly usage: UsageRepository;
  readonly providers: IdentityProviderRepository;
  readonly retention: RetentionStore;

  readonly connectRecords: ConnectRecordReader;

  private readonly group: GroupCommit;

  constructor(readonly db: Db, options: StoreOptions = {}) {
    this.group = new GroupCommit(db);
    this.connectRecords = new ConnectRecordReader(db);
    this.orgs = new OrgRepository(db);
    this.ruleSets = new RuleSetRepository(db);
    this.integrations = new IntegrationRepository(db);
    this.apiKeys = new ApiKeyRepository(db);
    this.users = new UserRepository(db);
    this.tokens = new TokenRepository(db);
    this.changes = new ChangeFeed(db);
    this.audit = new AuditLog(db);
    this.sessions = new SessionRepository(db);
    this.history = new HistoryRepository(db, options.historyPerTopic ?? 100);
    this.settings = new SettingsRepository(db);
    this.usage = new UsageRepository(db);
    this.providers = new IdentityProviderRepository(db);
    this.retention = new RetentionStore(db);
  }

  static open(dataDir: string, options: StoreOptions = {}): Store {
    return new Store(openDatabase(dataDir), options);
  }

  /** Runs `fn` in one IMMEDIATE transaction (takes the write lock up front: no upgrade deadlock). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /**
   * Runs `fn` in a transaction shared with the other jobs queued in this event-loop turn (see
   * groupCommit.ts); resolves once that transaction committed.
   */
  transactionGrouped<T>(fn: () => T): Promise<T> {
    return this.group.run(fn);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
