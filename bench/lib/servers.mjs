// The brokers of every comparison, each in its own process on 127.0.0.1:
//   signalgate  — `signalgate start --broker-only` (or the API too) on a fresh data dir
//   aedes-2     — the aedes SignalGate runs on (2.0.0-beta.1) with no hooks (bench/servers/bare-aedes.mjs)
//   aedes-1.2   — aedes 1.2.0 (the `aedes-1.2` alias), no hooks: the line SignalGate ran on before;
//                 MQTT 3.1.1 only
//   mosquitto   — Debian's package with a password file and an ACL file of the same rules
// and the credentials each one is connected with.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { benchDir, root, sleep, tempDir } from './env.mjs';
import { connectPacket, closeAll, openClient } from './mqttLoad.mjs';

/** The rules every peer enforces: publish and subscribe under `bench/` only. */
export const BENCH_RULES = { publish: ['bench/#'], subscribe: ['bench/#'], presence: false, history: false };

/** Resolves with the first JSON line a started server prints on stdout (its summary). */
export function firstJsonLine(child, what, ms = 30_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${ms} ms`)), ms);
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const value = JSON.parse(line);
        clearTimeout(timer);
        lines.close();
        resolve(value);
      } catch { /* banner text */ }
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code} before it was ready`)));
  });
}

// Servers never outlive the benchmark, whatever way it ends.
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function stopper(child) {
  return () => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Loads the build under test's shared package (services on the same SQLite file as the server). */
export async function sharedPackage() {
  return import(path.join(root, 'shared', 'dist', 'index.js'));
}

/**
 * A fresh data dir with one organisation whose default rules are BENCH_RULES, and `tokens` minted
 * in-process (one transaction: setting up is not what is measured).
 */
export async function prepareSignalGate({ tokens = 0, ttlSeconds = 3600, label = 'sg' } = {}) {
  const dataDir = tempDir(label);
  const services = await openBuildServices({ SIGNALGATE_DATA_DIR: dataDir });
  const { org, secretKey } = await services.orgs.create('bench');
  await services.rules.setDefault(org.id, BENCH_RULES);
  const creds = await mintCredentials(services, org.id, tokens, ttlSeconds);
  return { dataDir, orgId: org.id, secretKey, creds, services };
}

/**
 * The build's services over the store `env` names (its `store.close()` is awaited either way). A
 * build from before the asynchronous store (BENCH_ROOT at an older checkout, as connect-abab.mjs
 * runs it) has a synchronous createServices(config) instead of openServices.
 */
export async function openBuildServices(env, clock) {
  const shared = await sharedPackage();
  const config = shared.loadConfig(env);
  return shared.openServices ? shared.openServices(config, clock) : shared.createServices(config, clock);
}

/** `count` tokens minted in one transaction (the services' mints joined to it: services.within). */
export async function mintCredentials(services, orgId, count, ttlSeconds = 3600, prefix = 'user') {
  const credential = (t) => ({ username: t.username, password: t.password, tokenId: t.tokenId, expiresAt: t.expiresAt });
  if (!services.within) {
    // A build from before the asynchronous store: a synchronous transaction body, synchronous mints.
    return services.store.transaction(() => Array.from({ length: count }, (_, i) => credential(services.tokens.mint({ orgId, userId: `${prefix}-${i}`, ttlSeconds }))));
  }
  return services.store.transaction(async (tx) => {
    const inTx = services.within(tx);
    const creds = [];
    for (let i = 0; i < count; i++) {
      creds.push(credential(await inTx.tokens.mint({ orgId, userId: `${prefix}-${i}`, ttlSeconds })));
    }
    return creds;
  });
}

/** BENCH_PROFILE_DIR=dir: the node servers write a V8 CPU profile (`<name>-….cpuprofile`) when they stop. */
const profileArgs = (name) => (process.env.BENCH_PROFILE_DIR
  ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`, `--cpu-prof-name=${name}-${Date.now()}-${process.pid}.cpuprofile`] : []);

/**
 * `signalgate start` as a child process; `api: true` adds the token API on a free port, `apiOnly: true`
 * runs the API alone (`--api-only`: no broker in the process whose CPU is measured).
 */
export async function startSignalGate({ dataDir, api = false, apiOnly = false, env = {}, buildRoot = root }) {
  const mode = apiOnly ? ['--api-only'] : api ? [] : ['--broker-only'];
  const child = spawn(process.execPath, [...profileArgs('signalgate'), path.join(buildRoot, 'cli', 'dist', 'main.js'), 'start', ...mode, '--json'], {
    env: {
      ...process.env, SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'warn', SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false',
      SIGNALGATE_MQTT_PORT: '0', SIGNALGATE_WS_PORT: 'off', SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off',
      SIGNALGATE_API_PORT: api || apiOnly ? '0' : 'off', SIGNALGATE_MINT_RATE_PER_KEY: '10000000', SIGNALGATE_MINT_RATE_PER_IP: '10000000',
      // Every bench client comes from 127.0.0.1: the per-address bounds (issue 14) would refuse most
      // of a 10,000-connection run (the memory bench printed a figure for 1,000 real connections).
      SIGNALGATE_MAX_CONNECTIONS_PER_IP: '0', SIGNALGATE_CONNECT_REFUSALS_PER_IP: '10000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  track(child);
  const summary = await firstJsonLine(child, 'signalgate');
  const port = summary.mqtt_url ? Number(new URL(summary.mqtt_url).port) : null;
  return { name: 'signalgate', pid: child.pid, port, apiUrl: summary.api_url, stop: stopper(child) };
}

/** Bare aedes of one line: `2` (the `aedes` dependency, 2.0.0-beta.1) or `1.2` (the `aedes-1.2` alias). */
export async function startBareAedes({ line = '2' } = {}) {
  const name = `aedes-${line}`;
  const child = track(spawn(process.execPath, [...profileArgs(name), path.join(benchDir, 'servers', 'bare-aedes.mjs'), '--line', line], { stdio: ['ignore', 'pipe', 'inherit'], cwd: root }));
  const { port, aedes: version } = await firstJsonLine(child, `bare aedes ${line}`);
  return { name, version, pid: child.pid, port, stop: stopper(child) };
}

/** Every peer in the order they are measured each round; `--before` adds `signalgate-before` at the end. */
export const PEERS = ['signalgate', 'aedes-2', 'aedes-1.2', 'mosquitto'];

/**
 * Starts the peers for a benchmark. `sg` is prepareSignalGate()'s result (its credentials are also
 * sent to both bare aedes: same bytes on the wire, aedes ignores them), `mosq` mosquitto's users.
 */
export async function startPeers({ sg, mosq, before = null }) {
  const servers = [
    { ...(await startSignalGate({ dataDir: sg.dataDir })), creds: sg.creds },
    { ...(await startBareAedes({ line: '2' })), creds: sg.creds },
    { ...(await startBareAedes({ line: '1.2' })), creds: sg.creds },
    { ...(await startMosquitto(mosq)), creds: mosq },
  ];
  if (before) servers.push({ ...(await startSignalGate({ dataDir: before.dataDir, buildRoot: before.root })), name: 'signalgate-before', creds: before.creds });
  return servers;
}

/** One starter per peer, for benchmarks that run them one at a time (memory). */
export function peerStarters({ sg, mosq }) {
  return {
    signalgate: async () => ({ ...(await startSignalGate({ dataDir: sg.dataDir })), creds: sg.creds }),
    'aedes-2': async () => ({ ...(await startBareAedes({ line: '2' })), creds: sg.creds }),
    'aedes-1.2': async () => ({ ...(await startBareAedes({ line: '1.2' })), creds: sg.creds }),
    mosquitto: async () => ({ ...(await startMosquitto(mosq)), creds: mosq }),
  };
}

/**
 * Whether `server` accepts a CONNECT at `protocolVersion` with `cred`: null if it does, else the
 * reason ("CONNACK 1" from aedes 1.2 at 5: unacceptable protocol version). A benchmark measures a
 * peer only at the protocol levels it speaks and reports the others as n/a.
 */
export async function protocolRefusal(server, cred, protocolVersion) {
  try {
    const c = await openClient({ port: server.port, protocolVersion, connect: connectPacket({ clientId: `probe-${protocolVersion}-${Date.now()}`, username: cred.username, password: cred.password, protocolVersion }) });
    await closeAll([c]);
    return null;
  } catch (err) {
    return err.message;
  }
}

const MOSQUITTO = '/usr/sbin/mosquitto';

export { track };

/** A Debian package, installed on first use when `file` is missing (needs root and the Debian mirror, once). */
export function ensureDebianPackage(file, pkg) {
  if (fs.existsSync(file)) return;
  console.error(`${pkg} is missing: installing it from Debian's packages`);
  const r = spawnSync('sh', [path.join(benchDir, '..', 'scripts', 'ensure-debian-package.sh'), file, pkg], { stdio: 'inherit', timeout: 300_000 });
  if (r.status !== 0 || !fs.existsSync(file)) throw new Error(`could not install ${pkg} (run: apt-get install -y ${pkg})`);
}

export const ensureMosquitto = () => ensureDebianPackage(MOSQUITTO, 'mosquitto');

/** Users for mosquitto's password file, shaped like SignalGate credentials (same lengths on the wire). */
export function mosquittoCredentials(count, prefix = 'u') {
  return Array.from({ length: count }, (_, i) => ({
    username: `${prefix}${String(i).padStart(9, '0')}@org_mosquitto01`,
    password: `tkn_${crypto.randomBytes(32).toString('base64url')}`,
  }));
}

/** A TCP port nothing listens on now (the OS picks one, then it is released). */
export async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function waitForPort(port, ms = 10_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listening on ${port} after ${ms} ms`);
}

/**
 * mosquitto on 127.0.0.1 with its own config in a temp dir: no anonymous clients, a password file
 * made by mosquitto_passwd (-U hashes a plain `user:password` file in one call) and an ACL file
 * granting every user readwrite on bench/# — BENCH_RULES; `set_tcp_nodelay true`.
 */
const hashedPasswords = new WeakMap(); // creds array → password file as mosquitto_passwd -U left it

export async function startMosquitto(creds) {
  ensureMosquitto();
  const dir = tempDir('mosquitto');
  const passwd = path.join(dir, 'passwd');
  if (hashedPasswords.has(creds)) { // restarted with the same users (memory: once per protocol)
    fs.writeFileSync(passwd, hashedPasswords.get(creds), { mode: 0o600 });
  } else {
    fs.writeFileSync(passwd, creds.map((c) => `${c.username}:${c.password}`).join('\n') + '\n', { mode: 0o600 });
    const hashed = spawnSync('mosquitto_passwd', ['-U', passwd], { timeout: 120_000 });
    if (hashed.status !== 0) throw new Error(`mosquitto_passwd failed: ${hashed.stderr}`);
    hashedPasswords.set(creds, fs.readFileSync(passwd));
  }
  const acl = path.join(dir, 'acl');
  fs.writeFileSync(acl, 'pattern readwrite bench/#\n');
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, [
    `listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${passwd}`, `acl_file ${acl}`,
    'persistence false', 'log_dest stderr', 'log_type error', 'user root',
    // TCP_NODELAY, as SignalGate's listener and bare aedes set it. Without it (mosquitto's default,
    // and this bench's setting until 2026-11-29) a v5 QoS 1 publisher held to mosquitto's Receive
    // Maximum of 20 waits out Nagle + delayed ACK on every PUBACK: ~350 deliveries/s instead of
    // ~12,000. BENCH_MOSQUITTO_NODELAY=0 restores the old setting.
    ...(process.env.BENCH_MOSQUITTO_NODELAY === '0' ? [] : ['set_tcp_nodelay true']), '',
  ].join('\n'));
  const child = track(spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'ignore'] }));
  await waitForPort(port);
  const stop = stopper(child);
  return { name: 'mosquitto', pid: child.pid, port, stop: async () => { await stop(); fs.rmSync(dir, { recursive: true, force: true }); } };
}
