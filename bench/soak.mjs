#!/usr/bin/env node
// Soak test (not part of `npm test`): runs `signalgate start` as a child process on a fresh data dir
// and drives connect/publish/disconnect churn with token mints and refreshes against it for N
// minutes, sampling the server process's resident memory (/proc/<pid>/status VmRSS) and open file
// descriptors (/proc/<pid>/fd) every 10 s. A leak shows as a column that keeps growing while the
// load stays flat. Needs Linux (/proc) and a build (`npx tsc -b`).
//
//   node bench/soak.mjs                     # 10 minutes, 20 clients
//   node bench/soak.mjs --minutes 2         # shorter
//   node bench/soak.mjs --seconds 30 --clients 50 --sample-seconds 5
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seconds: { type: 'string' },
    clients: { type: 'string', default: '20' },
    'sample-seconds': { type: 'string', default: '10' },
    'messages-per-session': { type: 'string', default: '20' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('usage: node bench/soak.mjs [--minutes N | --seconds N] [--clients N] [--sample-seconds N] [--messages-per-session N]');
  process.exit(0);
}
const durationMs = (args.seconds !== undefined ? Number(args.seconds) : Number(args.minutes) * 60) * 1000;
const clientCount = Number(args.clients);
const sampleMs = Number(args['sample-seconds']) * 1000;
const perSession = Number(args['messages-per-session']);
for (const [name, v] of [['duration', durationMs], ['clients', clientCount], ['sample-seconds', sampleMs], ['messages-per-session', perSession]]) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
}

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'cli/dist/main.js');
if (!fs.existsSync(bin)) throw new Error('cli/dist/main.js is missing: run `npx tsc -b` first');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-soak-'));

// ---- the server -------------------------------------------------------------------------------------
const child = spawn(process.execPath, [bin, 'start', '--json'], {
  env: {
    PATH: process.env.PATH, HOME: process.env.HOME, SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'warn',
    SIGNALGATE_API_PORT: '0', SIGNALGATE_MQTT_PORT: '0', SIGNALGATE_WS_PORT: '0', SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off',
    // one address mints for every simulated user
    SIGNALGATE_MINT_RATE_PER_IP: '1000000',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const summary = await new Promise((resolve, reject) => {
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    const line = out.split('\n').find((l) => l.startsWith('{"data_dir"'));
    if (line) resolve(JSON.parse(line));
  });
  child.once('exit', (code) => reject(new Error(`signalgate start exited with ${code}`)));
});
let warnLines = 0;
child.stdout.on('data', (d) => { warnLines += String(d).split('\n').filter((l) => l.includes('"level"')).length; });
const key = summary.dev_secret_key;
console.log(`signalgate pid ${child.pid}, data dir ${dataDir}`);
console.log(`API ${summary.api_url}, MQTT ${summary.mqtt_url}, WS ${summary.ws_url}`);
console.log(`${clientCount} clients, ${Math.round(durationMs / 1000)} s, a sample every ${sampleMs / 1000} s\n`);

// ---- the load ---------------------------------------------------------------------------------------
const counts = { mints: 0, refreshes: 0, sessions: 0, messages: 0, errors: 0 };
let lastError = '';
const fail = (err) => { counts.errors++; lastError = String(err?.message ?? err).slice(0, 120); };

async function post(route, body, headers = {}) {
  const res = await fetch(`${summary.api_url}${route}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`${route} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

function connect(url, cred, clientId) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { username: cred.username, password: cred.password, clientId, reconnectPeriod: 0, connectTimeout: 5000 });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => { c.end(true); reject(err); });
  });
}

/** One simulated user: mints once, then refreshes its token every few sessions; each session publishes to itself and leaves. */
async function user(n, until) {
  let cred = await post('/v2/tokens', { user_id: `soak-${n}`, ttl_seconds: 3600 }, { Authorization: `Bearer ${key}` });
  counts.mints++;
  for (let i = 0; Date.now() < until; i++) {
    try {
      if (i % 5 === 4) {
        cred = await post('/v2/tokens/refresh', { token_id: cred.token_id, current_token_password: cred.password });
        counts.refreshes++;
      }
      const c = await connect(i % 2 ? summary.ws_url : summary.mqtt_url, cred, `soak-${n}`);
      const topic = `soak/${n}`;
      await c.subscribeAsync(topic, { qos: 1 });
      let received = 0;
      const all = new Promise((resolve) => c.on('message', () => { if (++received === perSession) resolve(); }));
      for (let m = 0; m < perSession; m++) await c.publishAsync(topic, `m${m}`, { qos: 1 });
      await Promise.race([all, new Promise((_, reject) => setTimeout(() => reject(new Error('messages missing after 5 s')), 5000))]);
      counts.messages += received;
      await c.endAsync();
      counts.sessions++;
    } catch (err) {
      fail(err);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

// ---- sampling ---------------------------------------------------------------------------------------
function sample() {
  const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const fds = fs.readdirSync(`/proc/${child.pid}/fd`).length;
  return { rssMb: rssKb / 1024, fds };
}
const rows = [];
const started = Date.now();
const header = `${'t (s)'.padStart(6)} ${'RSS MiB'.padStart(8)} ${'fds'.padStart(5)} ${'sessions'.padStart(9)} ${'messages'.padStart(9)} ${'mints'.padStart(6)} ${'refresh'.padStart(8)} ${'errors'.padStart(7)}`;
console.log(header);
function printRow() {
  const s = sample();
  const row = { t: Math.round((Date.now() - started) / 1000), ...s, ...counts };
  rows.push(row);
  console.log(`${String(row.t).padStart(6)} ${row.rssMb.toFixed(1).padStart(8)} ${String(row.fds).padStart(5)} ${String(row.sessions).padStart(9)} ${String(row.messages).padStart(9)} ${String(row.mints).padStart(6)} ${String(row.refreshes).padStart(8)} ${String(row.errors).padStart(7)}`);
}
printRow();
const sampler = setInterval(printRow, sampleMs);

const until = Date.now() + durationMs;
await Promise.all(Array.from({ length: clientCount }, (_, n) => user(n, until).catch(fail)));
clearInterval(sampler);
await new Promise((r) => setTimeout(r, 1000)); // let the last disconnects settle before the final sample
printRow();

// ---- verdict ----------------------------------------------------------------------------------------
const first = rows[1] ?? rows[0]; // the first sample under load
const last = rows.at(-1);
const max = (k) => Math.max(...rows.map((r) => r[k]));
console.log(`\nRSS MiB: first under load ${first.rssMb.toFixed(1)}, last ${last.rssMb.toFixed(1)}, max ${max('rssMb').toFixed(1)}`);
console.log(`fds: first under load ${first.fds}, last ${last.fds}, max ${max('fds')}`);
console.log(`${counts.sessions} sessions, ${counts.messages} messages, ${counts.mints} mints, ${counts.refreshes} refreshes, ${counts.errors} errors${lastError ? ` (last: ${lastError})` : ''}`);
console.log(`server log lines at warn or above: ${warnLines}`);

child.kill('SIGTERM');
const code = await new Promise((resolve) => child.once('exit', resolve));
fs.rmSync(dataDir, { recursive: true, force: true });
console.log(`signalgate exited with ${code}`);
process.exitCode = counts.errors > 0 || code !== 0 ? 1 : 0;
