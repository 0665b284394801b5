#!/usr/bin/env node
// Publish throughput with an ACL check on every PUBLISH: QoS 0 and QoS 1, one publisher to one
// subscriber and to 100 subscribers, against SignalGate, the same aedes without hooks and
// mosquitto (ACL file). The publisher keeps at most `--window` messages not yet delivered to every
// subscriber (so no broker is measured filling its buffers) and, at QoS 1, not yet PUBACKed; the
// subscribers PUBACK what they get. Figure: deliveries/s received by the subscribers during
// `--seconds` after a short warm-up; median over rounds; ratio SignalGate / aedes per round.
// `--before DIR` adds SignalGate built from another checkout (before a change) to the same rounds.
// Each server's CPU time per delivery (from /proc) is reported beside the rate.
//   node bench/publish.mjs [--seconds 3] [--rounds 3] [--window 500] [--before DIR] [--only qos0_1to1,…]
import { arg, cpuMs, loadAverage, median, round, saveResult, sleep } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket, openClient, pubackOf, publishEncoder, subscribe } from './lib/mqttLoad.mjs';
import { mosquittoCredentials, prepareSignalGate, startBareAedes, startMosquitto, startSignalGate } from './lib/servers.mjs';

export const SCENARIOS = [
  { id: 'qos0_1to1', qos: 0, subscribers: 1 },
  { id: 'qos1_1to1', qos: 1, subscribers: 1 },
  { id: 'qos0_1to100', qos: 0, subscribers: 100 },
  { id: 'qos1_1to100', qos: 1, subscribers: 100 },
];
const BATCH = 16; // PUBLISH packets per socket write
const PAYLOAD = Buffer.alloc(64, 'x');

async function measure(server, scenario, tag, { seconds, window }) {
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
    port: server.port, concurrency: 50, onPacket,
    connects: Array.from({ length: scenario.subscribers }, (_, i) => connectPacket({ clientId: `s-${tag}-${i}`, username: creds[i + 1].username, password: creds[i + 1].password })),
  });
  if (subs.failures.length) throw new Error(`${server.name}: ${subs.failures.length} subscribers failed: ${subs.failures[0]}`);
  await Promise.all(subs.clients.map((c) => subscribe(c, topic, scenario.qos)));
  let acked = 0;
  const pub = await openClient({ port: server.port, connect: connectPacket({ clientId: `p-${tag}`, username: creds[0].username, password: creds[0].password }),
    onPacket: (p) => { if (p.cmd === 'puback') { acked++; pump(); } } });
  const enc = publishEncoder(topic, PAYLOAD, scenario.qos);
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
      if (undelivered + BATCH > window || unacked + BATCH > window) return;
      pub.socket.write(enc.batch(BATCH, sent + 1));
      sent += BATCH;
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
  return { deliveriesPerSecond: counted / elapsed, messagesPerSecond: counted / elapsed / n, cpuUsPerDelivery, lost };
}

export async function runPublish({ seconds = 3, rounds = 3, window = 500, before = null, only = null } = {}) {
  const scenarios = only ? SCENARIOS.filter((sc) => only.split(',').includes(sc.id)) : SCENARIOS;
  const load = [loadAverage()];
  const sg = await prepareSignalGate({ tokens: 101, label: 'publish' });
  sg.services.store.close();
  const mosq = mosquittoCredentials(101);
  const servers = [
    { ...(await startSignalGate({ dataDir: sg.dataDir })), creds: sg.creds },
    { ...(await startBareAedes()), creds: sg.creds },
    { ...(await startMosquitto(mosq)), creds: mosq },
  ];
  if (before) {
    const old = await prepareSignalGate({ tokens: 101, label: 'publish-before' });
    old.services.store.close();
    servers.push({ ...(await startSignalGate({ dataDir: old.dataDir, buildRoot: before })), name: 'signalgate-before', creds: old.creds });
  }
  const runs = {};
  try {
    for (const s of servers) await measure(s, SCENARIOS[0], `warm-${s.name}`, { seconds: 1, window }); // JIT warm-up
    for (let r = 0; r < rounds; r++) {
      for (const sc of scenarios) {
        for (const s of servers) {
          const m = await measure(s, sc, `${sc.id}-${r}`, { seconds, window });
          ((runs[sc.id] ??= {})[s.name] ??= []).push(m);
          await sleep(200);
        }
      }
      load.push(loadAverage());
    }
  } finally {
    for (const s of servers) await s.stop();
  }
  const figures = {};
  for (const sc of scenarios) {
    const per = runs[sc.id];
    figures[sc.id] = {
      ...Object.fromEntries(Object.entries(per).map(([name, list]) => [name, {
        deliveriesPerSecond: Math.round(median(list.map((m) => m.deliveriesPerSecond))),
        rounds: list.map((m) => Math.round(m.deliveriesPerSecond)), lost: list.reduce((a, m) => a + m.lost, 0),
        serverCpuUsPerDelivery: round(median(list.map((m) => m.cpuUsPerDelivery)), 2),
      }])),
      ratioVsAedes: round(median(per.signalgate.map((m, i) => m.deliveriesPerSecond / per.aedes[i].deliveriesPerSecond)), 3),
      cpuRatioVsAedes: round(median(per.signalgate.map((m, i) => per.aedes[i].cpuUsPerDelivery / m.cpuUsPerDelivery)), 3),
      ratioVsMosquitto: round(median(per.signalgate.map((m, i) => m.deliveriesPerSecond / per.mosquitto[i].deliveriesPerSecond)), 3),
      ...(before ? { afterOverBefore: round(median(per.signalgate.map((m, i) => m.deliveriesPerSecond / per['signalgate-before'][i].deliveriesPerSecond)), 3),
        beforeRatioVsAedes: round(median(per['signalgate-before'].map((m, i) => m.deliveriesPerSecond / per.aedes[i].deliveriesPerSecond)), 3) } : {}),
    };
  }
  const worst = Math.min(...scenarios.map((sc) => figures[sc.id].ratioVsAedes));
  return { params: { seconds, rounds, window, payloadBytes: PAYLOAD.length, before, only }, figures, target: { ratioVsAedes: 0.85, worst, met: worst >= 0.85 }, load };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runPublish({ seconds: arg('seconds', 3), rounds: arg('rounds', 3), window: arg('window', 500), before: arg('before', null), only: arg('only', null) });
  // A run of some scenarios only is kept apart from the full results the report reads.
  saveResult(result.params.only ? 'publish-some' : result.params.before ? 'publish-before-after' : 'publish', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
