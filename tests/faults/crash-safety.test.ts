// kill -9 at random moments loses no issued credential and corrupts nothing (SPEC, Reliability), on
// either store (the postgres jest project runs it again on PostgreSQL).
// The token API runs as its own process under a mint storm and is killed a few times; every
// credential whose mint answered 200 must still authenticate afterwards, checked on a fresh Store
// and by a real CONNECT. The broker runs as its own process under publish load and is killed; after
// a restart the database is intact and the sessions table holds the live sessions only.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { loadConfig, openServices, type Services } from '@signalgate/shared';
import { connectClient, eventually, postJson, tempDataDir } from '../support/stack.js';
import { buildCli, integrityCheck, seededRandom, sleep, startSignalgate, type Running } from './support/processes.js';
import { storeEnv, TEST_STORE } from '../support/database.js';

const random = seededRandom(0x5eed);
const running: Running[] = [];
const opened: Services[] = [];
const clients: MqttClient[] = [];

beforeAll(() => buildCli());
afterAll(async () => {
  for (const c of clients) c.end(true);
  for (const r of running) if (r.child.exitCode === null && r.child.signalCode === null) await r.kill9();
  for (const s of opened) await s.store.close();
});

/** SQLite's integrity check of the file; PostgreSQL's own WAL keeps its files whole (only the API or the broker is killed here). */
const storeIntact = (dataDir: string) => (TEST_STORE === 'sqlite' ? integrityCheck(dataDir) : 'ok');

async function start(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<Running> {
  const r = await startSignalgate(dataDir, args, { ...(await storeEnv(dataDir)), ...env });
  running.push(r);
  return r;
}

async function servicesOn(dataDir: string): Promise<Services> {
  const s = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'silent', ...(await storeEnv(dataDir)) }));
  opened.push(s);
  return s;
}

interface Minted { token_id: string; username: string; password: string }

describe('the token API killed with SIGKILL during a mint storm', () => {
  test('every credential whose mint answered 200 still authenticates, and the database is intact', async () => {
    const dataDir = tempDataDir('crash-api');
    let api = await start(dataDir, ['--api-only']);
    const { dev_secret_key: key } = api.summary;
    expect(key).toMatch(/^sk_/);

    const minted: Minted[] = [];
    let attempts = 0;
    for (let round = 0; round < 4; round++) {
      if (round > 0) api = await start(dataDir, ['--api-only']);
      const url = api.summary.api_url!;
      let killed = false;
      // Eight concurrent minting loops, each until the process is gone.
      const storm = Promise.all(Array.from({ length: 8 }, async (_, worker) => {
        while (!killed) {
          attempts++;
          try {
            const res = await postJson(`${url}/v2/tokens`, { user_id: `r${round}-w${worker}-${attempts}`, ttl_seconds: 86_400 }, { Authorization: `Bearer ${key}` });
            if (res.status === 200) minted.push((await res.json()) as Minted);
            else expect(res.status).toBe(200); // while alive the API never refuses a valid mint
          } catch {
            // the connection died with the process: this mint was never acknowledged
          }
        }
      }));
      // Let the storm get going (a fresh process verifies the key with argon2 first, slower on a
      // loaded machine), then kill at a random moment within the next half second.
      const startedWith = minted.length;
      for (let waited = 0; minted.length < startedWith + 5 && waited < 15_000; waited += 20) await sleep(20);
      await sleep(Math.floor(random() * 500));
      await api.kill9();
      killed = true;
      await storm;
      expect(storeIntact(dataDir)).toBe('ok');
    }
    expect(minted.length).toBeGreaterThanOrEqual(20);

    // On a fresh Store (as a restarted broker would read it): every acknowledged credential is there and live.
    const services = await servicesOn(dataDir);
    const verdicts = await Promise.all(minted.map((m) => services.connect.checkConnect(m.username, m.password)));
    const refused = minted.filter((_, i) => !verdicts[i]!.ok).map((m) => m.token_id);
    expect(refused).toEqual([]);

    // And a broker started on the data dir accepts a sample of them on a real CONNECT.
    const broker = await start(dataDir, ['--broker-only']);
    for (const m of minted.filter((_, i) => i % Math.ceil(minted.length / 12) === 0)) {
      const c = await connectClient(broker.summary.mqtt_url!, { username: m.username, password: m.password });
      clients.push(c);
      expect(c.connected).toBe(true);
    }
    // The restarted API still mints.
    api = await start(dataDir, ['--api-only']);
    const res = await postJson(`${api.summary.api_url}/v2/tokens`, { user_id: 'after-crash' }, { Authorization: `Bearer ${key}` });
    expect(res.status).toBe(200);
  }, 90_000);
});

describe('the broker killed with SIGKILL under publish load', () => {
  test('the database is intact and, after a restart, the sessions table holds only live sessions', async () => {
    const dataDir = tempDataDir('crash-broker');
    fs.mkdirSync(dataDir, { recursive: true });
    const services = await servicesOn(dataDir);
    const { org } = await services.orgs.create('Crash Co');
    const creds = await Promise.all(Array.from({ length: 6 }, (_, i) => services.tokens.mint({ orgId: org.id, userId: `pub${i}`, ttlSeconds: 86_400 })));

    for (let round = 0; round < 2; round++) {
      const broker = await start(dataDir, ['--broker-only'], { SIGNALGATE_HISTORY_PER_TOPIC: '50' });
      const url = broker.summary.mqtt_url!;
      const pubs = await Promise.all(creds.map((t, i) => connectClient(url, { username: t.username, password: t.password, clientId: `pub-${i}`, clean: false })));
      clients.push(...pubs);
      for (const c of pubs) c.on('error', () => {});
      await Promise.all(pubs.map((c) => c.subscribeAsync('load/#', { qos: 1 })));
      await eventually(async () => (await services.sessions.list(org.id)).length === creds.length);
      expect((await services.sessions.list(org.id)).map((s) => s.clientId).sort()).toEqual(creds.map((_, i) => `pub-${i}`));

      // Publish load: every publisher sends QoS 1 as fast as acknowledgements come back.
      let stop = false;
      // (Not awaited after the kill: mqtt.js may leave a publish of a dead connection pending forever.)
      void Promise.all(pubs.map(async (c, i) => {
        for (let n = 0; !stop; n++) {
          try {
            await c.publishAsync(`load/${i}`, `m${n}`, { qos: 1 });
          } catch {
            return;
          }
        }
      }));
      await sleep(300 + Math.floor(random() * 700));
      await broker.kill9();
      stop = true;
      for (const c of pubs) c.end(true);
      expect(storeIntact(dataDir)).toBe('ok');
      // History was being written up to the kill; what was committed reads back whole.
      const kept = await services.store.history.read(org.id, 'load/0', 50);
      expect(kept.length).toBeGreaterThan(0);
      for (const m of kept) expect(m.payload.toString()).toMatch(/^m\d+$/);
    }

    // A restarted broker owns no sessions yet: the killed broker's rows must not show as live.
    const broker = await start(dataDir, ['--broker-only']);
    expect(await services.sessions.list(org.id)).toEqual([]);
    expect(await services.sessions.presence(org.id)).toEqual([]);

    // Clients come back, and the table shows exactly them.
    const back = await Promise.all(creds.slice(0, 3).map((t, i) => connectClient(broker.summary.mqtt_url!, { username: t.username, password: t.password, clientId: `pub-${i}`, clean: false })));
    clients.push(...back);
    await eventually(async () => (await services.sessions.list(org.id)).length === 3);
    expect((await services.sessions.list(org.id)).map((s) => s.clientId).sort()).toEqual(['pub-0', 'pub-1', 'pub-2']);
    expect(storeIntact(dataDir)).toBe('ok');
  }, 60_000);
});
