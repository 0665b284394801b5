// The REST publisher with API and broker in two processes on one data dir (`signalgate start
// --api-only` beside `--broker-only`): the API reaches the broker through the endpoint the broker
// announces in the data dir. Without a broker, 503; after the broker restarts, it is found again.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { createServices, loadConfig, type Services } from '@signalgate/shared';
import { buildCli, startCli, tempDataDir, type RunningCli } from '../cli/test/support.js';

let dataDir: string;
let services: Services;
let api: RunningCli;
let broker: RunningCli | undefined;
let orgId: string;
let key: string;

beforeAll(async () => {
  buildCli();
  dataDir = tempDataDir('rest-processes');
  services = createServices(loadConfig({ SIGNALGATE_DATA_DIR: dataDir }));
  ({ org: { id: orgId }, secretKey: key } = await services.orgs.create('Two Processes'));
  api = await startCli(dataDir, ['--api-only'], { SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false' });
}, 180_000);
afterAll(async () => {
  await broker?.stop();
  await api?.stop();
  services?.store.close();
});

const publish = async (topic: string, payload: unknown) => {
  const res = await fetch(`${api.summary.api_url}/v1/publish`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` }, body: JSON.stringify({ topic, payload }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};

describe('API and broker in two processes', () => {
  test('no broker on the data dir: 503 not_ready, saying how to start one', async () => {
    const res = await publish('orders/x', 1);
    expect([res.status, res.body.error]).toEqual([503, 'not_ready']);
    expect(res.body.error_description).toMatch(/--broker-only/);
  });

  test('a broker started beside the API receives what the API publishes, and is found again after a restart', async () => {
    for (const round of [1, 2]) {
      broker = await startCli(dataDir, ['--broker-only'], { SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false' });
      const t = services.tokens.mint({ orgId, userId: `reader-${round}` });
      const c = await mqtt.connectAsync(broker.summary.mqtt_url!, { username: t.username, password: t.password, reconnectPeriod: 0 });
      await c.subscribeAsync('orders/#', { qos: 1 });
      const got = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())));
      const res = await publish('orders/x', { round });
      expect([res.status, res.body.subscribers]).toEqual([200, 1]);
      expect(JSON.parse(await got)).toEqual({ round });
      await c.endAsync();
      expect(await broker.stop()).toBe(0);
      // A broker that stopped cleanly takes its endpoint with it.
      expect(fs.existsSync(path.join(dataDir, 'publish-endpoint.json'))).toBe(false);
      broker = undefined;
    }
  }, 60_000);
});
