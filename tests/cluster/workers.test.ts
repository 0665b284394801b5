// `signalgate start --workers N` (issue 16): N processes behind the same ports, their brokers one
// broker through Redis; the primary prints one summary, stops every worker on SIGTERM and removes
// an ephemeral data dir; without Redis more than one worker is refused.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { loadConfig, openServices } from '@signalgate/shared';
import { buildCli, REPO } from '../../cli/test/support.js';
import { connectClient, eventually, postJson } from '../support/stack.js';
import { startRedis, type PrivateRedis } from '../support/redis.js';

const BIN = path.join(REPO, 'cli/dist/main.js');
let redis: PrivateRedis;
const clients: MqttClient[] = [];
const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, HOME: process.env.HOME, SIGNALGATE_LOG_LEVEL: 'silent', ...extra });

beforeAll(async () => {
  buildCli();
  redis = await startRedis();
}, 120_000);
afterAll(async () => {
  for (const c of clients) c.end(true);
  await redis?.stop();
});

describe('--workers', () => {
  test('two workers behind one set of ports: connections spread over both brokers, messages cross them; SIGTERM stops all and removes the data dir', async () => {
    const child = spawn(process.execPath, [BIN, 'start', '--ephemeral', '--workers', '2', '--json'], { env: env({ SIGNALGATE_REDIS_URL: redis.url }), stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const s = await new Promise<Record<string, any>>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d; if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n')))); });
      void exited.then((code) => reject(new Error(`exited ${code}`)));
    });
    try {
      expect(s.workers).toHaveLength(2);
      expect(fs.existsSync(s.data_dir)).toBe(true);
      // The SDK's mint against the API (served by both workers), then eight MQTT connections.
      const creds = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
        const res = await postJson(`${s.api_url}/v2/tokens/create`, { organization_id: s.dev_organization_id, secret_key: s.dev_secret_key, user_email: `u${i}@example.com` });
        expect(res.status).toBe(200);
        return (await res.json()) as any;
      }));
      const conns = await Promise.all(creds.map((c) => connectClient(s.mqtt_url, { username: c.mqtt_credentials.username, password: c.mqtt_credentials.password, protocolVersion: 5 })));
      clients.push(...conns);
      const services = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: s.data_dir }));
      try {
        // Round robin: both brokers hold sessions.
        await eventually(async () => (await services.store.sessions.brokerIds()).length === 2, 5000);
      } finally {
        await services.store.close();
      }
      // Every connection hears a message published on any of them, whichever worker holds it.
      await Promise.all(conns.map((c) => c.subscribeAsync('all/#', { qos: 1 })));
      const heard = Promise.all(conns.map((c) => new Promise<string>((resolve) => c.once('message', (t) => resolve(t)))));
      await conns[0]!.publishAsync('all/hello', 'x', { qos: 1 });
      expect(await heard).toEqual(Array(8).fill('all/hello'));
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    expect(fs.existsSync(s.data_dir)).toBe(false);
  }, 60_000);

  test('more than one worker without SIGNALGATE_REDIS_URL is refused: the brokers would not share sessions', async () => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'start', '--ephemeral', '--workers', '2', '--json'], { env: env(), timeout: 20_000 }, (e, _o, stderr) =>
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stderr }));
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--workers above 1 needs SIGNALGATE_REDIS_URL');
  }, 30_000);
});
