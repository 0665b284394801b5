#!/usr/bin/env node
// Connect + auth rate and CONNECT→CONNACK latency, at MQTT 3.1.1 and MQTT 5, against SignalGate,
// bare aedes 2.0.0-beta.1 (the aedes SignalGate runs on, no hooks), bare aedes 1.2.0 (the line it
// ran on before) and mosquitto (password file + ACL). Each round connects `--clients` fresh
// clients (distinct credentials, `--concurrency` CONNECTs in flight) to each server in turn, at
// each protocol level in turn, then disconnects them; the figure is the median over rounds of
// connects/s, and each ratio SignalGate / peer is the median of the per-round ratios. Each
// server's CPU time per session (connect + disconnect, from /proc) is reported beside it: it holds
// steady when other jobs share the cores, where the rate does not. aedes 1.2 refuses a v5 CONNECT
// (CONNACK 1): a peer that refuses a protocol level is probed once and reported n/a there.
// `--before DIR` adds SignalGate built from another checkout (before a change) to the same rounds.
//   node bench/connect.mjs [--clients 1500] [--concurrency 100] [--rounds 5] [--protocol 4|5|both] [--before DIR]
import { arg, cpuMs, latencySummary, loadAverage, median, round, saveResult, sleep } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket, parseProtocols } from './lib/mqttLoad.mjs';
import { comparePeers, compareRuns, FLOORS_311, floorVerdict } from './lib/compare.mjs';
import { mosquittoCredentials, prepareSignalGate, protocolRefusal, startPeers } from './lib/servers.mjs';

export async function runConnect({ clients = 1500, concurrency = 100, rounds = 5, protocols = [4, 5], before = null } = {}) {
  const load = [loadAverage()];
  const perServer = clients * rounds * protocols.length; // every CONNECT measured uses a credential never used before
  const sg = await prepareSignalGate({ tokens: perServer, label: 'connect' });
  await sg.services.store.close();
  const mosq = mosquittoCredentials(perServer);
  let old = null;
  if (before) {
    old = await prepareSignalGate({ tokens: perServer, label: 'connect-before' });
    await old.services.store.close();
    old.root = before;
  }
  const servers = await startPeers({ sg, mosq, before: old });
  const runs = Object.fromEntries(protocols.map((v) => [v, Object.fromEntries(servers.map((s) => [s.name, []]))]));
  const refused = Object.fromEntries(protocols.map((v) => [v, {}]));
  try {
    for (const v of protocols) {
      for (const s of servers) {
        const why = await protocolRefusal(s, s.creds[0], v);
        if (why) refused[v][s.name] = why;
      }
    }
    for (const v of protocols) {
      for (const s of servers) { // warm-up (JIT, caches), not measured
        if (refused[v][s.name]) continue;
        const warm = await connectMany({ port: s.port, protocolVersion: v, concurrency,
          connects: s.creds.slice(0, 300).map((c, i) => connectPacket({ clientId: `w${v}-${i}`, username: c.username, password: c.password, protocolVersion: v })) });
        await closeAll(warm.clients);
      }
    }
    await sleep(500);
    for (let r = 0; r < rounds; r++) {
      for (const [vi, v] of protocols.entries()) {
        for (const s of servers) {
          if (refused[v][s.name]) continue;
          const from = (r * protocols.length + vi) * clients;
          const connects = s.creds.slice(from, from + clients)
            .map((c, i) => connectPacket({ clientId: `c${v}-${r}-${i}`, username: c.username, password: c.password, protocolVersion: v }));
          const cpuBefore = cpuMs(s.pid);
          const res = await connectMany({ port: s.port, connects, concurrency, protocolVersion: v });
          await closeAll(res.clients);
          await sleep(500); // let the server finish its disconnect work before the next one is measured
          const cpuUsPerSession = ((cpuMs(s.pid) - cpuBefore) * 1000) / res.clients.length;
          runs[v][s.name].push({ rate: (res.clients.length / res.elapsedMs) * 1000, cpuUsPerSession, failures: res.failures.length, firstFailure: res.failures[0], latencies: res.latencies });
        }
      }
      load.push(loadAverage());
    }
  } finally {
    for (const s of servers) await s.stop();
  }
  const keys = { rate: 'rate', cpu: 'cpuUsPerSession' };
  const byProtocol = {};
  for (const v of protocols) {
    const figures = {};
    for (const [name, list] of Object.entries(runs[v])) {
      if (refused[v][name]) {
        figures[name] = { na: refused[v][name] };
        continue;
      }
      const lat = latencySummary(list.flatMap((x) => x.latencies));
      figures[name] = { connectsPerSecond: Math.round(median(list.map((x) => x.rate))), rounds: list.map((x) => Math.round(x.rate)),
        serverCpuUsPerSession: Math.round(median(list.map((x) => x.cpuUsPerSession))), cpuRounds: list.map((x) => Math.round(x.cpuUsPerSession)),
        p50Ms: lat.p50, p99Ms: lat.p99, failures: list.reduce((a, x) => a + x.failures, 0), firstFailure: list.find((x) => x.firstFailure)?.firstFailure };
    }
    const measured = Object.fromEntries(Object.entries(runs[v]).filter(([name]) => !refused[v][name]));
    const { vs, aedes2VsAedes12 } = comparePeers(measured, keys);
    byProtocol[v] = { figures, vs, aedes2VsAedes12, ...(v === 4 ? { floor: floorVerdict(vs, FLOORS_311.connect) } : {}),
      ...(before ? { beforeVsAedes2: compareRuns(measured['signalgate-before'], measured['aedes-2'], keys) } : {}) };
  }
  // The same server at 5 against itself at 3.1.1, same rounds.
  const v5OverV4 = protocols.length === 2
    ? Object.fromEntries(servers.filter((s) => !refused[5][s.name] && !refused[4][s.name]).map((s) => [s.name, compareRuns(runs[5][s.name], runs[4][s.name], keys)]))
    : undefined;
  const versions = Object.fromEntries(servers.filter((s) => s.version).map((s) => [s.name, s.version]));
  return { params: { clients, concurrency, rounds, protocols, before }, versions, protocols: byProtocol, v5OverV4, load };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runConnect({ clients: arg('clients', 1500), concurrency: arg('concurrency', 100), rounds: arg('rounds', 5),
    protocols: parseProtocols(arg('protocol', 'both')), before: arg('before', null) });
  saveResult(result.params.before ? 'connect-before-after' : 'connect', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
