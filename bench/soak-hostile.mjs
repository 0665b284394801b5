#!/usr/bin/env node
// Hostile-tenant soak (issue 14; not part of `npm test`). `signalgate start` (API + broker) runs as a
// child process on a fresh data dir holding two organisations. Org B, the victim, has one MQTT 5
// subscriber and one publisher (mqtt.js, in their own process) sending a small QoS 1 message every
// 20 ms on its own topic; its publish→delivery latency is recorded. Org A, the attacker (another
// process), floods with every vector of issue 14 at once, each paced so the bench fits on 2 cores:
//
//   retained  — retained QoS 1 PUBLISHes to distinct topics, payloads 1 KB–100 KB (→ PUBACK 0x97 past
//               max_retained_messages / max_retained_bytes)
//   queue     — a persistent session (MQTT 5, clean start false, expiry 7200 s) subscribed to `q/#`
//               and disconnected, while another connection floods `q/<n>` (→ max_queued_messages /
//               max_queued_bytes); when the attack ends the session is resumed and what it gets counted
//   subs      — SUBSCRIBE packets of 1,000 distinct filters every 0.5 s (→ SUBACK 0x97 past
//               max_subscriptions_per_connection), every 5th of 2,000 (→ past
//               SIGNALGATE_MAX_FILTERS_PER_PACKET: DISCONNECT 0x97); then a new connection
//   denied    — QoS 2 PUBLISHes of 256 KiB with a token that may only subscribe (→ PUBREC 0x87)
//   refused   — CONNECTs in a loop from one address: a 60,000-character username (0x86), a valid token
//               with a 60,000-character client id (0x85), `server@<org>` with a wrong key of the org's
//               real key prefix (argon2; 0x86, then 0x9F past SIGNALGATE_AUTH_FAILURES_PER_IP)
//               (→ SIGNALGATE_CONNECT_REFUSALS_PER_IP: new sockets closed unread; sampled logs)
//   idle      — up to 400 raw sockets from one address that never send a CONNECT
//               (→ SIGNALGATE_MAX_CONNECTIONS_PER_IP, set to 200 for the run; CONNECT timeout 10 s)
//   api       — wrong admin keys (GET /v2/admin/orgs) and wrong sk_ keys carrying org A's real key
//               prefix (POST /v2/tokens), 16 in flight from 8 addresses (→ argon2 gate, auth budget)
//   history   — QoS 1 PUBLISHes of 16 KiB to 3,000 rotating topics (org A's default rules grant
//               history; → max_history_topics / max_history_bytes)
//
// Each vector uses its own loopback source address (127.0.0.2 idle, .3 refused, .4 the other MQTT
// vectors, 127.0.1.1–8 the API); the victim and the bench's /metrics reads use 127.0.0.1.
// The SignalGate process's RSS (/proc/<pid>/status VmRSS) is sampled every second, its CPU time and
// /metrics at each window, its log (stdout + stderr, at SIGNALGATE_LOG_LEVEL=info) counted in bytes.
//
// Phases: a victim-only baseline, the attack (--seconds), a recovery window after it; then (unless
// --solo-seconds 0) a second, fresh server where each vector runs alone for --solo-seconds beside
// the victim, to say which vector costs the broker what. Table on stdout, JSON in
// bench/results/soak-hostile.json. Needs Linux (/proc) and a build (`npx tsc -b`).
//
//   node bench/soak-hostile.mjs [--seconds 90] [--baseline-seconds 10] [--recovery-seconds 10]
//                               [--window-seconds 10] [--solo-seconds 8] [--vectors retained,queue,...]
import { fork, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { cpuMs, latencySummary, loadAverage, root, round, saveResult, sleep, tempDir } from './lib/env.mjs';
import { openBuildServices, track } from './lib/servers.mjs';

const SELF = fileURLToPath(import.meta.url);
const VECTORS = ['retained', 'queue', 'subs', 'denied', 'refused', 'idle', 'api', 'history'];

// The pace of every vector (the attacker's whole budget on a 2-core machine shared with the broker).
const PACE = {
  retained: { rate: 60, inflight: 8, minBytes: 1024, maxBytes: 100 * 1024 },
  queue: { rate: 150, inflight: 16, bytes: 4096 },
  // SIGNALGATE_MAX_FILTERS_PER_PACKET is 1000: four packets of 1000 per connection (the 2nd–4th past
  // max_subscriptions_per_connection), then one of 2000 (past the per-packet cap: the session ends).
  subs: { everyMs: 500, filters: 1000, oversizeFilters: 2000, packetsPerConnection: 5 },
  denied: { rate: 20, inflight: 4, bytes: 256 * 1024 },
  refused: { rate: 100, concurrency: 4, size: 60_000 },
  idle: { target: 400, perTick: 20, tickMs: 200 },
  api: { rate: 100, concurrency: 16, addresses: 8 },
  history: { rate: 40, inflight: 8, bytes: 16 * 1024, topics: 3000 },
};
const ADDR = { victim: '127.0.0.1', idle: '127.0.0.2', refused: '127.0.0.3', mqtt: '127.0.0.4', api: (i) => `127.0.1.${i + 1}` };
const MAX_CONNECTIONS_PER_IP = 200;

const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    seconds: { type: 'string', default: '90' },
    'baseline-seconds': { type: 'string', default: '10' },
    'recovery-seconds': { type: 'string', default: '10' },
    'window-seconds': { type: 'string', default: '10' },
    'solo-seconds': { type: 'string', default: '8' },
    vectors: { type: 'string', default: VECTORS.join(',') },
    help: { type: 'boolean', default: false },
  },
});


// =====================================================================================================
// Small pieces
// =====================================================================================================

const hex = (code) => `0x${Number(code).toString(16).padStart(2, '0')}`;
function bump(obj, key, n = 1) { obj[key] = (obj[key] ?? 0) + n; }

/** A raw MQTT connection (mqtt-packet), from `localAddress`. Resolves once the socket is open. */
function rawSocket({ port, localAddress, protocolVersion = 5 }) {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  socket.setNoDelay(true);
  const parser = mqttPacket.parser({ protocolVersion });
  const c = {
    socket, onPacket: null, onClose: null, closed: false,
    send(p) { if (!socket.destroyed) socket.write(mqttPacket.generate(p, { protocolVersion })); },
    end() { socket.destroy(); },
  };
  parser.on('packet', (p) => c.onPacket?.(p, c));
  parser.on('error', () => socket.destroy());
  socket.on('data', (d) => parser.parse(d));
  socket.on('error', () => {});
  socket.on('close', () => { c.closed = true; c.onClose?.(); });
  return c;
}

/**
 * Sends `connect` and resolves with { client, code } at the CONNACK, or { client: null, code:
 * 'closed_unread' | 'closed' | 'timeout' } (closed_unread: the socket closed before any byte came back
 * and before our CONNECT could matter: the per-address budgets close sockets unread).
 */
function mqttConnect({ port, localAddress, connect, timeoutMs = 5000, onPacket = null }) {
  return new Promise((resolve) => {
    const c = rawSocket({ port, localAddress, protocolVersion: connect.protocolVersion });
    let settled = false;
    let gotBytes = false;
    const finish = (v) => { if (!settled) { settled = true; clearTimeout(timer); resolve(v); } };
    const timer = setTimeout(() => { c.end(); finish({ client: null, code: 'timeout' }); }, timeoutMs);
    c.socket.once('data', () => { gotBytes = true; });
    c.socket.once('connect', () => c.send(connect));
    c.onPacket = (p) => {
      if (p.cmd !== 'connack') return;
      const code = p.reasonCode ?? p.returnCode ?? 0;
      if (code !== 0) c.end();
      else c.onPacket = onPacket; // packets behind the CONNACK in the same chunk go to it, not here
      finish({ client: code === 0 ? c : null, code: hex(code), sessionPresent: p.sessionPresent });
    };
    c.onClose = () => finish({ client: null, code: gotBytes ? 'closed' : 'closed_unread' });
  });
}

const connectPacket = (cred, clientId, extra = {}) => ({
  cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId, keepalive: 60,
  username: cred.username, password: Buffer.from(cred.password), properties: { sessionExpiryInterval: 0 }, ...extra,
});

/** Ticks `fn(allowed)` every 50 ms with how many more operations the rate allows now. */
function pacer(rate, fn) {
  const t0 = performance.now();
  let done = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    done = Math.max(done, due - Math.ceil(rate / 2)); // a stalled vector does not catch up more than 0.5 s
    const allowed = due - done;
    if (allowed > 0) done += fn(Math.min(allowed, Math.max(1, Math.ceil(rate / 10))));
  }, 50);
  return () => clearInterval(timer);
}

// =====================================================================================================
// Victim (org B): mqtt.js, MQTT 5, in its own process
// =====================================================================================================

async function victimRole() {
  const { default: mqtt } = await import('mqtt');
  const cfg = await new Promise((r) => process.once('message', r));
  const url = `mqtt://127.0.0.1:${cfg.port}`;
  const topic = 'victim/latency';
  const sent = new Map(); // seq → performance.now() at publish
  let latencies = [];
  const totals = { sent: 0, received: 0, duplicates: 0, pubErrors: 0, pubErrorCodes: {}, skipped: 0, subCloses: 0, pubCloses: 0, late: [] };
  let windowSent = 0;
  let windowSkipped = 0;
  const opts = (clientId, cred) => ({ protocolVersion: 5, username: cred.username, password: cred.password, clientId, reconnectPeriod: 500, connectTimeout: 5000, keepalive: 30 });
  const sub = mqtt.connect(url, opts('victim-sub', cfg.sub));
  const pub = mqtt.connect(url, opts('victim-pub', cfg.pub));
  sub.on('close', () => totals.subCloses++);
  pub.on('close', () => totals.pubCloses++);
  sub.on('error', () => {});
  pub.on('error', () => {});
  await new Promise((r) => sub.once('connect', r));
  await sub.subscribeAsync(topic, { qos: 1 });
  sub.on('connect', () => sub.subscribe(topic, { qos: 1 })); // after a reconnect (clean start)
  if (!pub.connected) await new Promise((r) => pub.once('connect', r));
  sub.on('message', (_t, payload) => {
    const now = performance.now();
    const { s } = JSON.parse(payload);
    const at = sent.get(s);
    if (at === undefined) { totals.duplicates++; return; }
    sent.delete(s);
    totals.received++;
    latencies.push(now - at);
  });
  let seq = 0;
  const timer = setInterval(() => {
    if (!pub.connected) { windowSkipped++; totals.skipped++; return; }
    const s = seq++;
    sent.set(s, performance.now());
    totals.sent++;
    windowSent++;
    pub.publish(topic, JSON.stringify({ s, pad: 'victim' }), { qos: 1 }, (err) => {
      if (err) { totals.pubErrors++; bump(totals.pubErrorCodes, String(err.code ?? err.message).slice(0, 40)); }
    });
  }, 20);
  process.send({ type: 'ready' });
  process.on('message', async (m) => {
    if (m.cmd === 'report') {
      const now = performance.now();
      let oldest = 0;
      for (const at of sent.values()) oldest = Math.max(oldest, now - at);
      process.send({ type: 'report', latencies, sent: windowSent, skipped: windowSkipped, outstanding: sent.size, oldestOutstandingMs: round(oldest, 1), totals: { ...totals, late: undefined } });
      latencies = [];
      windowSent = 0;
      windowSkipped = 0;
    } else if (m.cmd === 'stop') {
      clearInterval(timer);
      const until = Date.now() + 5000;
      while (sent.size > 0 && Date.now() < until) await sleep(50);
      process.send({ type: 'stopped', latencies, lost: sent.size, totals: { ...totals, late: undefined } });
      await Promise.all([sub.endAsync(true), pub.endAsync(true)]).catch(() => {});
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

// =====================================================================================================
// Attacker (org A): raw sockets, in its own process
// =====================================================================================================

async function attackerRole() {
  const cfg = await new Promise((r) => process.once('message', r));
  const { port, apiUrl, vectors } = cfg;
  // A wrong key with the org's real public prefix: the API and the broker find a candidate and run argon2.
  cfg.wrongSecretKey = () => cfg.keyPrefixA + crypto.randomBytes(64).toString('base64url').slice(0, cfg.keyLength - cfg.keyPrefixA.length);
  const counts = Object.fromEntries(vectors.map((v) => [v, { sent: 0, codes: {} }]));
  const stoppers = [];
  const sockets = new Set(); // every socket a vector holds, destroyed at stop
  let running = true;
  const hold = (c) => { sockets.add(c); c.socket.once('close', () => sockets.delete(c)); return c; };
  const bigPayload = crypto.randomBytes(Math.max(PACE.retained.maxBytes, PACE.denied.bytes));
  let mqttSeq = 0;

  /** A long-lived attacker connection: reconnects (counted) when the broker closes it. */
  async function session(name, cred, clientId, extra = {}) {
    for (;;) {
      if (!running) return null;
      const r = await mqttConnect({ port, localAddress: ADDR.mqtt, connect: connectPacket(cred, clientId, extra) });
      if (r.client) return hold(r.client);
      bump(counts[name].codes, `connack_${r.code}`);
      await sleep(500);
    }
  }

  /** A paced QoS 1/2 publisher on one connection, at most `inflight` unacknowledged. */
  async function publisher(name, cred, { rate, inflight, qos, packet, onAck }) {
    let c = null;
    const pending = new Map();
    let nextId = 1;
    const open = async () => {
      c = await session(name, cred, `${name}-${mqttSeq++}`);
      if (!c) return;
      pending.clear();
      c.onPacket = (p) => {
        if (p.cmd === 'puback' || p.cmd === 'pubrec') {
          if (!pending.delete(p.messageId)) return;
          const code = hex(p.reasonCode ?? 0);
          bump(counts[name].codes, `${p.cmd}_${code}`);
          if (p.cmd === 'pubrec' && (p.reasonCode ?? 0) < 0x80) c.send({ cmd: 'pubrel', messageId: p.messageId, reasonCode: 0 });
          onAck?.(code);
        } else if (p.cmd === 'disconnect') {
          bump(counts[name].codes, `disconnect_${hex(p.reasonCode ?? 0)}`);
        }
      };
      c.onClose = () => { bump(counts[name].codes, 'closed_by_broker'); if (running) open(); };
    };
    await open();
    stoppers.push(pacer(rate, (allowed) => {
      if (!c || c.closed) return 0;
      let n = 0;
      while (n < allowed && pending.size < inflight && c.socket.writableLength < 4 * 1024 * 1024) {
        const messageId = nextId;
        nextId = (nextId % 65535) + 1;
        pending.set(messageId, performance.now());
        c.send({ ...packet(counts[name].sent), cmd: 'publish', qos, messageId, dup: false });
        counts[name].sent++;
        n++;
      }
      return n;
    }));
  }

  const starters = {
    async retained() {
      const { minBytes, maxBytes, rate, inflight } = PACE.retained;
      await publisher('retained', cfg.creds.full, {
        rate, inflight, qos: 1,
        packet: (n) => ({ topic: `r/${n}`, retain: true, payload: bigPayload.subarray(0, minBytes + Math.floor(Math.random() * (maxBytes - minBytes + 1))) }),
      });
    },
    async queue() {
      // The persistent session: subscribe, then leave (the session stays for 7200 s).
      const s = await session('queue', cfg.creds.sess, 'atk-persistent', { clean: false, properties: { sessionExpiryInterval: 7200 } });
      await new Promise((resolve) => {
        s.onPacket = (p) => { if (p.cmd === 'suback') { counts.queue.subscribeGranted = p.granted; resolve(); } };
        s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q/#', qos: 1, nl: false, rap: false, rh: 0 }] });
      });
      s.onClose = null;
      s.send({ cmd: 'disconnect', reasonCode: 0 });
      s.socket.end();
      const payload = bigPayload.subarray(0, PACE.queue.bytes);
      await publisher('queue', cfg.creds.full, { rate: PACE.queue.rate, inflight: PACE.queue.inflight, qos: 1, packet: (n) => ({ topic: `q/${n}`, retain: false, payload }) });
    },
    async subs() {
      const { everyMs, filters: normal, oversizeFilters, packetsPerConnection } = PACE.subs;
      let c = null;
      let packets = 0;
      let k = 0;
      const tick = async () => {
        if (!running) return;
        if (!c || c.closed || packets >= packetsPerConnection) {
          c?.end();
          c = await session('subs', cfg.creds.full, `subs-${mqttSeq++}`);
          if (!c) return;
          packets = 0;
          c.onPacket = (p) => {
            if (p.cmd === 'suback') for (const g of p.granted) bump(counts.subs.codes, `suback_${hex(g)}`);
            else if (p.cmd === 'disconnect') bump(counts.subs.codes, `disconnect_${hex(p.reasonCode ?? 0)}`);
          };
        }
        packets++;
        const filters = packets === packetsPerConnection ? oversizeFilters : normal;
        const base = k++;
        c.send({ cmd: 'subscribe', messageId: (base % 65535) + 1, subscriptions: Array.from({ length: filters }, (_, i) => ({ topic: `s/${base}/${i}`, qos: 0, nl: false, rap: false, rh: 0 })) });
        counts.subs.sent++;
        counts.subs.filtersSent = (counts.subs.filtersSent ?? 0) + filters;
      };
      const timer = setInterval(() => { tick().catch(() => {}); }, everyMs);
      stoppers.push(() => { clearInterval(timer); c?.end(); });
    },
    async denied() {
      const payload = bigPayload.subarray(0, PACE.denied.bytes);
      await publisher('denied', cfg.creds.subscribeOnly, { rate: PACE.denied.rate, inflight: PACE.denied.inflight, qos: 2, packet: (n) => ({ topic: `d/${n}`, retain: false, payload }) });
    },
    async refused() {
      const { rate, concurrency, size } = PACE.refused;
      const variants = [
        { name: 'huge_username', connect: () => connectPacket({ username: 'x'.repeat(size), password: 'not-a-token' }, `ref-${mqttSeq++}`) },
        { name: 'huge_client_id', connect: () => connectPacket(cfg.creds.full, 'c'.repeat(size)) },
        { name: 'server_wrong_key', connect: () => connectPacket({ username: `server@${cfg.orgId}`, password: cfg.wrongSecretKey() }, `ref-${mqttSeq++}`) },
      ];
      let inFlight = 0;
      let n = 0;
      stoppers.push(pacer(rate, (allowed) => {
        let started = 0;
        while (started < allowed && inFlight < concurrency) {
          const v = variants[n++ % variants.length];
          inFlight++;
          started++;
          counts.refused.sent++;
          mqttConnect({ port, localAddress: ADDR.refused, connect: v.connect() }).then((r) => {
            inFlight--;
            r.client?.end();
            bump(counts.refused.codes, `${v.name}_${r.code}`);
          });
        }
        return started;
      }));
    },
    async idle() {
      const { target, perTick, tickMs } = PACE.idle;
      const open = new Set();
      Object.assign(counts.idle, { open: 0, closedWithin1s: 0, closedLater: 0 });
      const timer = setInterval(() => {
        if (!running) return;
        for (let i = 0; i < perTick && open.size < target; i++) {
          const s = net.connect({ port, host: '127.0.0.1', localAddress: ADDR.idle });
          const at = performance.now();
          open.add(s);
          counts.idle.sent++;
          s.on('error', () => {});
          s.on('close', () => {
            open.delete(s);
            if (!running) return;
            if (performance.now() - at < 1000) counts.idle.closedWithin1s++;
            else counts.idle.closedLater++;
          });
        }
        counts.idle.open = open.size;
      }, tickMs);
      stoppers.push(() => { clearInterval(timer); for (const s of open) s.destroy(); });
    },
    async api() {
      const { rate, concurrency, addresses } = PACE.api;
      const url = new URL(apiUrl);
      const agents = Array.from({ length: addresses }, (_, i) => new http.Agent({ keepAlive: true, maxSockets: 4, localAddress: ADDR.api(i) }));
      let inFlight = 0;
      let n = 0;
      const request = (i) => new Promise((resolve) => {
        const admin = i % 2 === 0;
        const key = admin ? `adm_${crypto.randomBytes(32).toString('base64url')}` : cfg.wrongSecretKey();
        const body = admin ? null : JSON.stringify({ user_id: `x${i}` });
        const req = http.request({
          host: url.hostname, port: url.port, agent: agents[i % addresses], localAddress: ADDR.api(i % addresses),
          method: admin ? 'GET' : 'POST', path: admin ? '/v2/admin/orgs' : '/v2/tokens',
          headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) },
          timeout: 15_000,
        }, (res) => {
          res.resume();
          res.on('end', () => resolve(`${admin ? 'admin' : 'sk'}_${res.statusCode}`));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', (err) => resolve(`${admin ? 'admin' : 'sk'}_${err.message === 'timeout' ? 'timeout' : 'error'}`));
        req.end(body ?? undefined);
      });
      stoppers.push(pacer(rate, (allowed) => {
        let started = 0;
        while (started < allowed && inFlight < concurrency) {
          inFlight++;
          started++;
          counts.api.sent++;
          request(n++).then((outcome) => { inFlight--; bump(counts.api.codes, outcome); });
        }
        return started;
      }));
      stoppers.push(() => { for (const a of agents) a.destroy(); });
    },
    async history() {
      const { rate, inflight, bytes, topics } = PACE.history;
      const payload = bigPayload.subarray(0, bytes);
      await publisher('history', cfg.creds.full, { rate, inflight, qos: 1, packet: (n) => ({ topic: `h/${n % topics}`, retain: false, payload }) });
    },
  };

  process.on('message', async (m) => {
    if (m.cmd === 'report') process.send({ type: 'report', counts });
    else if (m.cmd === 'stop') {
      running = false;
      for (const stop of stoppers) stop();
      for (const c of sockets) { c.onClose = null; c.end(); }
      // The persistent session comes back: what did the broker keep for it? Resumed with its expiry
      // (7200 s): with an expiry of 0 on the resuming CONNECT, aedes 2.0.0-beta.1 (bare, too) resumes
      // the session (session present) but delivers none of the queued messages.
      if (vectors.includes('queue')) {
        await sleep(500);
        const drain = { connack: null, sessionPresent: null, messages: 0, bytes: 0, firstMs: null, lastMs: null };
        let last = performance.now();
        const c0 = performance.now();
        const onPacket = (p, from) => {
          if (p.cmd !== 'publish') return;
          drain.messages++;
          drain.bytes += p.payload.length;
          last = performance.now();
          drain.firstMs ??= round(last - c0, 1);
          drain.lastMs = round(last - c0, 1);
          if (p.qos > 0) from.send({ cmd: 'puback', messageId: p.messageId, reasonCode: 0 });
        };
        const r = await mqttConnect({ port, localAddress: ADDR.mqtt, onPacket, connect: connectPacket(cfg.creds.sess, 'atk-persistent', { clean: false, properties: { sessionExpiryInterval: 7200 } }) });
        drain.connack = r.code;
        drain.sessionPresent = r.sessionPresent ?? null;
        if (r.client) {
          const t0 = performance.now();
          while (performance.now() - last < 2000 && performance.now() - t0 < 15_000) await sleep(100);
          // The session ends with this connection (expiry 0 on DISCONNECT).
          r.client.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
          await sleep(100);
          r.client.end();
        }
        counts.queue.drain = drain;
      }
      process.send({ type: 'stopped', counts });
      setTimeout(() => process.exit(0), 100);
    }
  });
  process.on('disconnect', () => process.exit(0));
  for (const v of vectors) await starters[v]();
  process.send({ type: 'ready' });
}

// =====================================================================================================
// Orchestrator
// =====================================================================================================

/** Two organisations on a fresh data dir (the shared services, as prepareSignalGate does) and their credentials. */
async function prepare(label) {
  const dataDir = tempDir(label);
  const services = await openBuildServices({ SIGNALGATE_DATA_DIR: dataDir });
  const a = await services.orgs.create('attacker');
  const b = await services.orgs.create('victim');
  const mint = async (orgId, userId, extra = {}) => {
    const t = await services.tokens.mint({ orgId, userId, ttlSeconds: 3600, ...extra });
    return { username: t.username, password: t.password };
  };
  const creds = {
    victim: { sub: await mint(b.org.id, 'victim-sub'), pub: await mint(b.org.id, 'victim-pub') },
    attacker: {
      full: await mint(a.org.id, 'attacker'),
      sess: await mint(a.org.id, 'attacker-session'),
      subscribeOnly: await mint(a.org.id, 'attacker-readonly', { acl: { subscribe: ['#'] } }),
    },
  };
  await services.store.close();
  return { dataDir, orgA: a.org.id, orgB: b.org.id, keyPrefixA: a.secretKey.slice(0, 11), keyLength: a.secretKey.length, creds };
}

/** `signalgate start --json` (API + broker), both output streams counted. */
async function startServer(dataDir, adminKey) {
  const child = track(spawn(process.execPath, [path.join(root, 'cli', 'dist', 'main.js'), 'start', '--json'], {
    env: {
      ...process.env, SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'info', SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false',
      SIGNALGATE_ADMIN_KEY: adminKey, SIGNALGATE_API_PORT: '0', SIGNALGATE_MQTT_PORT: '0', SIGNALGATE_WS_PORT: 'off',
      SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off', SIGNALGATE_MAX_CONNECTIONS_PER_IP: String(MAX_CONNECTIONS_PER_IP),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  const log = { bytes: 0, lines: 0, byMsg: {} };
  let exit = null;
  child.once('exit', (code, signal) => { exit = { code, signal, at: new Date().toISOString() }; });
  const count = (stream) => {
    stream.on('data', (d) => { log.bytes += d.length; });
    readline.createInterface({ input: stream }).on('line', (line) => {
      log.lines++;
      try { bump(log.byMsg, String(JSON.parse(line).msg ?? '(no msg)').slice(0, 60)); } catch { bump(log.byMsg, '(not json)'); }
    });
  };
  count(child.stderr);
  const summary = await new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      log.bytes += Buffer.byteLength(line) + 1;
      try { const v = JSON.parse(line); if (v.mqtt_url) resolve(v); } catch { /* banner */ }
    });
    child.once('exit', (code) => reject(new Error(`signalgate exited with ${code} before it was ready`)));
    setTimeout(() => reject(new Error('signalgate did not start within 30 s')), 30_000);
  });
  return {
    child, pid: child.pid, port: Number(new URL(summary.mqtt_url).port), apiUrl: summary.api_url, log, exit: () => exit,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

const forked = new Set();
process.on('exit', () => { for (const c of forked) c.kill('SIGKILL'); });

function forkRole(role) {
  const child = fork(SELF, ['--role', role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  forked.add(child);
  child.once('exit', () => forked.delete(child));
  const waiters = [];
  child.on('message', (m) => { const i = waiters.findIndex((w) => w.type === m.type); if (i >= 0) waiters.splice(i, 1)[0].resolve(m); });
  return {
    child,
    ask(cmd, type, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${role}: no '${type}' within ${ms} ms`)), ms);
        waiters.push({ type, resolve: (m) => { clearTimeout(timer); resolve(m); } });
        if (cmd) child.send(cmd);
      });
    },
    async end() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function startVictim(server, prep) {
  const v = forkRole('victim');
  const ready = v.ask(null, 'ready');
  v.child.send({ port: server.port, ...prep.creds.victim });
  await ready;
  return v;
}

async function startAttacker(server, prep, vectors) {
  const a = forkRole('attacker');
  const ready = a.ask(null, 'ready', 60_000);
  const { keyPrefixA, keyLength } = prep;
  a.child.send({ port: server.port, apiUrl: server.apiUrl, vectors, orgId: prep.orgA, creds: prep.creds.attacker, keyPrefixA, keyLength });
  await ready;
  return a;
}

/** Selected lines of /metrics (loopback reads it without the admin key). */
async function scrapeMetrics(apiUrl) {
  try {
    const text = await (await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const out = {};
    for (const line of text.split('\n')) {
      if (line.startsWith('#')) continue;
      if (!/^(signalgate_broker_(auth_failures|deliveries_dropped|history_dropped|publishes_denied|subscriptions_denied|rate_limited|connections|client_errors|disconnects)|nodejs_eventloop_lag_(p50|p99|max)_seconds|nodejs_heap_size_used_bytes|signalgate_http_requests_total)/.test(line)) continue;
      const i = line.lastIndexOf(' ');
      const name = line.slice(0, i);
      if (name.startsWith('signalgate_http_requests_total') && !/status="(401|429|503)"/.test(name)) continue;
      out[name] = Number(line.slice(i + 1));
    }
    return out;
  } catch (err) {
    return { error: String(err.message ?? err) };
  }
}

/** Counter deltas between two report snapshots (codes and sent), keeping gauges as they are. */
function deltaCounts(now, before) {
  const out = {};
  for (const [v, c] of Object.entries(now)) {
    const b = before?.[v] ?? { sent: 0, codes: {} };
    const codes = {};
    for (const [k, n] of Object.entries(c.codes)) if (n - (b.codes[k] ?? 0)) codes[k] = n - (b.codes[k] ?? 0);
    out[v] = { sent: c.sent - b.sent, codes };
    for (const k of ['open', 'closedWithin1s', 'closedLater', 'filtersSent']) if (c[k] !== undefined) out[v][k] = k === 'open' ? c[k] : c[k] - (b[k] ?? 0);
  }
  return out;
}

/** RSS every second; `take()` hands over the samples since the last call. */
function rssSampler(pid, t0) {
  const all = [];
  let since = 0;
  const read = () => {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      all.push({ t: round((performance.now() - t0) / 1000, 1), mb: round(kb / 1024, 1) });
    } catch { /* the process is gone */ }
  };
  read();
  const timer = setInterval(read, 1000);
  return {
    all,
    take() { const s = all.slice(since); since = all.length; return s; },
    stop() { clearInterval(timer); },
  };
}

function safeCpuMs(pid) { try { return cpuMs(pid); } catch { return NaN; } }

/**
 * Runs windows of `windowSeconds` while `attacker` (or nothing) attacks; one row per window: victim
 * latency, RSS, server CPU, log bytes, /metrics, attacker counts.
 */
async function runWindows({ label, server, victim, attacker, seconds, windowSeconds, rss, t0, rows, printRow }) {
  const end = performance.now() + seconds * 1000;
  let lastCounts = attacker?.lastCounts ?? null;
  while (performance.now() < end - 100) {
    const wStart = performance.now();
    const cpu0 = safeCpuMs(server.pid);
    const vCpu0 = safeCpuMs(victim.child.pid);
    const aCpu0 = attacker ? safeCpuMs(attacker.child.pid) : NaN;
    const log0 = server.log.bytes;
    await sleep(Math.min(windowSeconds * 1000, end - wStart));
    const elapsed = performance.now() - wStart;
    const cpu1 = safeCpuMs(server.pid);
    const vCpu1 = safeCpuMs(victim.child.pid);
    const aCpu1 = attacker ? safeCpuMs(attacker.child.pid) : NaN;
    const [v, a, metrics] = await Promise.all([
      victim.ask({ cmd: 'report' }, 'report'),
      attacker ? attacker.ask({ cmd: 'report' }, 'report') : null,
      scrapeMetrics(server.apiUrl),
    ]);
    const samples = rss.take();
    const lat = latencySummary(v.latencies);
    const row = {
      phase: label, t: round((performance.now() - t0) / 1000, 1), seconds: round(elapsed / 1000, 1),
      victim: { ...lat, sent: v.sent, skipped: v.skipped, outstanding: v.outstanding, oldestOutstandingMs: v.oldestOutstandingMs, over100ms: v.latencies.filter((x) => x > 100).length, totals: v.totals },
      rssMb: { end: samples.at(-1)?.mb ?? NaN, max: Math.max(...samples.map((s) => s.mb)) },
      serverCpuPercent: round(((cpu1 - cpu0) / elapsed) * 100, 0),
      benchCpuPercent: { victim: round(((vCpu1 - vCpu0) / elapsed) * 100, 0), attacker: attacker ? round(((aCpu1 - aCpu0) / elapsed) * 100, 0) : 0 },
      logBytes: server.log.bytes - log0,
      load1: loadAverage().one,
      metrics,
      attacker: a ? deltaCounts(a.counts, lastCounts) : null,
      serverExit: server.exit(),
    };
    if (a) { lastCounts = a.counts; attacker.lastCounts = a.counts; }
    row.allLatencies = v.latencies;
    rows.push(row);
    printRow(row);
  }
}

// ---- printing ----------------------------------------------------------------------------------------

const pad = (s, n) => String(s).padStart(n);
const VICTIM_HEADER = `${pad('phase', 10)} ${pad('t s', 6)} ${pad('n', 5)} ${pad('p50', 6)} ${pad('p99', 7)} ${pad('max', 7)} ${pad('>100ms', 6)} ${pad('RSS MB', 7)} ${pad('max', 6)} ${pad('CPU%', 5)} ${pad('log KB', 7)} ${pad('loop p99', 8)} ${pad('load1', 5)} ${pad('atkCPU%', 7)}`;
function printVictimRow(r) {
  const lag = r.metrics?.nodejs_eventloop_lag_p99_seconds;
  console.log(`${pad(r.phase, 10)} ${pad(r.t, 6)} ${pad(r.victim.n, 5)} ${pad(r.victim.p50, 6)} ${pad(r.victim.p99, 7)} ${pad(r.victim.max, 7)} ${pad(r.victim.over100ms, 6)} ${pad(r.rssMb.end, 7)} ${pad(r.rssMb.max, 6)} ${pad(r.serverCpuPercent, 5)} ${pad((r.logBytes / 1024).toFixed(1), 7)} ${pad(lag === undefined ? '-' : (lag * 1000).toFixed(1), 8)} ${pad(r.load1, 5)} ${pad(r.benchCpuPercent.attacker, 7)}`);
}
const short = (codes) => Object.entries(codes).map(([k, n]) => `${k.replace(/^(puback|pubrec|suback)_/, '')}:${n}`).join(' ');
function printAttackerRow(r) {
  if (!r.attacker) return;
  for (const [v, c] of Object.entries(r.attacker)) {
    const extra = v === 'idle' ? ` open:${c.open} closed<1s:${c.closedWithin1s} closed≥1s:${c.closedLater}` : v === 'subs' ? ` filters:${c.filtersSent ?? 0}` : '';
    console.log(`${pad('', 10)} ${pad(v, 9)} sent ${pad(c.sent, 5)}${extra}  ${short(c.codes)}`);
  }
}

// ---- main --------------------------------------------------------------------------------------------

async function main() {
  if (args.help) {
    console.log('usage: node bench/soak-hostile.mjs [--seconds 90] [--baseline-seconds 10] [--recovery-seconds 10] [--window-seconds 10] [--solo-seconds 8] [--vectors ' + VECTORS.join(',') + ']');
    return;
  }
  const seconds = Number(args.seconds);
  const baseline = Number(args['baseline-seconds']);
  const recovery = Number(args['recovery-seconds']);
  const windowSeconds = Number(args['window-seconds']);
  const soloSeconds = Number(args['solo-seconds']);
  const vectors = args.vectors.split(',').map((s) => s.trim()).filter(Boolean);
  for (const v of vectors) if (!VECTORS.includes(v)) throw new Error(`--vectors: unknown vector '${v}' (known: ${VECTORS.join(', ')})`);
  for (const [n, v] of [['seconds', seconds], ['window-seconds', windowSeconds]]) if (!(v > 0)) throw new Error(`--${n} must be positive`);
  if (!fs.existsSync(path.join(root, 'cli', 'dist', 'main.js'))) throw new Error('cli/dist/main.js is missing: run `npx tsc -b` first');
  // 127.0.0.2+ must reach the loopback listener (Linux routes all of 127/8 to lo).
  await new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const c = net.connect({ port: s.address().port, host: '127.0.0.1', localAddress: ADDR.mqtt }, () => { c.destroy(); s.close(); resolve(); });
      c.on('error', (err) => { s.close(); reject(new Error(`cannot bind ${ADDR.mqtt} as a source address: ${err.message}`)); });
    });
  });

  const started = new Date().toISOString();
  const loadBefore = loadAverage();
  console.log(`hostile-tenant soak: ${baseline} s baseline, ${seconds} s attack (${vectors.join(', ')}), ${recovery} s recovery, windows of ${windowSeconds} s${soloSeconds > 0 ? `; then each vector alone for ${soloSeconds} s on a fresh server` : ''}`);
  console.log(`load average before: ${loadBefore.one} / ${loadBefore.five} / ${loadBefore.fifteen}; ${os.cpus().length} CPUs, node ${process.version}`);

  // ---- the main run: everything at once -------------------------------------------------------------
  const adminKey = `adm_${crypto.randomBytes(32).toString('base64url')}`;
  const prep = await prepare('soak-hostile');
  const server = await startServer(prep.dataDir, adminKey);
  console.log(`signalgate pid ${server.pid}: MQTT ${server.port}, API ${server.apiUrl}; attacker ${prep.orgA}, victim ${prep.orgB}\n`);
  const t0 = performance.now();
  const rss = rssSampler(server.pid, t0);
  const rows = [];
  const victim = await startVictim(server, prep);
  console.log(VICTIM_HEADER);
  const printRow = (r) => { printVictimRow(r); printAttackerRow(r); };
  await runWindows({ label: 'baseline', server, victim, attacker: null, seconds: baseline, windowSeconds, rss, t0, rows, printRow });
  const attacker = await startAttacker(server, prep, vectors);
  const attackStarted = round((performance.now() - t0) / 1000, 1);
  await runWindows({ label: 'attack', server, victim, attacker, seconds, windowSeconds, rss, t0, rows, printRow });
  const stopped = await attacker.ask({ cmd: 'stop' }, 'stopped', 60_000);
  await attacker.end();
  const attackEnded = round((performance.now() - t0) / 1000, 1);
  const finalDelta = deltaCounts(stopped.counts, attacker.lastCounts);
  console.log(`${pad('', 10)} attack stopped at ${attackEnded} s; counts since the last window: ${Object.entries(finalDelta).map(([v, c]) => `${v} ${c.sent}`).join(', ')}`);
  if (stopped.counts.queue?.drain) console.log(`${pad('', 10)} persistent session resumed: CONNACK ${stopped.counts.queue.drain.connack}, session present ${stopped.counts.queue.drain.sessionPresent}, ${stopped.counts.queue.drain.messages} queued messages (${stopped.counts.queue.drain.bytes} bytes) delivered`);
  if (recovery > 0) await runWindows({ label: 'recovery', server, victim, attacker: null, seconds: recovery, windowSeconds, rss, t0, rows, printRow });
  const vStop = await victim.ask({ cmd: 'stop' }, 'stopped', 30_000);
  await victim.end();
  rss.stop();
  const metricsEnd = await scrapeMetrics(server.apiUrl);
  const serverExitDuringRun = server.exit();
  await server.stop();
  const mainLog = { ...server.log, byMsg: Object.fromEntries(Object.entries(server.log.byMsg).sort((x, y) => y[1] - x[1])) };

  const phaseLatencies = (phase) => latencySummary(rows.filter((r) => r.phase === phase).flatMap((r) => r.allLatencies));
  const rssOf = (from, to) => rss.all.filter((s) => s.t >= from && s.t <= to).map((s) => s.mb);
  const overall = {
    victim: { baseline: phaseLatencies('baseline'), attack: phaseLatencies('attack'), recovery: phaseLatencies('recovery'), lost: vStop.lost, totals: vStop.totals },
    rssMb: {
      beforeAttack: rss.all.filter((s) => s.t <= attackStarted).at(-1)?.mb,
      attackMax: Math.max(...rssOf(attackStarted, attackEnded)), attackEnd: rssOf(attackStarted, attackEnded).at(-1),
      end: rss.all.at(-1)?.mb, max: Math.max(...rss.all.map((s) => s.mb)),
    },
    attackerTotals: stopped.counts,
    log: mainLog,
    metricsEnd,
    serverExitDuringRun,
  };
  console.log(`\nvictim latency ms  baseline: ${fmtLat(overall.victim.baseline)}   attack: ${fmtLat(overall.victim.attack)}   recovery: ${fmtLat(overall.victim.recovery)}   lost: ${vStop.lost}`);
  console.log(`RSS MB  before attack ${overall.rssMb.beforeAttack}, attack max ${overall.rssMb.attackMax}, attack end ${overall.rssMb.attackEnd}, end ${overall.rssMb.end}`);
  console.log(`log: ${mainLog.bytes} bytes, ${mainLog.lines} lines; most frequent: ${Object.entries(mainLog.byMsg).slice(0, 6).map(([m, n]) => `${m} ×${n}`).join('; ')}`);
  console.log(`server exit during the run: ${serverExitDuringRun ? JSON.stringify(serverExitDuringRun) : 'none'}`);

  // ---- each vector alone, on a fresh server ------------------------------------------------------------
  const solo = [];
  if (soloSeconds > 0) {
    console.log(`\neach vector alone for ${soloSeconds} s (fresh server, victim running; 3 s pause between vectors)`);
    const prep2 = await prepare('soak-hostile-solo');
    const server2 = await startServer(prep2.dataDir, adminKey);
    const t1 = performance.now();
    const rss2 = rssSampler(server2.pid, t1);
    const victim2 = await startVictim(server2, prep2);
    const soloRows = [];
    console.log(VICTIM_HEADER.replace(pad('phase', 10), pad('vector', 10)));
    await runWindows({ label: 'quiet', server: server2, victim: victim2, attacker: null, seconds: soloSeconds, windowSeconds: soloSeconds, rss: rss2, t0: t1, rows: soloRows, printRow });
    for (const v of vectors) {
      const att = await startAttacker(server2, prep2, [v]);
      await runWindows({ label: v, server: server2, victim: victim2, attacker: att, seconds: soloSeconds, windowSeconds: soloSeconds, rss: rss2, t0: t1, rows: soloRows, printRow });
      const st = await att.ask({ cmd: 'stop' }, 'stopped', 60_000);
      await att.end();
      if (st.counts.queue?.drain) soloRows.at(-1).queueDrain = st.counts.queue.drain;
      await sleep(3000);
      rss2.take();
    }
    await victim2.ask({ cmd: 'stop' }, 'stopped', 30_000);
    await victim2.end();
    rss2.stop();
    const exit2 = server2.exit();
    await server2.stop();
    for (const r of soloRows) { delete r.allLatencies; solo.push(r); }
    if (exit2) console.log(`solo server exited during the run: ${JSON.stringify(exit2)}`);
  }

  for (const r of rows) delete r.allLatencies;
  const loadAfter = loadAverage();
  console.log(`\nload average after: ${loadAfter.one} / ${loadAfter.five} / ${loadAfter.fifteen}`);
  saveResult('soak-hostile', {
    command: `node bench/soak-hostile.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    started, loadBefore, loadAfter, build: buildIdentity(),
    config: { seconds, baseline, recovery, windowSeconds, soloSeconds, vectors, pace: PACE, addresses: { ...ADDR, api: `127.0.1.1-${PACE.api.addresses}` }, maxConnectionsPerIp: MAX_CONNECTIONS_PER_IP, logLevel: 'info' },
    attackStarted, attackEnded,
    windows: rows, overall, rssSamples: rss.all, solo,
  });
  console.log('saved bench/results/soak-hostile.json');
  // Every child has exited and every socket is closed by now; leave even if a library kept a timer.
  process.exit(serverExitDuringRun ? 1 : 0);
}

/** Which build ran: BENCH_ROOT (or this checkout), its commit and whether its tree had edits (a git-archive snapshot has no .git). */
function buildIdentity() {
  const git = (...a) => spawnSync('git', ['-C', root, ...a], { encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  return { root, commit: head.status === 0 ? head.stdout.trim() : null, uncommittedFiles: head.status === 0 ? git('status', '--porcelain', '--untracked-files=no').stdout.split('\n').filter(Boolean).length : null };
}

function fmtLat(l) { return `n ${l.n} p50 ${l.p50} p99 ${l.p99} max ${l.max}`; }

if (args.role === 'victim') await victimRole();
else if (args.role === 'attacker') await attackerRole();
else await main();
