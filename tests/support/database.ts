// Which store a suite runs on. The `postgres` jest project (jest.config.js) runs the API, broker
// and cluster suites again with SIGNALGATE_TEST_STORE=postgres: every data dir a harness makes then
// gets its own fresh database in one private PostgreSQL cluster per suite file (started on first
// use, 0.3-2 s depending on load; stopped by tests/support/postgresEnvironment.mjs after the
// file). Two processes given one data dir (a restart, the nodes of a cluster) get the same
// database, as they would share the SQLite file.
import { startPostgres, type PrivatePostgres } from './postgres.js';

export const TEST_STORE: 'sqlite' | 'postgres' = process.env.SIGNALGATE_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

let cluster: Promise<PrivatePostgres> | undefined;
const databases = new Map<string, Promise<string>>();

/** The suite's PostgreSQL cluster (started on first use; stopped by the project's test environment after the file). */
export function suitePostgres(): Promise<PrivatePostgres> {
  if (!cluster) {
    const started = startPostgres('suite');
    cluster = started;
    (globalThis as { __signalgateTeardown?: (() => Promise<void>)[] }).__signalgateTeardown?.push(async () => (await started).stop());
  }
  return cluster;
}

/** Environment that puts the store of `dataDir` where this run keeps stores: {} on SQLite. */
export async function storeEnv(dataDir: string): Promise<Record<string, string>> {
  if (TEST_STORE === 'sqlite') return {};
  let url = databases.get(dataDir);
  if (!url) {
    url = suitePostgres().then((pg) => pg.newDatabase());
    databases.set(dataDir, url);
  }
  return { SIGNALGATE_DATABASE_URL: await url };
}
