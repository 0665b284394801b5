#!/usr/bin/env node
// Connect + auth rate and CONNECT→CONNACK latency: SignalGate vs the same aedes without hooks vs
// mosquitto (password file + ACL). Each round connects `--clients` fresh clients (distinct
// credentials, `--concurrency` CONNECTs in flight) to each server in turn, then disconnects them;
// the figure is the median over rounds of connects/s, and the ratio SignalGate / aedes. Each
// server's CPU time per session (connect + disconnect, from /proc) is reported beside it: it holds
// steady when other jobs share the cores, where the rate does not.
// `--before DIR` adds a fourth server, SignalGate built from another checkout (before a change),
// measured in the same rounds.
//   node bench/connect.mjs [--clients 1500] [--concurrency 100] [--rounds 5] [--before DIR]
import { arg, cpuMs, latencySummary, loadAverage, median, round, saveResult, sleep } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket } from './lib/mqttLoad.mjs';
import { mosquittoCredentials, prepareSignalGate, startBareAedes, startMosquitto, startSignalGate } from './lib/servers.mjs';

export async function runConnect({ clients = 1500, concurrency = 100, rounds = 5, before = null } = {}) {
  const load = [loadAverage()];
  const sg = await prepareSignalGate({ tokens: clients * rounds, label: 'connect' });
  sg.services.store.close();
  const mosq = mosquittoCredentials(clients * rounds);
  const servers = [
    { ...(await startSignalGate({ dataDir: sg.dataDir })), creds: sg.creds },
    { ...(await startBareAedes()), creds: sg.creds }, // same bytes on the wire; aedes ignores them
    { ...(await startMosquitto(mosq)), creds: mosq },
  ];
  if (before) {
    const old = await prepareSignalGate({ tokens: clients * rounds, label: 'connect-before' });
    old.services.store.close();
    servers.push({ ...(await startSignalGate({ dataDir: old.dataDir, buildRoot: before })), name: 'signalgate-before', creds: old.creds });
  }
  const runs = Object.fromEntries(servers.map((s) => [s.name, []]));
  try {
    for (const s of servers) { // warm-up (JIT, caches), not measured
      const warm = await connectMany({ port: s.port, connects: s.creds.slice(0, 300).map((c, i) => connectPacket({ clientId: `w${i}`, username: c.username, password: c.password })), concurrency });
      await closeAll(warm.clients);
    }
    await sleep(500);
    for (let r = 0; r < rounds; r++) {
      for (const s of servers) {
        const connects = s.creds.slice(r * clients, (r + 1) * clients)
          .map((c, i) => connectPacket({ clientId: `c${r}-${i}`, username: c.username, password: c.password }));
        const cpuBefore = cpuMs(s.pid);
        const res = await connectMany({ port: s.port, connects, concurrency });
        await closeAll(res.clients);
        await sleep(500); // let the server finish its disconnect work before the next one is measured
        const cpuUsPerSession = ((cpuMs(s.pid) - cpuBefore) * 1000) / res.clients.length;
        runs[s.name].push({ rate: (res.clients.length / res.elapsedMs) * 1000, cpuUsPerSession, failures: res.failures.length, latencies: res.latencies });
      }
      load.push(loadAverage());
    }
  } finally {
    for (const s of servers) await s.stop();
  }
  const figures = {};
  for (const [name, list] of Object.entries(runs)) {
    const lat = latencySummary(list.flatMap((x) => x.latencies));
    figures[name] = { connectsPerSecond: Math.round(median(list.map((x) => x.rate))), rounds: list.map((x) => Math.round(x.rate)),
      serverCpuUsPerSession: Math.round(median(list.map((x) => x.cpuUsPerSession))), cpuRounds: list.map((x) => Math.round(x.cpuUsPerSession)), p50Ms: lat.p50, p99Ms: lat.p99, failures: list.reduce((a, x) => a + x.failures, 0) };
  }
  // The ratio per round (both measured minutes apart at most), then the median of those.
  const ratioVsAedes = round(median(runs.signalgate.map((x, i) => x.rate / runs.aedes[i].rate)), 3);
  // Server CPU per connect + disconnect, aedes / SignalGate: the rate ratio the server alone allows.
  const cpuRatioVsAedes = round(median(runs.signalgate.map((x, i) => runs.aedes[i].cpuUsPerSession / x.cpuUsPerSession)), 3);
  const ratioVsMosquitto = round(median(runs.signalgate.map((x, i) => x.rate / runs.mosquitto[i].rate)), 3);
  const beforeAfter = before ? { root: before, afterOverBefore: round(median(runs.signalgate.map((x, i) => x.rate / runs['signalgate-before'][i].rate)), 3),
    beforeRatioVsAedes: round(median(runs['signalgate-before'].map((x, i) => x.rate / runs.aedes[i].rate)), 3),
    cpuBeforeOverAfter: round(median(runs.signalgate.map((x, i) => runs['signalgate-before'][i].cpuUsPerSession / x.cpuUsPerSession)), 3) } : undefined;
  return { params: { clients, concurrency, rounds }, figures, ratioVsAedes, cpuRatioVsAedes, ratioVsMosquitto, beforeAfter, target: { ratioVsAedes: 0.9, met: ratioVsAedes >= 0.9 }, load };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runConnect({ clients: arg('clients', 1500), concurrency: arg('concurrency', 100), rounds: arg('rounds', 5), before: arg('before', null) });
  saveResult(result.beforeAfter ? 'connect-before-after' : 'connect', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
