// Wires the store and services for one process; both services and the CLI start from here.
import type { Config } from '../config.js';
import { joinTransaction, type Store, type StoreTx } from '../store/types.js';
import { openStore } from '../store/open.js';
import type { Logger } from '../log.js';
import { ApiKeyService } from './apiKeys.js';
import { OrgService } from './orgs.js';
import { RuleService } from './rules.js';
import { IntegrationService } from './integrations.js';
import { DEFAULT_REPLACE_GRACE_SECONDS, TokenService } from './tokens.js';
import { ConnectService } from './connect.js';
import { ProviderService } from './providers.js';
import { ExchangeService } from './exchange.js';
import { IdentityVerifier } from '../identity/index.js';
import { AdminKeyService } from './admin.js';
import { SessionService } from './sessions.js';
import { systemClock, type Clock } from './clock.js';
import { SlowChecks } from '../credentials/slowChecks.js';
import { RetentionService } from './retention.js';
import { ConcurrencyGate } from '../limits/concurrencyGate.js';
import { ChangeFollower } from './changeFollower.js';

export interface Services {
  store: Store;
  /** The change feed as this process follows it (started by the broker and the API). */
  changes: ChangeFollower;
  keys: ApiKeyService;
  orgs: OrgService;
  rules: RuleService;
  integrations: IntegrationService;
  tokens: TokenService;
  /** How a presented tkn_ password (CONNECT and HTTP Bearer) or a backend's `server@` login is judged. */
  connect: ConnectService;
  providers: ProviderService;
  exchange: ExchangeService;
  admin: AdminKeyService;
  sessions: SessionService;
  /** argon2 checks of keys not cached yet, bounded per process (SIGNALGATE_ARGON2_*). */
  slowChecks: SlowChecks;
  /** What is purged when, and the purge. */
  retention: RetentionService;
  /** These services with every write in the transaction `tx` (its body's unit of work). */
  within(tx: StoreTx): Services;
}

type ServicesConfig = Pick<Config, 'dataDir' | 'keyCacheSeconds' | 'historyPerTopic'> &
  Partial<Pick<Config, 'databaseUrl' | 'databasePool' | 'connectCacheSize' | 'connectCacheMisses' | 'replaceGraceSeconds' | 'jwksCooldownSeconds' | 'authFailuresPerIp' | 'argon2Concurrency' | 'argon2Queue' | 'retentionDays' | 'auditRetentionDays' | 'historyRetentionDays'>>;

/** Opens the configured store (SQLite file or PostgreSQL) and the services on it. */
export async function openServices(config: ServicesConfig, clock: Clock = systemClock, log?: Pick<Logger, 'warn'>): Promise<Services> {
  return createServices(await openStore(config, log), config, clock);
}

export function createServices(store: Store, config: ServicesConfig, clock: Clock = systemClock): Services {
  // One gate per process: argon2 shares libuv's thread pool with everything else in it.
  const slowChecks = new SlowChecks(new ConcurrencyGate(config.argon2Concurrency ?? 2, config.argon2Queue ?? 64));
  // Not started here: the broker and the API start it; a CLI command's services never follow, so their caches never trust themselves.
  const changes = new ChangeFollower(store);
  const keys = new ApiKeyService(store, slowChecks, config.keyCacheSeconds * 1000, clock, changes);
  const connect = new ConnectService(store, keys, clock, config.authFailuresPerIp, changes, {
    size: config.connectCacheSize ?? 10_000, concurrentMisses: config.connectCacheMisses ?? 16,
  });
  const tokens = new TokenService(store, connect, clock, (config.replaceGraceSeconds ?? DEFAULT_REPLACE_GRACE_SECONDS) * 1000);
  return {
    within: (tx) => createServices(joinTransaction(tx, store), config, clock),
    store,
    changes,
    keys,
    orgs: new OrgService(store, keys, clock),
    rules: new RuleService(store, clock),
    integrations: new IntegrationService(store, clock),
    tokens,
    connect,
    providers: new ProviderService(store, clock),
    exchange: new ExchangeService(store, tokens, connect, new IdentityVerifier({ jwksCooldownMs: (config.jwksCooldownSeconds ?? 30) * 1000 })),
    admin: new AdminKeyService(store, slowChecks),
    sessions: new SessionService(store, clock),
    slowChecks,
    retention: new RetentionService(store, {
      retentionDays: config.retentionDays ?? 30, auditRetentionDays: config.auditRetentionDays ?? 365, historyRetentionDays: config.historyRetentionDays ?? 7,
    }, clock),
  };
}
