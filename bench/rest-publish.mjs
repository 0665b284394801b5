#!/usr/bin/env node
// The REST publisher of issue 13 (POST /v1/publish, POST /v1/publish/bulk), in the two ways it is
// deployed, measured in one run:
//   one — `signalgate start` (API and broker in one process, as `npm start`): the API hands the
//         messages to the broker of its process (PublishChannelHolder, cli/src/commands/start.ts)
//   two — `signalgate start --api-only` beside `signalgate start --broker-only` on one data dir: the
//         API posts them to the broker's loopback publish endpoint (<data dir>/publish-endpoint.json;
//         broker/src/publishEndpoint.ts, token-api/src/http/remotePublisher.ts)
// Each setup has its own fresh data dir and organisation (default rules: publish/subscribe bench/#).
// The limiters are raised so that the path is measured, not them: SIGNALGATE_PUBLISH_RATE_PER_KEY
// and SIGNALGATE_PUBLISH_BURST_PER_KEY = 1,000,000 (their maximum), and the organisation's
// max_messages_per_second / token_messages_per_second 10,000,000, max_bytes_per_second 1e9 (set, so
// the broker's buckets are charged as in a configured org, but never bind). Any 429 is counted.
//
// 1. Throughput: wrk (C, one thread, as bench/mint.mjs) over `--connections` keep-alive connections,
//    `--seconds` per window, `--rounds` rounds of [one single, two single, one bulk, two bulk] after a
//    `--warmup-seconds` warm-up of each (3 s: in trials the first 4 s of load on a fresh `--api-only`
//    ran at 150–266 single requests/s, the windows after it at 390–1,081), 1.5 s pause after each
//    window. single = POST /v1/publish with one message, bulk =
//    POST /v1/publish/bulk with 100; QoS 1 (the REST default), a 46-byte JSON payload, one
//    topic. One subscriber per setup (raw MQTT 3.1.1, QoS 0, bytes counted) receives every message:
//    deliveries are checked against what the API accepted. Figures: requests/s, messages/s, wrk's
//    p50/p99 per request, and each server process' CPU time per message (from /proc, window + pause).
// 2. Latency: one message at a time (send, wait for the delivery and the answer, repeat) to a real
//    mqtt.js subscriber (MQTT 5 over TCP, QoS 1 subscription), for REST (node:http, keep-alive,
//    POST /v1/publish) and, for comparison, the same message (topic, payload bytes, QoS 1) published
//    over MQTT by a `server@<org_id>` session (mqtt.js, MQTT 5, the org's secret key), into each
//    setup's broker. The four variants take turns in blocks of 100 until each has `--samples` after
//    `--warmup` each. Figures: send → subscriber's 'message' event p50/p99/max; for REST also send →
//    HTTP answer, for MQTT send → PUBACK.
//   node bench/rest-publish.mjs [--seconds 4] [--rounds 3] [--connections 8] [--warmup-seconds 3] [--samples 2000] [--warmup 200]
import { execSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { arg, cliPath, cpuMs, latencySummary, loadAverage, median, root, round, saveResult, sleep, tempDir, within } from './lib/env.mjs';
import { connectPacket, openClient, subscribe } from './lib/mqttLoad.mjs';
import { ensureDebianPackage, firstJsonLine, prepareSignalGate, track } from './lib/servers.mjs';

const WRK = '/usr/bin/wrk';
const SETTLE_MS = 1500;
const BULK = 100;
const THROUGHPUT_TOPIC = 'bench/rest/throughput';
const LATENCY_TOPIC = 'bench/rest/latency';
const PAYLOAD = { kind: 'bench', text: 'hello from the bench' }; // JSON text: 46 bytes
const LIMITS_ENV = { SIGNALGATE_PUBLISH_RATE_PER_KEY: '1000000', SIGNALGATE_PUBLISH_BURST_PER_KEY: '1000000' };
const ORG_LIMITS = { maxMessagesPerSecond: 10_000_000, tokenMessagesPerSecond: 10_000_000, maxBytesPerSecond: 1_000_000_000 };

/** `signalgate start [mode] --json` as a child process on `dataDir`; resolves with its summary line. */
async function startServer(label, dataDir, mode) {
  const child = track(spawn(process.execPath, [cliPath, 'start', ...(mode ? [mode] : []), '--json'], {
    env: {
      ...process.env, SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'warn', SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false',
      SIGNALGATE_MQTT_PORT: mode === '--api-only' ? 'off' : '0', SIGNALGATE_WS_PORT: 'off', SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off',
      SIGNALGATE_API_PORT: mode === '--broker-only' ? 'off' : '0', ...LIMITS_ENV,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  }));
  const summary = await firstJsonLine(child, label);
  const stop = () => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
    child.kill('SIGTERM');
  });
  return {
    label, pid: child.pid, stop,
    apiUrl: summary.api_url ?? null,
    mqttPort: summary.mqtt_url ? Number(new URL(summary.mqtt_url).port) : null,
  };
}

/** A data dir with the bench org (limits raised), two tokens, and the setup's server processes. */
async function setUp(name) {
  const sg = await prepareSignalGate({ tokens: 2, label: `rest-${name}` });
  const org = await sg.services.orgs.update(sg.orgId, { limits: ORG_LIMITS });
  await sg.services.store.close();
  let api;
  let broker;
  if (name === 'one') {
    api = broker = await startServer('signalgate start', sg.dataDir, null);
  } else {
    broker = await startServer('signalgate start --broker-only', sg.dataDir, '--broker-only');
    api = await startServer('signalgate start --api-only', sg.dataDir, '--api-only');
  }
  const pids = name === 'one' ? { process: api.pid } : { api: api.pid, broker: broker.pid };
  return {
    name, ...sg, orgLimits: org.limits, api, broker, pids,
    async stop() {
      // API first: the broker removes publish-endpoint.json when it stops.
      const exits = { api: await api.stop() };
      if (broker !== api) exits.broker = await broker.stop();
      return exits;
    },
  };
}

/**
 * The throughput subscriber: raw MQTT 3.1.1, QoS 0 on THROUGHPUT_TOPIC. After the check it only
 * counts bytes (no parsing in the load window); every delivery is the same QoS 0 PUBLISH of a fixed
 * size, which the check verifies.
 */
async function countingSubscriber(setup, cred) {
  const client = await openClient({
    port: setup.broker.mqttPort,
    connect: connectPacket({ clientId: `rest-count-${setup.name}`, username: cred.username, password: cred.password, protocolVersion: 4 }),
  });
  await subscribe(client, THROUGHPUT_TOPIC, 0);
  const packetSize = mqttPacket.generate({ cmd: 'publish', topic: THROUGHPUT_TOPIC, payload: Buffer.from(JSON.stringify(PAYLOAD)), qos: 0, retain: false, dup: false }).length;
  let bytes = 0;
  let parsed = 0;
  client.onPacket = (p) => { if (p.cmd === 'publish') parsed++; };
  client.socket.on('data', (chunk) => { bytes += chunk.length; });
  return {
    client, packetSize,
    delivered: () => bytes / packetSize,
    parsed: () => parsed,
    /** From here on only bytes are counted. */
    stopParsing() { client.socket.removeAllListeners('data'); client.socket.on('data', (chunk) => { bytes += chunk.length; }); },
  };
}

async function postJson(url, key, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json().catch(() => null), rateLimit: res.headers.get('x-ratelimit-limit') };
}

/** One single and one bulk request: 200, every message delivered once to the counting subscriber, the raised per-key limit announced. */
async function check(setup, counter) {
  const single = await postJson(`${setup.api.apiUrl}/v1/publish`, setup.secretKey, { topic: THROUGHPUT_TOPIC, payload: PAYLOAD });
  const bulk = await postJson(`${setup.api.apiUrl}/v1/publish/bulk`, setup.secretKey, Array.from({ length: BULK }, () => ({ topic: THROUGHPUT_TOPIC, payload: PAYLOAD })));
  if (single.status !== 200 || single.body?.subscribers !== 1) throw new Error(`${setup.name}: /v1/publish answered ${single.status} ${JSON.stringify(single.body)}`);
  if (bulk.status !== 200 || bulk.body?.delivered !== BULK) throw new Error(`${setup.name}: /v1/publish/bulk answered ${bulk.status} ${JSON.stringify(bulk.body)?.slice(0, 300)}`);
  const until = Date.now() + 5000;
  while (counter.parsed() < 1 + BULK && Date.now() < until) await sleep(20);
  if (counter.parsed() !== 1 + BULK || counter.delivered() !== 1 + BULK) {
    throw new Error(`${setup.name}: check delivered ${counter.parsed()} packets, ${counter.delivered()} by size (expected ${1 + BULK})`);
  }
  return { xRateLimitLimit: Number(single.rateLimit) };
}

function wrkScript(key, body) {
  return `
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer ${key}"
wrk.body = [==[${body}]==]
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format('{"requests":%d,"durationUs":%d,"non2xx":%d,"errors":%d,"p50Us":%d,"p99Us":%d}\\n',
    s.requests, s.duration, e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
`;
}

async function wrk(url, scriptFile, { seconds, connections }) {
  const out = await new Promise((resolve, reject) => {
    const child = track(spawn(WRK, ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', scriptFile, url], { stdio: ['ignore', 'pipe', 'inherit'] }));
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`))));
  });
  return JSON.parse(out.trim().split('\n').at(-1));
}

/** One window of one variant: wrk, then the pause; rates from wrk, deliveries and CPU over window + pause. */
async function window(v, seconds, connections) {
  const cpu0 = Object.fromEntries(Object.entries(v.setup.pids).map(([k, pid]) => [k, cpuMs(pid)]));
  const delivered0 = v.counter.delivered();
  const r = await wrk(v.url, v.script, { seconds, connections });
  await sleep(SETTLE_MS);
  const ok = r.requests - r.non2xx;
  const messages = ok * v.batch;
  const delivered = v.counter.delivered() - delivered0;
  const cpu = Object.fromEntries(Object.entries(v.setup.pids).map(([k, pid]) => [k, round(((cpuMs(pid) - cpu0[k]) * 1000) / Math.max(1, messages), 1)]));
  return {
    requestsPerSecond: ok / (r.durationUs / 1e6), messagesPerSecond: messages / (r.durationUs / 1e6),
    requests: r.requests, non2xx: r.non2xx, errors: r.errors, p50Ms: r.p50Us / 1000, p99Ms: r.p99Us / 1000,
    // wrk abandons the requests in flight when the window ends; those may still be delivered.
    accepted: messages, delivered, lost: Math.max(0, messages - delivered), cpuUsPerMessage: cpu,
  };
}

async function throughput(setups, counters, { seconds, rounds, connections, warmupSeconds }) {
  const dir = tempDir('wrk-rest');
  const scriptOf = (setup, name, body) => {
    const file = path.join(dir, `${setup.name}-${name}.lua`);
    fs.writeFileSync(file, wrkScript(setup.secretKey, JSON.stringify(body)));
    return file;
  };
  const message = { topic: THROUGHPUT_TOPIC, payload: PAYLOAD };
  const variants = [];
  for (const kind of ['single', 'bulk']) {
    for (const setup of setups) {
      variants.push({
        id: `${setup.name}/${kind}`, setup, kind, counter: counters[setup.name], batch: kind === 'bulk' ? BULK : 1,
        url: `${setup.api.apiUrl}${kind === 'bulk' ? '/v1/publish/bulk' : '/v1/publish'}`,
        script: scriptOf(setup, kind, kind === 'bulk' ? Array.from({ length: BULK }, () => message) : message),
      });
    }
  }
  for (const v of variants) await window(v, warmupSeconds, connections); // warm-up
  const runs = Object.fromEntries(variants.map((v) => [v.id, []]));
  const load = [loadAverage()];
  for (let i = 0; i < rounds; i++) {
    for (const v of variants) {
      const r = await window(v, seconds, connections);
      runs[v.id].push(r);
      console.error(`  round ${i + 1} ${v.id.padEnd(12)} ${Math.round(r.requestsPerSecond)} req/s, ${Math.round(r.messagesPerSecond)} msg/s, non-2xx ${r.non2xx}, lost ${r.lost}`);
    }
    load.push(loadAverage());
  }
  const summary = (list) => ({
    requestsPerSecond: Math.round(median(list.map((x) => x.requestsPerSecond))),
    messagesPerSecond: Math.round(median(list.map((x) => x.messagesPerSecond))),
    p50Ms: round(median(list.map((x) => x.p50Ms))), p99Ms: round(median(list.map((x) => x.p99Ms))),
    cpuUsPerMessage: Object.fromEntries(Object.keys(list[0].cpuUsPerMessage).map((k) => [k, round(median(list.map((x) => x.cpuUsPerMessage[k])), 1)])),
    non2xx: list.reduce((a, x) => a + x.non2xx, 0), errors: list.reduce((a, x) => a + x.errors, 0),
    accepted: list.reduce((a, x) => a + x.accepted, 0), delivered: list.reduce((a, x) => a + x.delivered, 0), lost: list.reduce((a, x) => a + x.lost, 0),
    rounds: list.map((x) => ({ requestsPerSecond: Math.round(x.requestsPerSecond), messagesPerSecond: Math.round(x.messagesPerSecond), cpuUsPerMessage: x.cpuUsPerMessage })),
  });
  return { figures: Object.fromEntries(variants.map((v) => [v.id, summary(runs[v.id])])), load };
}

function mqttConnect(port, opts) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clean: true, reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
    const refuse = (err) => { c.end(true); reject(err); };
    c.once('error', refuse);
    c.once('connect', () => {
      c.off('error', refuse);
      c.on('error', (err) => console.error(`mqtt.js ${opts.clientId}: ${err.message}`));
      resolve(c);
    });
  });
}

/**
 * The latency variants of one setup: each `send(seq)` resolves when its message reached the mqtt.js
 * subscriber and its own acknowledgement (HTTP answer or PUBACK) arrived, with both times in ms.
 */
async function latencyVariants(setup, cred) {
  const subscriber = await mqttConnect(setup.broker.mqttPort, { clientId: `rest-lat-sub-${setup.name}`, username: cred.username, password: cred.password });
  await subscriber.subscribeAsync(LATENCY_TOPIC, { qos: 1 });
  const publisher = await mqttConnect(setup.broker.mqttPort, { clientId: `rest-lat-server-${setup.name}`, username: `server@${setup.orgId}`, password: setup.secretKey });
  let waiting = null; // { seq, resolve }
  subscriber.on('message', (topic, payload) => {
    const at = performance.now();
    const seq = JSON.parse(payload.toString()).seq;
    if (!waiting || waiting.seq !== seq) throw new Error(`${setup.name}: unexpected message ${payload} (waiting for ${waiting?.seq})`);
    waiting.resolve(at);
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(`${setup.api.apiUrl}/v1/publish`);
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${setup.secretKey}` };
  const delivery = (seq) => new Promise((resolve) => { waiting = { seq, resolve }; });
  const restPost = (body) => new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now()) : reject(new Error(`${setup.name}: REST publish answered ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  const message = (seq) => ({ ...PAYLOAD, seq });
  return {
    subscriber, publisher, agent,
    rest: async (seq) => {
      const body = JSON.stringify({ topic: LATENCY_TOPIC, payload: message(seq) });
      const t0 = performance.now();
      const [delivered, answered] = await Promise.all([delivery(seq), restPost(body)]);
      return { delivery: delivered - t0, ack: answered - t0 };
    },
    mqtt: async (seq) => {
      const payload = Buffer.from(JSON.stringify(message(seq))); // the bytes the REST publisher delivers for the same JSON value
      const t0 = performance.now();
      const [delivered, acked] = await Promise.all([delivery(seq), publisher.publishAsync(LATENCY_TOPIC, payload, { qos: 1 }).then(() => performance.now())]);
      return { delivery: delivered - t0, ack: acked - t0 };
    },
  };
}

async function latency(setups, creds, { samples, warmup }) {
  const perSetup = {};
  for (const s of setups) perSetup[s.name] = await latencyVariants(s, creds[s.name]);
  const variants = setups.flatMap((s) => ['rest', 'mqtt'].map((how) => ({ id: `${s.name}/${how}`, send: perSetup[s.name][how] })));
  const results = Object.fromEntries(variants.map((v) => [v.id, { delivery: [], ack: [] }]));
  let seq = 0;
  const sample = (v) => within(5000, `latency ${v.id}`, () => v.send(++seq));
  for (const v of variants) for (let i = 0; i < warmup; i++) await sample(v);
  const BLOCK = 100;
  const load = [loadAverage()];
  for (let done = 0; done < samples; done += BLOCK) {
    for (const v of variants) {
      for (let i = 0; i < Math.min(BLOCK, samples - done); i++) {
        const r = await sample(v);
        results[v.id].delivery.push(r.delivery);
        results[v.id].ack.push(r.ack);
      }
    }
  }
  load.push(loadAverage());
  for (const p of Object.values(perSetup)) {
    await p.subscriber.endAsync();
    await p.publisher.endAsync();
    p.agent.destroy();
  }
  return {
    figures: Object.fromEntries(variants.map((v) => [v.id, { deliveryMs: latencySummary(results[v.id].delivery), ackMs: latencySummary(results[v.id].ack) }])),
    load,
  };
}

/** The build measured: its directory (BENCH_ROOT) and, if it is a git checkout, its commit and how many files differ from it. */
function buildState() {
  try {
    return { root, commit: execSync('git rev-parse --short HEAD', { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(), changedFiles: execSync('git status --porcelain', { cwd: root }).toString().split('\n').filter(Boolean).length };
  } catch {
    return { root, commit: null }; // e.g. a `git archive` snapshot
  }
}

export async function runRestPublish({ seconds = 4, rounds = 3, connections = 8, samples = 2000, warmup = 200, warmupSeconds = 3 } = {}) {
  ensureDebianPackage(WRK, 'wrk');
  const t0 = Date.now();
  const load = [loadAverage()];
  const setups = [];
  const counters = {};
  const subscriberCreds = {};
  let exits = {};
  try {
    for (const name of ['one', 'two']) {
      const s = await setUp(name);
      setups.push(s);
      counters[name] = await countingSubscriber(s, s.creds[0]);
      subscriberCreds[name] = s.creds[1];
    }
    const checks = {};
    for (const s of setups) {
      checks[s.name] = await check(s, counters[s.name]);
      counters[s.name].stopParsing();
    }
    console.error('rest-publish: throughput…');
    const tp = await throughput(setups, counters, { seconds, rounds, connections, warmupSeconds });
    console.error('rest-publish: latency…');
    const lat = await latency(setups, subscriberCreds, { samples, warmup });
    for (const c of Object.values(counters)) c.client.socket.destroy();
    for (const s of setups) exits[s.name] = await s.stop();
    return {
      params: { seconds, rounds, connections, warmupSeconds, samples, warmup, bulkSize: BULK, qos: 1, payloadBytes: Buffer.byteLength(JSON.stringify(PAYLOAD)), client: 'wrk -t1 (throughput); node:http keep-alive + mqtt.js 5 (latency)' },
      limits: {
        env: LIMITS_ENV, xRateLimitLimit: Object.fromEntries(Object.entries(checks).map(([k, c]) => [k, c.xRateLimitLimit])),
        org: setups[0].orgLimits,
        note: 'per-key publish limit and org message/byte rates raised so that no limiter binds; any 429 appears as non2xx',
      },
      setups: { one: 'signalgate start (API + broker, one process)', two: 'signalgate start --api-only + signalgate start --broker-only, same data dir' },
      throughput: tp.figures,
      latency: lat.figures,
      serverExits: exits,
      load: [...load, ...tp.load, ...lat.load],
      build: buildState(),
      wallSeconds: Math.round((Date.now() - t0) / 1000),
    };
  } finally {
    for (const c of Object.values(counters)) c.client.socket.destroy();
    for (const s of setups) if (!exits[s.name]) await s.stop();
  }
}

function printTables(r) {
  const lines = [];
  lines.push(`Limits raised for the bench: SIGNALGATE_PUBLISH_RATE_PER_KEY=${r.limits.env.SIGNALGATE_PUBLISH_RATE_PER_KEY}, SIGNALGATE_PUBLISH_BURST_PER_KEY=${r.limits.env.SIGNALGATE_PUBLISH_BURST_PER_KEY} (X-RateLimit-Limit seen: one ${r.limits.xRateLimitLimit.one}, two ${r.limits.xRateLimitLimit.two}); org max_messages_per_second=${r.limits.org.maxMessagesPerSecond}, max_bytes_per_second=${r.limits.org.maxBytesPerSecond}, token_messages_per_second=${r.limits.org.tokenMessagesPerSecond}`);
  lines.push('');
  lines.push(`Throughput: wrk -t1 -c${r.params.connections}, ${r.params.seconds} s × ${r.params.rounds} rounds after ${r.params.warmupSeconds} s warm-up (medians), QoS ${r.params.qos}, ${r.params.payloadBytes}-byte payload, bulk = ${r.params.bulkSize} messages/request`);
  lines.push('| variant | requests/s | messages/s | p50 ms | p99 ms | server CPU µs/message | non-2xx | accepted | delivered | lost |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const [id, f] of Object.entries(r.throughput)) {
    const cpu = Object.entries(f.cpuUsPerMessage).map(([k, v]) => `${k} ${v}`).join(', ');
    lines.push(`| ${id} | ${f.requestsPerSecond} | ${f.messagesPerSecond} | ${f.p50Ms} | ${f.p99Ms} | ${cpu} | ${f.non2xx} | ${f.accepted} | ${f.delivered} | ${f.lost} |`);
  }
  lines.push('');
  lines.push(`Latency: one message at a time, ${r.params.samples} samples per variant after ${r.params.warmup} warm-up, mqtt.js MQTT 5 subscriber (QoS 1)`);
  lines.push('| variant | delivery p50 ms | p99 ms | max ms | ack p50 ms | ack p99 ms | ack max ms |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const [id, f] of Object.entries(r.latency)) {
    lines.push(`| ${id} | ${f.deliveryMs.p50} | ${f.deliveryMs.p99} | ${f.deliveryMs.max} | ${f.ackMs.p50} | ${f.ackMs.p99} | ${f.ackMs.max} |`);
  }
  lines.push('(rest ack = HTTP answer; mqtt ack = PUBACK to the server@ publisher)');
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runRestPublish({ seconds: arg('seconds', 4), rounds: arg('rounds', 3), connections: arg('connections', 8), samples: arg('samples', 2000), warmup: arg('warmup', 200), warmupSeconds: arg('warmup-seconds', 3) });
  saveResult('rest-publish', result);
  console.log(printTables(result));
  console.log(`\nload ${JSON.stringify(result.load)}; ${result.wallSeconds} s; saved bench/results/rest-publish.json`);
  process.exit(0);
}
