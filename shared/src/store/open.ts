// Which store a process uses: PostgreSQL when SIGNALGATE_DATABASE_URL names one, else the SQLite
// file in the data directory (the embedded default; `npm start` needs nothing else).
import type { Store } from './types.js';
import type { Logger } from '../log.js';
import { SqliteStore, type StoreOptions } from './sqlite/store.js';

export interface StoreConfig extends StoreOptions {
  dataDir: string;
  databaseUrl?: string | undefined;
  /** PostgreSQL: connections per process (SIGNALGATE_DATABASE_POOL). */
  databasePool?: number | undefined;
}

/** `log`: where a PostgreSQL store reports a lost connection (once per outage). */
export async function openStore(config: StoreConfig, log?: Pick<Logger, 'warn'>): Promise<Store> {
  const options = { historyPerTopic: config.historyPerTopic };
  if (config.databaseUrl) {
    // Loaded only when asked for: the embedded default never loads pg.
    const { openPostgresStore } = await import('./postgres/store.js');
    return openPostgresStore(config.databaseUrl, { ...options, log, maxConnections: config.databasePool });
  }
  return SqliteStore.open(config.dataDir, options);
}

/** `signalgate store copy`: the SQLite store of `dataDir` into the empty PostgreSQL database at `url` (postgres/copyFromSqlite.ts). */
export async function copySqliteStoreToPostgres(dataDir: string, url: string): Promise<Record<string, number>> {
  const { copySqliteToPostgres } = await import('./postgres/copyFromSqlite.js');
  return copySqliteToPostgres(dataDir, url);
}
