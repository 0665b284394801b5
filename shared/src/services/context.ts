// Wires the store and services for one process; both services and the CLI start from here.
import type { Config } from '../config.js';
import { Store } from '../store/store.js';
import { ApiKeyService } from './apiKeys.js';
import { OrgService } from './orgs.js';
import { RuleService } from './rules.js';
import { IntegrationService } from './integrations.js';
import { TokenService } from './tokens.js';
import { AdminKeyService } from './admin.js';
import { SessionService } from './sessions.js';
import { systemClock, type Clock } from './clock.js';

export interface Services {
  store: Store;
  keys: ApiKeyService;
  orgs: OrgService;
  rules: RuleService;
  integrations: IntegrationService;
  tokens: TokenService;
  admin: AdminKeyService;
  sessions: SessionService;
}

export function createServices(config: Pick<Config, 'dataDir' | 'keyCacheSeconds' | 'historyPerTopic'>, clock: Clock = systemClock): Services {
  const store = Store.open(config.dataDir, { historyPerTopic: config.historyPerTopic });
  const keys = new ApiKeyService(store, config.keyCacheSeconds * 1000, clock);
  return {
    store,
    keys,
    orgs: new OrgService(store, keys, clock),
    rules: new RuleService(store, clock),
    integrations: new IntegrationService(store, clock),
    tokens: new TokenService(store, clock),
    admin: new AdminKeyService(store),
    sessions: new SessionService(store, clock),
  };
}
