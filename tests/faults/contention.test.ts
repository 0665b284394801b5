// The token API and the broker as two processes on one SQLite file under mixed load: mints,
// refreshes, revokes (API writes), connects, publishes with history (broker writes), and the
// change feed between them. SQLite's write lock is contended all the time; no SQLITE_BUSY may
// reach a user: no 5xx from the API, no CONNACK other than 0 for a live credential, no revoke
// missed, and no error in either process's log.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { connectClient, nextMessage, postJson, tempDataDir } from '../support/stack.js';
import { buildCli, integrityCheck, startSignalgate, type Running } from './support/processes.js';

// A fixed amount of work (not a fixed time), so a slow or busy machine changes the duration only.
const ROUNDS = { sessions: 8, revokes: 5, refreshes: 8 };
let api: Running;
let broker: Running;
let dataDir: string;
let key: string;
const problems: string[] = [];
const clients = new Set<MqttClient>();

beforeAll(async () => {
  buildCli();
  dataDir = tempDataDir('contention');
  const env = { SIGNALGATE_MINT_RATE_PER_IP: '1000000', SIGNALGATE_LOG_LEVEL: 'warn', SIGNALGATE_CHANGE_POLL_MS: '100' };
  api = await startSignalgate(dataDir, ['--api-only'], env);
  broker = await startSignalgate(dataDir, ['--broker-only'], env);
  key = api.summary.dev_secret_key!;
}, 30_000);
afterAll(async () => {
  for (const c of clients) c.end(true);
  await api?.stop();
  await broker?.stop();
});

interface Minted { token_id: string; username: string; password: string }

async function mint(user: string): Promise<Minted> {
  const res = await postJson(`${api.summary.api_url}/v2/tokens`, { user_id: user }, { Authorization: `Bearer ${key}` });
  if (res.status !== 200) throw new Error(`mint answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Minted;
}

async function connect(m: Pick<Minted, 'username' | 'password'>, ws: boolean, clientId: string): Promise<MqttClient> {
  const c = await connectClient(ws ? broker.summary.ws_url! : broker.summary.mqtt_url!, { username: m.username, password: m.password, clientId });
  clients.add(c);
  c.on('close', () => clients.delete(c));
  return c;
}

const counts = { mints: 0, sessions: 0, messages: 0, revokes: 0, refreshes: 0 };

/** Mint, connect, exchange a few QoS 1 messages with itself, disconnect. */
async function sessionLoop(worker: number): Promise<void> {
  for (let i = 0; i < ROUNDS.sessions; i++) {
    const m = await mint(`s${worker}-${i}`);
    counts.mints++;
    const c = await connect(m, i % 2 === 1, `s${worker}-${i}`);
    await c.subscribeAsync(`room/${worker}`, { qos: 1 });
    for (let n = 0; n < 10; n++) {
      const got = nextMessage(c, 5000);
      await c.publishAsync(`room/${worker}`, `m${n}`, { qos: 1 });
      expect((await got).payload).toBe(`m${n}`);
      counts.messages++;
    }
    await c.endAsync();
    counts.sessions++;
  }
}

/** Mint, connect, revoke through the API: the broker (another process) must end the session and refuse the password. */
async function revokeLoop(worker: number): Promise<void> {
  for (let i = 0; i < ROUNDS.revokes; i++) {
    const m = await mint(`r${worker}-${i}`);
    const c = await connect(m, false, `r${worker}-${i}`);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    const res = await fetch(`${api.summary.api_url}/v2/tokens/${m.token_id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${key}` } });
    if (res.status !== 200) problems.push(`revoke answered ${res.status}`);
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), 3000); })]);
    clearTimeout(timer);
    if (!ended) problems.push('session of a revoked token still open after 3 s');
    c.end(true);
    const refused = await connect(m, false, `r${worker}-${i}-again`).then(
      (again) => { again.end(true); return 0; },
      (err: { code?: number }) => err.code,
    );
    if (refused !== 5) problems.push(`a revoked credential got CONNACK ${refused}, expected 5`);
    counts.revokes++;
  }
}

/** Mint, refresh, connect with the new password. */
async function refreshLoop(worker: number): Promise<void> {
  for (let i = 0; i < ROUNDS.refreshes; i++) {
    const m = await mint(`f${worker}-${i}`);
    const res = await postJson(`${api.summary.api_url}/v2/tokens/refresh`, { token_id: m.token_id, current_token_password: m.password });
    if (res.status !== 200) {
      problems.push(`refresh answered ${res.status}: ${await res.text()}`);
      continue;
    }
    const fresh = (await res.json()) as Minted;
    const c = await connect(fresh, true, `f${worker}-${i}`);
    c.end(true);
    counts.refreshes++;
  }
}

describe('API and broker as two processes on one SQLite file', () => {
  test('under mixed load no SQLITE_BUSY reaches a user', async () => {
    const loops = [...[0, 1, 2, 3].map((w) => sessionLoop(w)), ...[0, 1].map((w) => revokeLoop(w)), ...[0, 1].map((w) => refreshLoop(w))];
    const results = await Promise.allSettled(loops);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String(r.reason?.message ?? r.reason));
    expect(failed).toEqual([]);
    expect(problems).toEqual([]);
    // All the work was done: both processes wrote all along.
    expect(counts).toEqual({ mints: 4 * ROUNDS.sessions, sessions: 4 * ROUNDS.sessions, messages: 40 * ROUNDS.sessions, revokes: 2 * ROUNDS.revokes, refreshes: 2 * ROUNDS.refreshes });

    // Neither process logged an error or a busy database.
    for (const p of [api, broker]) {
      const lines = p.stdout().split('\n').slice(1).filter(Boolean);
      const bad = lines.filter((l) => /SQLITE_BUSY|database is locked|"level":(50|60)/.test(l));
      expect(bad).toEqual([]);
      expect(p.stderr()).not.toMatch(/SQLITE_BUSY|database is locked/);
    }
    expect(integrityCheck(dataDir)).toBe('ok');
  }, 60_000);
});
