// The REST publisher with API and broker in two processes on one data dir (`signalgate start
// --api-only` beside `--broker-only`): the API reaches the broker through the endpoint the broker
// announces in the data dir. Without a broker, 503; after the broker restarts, it is found again.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { loadConfig, openServices, type Services } from '@signalgate/shared';
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
  services = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: dataDir }));
  ({ org: { id: orgId }, secretKey: key } = await services.orgs.create('Two Processes'));
  api = await startCli(dataDir, ['--api-only'], { SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false' });
}, 180_000);
afterAll(async () => {
  await broker?.stop();
  await api?.stop();
  await services?.store.close();
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
      const t = await services.tokens.mint({ orgId, userId: `reader-${round}` });
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

  test('a bulk request as large as the API accepts reaches the broker whole (its endpoint takes what the API took)', async () => {
    broker = await startCli(dataDir, ['--broker-only'], { SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false' });
    const t = await services.tokens.mint({ orgId, userId: 'bulk-reader' });
    const c = await mqtt.connectAsync(broker.summary.mqtt_url!, { username: t.username, password: t.password, reconnectPeriod: 0 });
    await c.subscribeAsync('orders/#', { qos: 1 });
    let received = 0;
    c.on('message', () => received++);
    // 100 messages, long topics, JSON payloads full of escapes: close to the API's 64 KiB body limit.
    const messages = Array.from({ length: 100 }, (_, i) => ({ topic: `orders/${i}/${'t'.repeat(300)}`, payload: '\u0001'.repeat(40) }));
    const body = JSON.stringify(messages);
    expect(body.length).toBeGreaterThan(50_000);
    const res = await fetch(`${api.summary.api_url}/v1/publish/bulk`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` }, body });
    expect(res.status).toBe(200);
    const until = Date.now() + 5000;
    while (received < 100 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(received).toBe(100);
    await c.endAsync();
    expect(await broker.stop()).toBe(0);
    broker = undefined;
  }, 60_000);
});
