// A cluster for one suite: a private Redis, broker processes (`signalgate start --broker-only
// --workers 1` with SIGNALGATE_REDIS_URL) over one store (the data dir's SQLite file, or in the
// `postgres` jest project a fresh database: tests/support/database.ts), and the services of that
// store in this process for orgs and tokens, as an API beside the brokers would have them.
import type { MqttClient } from 'mqtt';
import { loadConfig, openServices, type Services } from '@signalgate/shared';
import { buildCli, startCli, tempDataDir, type RunningCli } from '../../cli/test/support.js';
import { startRedis, type PrivateRedis } from './redis.js';
import { storeEnv } from './database.js';

export interface TestCluster {
  redis: PrivateRedis;
  services: Services;
  dataDir: string;
  /** Where the store is beside the data dir (SIGNALGATE_DATABASE_URL in the postgres project, else nothing): a node a test adds needs it. */
  storeEnv: Record<string, string>;
  nodes: RunningCli[];
  /** With `api: true`: a token API process (`--api-only`) over the same data dir and Redis, as a deployment puts beside the brokers. */
  api: RunningCli | null;
  /** Clients a test opened, ended by stop(). */
  clients: MqttClient[];
  stop(): Promise<void>;
}

export async function startCluster(
  label: string,
  { nodes = 2, durable = false, env = {}, api = false }: { nodes?: number; durable?: boolean; env?: Record<string, string>; api?: boolean } = {},
): Promise<TestCluster> {
  buildCli();
  const redis = await startRedis({ durable });
  const dataDir = tempDataDir(label);
  const storage = await storeEnv(dataDir);
  const services = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: dataDir, ...storage }));
  const nodeEnv = { SIGNALGATE_REDIS_URL: redis.url, SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false', ...storage, ...env };
  const started = await Promise.all(Array.from({ length: nodes }, () => startCli(dataDir, ['--broker-only', '--workers', '1'], nodeEnv)));
  const apiProcess = api ? await startCli(dataDir, ['--api-only', '--workers', '1'], nodeEnv) : null;
  const clients: MqttClient[] = [];
  return {
    redis, services, dataDir, storeEnv: storage, nodes: started, api: apiProcess, clients,
    async stop() {
      for (const c of clients) c.end(true);
      await Promise.all([...started, ...(apiProcess ? [apiProcess] : [])].map((n) => n.stop()));
      await services.store.close();
      await redis.stop();
    },
  };
}
