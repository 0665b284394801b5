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
// Configurations alternate within each round (their order rotated round by round); figures are
// medians over `--rounds`; ratios are two nodes ÷ one process per round, then the median. CPU
// time per process (brokers, Redis, this load generator) from /proc over each measured window,
// Redis commands per message from INFO, RSS of every broker and of Redis at the end.
//   npm run bench:cluster   (node bench/cluster.mjs [--seconds 3] [--rounds 3] [--window 500] [--revokes 50])
//   about 2 minutes on 2 cores; fewer rounds, seconds or revokes: printed only, not saved over
//   bench/results/cluster.json
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { arg, cliPath, cpuMs, latencySummary, loadAverage, median, round, rssMb, saveResult, sleep, tempDir, within } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket, openClient, pubackOf, publishEncoder, subscribe } from './lib/mqttLoad.mjs';
import { ensureDebianPackage, firstJsonLine, freePort, mintCredentials, prepareSignalGate, track } from './lib/servers.mjs';

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
  return { commands: num(/total_commands_processed:(\d+)/), publish: num(/cmdstat_publish:calls=(\d+)/) || 0 };
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

/** startSignalGate's spawn with `--workers 1` (with Redis the default is a worker per core). */
async function startBroker({ name, dataDir, redisUrl = null }) {
  const env = {
    ...process.env, SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'warn', SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false',
    SIGNALGATE_MQTT_PORT: '0', SIGNALGATE_WS_PORT: 'off', SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off',
    SIGNALGATE_API_PORT: 'off', SIGNALGATE_MAX_CONNECTIONS_PER_IP: '0', SIGNALGATE_CONNECT_REFUSALS_PER_IP: '10000000',
  };
  delete env.SIGNALGATE_REDIS_URL;
  delete env.SIGNALGATE_CHANGE_POLL_MS; // the default, 200 ms
  if (redisUrl) env.SIGNALGATE_REDIS_URL = redisUrl;
  const child = track(spawn(process.execPath, [cliPath, 'start', '--broker-only', '--workers', '1', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  incidents.logLines[name] = [];
  readline.createInterface({ input: child.stderr }).on('line', (line) => {
    process.stderr.write(`[${name}] ${line}\n`);
    incidents.logLines[name].push(line.slice(0, 300));
  });
  child.once('exit', (code, signal) => { if (!stopping) incidents.exits.push({ name, code, signal }); });
  const summary = await firstJsonLine(child, `broker ${name}`);
  if (summary.workers) throw new Error(`broker ${name} forked workers: ${summary.workers}`);
  return { name, pid: child.pid, port: Number(new URL(summary.mqtt_url).port), stop: stopper(child) };
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
    services.tokens.revoke(orgId, creds[i].tokenId);
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

const rotate = (list, r) => list.map((_, i) => list[(i + r) % list.length]);

export async function runCluster({ seconds = 3, rounds = 3, window = 500, revokes = 50 } = {}) {
  const load = [loadAverage()];
  const t0 = Date.now();
  const redisServerVersion = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).stdout?.trim();
  const redis = await startRedis();
  const sg = await prepareSignalGate({ tokens: 101, label: 'cluster' });
  const { services, orgId, creds, dataDir } = sg;
  const single = await startBroker({ name: 'single', dataDir });
  const A = await startBroker({ name: 'A', dataDir, redisUrl: redis.url });
  const B = await startBroker({ name: 'B', dataDir, redisUrl: redis.url });
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
        const revokeCreds = mintCredentials(services, orgId, revokes, 3600, `revoke-${where}-${r}`);
        const m = await within(60_000, `revoke ${where}`, () => measureRevoke({ node, services, orgId, creds: revokeCreds, tag: `${where}-${r}` }));
        revokeRuns[where].push(m);
        console.error(`round ${r + 1} revoke on ${where}: p50 ${m.latency.p50} ms, p99 ${m.latency.p99} ms, still open ${m.stillOpen}`);
        await sleep(200);
      }
      load.push(loadAverage());
    }
    rss = { single: rssMb(single.pid), A: rssMb(A.pid), B: rssMb(B.pid), redis: rssMb(redis.pid) };
    redisClientsAtEnd = await brokerRedisClients(redis.port);
  } finally {
    stopping = true;
    for (const s of [single, A, B]) await s.stop();
    await redis.stop();
    services.store.close();
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
  return {
    params: { seconds, rounds, window, revokes, revokeSpacingMs: REVOKE_SPACING_MS, payloadBytes: PAYLOAD.length, protocol: PROTOCOL, qos: 1, changePollMs: 'default (200), not set' },
    versions: { redis: redis.version, redisServer: redisServerVersion },
    figures, revokeToDisconnect: revoke, rssMb: rss,
    incidents: {
      brokerExits: incidents.exits,
      brokerRedisConnections: { atStart: redisClientsAtStart.length, replaced: redisClientsAtStart.filter((c) => !redisClientsAtEnd.includes(c)) }, brokerLogLines: Object.fromEntries(Object.entries(incidents.logLines).map(([k, v]) => [k, { count: v.length, first: v.slice(0, 5) }])) },
    wallSeconds: Math.round((Date.now() - t0) / 1000),
    load,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runCluster({ seconds: arg('seconds', 3), rounds: arg('rounds', 3), window: arg('window', 500), revokes: arg('revokes', 50) });
  // A shorter run (a smoke test of the bench itself) is printed, not saved over the full one.
  const short = result.params.rounds < 3 || result.params.seconds < 3 || result.params.revokes < 50;
  console.log(JSON.stringify(short ? result : saveResult('cluster', result), null, 2));
  process.exit(0);
}
