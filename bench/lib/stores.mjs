// A store for a bench on either backend (issue 17): a SQLite data dir, or a database of a private
// PostgreSQL (bench/lib/postgres.mjs) named by SIGNALGATE_DATABASE_URL, holding one organisation
// with BENCH_RULES and `tokens` credentials minted in-process (setting up is not what is measured).
// `env` is what every process on that store is started with.
import { tempDir } from './env.mjs';
import { BENCH_RULES, mintCredentials, openBuildServices } from './servers.mjs';

export const STORES = ['sqlite', 'postgres'];

export function parseStores(value = 'both') {
  const v = String(value).trim().toLowerCase();
  if (v === 'both' || v === 'all') return [...STORES];
  const list = v.split(',');
  if (list.some((x) => !STORES.includes(x))) throw new Error(`--store ${value}: expected sqlite, postgres or both`);
  return list;
}

/** `pg` is startBenchPostgres()'s server (needed for 'postgres'); `database` the name to create there. */
export async function prepareStore({ store, pg = null, database = 'bench', tokens = 0, ttlSeconds = 3600, label = 'store', keepOpen = false }) {
  const dataDir = tempDir(`${label}-${store}`);
  const env = { SIGNALGATE_DATA_DIR: dataDir };
  if (store === 'postgres') env.SIGNALGATE_DATABASE_URL = await pg.createDatabase(database);
  const services = await openBuildServices(env);
  const { org, secretKey } = await services.orgs.create('bench');
  await services.rules.setDefault(org.id, BENCH_RULES);
  const creds = [];
  // Minted in transactions of 2,000: one SERIALIZABLE transaction of 10k+ mints on PostgreSQL is slow to set up.
  for (let from = 0; from < tokens; from += 2000) {
    creds.push(...(await mintCredentials(services, org.id, Math.min(2000, tokens - from), ttlSeconds, `user-${from}`)));
  }
  if (!keepOpen) await services.store.close();
  return { store, dataDir, env, orgId: org.id, secretKey, creds, services: keepOpen ? services : null };
}
