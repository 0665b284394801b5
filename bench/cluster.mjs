#!/usr/bin/env node
// SignalGate's Redis cluster (issue 16) against one process without Redis, in the same run. A
// private Debian redis-server on a free loopback port (--save '' --appendonly no) and three
// `signalgate start --broker-only --workers 1 --json` processes on ONE data dir (the org and its
// tokens minted in-process, as prepareSignalGate does): `single` without SIGNALGATE_REDIS_URL,
// nodes `A` and `B` with it. MQTT 5, clean sessions, 64-byte payloads carrying a sequence number.
// SIGNALGATE_CHANGE_POLL_MS is not set for any broker (its default, 200 ms).
//   1→1 QoS 1, as bench/publish.mjs measures it (at most `--window` messages not yet delivered
//   and not yet PUBACKed, 16 PUBLISHes per write, subscriber PUBACKs): deliveries/s over
//   `--seconds` after a 0.5 s warm-up, and publish → delivery latency (write of the PUBLISH →
//   parse at the subscriber) p50/p99. Configurations: `single` (both clients on it), `A→B`
//   (publisher on A, subscriber on B), `A→A` (both on A: the Redis bus even for local delivery).
//   With a full window the latency is mostly queueing (≈ window ÷ rate), so the same three are
//   also measured with ONE message in flight (`--seconds` ÷ 2): the latency of the path itself.
//   1→100 QoS 1: one publisher, 100 subscribers (single; cluster: publisher on A, all 100 on B),
//   with the full window (latency ≈ window × 100 ÷ rate: queueing) and with one message in flight.
//   revoke → disconnect: `--revokes` MQTT 5 connections of distinct tokens on `single` or on B,
//   services.tokens.revoke() in this process one every 23 ms; time until DISCONNECT (or close).
//   connects/s (first, before any message): `--connects` MQTT 5 CONNECTs of tokens never used
//   before (`--concurrency` in flight, as bench/connect.mjs), then DISCONNECT, on `single`, `node`
//   (`--workers 1` on a Redis of its own), `workers2` (`--workers 2`, node:cluster: both workers
//   behind one port, on a third Redis) and Debian's mosquitto (password file + ACL, as connect.mjs
//   starts it); `--connect-rounds` rounds after a 300-connect warm-up each. CPU per connect of
//   every process of a configuration (the --workers primary too; Redis from INFO used_cpu_*) and
//   Redis commands per connect. Ratios vs `single` and vs mosquitto.
//   RSS per idle connection (very first, on processes that did nothing else yet): `--idle` MQTT 5
//   connections (keep-alive 300 s) on `single`, split evenly over A and B, and on `workers2`; a
//   tenth first, then the rest, `--idle-settle` s before each RSS reading: kB per connection is the
//   slope between the readings of each process; Redis RSS and used_memory per connection too.
// Configurations alternate within each round (their order rotated round by round); figures are
// medians over `--rounds`; ratios are two nodes ÷ one process per round, then the median. CPU
// time per process (brokers, Redis, this load generator) from /proc over each measured window,
// Redis commands per message from INFO, RSS of every broker and of Redis at the end.
//   npm run bench:cluster   (node bench/cluster.mjs [--seconds 3] [--rounds 3] [--window 500] [--revokes 50]
//     [--connects 1500] [--connect-rounds 5] [--concurrency 100] [--idle 2000] [--idle-settle 3])
//   about 4–5 minutes on 2 cores; smaller than these defaults: printed only, not saved over
//   bench/results/cluster.json. BENCH_ROOT=<checkout> measures another build (bench/lib/env.mjs).
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { arg, cliPath, cpuMs, latencySummary, loadAverage, median, round, rssMb, saveResult, sleep, tempDir, within } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket, openClient, pubackOf, publishEncoder, subscribe } from './lib/mqttLoad.mjs';
import { ensureDebianPackage, firstJsonLine, freePort, mintCredentials, mosquittoCredentials, prepareSignalGate, startMosquitto, track } from './lib/servers.mjs';

const REDIS_SERVER = '/usr/bin/redis-server';
const PROTOCOL = 5;
const BATCH = 16; // PUBLISH packets per socket write, as bench/publish.mjs
const PAYLOAD = Buffer.alloc(64, 'x'); // bytes 0–3: the message's sequence number
const REVOKE_SPACING_MS = 23; // not a divisor of the 200 ms poll: revokes land at every phase of it

/** One command to Redis over a fresh socket (RESP); resolves with the reply's text. */
function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const head = buf.subarray(0, eol).toString();
      if (head[0] !== '$') return s.end(), resolve(head);
      const len = Number(head.slice(1));
      if (buf.length >= eol + 2 + len + 2) s.end(), resolve(buf.subarray(eol + 2, eol + 2 + len).toString());
    });
    s.on('error', reject);
    s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

async function redisStats(port) {
  const info = await redisCommand(port, 'INFO', 'all');
  const num = (re) => Number(re.exec(info)?.[1] ?? NaN);
  const calls = Object.fromEntries([...info.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
  return {
    commands: num(/total_commands_processed:(\d+)/), publish: num(/cmdstat_publish:calls=(\d+)/) || 0, calls,
    usedMemory: num(/used_memory:(\d+)/), cpuMs: (num(/used_cpu_sys:([\d.]+)/) + num(/used_cpu_user:([\d.]+)/)) * 1000,
  };
}

/** Commands per unit between two redisStats (the second INFO itself not counted), the busiest first. */
function redisCallsPer(a, b, units) {
  const out = {};
  for (const [name, n] of Object.entries(b.calls)) {
    const d = n - (a.calls[name] ?? 0) - (name === 'info' ? 1 : 0);
    if (d > 0) out[name] = round(d / units, 2);
  }
  return Object.fromEntries(Object.entries(out).sort((x, y) => y[1] - x[1]));
}

/** The brokers' Redis connections (id:name): a different set at the end means one was dropped and reconnected. */
async function brokerRedisClients(port) {
  const list = await redisCommand(port, 'CLIENT', 'LIST');
  return list.split('\n').filter((l) => l.includes('name=signalgate-broker-')).map((l) => `${/id=(\d+)/.exec(l)[1]}:${/name=(\S+)/.exec(l)[1]}`).sort();
}

async function startRedis() {
  ensureDebianPackage(REDIS_SERVER, 'redis-server');
  const port = await freePort();
  const dir = tempDir('redis');
  const child = track(spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' }));
  for (let i = 0; ; i++) {
    if ((await redisCommand(port, 'PING').catch(() => '')) === '+PONG') break;
    if (i > 200) throw new Error(`redis-server did not answer on port ${port}`);
    await sleep(25);
  }
  const version = /redis_version:(\S+)/.exec(await redisCommand(port, 'INFO', 'server'))?.[1];
  return { name: 'redis', pid: child.pid, port, url: `redis://127.0.0.1:${port}`, version, stop: stopper(child) };
}

function stopper(child) {
  return () => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

/** What the brokers said on stderr (level warn and above) and whether one exited before the end. */
const incidents = { logLines: {}, exits: [] };
let stopping = false;

/**
 * startSignalGate's spawn with `--workers 1` (with Redis the default is a worker per core), or
 * `workers` > 1 (node:cluster, Redis required): `pids` then holds the primary and each worker.
 */
async function startBroker({ name, dataDir, redisUrl = null, workers = 1 }) {
  const env = {
    ...process.env, SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'warn', SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false',
    SIGNALGATE_MQTT_PORT: '0', SIGNALGATE_WS_PORT: 'off', SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off',
    SIGNALGATE_API_PORT: 'off', SIGNALGATE_MAX_CONNECTIONS_PER_IP: '0', SIGNALGATE_CONNECT_REFUSALS_PER_IP: '10000000',
  };
  delete env.SIGNALGATE_REDIS_URL;
  delete env.SIGNALGATE_CHANGE_POLL_MS; // the default, 200 ms
  if (redisUrl) env.SIGNALGATE_REDIS_URL = redisUrl;
  const child = track(spawn(process.execPath, [cliPath, 'start', '--broker-only', '--workers', String(workers), '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  incidents.logLines[name] = [];
  readline.createInterface({ input: child.stderr }).on('line', (line) => {
    process.stderr.write(`[${name}] ${line}\n`);
    incidents.logLines[name].push(line.slice(0, 300));
  });
  child.once('exit', (code, signal) => { if (!stopping) incidents.exits.push({ name, code, signal }); });
  const summary = await firstJsonLine(child, `broker ${name}`);
  if (workers === 1 && summary.workers) throw new Error(`broker ${name} forked workers: ${summary.workers}`);
  if (workers > 1 && summary.workers?.length !== workers) throw new Error(`broker ${name}: expected ${workers} workers, got ${JSON.stringify(summary.workers)}`);
  const pids = workers === 1 ? { [name]: child.pid } : { [`${name}-primary`]: child.pid, ...Object.fromEntries(summary.workers.map((pid, i) => [`${name}-worker${i + 1}`, pid])) };
  return { name, pid: child.pid, pids, port: Number(new URL(summary.mqtt_url).port), stop: stopper(child) };
}

const cpuOf = (pids) => Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
const selfCpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

/**
 * One publisher on `pubNode`, `subscribers` on `subNode`, QoS 1 both ways. `pids`: the processes
 * whose CPU is counted (the brokers of the configuration and Redis), `redisPort` for its INFO.
 */
async function measureFlow({ pubNode, subNode, subscribers, creds, tag, seconds, window, pids, redisPort = null }) {
  const topic = `bench/c/${tag}`;
  const n = subscribers;
  const sentAt = [];
  const latencies = [];
  let received = 0;
  let counted = 0;
  let counting = false;
  let pump = () => {};
  const onPacket = (p, c) => {
    if (p.cmd !== 'publish') return;
    received++;
    if (counting) {
      counted++;
      latencies.push(performance.now() - sentAt[p.payload.readUInt32BE(0)]);
    }
    if (p.qos === 1) c.socket.write(pubackOf(p.messageId));
    pump();
  };
  const subs = await connectMany({
    port: subNode.port, concurrency: 50, onPacket, protocolVersion: PROTOCOL,
    connects: Array.from({ length: n }, (_, i) => connectPacket({ clientId: `s-${tag}-${i}`, username: creds[i + 1].username, password: creds[i + 1].password, protocolVersion: PROTOCOL })),
  });
  if (subs.failures.length) throw new Error(`${tag}: ${subs.failures.length} subscribers failed: ${subs.failures[0]}`);
  await Promise.all(subs.clients.map((c) => subscribe(c, topic, 1)));
  let acked = 0;
  const pub = await openClient({ port: pubNode.port, protocolVersion: PROTOCOL, connect: connectPacket({ clientId: `p-${tag}`, username: creds[0].username, password: creds[0].password, protocolVersion: PROTOCOL }),
    onPacket: (p) => { if (p.cmd === 'puback') { acked++; pump(); } } });
  const receiveMaximum = pub.connackProperties.receiveMaximum ?? 65_535;
  const unackedLimit = Math.min(window, receiveMaximum);
  const batch = Math.min(BATCH, unackedLimit);
  const enc = publishEncoder(topic, PAYLOAD, 1, PROTOCOL);
  let sent = 0;
  let stopAt = Infinity;
  let lastProgress = Date.now();
  let lost = 0;
  let stalls = 0;
  pump = () => {
    while (Date.now() < stopAt && !pub.socket.writableNeedDrain) {
      const undelivered = sent - Math.floor(received / n) - lost;
      if (undelivered + batch > window || sent - acked + batch > unackedLimit) return;
      const out = enc.batch(batch, sent + 1);
      const now = performance.now();
      for (let i = 0; i < batch; i++) {
        out.writeUInt32BE(sent + 1 + i, (i + 1) * enc.size - PAYLOAD.length);
        sentAt[sent + 1 + i] = now;
      }
      pub.socket.write(out);
      sent += batch;
      lastProgress = Date.now();
    }
  };
  pub.socket.on('drain', () => pump());
  // A message that never arrives would stall the window (publish.mjs does the same).
  const stall = setInterval(() => {
    if (Date.now() - lastProgress > 500) {
      stalls++;
      lost += sent - Math.floor(received / n) - lost;
      lastProgress = Date.now();
      pump();
    }
  }, 100);
  const warmupMs = 500;
  stopAt = Date.now() + warmupMs + seconds * 1000 + 100;
  pump();
  await sleep(warmupMs);
  const redis0 = redisPort ? await redisStats(redisPort) : null;
  counting = true;
  const cpu0 = cpuOf(pids);
  const self0 = selfCpuMs();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  counting = false;
  const elapsedMs = performance.now() - t0;
  const cpu1 = cpuOf(pids);
  const self1 = selfCpuMs();
  const receivedInWindow = counted;
  const redis1 = redisPort ? await redisStats(redisPort) : null;
  clearInterval(stall);
  stopAt = 0;
  // Everything sent must arrive at every subscriber: wait for the tail as long as it moves (a
  // backlog is not a loss), then count what is missing.
  const drainStart = Date.now();
  let lastCount = received;
  let lastChange = Date.now();
  while (received < sent * n && Date.now() - lastChange < 2000 && Date.now() - drainStart < 20_000) {
    await sleep(20);
    if (received !== lastCount) [lastCount, lastChange] = [received, Date.now()];
  }
  const drainMs = Date.now() - drainStart;
  const missing = sent * n - received;
  await closeAll([pub, ...subs.clients]);
  const messages = receivedInWindow / n;
  const cpu = Object.fromEntries(Object.keys(pids).map((name) => [name, {
    cores: round((cpu1[name] - cpu0[name]) / elapsedMs, 3),
    usPerMessage: round(((cpu1[name] - cpu0[name]) * 1000) / messages, 1),
  }]));
  cpu.loadGenerator = { cores: round((self1 - self0) / elapsedMs, 3), usPerMessage: round(((self1 - self0) * 1000) / messages, 1) };
  return {
    deliveriesPerSecond: (receivedInWindow / elapsedMs) * 1000,
    latency: latencySummary(latencies),
    cpu,
    ...(redis1 ? { redisPerMessage: { commands: round((redis1.commands - redis0.commands - 1) / messages, 2), publish: round((redis1.publish - redis0.publish) / messages, 2) } } : {}),
    sent, missing, stalls, stallLost: lost, drainMs, receiveMaximum,
  };
}

/** `creds.length` connections on `node` (one token each); the tokens revoked one every REVOKE_SPACING_MS. */
async function measureRevoke({ node, services, orgId, creds, tag }) {
  const ends = new Array(creds.length).fill(null);
  const onPacket = (p, c) => {
    if (p.cmd === 'disconnect' && !ends[c.index]) ends[c.index] = { at: performance.now(), reason: p.reasonCode };
  };
  const res = await connectMany({ port: node.port, concurrency: 25, onPacket, protocolVersion: PROTOCOL,
    connects: creds.map((c, i) => connectPacket({ clientId: `r-${tag}-${i}`, username: c.username, password: c.password, protocolVersion: PROTOCOL })) });
  if (res.failures.length) throw new Error(`${tag}: ${res.failures.length} clients could not connect: ${res.failures[0]}`);
  for (const c of res.clients) c.onClose = (cl) => { if (!ends[cl.index]) ends[cl.index] = { at: cl.closedAt, reason: 'close' }; };
  await sleep(300); // session rows written, nothing pending
  const revokedAt = new Array(creds.length).fill(NaN);
  for (let i = 0; i < creds.length; i++) {
    revokedAt[i] = performance.now();
    await services.tokens.revoke(orgId, creds[i].tokenId);
    await sleep(REVOKE_SPACING_MS);
  }
  const until = Date.now() + 5000;
  while (ends.some((e) => !e) && Date.now() < until) await sleep(20);
  await closeAll(res.clients, 2000);
  const latencies = ends.map((e, i) => (e ? e.at - revokedAt[i] : NaN));
  const reasons = {};
  for (const e of ends) { const k = e ? String(e.reason) : 'still open'; reasons[k] = (reasons[k] ?? 0) + 1; }
  return { latency: latencySummary(latencies.filter(Number.isFinite)), stillOpen: latencies.filter((x) => !Number.isFinite(x)).length, reasons };
}

/**
 * `creds.length` fresh MQTT 5 connections to `server` (`concurrency` CONNECTs in flight, as
 * bench/connect.mjs), then DISCONNECT and 500 ms for the server to finish closing them. CPU of
 * each of `server.pids` (and of its Redis, from INFO: finer than /proc's 10 ms ticks) over the
 * connects alone (first CONNECT written → last CONNACK) and over the whole session.
 */
async function measureConnects({ server, creds, tag, concurrency, redisPort = null }) {
  const connects = creds.map((c, i) => connectPacket({ clientId: `k-${tag}-${i}`, username: c.username, password: c.password, protocolVersion: PROTOCOL }));
  const redis0 = redisPort ? await redisStats(redisPort) : null;
  const cpu0 = cpuOf(server.pids);
  const self0 = selfCpuMs();
  const res = await connectMany({ port: server.port, connects, concurrency, protocolVersion: PROTOCOL });
  const cpu1 = cpuOf(server.pids);
  const self1 = selfCpuMs();
  const redis1 = redisPort ? await redisStats(redisPort) : null;
  await closeAll(res.clients);
  await sleep(500);
  const cpu2 = cpuOf(server.pids);
  const redis2 = redisPort ? await redisStats(redisPort) : null;
  const n = res.clients.length;
  const per = (ms) => round((ms * 1000) / n, 1);
  const cpuPerConnect = Object.fromEntries(Object.keys(server.pids).map((k) => [k, per(cpu1[k] - cpu0[k])]));
  const cpuPerSession = Object.fromEntries(Object.keys(server.pids).map((k) => [k, per(cpu2[k] - cpu0[k])]));
  if (redis0) {
    cpuPerConnect.redis = per(redis1.cpuMs - redis0.cpuMs);
    cpuPerSession.redis = per(redis2.cpuMs - redis0.cpuMs);
  }
  const sum = (o) => round(Object.values(o).reduce((a, b) => a + b, 0), 1);
  return {
    rate: (n / res.elapsedMs) * 1000, n, failures: res.failures.length, firstFailure: res.failures[0], latency: latencySummary(res.latencies),
    cpuUsPerConnect: { ...cpuPerConnect, total: sum(cpuPerConnect) }, cpuUsPerSession: { ...cpuPerSession, total: sum(cpuPerSession) },
    loadGeneratorUsPerConnect: per(self1 - self0),
    ...(redis0 ? { redisPerConnect: redisCallsPer(redis0, redis1, n), redisPerSession: redisCallsPer(redis0, redis2, n) } : {}),
  };
}

/**
 * RSS per idle MQTT 5 connection (keep-alive 300 s: nothing is sent while idle). `targets`: where
 * the connections go ({ node, count } each; a node of --workers 2 takes them round-robin). First a
 * tenth of them (the connect path warmed, first-use allocations made), `settleMs`, RSS of every
 * process in `pids`; then the rest, `settleMs`, RSS again: the figure per connection is the slope
 * between the two readings over the connections each process got in between (memory.mjs's slope
 * from 1k to 10k, smaller). Redis: RSS and used_memory, over all the connections. The connections
 * stay open until every reading is taken, then close.
 */
async function measureIdle({ targets, pids, redisPort = null, creds, tag, settleMs }) {
  const rss = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, rssMb(pid)]));
  const redisMem = async () => (redisPort ? (await redisStats(redisPort)).usedMemory : NaN);
  const clients = [];
  const failures = [];
  let used = 0;
  const open = async (share) => {
    const added = {};
    for (const { node, count } of targets) {
      const k = Math.round(count * share);
      const connects = creds.slice(used, used + k).map((c, i) => connectPacket({ clientId: `i-${tag}-${used + i}`, username: c.username, password: c.password, protocolVersion: PROTOCOL }));
      used += k;
      const res = await connectMany({ port: node.port, connects, concurrency: 100, protocolVersion: PROTOCOL });
      clients.push(...res.clients);
      failures.push(...res.failures);
      added[node.name] = res.clients.length;
    }
    return added;
  };
  await sleep(settleMs);
  const rss0 = rss();
  const redisMem0 = await redisMem();
  const warm = await open(0.1);
  await sleep(settleMs);
  const rss1 = rss();
  const redisMem1 = await redisMem();
  const rest = await open(0.9);
  await sleep(settleMs);
  const rss2 = rss();
  const redisMem2 = await redisMem();
  const stillOpen = clients.filter((c) => !c.socket.destroyed).length;
  await closeAll(clients, 20_000);
  const total = (o) => Object.values(o).reduce((a, b) => a + b, 0);
  // The connections a process got: its node's (a worker: its node's ÷ workers, round-robin).
  const share = (name, added) => {
    if (name === 'redis') return total(added);
    const node = targets.find((t) => name === t.node.name || name.startsWith(`${t.node.name}-worker`))?.node;
    if (!node) return 0;
    const workers = Object.keys(node.pids).filter((k) => k.includes('-worker')).length;
    return (added[node.name] ?? 0) / (workers || 1);
  };
  const processes = Object.fromEntries(Object.keys(pids).map((name) => {
    const got = share(name, rest);
    const all = got + share(name, warm);
    return [name, {
      idleMb: rss0[name], rssMbAfterWarm: rss1[name], rssMbAtEnd: rss2[name], connections: Math.round(all),
      perConnectionKb: got ? round(((rss2[name] - rss1[name]) * 1024) / got, 1) : null,
      deltaPerConnectionKb: all ? round(((rss2[name] - rss0[name]) * 1024) / all, 1) : null,
    }];
  }));
  const workersOf = Object.entries(processes).filter(([k]) => k.includes('-worker'));
  const summed = workersOf.length ? { workersPerConnectionKb: round((workersOf.reduce((a, [, p]) => a + (p.rssMbAtEnd - p.rssMbAfterWarm), 0) * 1024) / total(rest), 1) } : {};
  return {
    connections: total(warm) + total(rest), stillOpen, failures: failures.length, firstFailure: failures[0], processes, ...summed,
    ...(redisPort ? { redisUsedMemoryBytesPerConnection: round((redisMem2 - redisMem1) / total(rest), 0), redisUsedMemoryDeltaBytes: redisMem2 - redisMem0 } : {}),
  };
}

const rotate = (list, r) => list.map((_, i) => list[(i + r) % list.length]);

const CONNECT_WARMUP = 300;

export async function runCluster({ seconds = 3, rounds = 3, window = 500, revokes = 50, connects = 1500, connectRounds = 5, concurrency = 100, idle = 2000, idleSettle = 3 } = {}) {
  const load = [loadAverage()];
  const t0 = Date.now();
  const redisServerVersion = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).stdout?.trim();
  const redis = await startRedis();
  // The lone node and the --workers 2 pair each on a Redis of their own: aedes announces every
  // CONNECT to every node on the bus, so sharing one would make each do the other's work.
  const redisNode = await startRedis();
  const redisWorkers = await startRedis();
  const sg = await prepareSignalGate({ tokens: 101, label: 'cluster' });
  const { services, orgId, creds, dataDir } = sg;
  const connectCount = CONNECT_WARMUP + connectRounds * connects; // a token per CONNECT measured
  const connectCreds = {};
  for (const name of ['single', 'node', 'workers2']) connectCreds[name] = await mintCredentials(services, orgId, connectCount, 3600, `connect-${name}`);
  const idleCreds = {};
  for (const name of ['single', 'A+B', 'workers2']) idleCreds[name] = await mintCredentials(services, orgId, idle, 3600, `idle-${name.replace('+', '')}`);
  const mosqCreds = mosquittoCredentials(connectCount);
  const single = await startBroker({ name: 'single', dataDir });
  const A = await startBroker({ name: 'A', dataDir, redisUrl: redis.url });
  const B = await startBroker({ name: 'B', dataDir, redisUrl: redis.url });
  const node = await startBroker({ name: 'node', dataDir, redisUrl: redisNode.url });
  const workers2 = await startBroker({ name: 'workers2', dataDir, redisUrl: redisWorkers.url, workers: 2 });
  const mosquitto = await startMosquitto(mosqCreds);
  mosquitto.pids = { mosquitto: mosquitto.pid };
  const CONNECTS = {
    single: { server: single, creds: connectCreds.single },
    node: { server: node, creds: connectCreds.node, redisPort: redisNode.port },
    workers2: { server: workers2, creds: connectCreds.workers2, redisPort: redisWorkers.port },
    mosquitto: { server: mosquitto, creds: mosqCreds },
  };
  const IDLE = {
    single: { targets: [{ node: single, count: idle }], pids: single.pids },
    'A+B': { targets: [{ node: A, count: idle / 2 }, { node: B, count: idle / 2 }], pids: { A: A.pid, B: B.pid, redis: redis.pid }, redisPort: redis.port },
    workers2: { targets: [{ node: workers2, count: idle }], pids: { ...workers2.pids, redis: redisWorkers.pid }, redisPort: redisWorkers.port },
  };
  const idleRuns = {};
  const connectRuns = Object.fromEntries(Object.keys(CONNECTS).map((k) => [k, []]));
  const clusterPids = { A: A.pid, B: B.pid, redis: redis.pid };
  const redisClientsAtStart = await brokerRedisClients(redis.port);
  let redisClientsAtEnd;
  const FLOWS = {
    single: { pubNode: single, subNode: single, pids: { single: single.pid } },
    'A→B': { pubNode: A, subNode: B, pids: clusterPids, redisPort: redis.port },
    'A→A': { pubNode: A, subNode: A, pids: clusterPids, redisPort: redis.port },
  };
  const SCENARIOS = [
    { id: 'qos1_1to1', subscribers: 1, window, seconds, configs: ['single', 'A→B', 'A→A'] },
    { id: 'qos1_1to1_one_in_flight', subscribers: 1, window: 1, seconds: seconds / 2, configs: ['single', 'A→B', 'A→A'] },
    { id: 'qos1_1to100', subscribers: 100, window, seconds, configs: ['single', 'A→B'] },
    { id: 'qos1_1to100_one_in_flight', subscribers: 100, window: 1, seconds: seconds / 2, configs: ['single', 'A→B'] },
  ];
  const runs = {}; // scenario → config → [measurement per round]
  const revokeRuns = { single: [], B: [] };
  let rss;
  try {
    // Idle memory first, on processes that have done nothing else yet (as memory.mjs's fresh ones).
    for (const [config, c] of Object.entries(IDLE)) {
      const m = await within(180_000, `idle ${config}`, () => measureIdle({ ...c, creds: idleCreds[config], tag: config.replace('+', ''), settleMs: idleSettle * 1000 }));
      idleRuns[config] = m;
      console.error(`idle ${config}: ${m.connections} connections (${m.stillOpen} still open at the reading), ${Object.entries(m.processes).map(([k, p]) => `${k} ${p.perConnectionKb ?? '-'} kB`).join(', ')}`);
    }
    load.push(loadAverage());
    for (const [config, c] of Object.entries(CONNECTS)) { // warm-up (JIT, caches), not measured
      const warm = await within(120_000, `connect warm-up ${config}`, () => connectMany({ port: c.server.port, protocolVersion: PROTOCOL, concurrency,
        connects: c.creds.slice(0, CONNECT_WARMUP).map((cr, i) => connectPacket({ clientId: `kw-${config}-${i}`, username: cr.username, password: cr.password, protocolVersion: PROTOCOL })) }));
      if (warm.failures.length) throw new Error(`connect warm-up ${config}: ${warm.failures.length} failed: ${warm.failures[0]}`);
      await closeAll(warm.clients);
    }
    await sleep(500);
    for (let r = 0; r < connectRounds; r++) {
      for (const config of rotate(Object.keys(CONNECTS), r)) {
        const c = CONNECTS[config];
        const from = CONNECT_WARMUP + r * connects;
        const m = await within(180_000, `connects ${config}`, () => measureConnects({ server: c.server, creds: c.creds.slice(from, from + connects), tag: `${config}-${r}`, concurrency, redisPort: c.redisPort }));
        connectRuns[config].push(m);
        console.error(`round ${r + 1} connects ${config}: ${Math.round(m.rate)}/s, p50 ${m.latency.p50} ms, p99 ${m.latency.p99} ms, CPU ${m.cpuUsPerConnect.total} µs per connect, failures ${m.failures}`);
        await sleep(200);
      }
    }
    load.push(loadAverage());
    for (const config of Object.keys(FLOWS)) { // JIT warm-up, and every path checked once
      await within(60_000, `warm-up ${config}`, () => measureFlow({ ...FLOWS[config], subscribers: 1, creds, tag: `warm-${config}`, seconds: 1, window }));
    }
    for (let r = 0; r < rounds; r++) {
      for (const sc of SCENARIOS) {
        for (const config of rotate(sc.configs, r)) {
          const m = await within(sc.seconds * 1000 + 60_000, `${sc.id} ${config}`, () => measureFlow({ ...FLOWS[config], subscribers: sc.subscribers, creds, tag: `${sc.id}-${config}-${r}`, seconds: sc.seconds, window: sc.window }));
          ((runs[sc.id] ??= {})[config] ??= []).push(m);
          console.error(`round ${r + 1} ${sc.id} ${config}: ${Math.round(m.deliveriesPerSecond)} deliveries/s, p50 ${m.latency.p50} ms, p99 ${m.latency.p99} ms, missing ${m.missing}`);
          await sleep(200);
        }
      }
      for (const where of rotate(['single', 'B'], r)) {
        const node = where === 'single' ? single : B;
        const revokeCreds = await mintCredentials(services, orgId, revokes, 3600, `revoke-${where}-${r}`);
        const m = await within(60_000, `revoke ${where}`, () => measureRevoke({ node, services, orgId, creds: revokeCreds, tag: `${where}-${r}` }));
        revokeRuns[where].push(m);
        console.error(`round ${r + 1} revoke on ${where}: p50 ${m.latency.p50} ms, p99 ${m.latency.p99} ms, still open ${m.stillOpen}`);
        await sleep(200);
      }
      load.push(loadAverage());
    }
    rss = { single: rssMb(single.pid), A: rssMb(A.pid), B: rssMb(B.pid), redis: rssMb(redis.pid),
      ...Object.fromEntries(Object.entries({ ...node.pids, ...workers2.pids, ...mosquitto.pids, 'redis-node': redisNode.pid, 'redis-workers2': redisWorkers.pid }).map(([k, pid]) => [k, rssMb(pid)])) };
    redisClientsAtEnd = await brokerRedisClients(redis.port);
  } finally {
    stopping = true;
    for (const s of [single, A, B, node, workers2, mosquitto]) await s.stop();
    for (const r of [redis, redisNode, redisWorkers]) await r.stop();
    await services.store.close();
  }

  // Medians over rounds; ratio cluster ÷ single per round, then the median.
  const ratio = (xs, ys, f) => round(median(xs.map((x, i) => f(x) / f(ys[i]))), 3);
  const figures = {};
  for (const sc of SCENARIOS) {
    const per = runs[sc.id];
    const configs = {};
    for (const [config, list] of Object.entries(per)) {
      const cpuNames = Object.keys(list[0].cpu);
      configs[config] = {
        deliveriesPerSecond: Math.round(median(list.map((m) => m.deliveriesPerSecond))),
        latencyP50Ms: round(median(list.map((m) => m.latency.p50))),
        latencyP99Ms: round(median(list.map((m) => m.latency.p99))),
        rounds: list.map((m) => ({ rate: Math.round(m.deliveriesPerSecond), p50: m.latency.p50, p99: m.latency.p99, samples: m.latency.n })),
        cpu: Object.fromEntries(cpuNames.map((name) => [name, {
          cores: round(median(list.map((m) => m.cpu[name].cores)), 2),
          usPerMessage: round(median(list.map((m) => m.cpu[name].usPerMessage)), 1),
        }])),
        ...(list[0].redisPerMessage ? { redisPerMessage: { commands: round(median(list.map((m) => m.redisPerMessage.commands)), 2), publish: round(median(list.map((m) => m.redisPerMessage.publish)), 2) } } : {}),
        missing: list.reduce((a, m) => a + m.missing, 0),
        stalls: list.reduce((a, m) => a + m.stalls, 0),
        maxDrainMs: Math.max(...list.map((m) => m.drainMs)),
      };
    }
    const vsSingle = {};
    for (const config of Object.keys(per)) {
      if (config === 'single') continue;
      vsSingle[config] = {
        rate: ratio(per[config], per.single, (m) => m.deliveriesPerSecond),
        p50: ratio(per[config], per.single, (m) => m.latency.p50),
        p99: ratio(per[config], per.single, (m) => m.latency.p99),
      };
    }
    figures[sc.id] = { configs, vsSingle };
  }
  const revoke = Object.fromEntries(Object.entries(revokeRuns).map(([where, list]) => [where, {
    p50: round(median(list.map((m) => m.latency.p50))), p99: round(median(list.map((m) => m.latency.p99))),
    max: round(Math.max(...list.map((m) => m.latency.max))),
    rounds: list.map((m) => ({ p50: m.latency.p50, p99: m.latency.p99, n: m.latency.n })),
    stillOpen: list.reduce((a, m) => a + m.stillOpen, 0),
    reasons: list.reduce((acc, m) => { for (const [k, v] of Object.entries(m.reasons)) acc[k] = (acc[k] ?? 0) + v; return acc; }, {}),
  }]));
  revoke.vsSingle = { p50: ratio(revokeRuns.B, revokeRuns.single, (m) => m.latency.p50), p99: ratio(revokeRuns.B, revokeRuns.single, (m) => m.latency.p99) };
  const medianOf = (list, pick) => {
    const keys = Object.keys(pick(list[0]));
    return Object.fromEntries(keys.map((k) => [k, round(median(list.map((m) => pick(m)[k] ?? 0)), 1)]));
  };
  const connectFigures = Object.fromEntries(Object.entries(connectRuns).map(([config, list]) => [config, {
    connectsPerSecond: Math.round(median(list.map((m) => m.rate))), rounds: list.map((m) => Math.round(m.rate)),
    p50Ms: round(median(list.map((m) => m.latency.p50))), p99Ms: round(median(list.map((m) => m.latency.p99))),
    cpuUsPerConnect: medianOf(list, (m) => m.cpuUsPerConnect), cpuUsPerSession: medianOf(list, (m) => m.cpuUsPerSession),
    loadGeneratorUsPerConnect: round(median(list.map((m) => m.loadGeneratorUsPerConnect)), 1),
    ...(list[0].redisPerConnect ? { redisPerConnect: medianOf(list, (m) => m.redisPerConnect), redisPerSession: medianOf(list, (m) => m.redisPerSession) } : {}),
    failures: list.reduce((a, m) => a + m.failures, 0), firstFailure: list.find((m) => m.firstFailure)?.firstFailure,
  }]));
  const connectVs = (base) => Object.fromEntries(Object.keys(connectRuns).filter((k) => k !== base).map((config) => [config, {
    rate: ratio(connectRuns[config], connectRuns[base], (m) => m.rate),
    cpuPerConnect: round(connectFigures[config].cpuUsPerConnect.total / connectFigures[base].cpuUsPerConnect.total, 3),
    cpuPerSession: round(connectFigures[config].cpuUsPerSession.total / connectFigures[base].cpuUsPerSession.total, 3),
  }]));
  return {
    params: { seconds, rounds, window, revokes, revokeSpacingMs: REVOKE_SPACING_MS, payloadBytes: PAYLOAD.length, protocol: PROTOCOL, qos: 1, changePollMs: 'default (200), not set',
      connects, connectRounds, concurrency, connectWarmup: CONNECT_WARMUP, idle, idleSettleSeconds: idleSettle },
    versions: { redis: redis.version, redisServer: redisServerVersion, mosquitto: spawnSync('/usr/sbin/mosquitto', ['-h'], { encoding: 'utf8' }).stdout?.split('\n')[0] },
    figures, revokeToDisconnect: revoke,
    connects: { figures: connectFigures, vsSingle: connectVs('single'), vsMosquitto: connectVs('mosquitto') },
    idleMemory: idleRuns,
    rssMb: rss,
    incidents: {
      brokerExits: incidents.exits,
      brokerRedisConnections: { atStart: redisClientsAtStart.length, replaced: redisClientsAtStart.filter((c) => !redisClientsAtEnd.includes(c)) }, brokerLogLines: Object.fromEntries(Object.entries(incidents.logLines).map(([k, v]) => [k, { count: v.length, first: v.slice(0, 5) }])) },
    wallSeconds: Math.round((Date.now() - t0) / 1000),
    load,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runCluster({ seconds: arg('seconds', 3), rounds: arg('rounds', 3), window: arg('window', 500), revokes: arg('revokes', 50),
    connects: arg('connects', 1500), connectRounds: arg('connect-rounds', 5), concurrency: arg('concurrency', 100), idle: arg('idle', 2000), idleSettle: arg('idle-settle', 3) });
  // A shorter run (a smoke test of the bench itself) is printed, not saved over the full one.
  const p = result.params;
  const short = p.rounds < 3 || p.seconds < 3 || p.revokes < 50 || p.connects < 1500 || p.connectRounds < 5 || p.idle < 2000 || p.idleSettleSeconds < 3;
  console.log(JSON.stringify(short ? result : saveResult('cluster', result), null, 2));
  process.exit(0);
}
