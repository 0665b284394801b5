#!/usr/bin/env node
// Publish throughput with an ACL check on every PUBLISH, at MQTT 3.1.1 and MQTT 5: QoS 0 and QoS 1,
// one publisher to one subscriber and to 100 subscribers, against SignalGate, bare aedes
// 2.0.0-beta.1 (the aedes SignalGate runs on, no hooks), bare aedes 1.2.0 and mosquitto (ACL
// file). The publisher keeps at most `--window` messages not yet delivered to every subscriber (so
// no broker is measured filling its buffers) and, at QoS 1, not yet PUBACKed — at 5 also no more
// than the Receive Maximum the broker's CONNACK announces (mosquitto: 20), as a v5 client must;
// the subscribers PUBACK what they get. Figure: deliveries/s received by the subscribers during
// `--seconds` after a short warm-up; median over rounds; ratio SignalGate / peer per round, then
// the median. A peer that refuses a protocol level (aedes 1.2 at 5: CONNACK 1) is reported n/a.
// `--before DIR` adds SignalGate built from another checkout (before a change) to the same rounds.
// Each server's CPU time per delivery (from /proc) is reported beside the rate.
//   node bench/publish.mjs [--seconds 3] [--rounds 3] [--window 500] [--protocol 4|5|both] [--before DIR] [--only qos0_1to1,…]
import { arg, cpuMs, loadAverage, median, round, saveResult, sleep } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket, openClient, parseProtocols, pubackOf, publishEncoder, subscribe } from './lib/mqttLoad.mjs';
import { comparePeers, compareRuns, FLOORS_311, floorVerdict } from './lib/compare.mjs';
import { mosquittoCredentials, prepareSignalGate, protocolRefusal, startPeers } from './lib/servers.mjs';

export const SCENARIOS = [
  { id: 'qos0_1to1', qos: 0, subscribers: 1 },
  { id: 'qos1_1to1', qos: 1, subscribers: 1 },
  { id: 'qos0_1to100', qos: 0, subscribers: 100 },
  { id: 'qos1_1to100', qos: 1, subscribers: 100 },
];
const BATCH = 16; // PUBLISH packets per socket write
const PAYLOAD = Buffer.alloc(64, 'x');

async function measure(server, scenario, tag, { seconds, window, protocolVersion }) {
  const topic = `bench/t/${tag}`;
  const creds = server.creds;
  let received = 0;
  let counting = false;
  let counted = 0;
  let pump = () => {};
  const onPacket = (p, c) => {
    if (p.cmd !== 'publish') return;
    received++;
    if (counting) counted++;
    if (p.qos === 1) c.socket.write(pubackOf(p.messageId));
    pump();
  };
  const subs = await connectMany({
    port: server.port, concurrency: 50, onPacket, protocolVersion,
    connects: Array.from({ length: scenario.subscribers }, (_, i) => connectPacket({ clientId: `s-${tag}-${i}`, username: creds[i + 1].username, password: creds[i + 1].password, protocolVersion })),
  });
  if (subs.failures.length) throw new Error(`${server.name}: ${subs.failures.length} subscribers failed: ${subs.failures[0]}`);
  await Promise.all(subs.clients.map((c) => subscribe(c, topic, scenario.qos)));
  let acked = 0;
  const pub = await openClient({ port: server.port, protocolVersion, connect: connectPacket({ clientId: `p-${tag}`, username: creds[0].username, password: creds[0].password, protocolVersion }),
    onPacket: (p) => { if (p.cmd === 'puback') { acked++; pump(); } } });
  // MQTT 5: no more unacknowledged QoS 1 PUBLISHes than the server's Receive Maximum (default 65,535).
  const receiveMaximum = protocolVersion === 5 ? (pub.connackProperties.receiveMaximum ?? 65_535) : Infinity;
  const unackedLimit = Math.min(window, receiveMaximum);
  const batch = Math.min(BATCH, unackedLimit);
  const enc = publishEncoder(topic, PAYLOAD, scenario.qos, protocolVersion);
  let sent = 0;
  let stopAt = Infinity;
  let lastProgress = Date.now();
  let lost = 0;
  const n = scenario.subscribers;
  pump = () => {
    // Writes while the window has room and the socket is not backed up.
    while (Date.now() < stopAt && !pub.socket.writableNeedDrain) {
      const undelivered = sent - Math.floor(received / n) - lost;
      const unacked = scenario.qos === 1 ? sent - acked : 0;
      if (undelivered + batch > window || unacked + batch > unackedLimit) return;
      pub.socket.write(enc.batch(batch, sent + 1));
      sent += batch;
      lastProgress = Date.now();
    }
  };
  pub.socket.on('drain', () => pump());
  // A broker that drops messages (mosquitto past max_queued_messages) would stall the window.
  const stall = setInterval(() => {
    if (Date.now() - lastProgress > 500) {
      lost += sent - Math.floor(received / n) - lost;
      lastProgress = Date.now();
      pump();
    }
  }, 100);
  const warmupMs = 500;
  stopAt = Date.now() + warmupMs + seconds * 1000 + 100;
  pump();
  await sleep(warmupMs);
  counting = true;
  const t0 = performance.now();
  const cpu0 = cpuMs(server.pid);
  await sleep(seconds * 1000);
  counting = false;
  const cpuUsPerDelivery = ((cpuMs(server.pid) - cpu0) * 1000) / counted;
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(stall);
  stopAt = 0;
  await closeAll([pub, ...subs.clients]);
  return { deliveriesPerSecond: counted / elapsed, messagesPerSecond: counted / elapsed / n, cpuUsPerDelivery, lost, ...(Number.isFinite(receiveMaximum) ? { receiveMaximum } : {}) };
}

export async function runPublish({ seconds = 3, rounds = 3, window = 500, protocols = [4, 5], before = null, only = null } = {}) {
  const scenarios = only ? SCENARIOS.filter((sc) => only.split(',').includes(sc.id)) : SCENARIOS;
  const load = [loadAverage()];
  const sg = await prepareSignalGate({ tokens: 101, label: 'publish' });
  await sg.services.store.close();
  const mosq = mosquittoCredentials(101);
  let old = null;
  if (before) {
    old = await prepareSignalGate({ tokens: 101, label: 'publish-before' });
    await old.services.store.close();
    old.root = before;
  }
  const servers = await startPeers({ sg, mosq, before: old });
  const runs = {}; // protocol → scenario → server → [measurement per round]
  const refused = Object.fromEntries(protocols.map((v) => [v, {}]));
  try {
    for (const v of protocols) {
      for (const s of servers) {
        const why = await protocolRefusal(s, s.creds[0], v);
        if (why) refused[v][s.name] = why;
      }
    }
    for (const v of protocols) { // JIT warm-up
      for (const s of servers) if (!refused[v][s.name]) await measure(s, SCENARIOS[0], `warm${v}-${s.name}`, { seconds: 1, window, protocolVersion: v });
    }
    for (let r = 0; r < rounds; r++) {
      for (const sc of scenarios) {
        for (const v of protocols) {
          for (const s of servers) {
            if (refused[v][s.name]) continue;
            const m = await measure(s, sc, `${sc.id}-${v}-${r}`, { seconds, window, protocolVersion: v });
            (((runs[v] ??= {})[sc.id] ??= {})[s.name] ??= []).push(m);
            await sleep(200);
          }
        }
      }
      load.push(loadAverage());
    }
  } finally {
    for (const s of servers) await s.stop();
  }
  const keys = { rate: 'deliveriesPerSecond', cpu: 'cpuUsPerDelivery' };
  const byProtocol = {};
  for (const v of protocols) {
    const figures = {};
    for (const sc of scenarios) {
      const per = runs[v][sc.id];
      const { vs, aedes2VsAedes12 } = comparePeers(per, keys);
      figures[sc.id] = {
        peers: {
          ...Object.fromEntries(Object.entries(refused[v]).map(([name, why]) => [name, { na: why }])),
          ...Object.fromEntries(Object.entries(per).map(([name, list]) => [name, {
            deliveriesPerSecond: Math.round(median(list.map((m) => m.deliveriesPerSecond))),
            rounds: list.map((m) => Math.round(m.deliveriesPerSecond)), lost: list.reduce((a, m) => a + m.lost, 0),
            serverCpuUsPerDelivery: round(median(list.map((m) => m.cpuUsPerDelivery)), 2),
            ...(list[0].receiveMaximum !== undefined ? { receiveMaximum: list[0].receiveMaximum } : {}),
          }])),
        },
        vs, aedes2VsAedes12,
        ...(v === 4 ? { floor: floorVerdict(vs, FLOORS_311[sc.id]) } : {}),
        ...(before ? { beforeVsAedes2: compareRuns(per['signalgate-before'], per['aedes-2'], keys) } : {}),
      };
    }
    byProtocol[v] = { figures };
  }
  const v5OverV4 = protocols.length === 2
    ? Object.fromEntries(scenarios.map((sc) => [sc.id, Object.fromEntries(servers.filter((s) => !refused[4][s.name] && !refused[5][s.name])
      .map((s) => [s.name, compareRuns(runs[5][sc.id][s.name], runs[4][sc.id][s.name], keys)]))]))
    : undefined;
  const versions = Object.fromEntries(servers.filter((s) => s.version).map((s) => [s.name, s.version]));
  return { params: { seconds, rounds, window, payloadBytes: PAYLOAD.length, protocols, before, only }, versions, protocols: byProtocol, v5OverV4, load };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runPublish({ seconds: arg('seconds', 3), rounds: arg('rounds', 3), window: arg('window', 500),
    protocols: parseProtocols(arg('protocol', 'both')), before: arg('before', null), only: arg('only', null) });
  // A run of some scenarios only is kept apart from the full results the report reads.
  saveResult(result.params.only ? 'publish-some' : result.params.before ? 'publish-before-after' : 'publish', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
