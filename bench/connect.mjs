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
// On each store, with and without the credential cache (issue 17): `--store sqlite|postgres|both`
// runs instead SignalGate (broker only) on SQLite and on PostgreSQL (a private durable server,
// bench/lib/postgres.mjs), each with SIGNALGATE_CONNECT_CACHE_SIZE at its default (10,000) and at 0,
// beside bare aedes 2 and mosquitto, at one protocol level (`--protocol`, default 4). Each round
// every server gets two batches of `--clients` CONNECTs (`--concurrency` in flight), each followed
// by DISCONNECT and 0.5 s for the server's disconnect work, inside the CPU window as above:
//   hit  — the same `--clients` credentials every round (connected once before the first round):
//          a warm reconnect loop, answered from the cache where there is one;
//   miss — credentials never used before (first-time devices: a store read each, cache or not).
// Per batch: the broker's CPU per session and, for every server, the PostgreSQL server's CPU per
// session over the same window (its whole process tree; for servers not on it, the idle server's
// background as a control). Ratios to bare aedes 2 and mosquitto are medians of per-round ratios.
//   node bench/connect.mjs --store both [--clients 1000] [--concurrency 100] [--rounds 5] [--protocol 4]
import { arg, cpuMs, latencySummary, loadAverage, median, round, saveResult, sleep } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket, parseProtocols } from './lib/mqttLoad.mjs';
import { comparePeers, compareRuns, FLOORS_311, floorVerdict } from './lib/compare.mjs';
import { mosquittoCredentials, prepareSignalGate, protocolRefusal, startBareAedes, startMosquitto, startPeers, startSignalGate } from './lib/servers.mjs';
import { startBenchPostgres } from './lib/postgres.mjs';
import { parseStores, prepareStore } from './lib/stores.mjs';

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

export async function runConnectStores({ stores = ['sqlite', 'postgres'], clients = 1000, concurrency = 100, rounds = 5, protocolVersion = 4 } = {}) {
  const load = [loadAverage()];
  const perServer = clients * (rounds + 1) + 300; // the hit set, a fresh miss batch per round, the warm-up
  const pg = stores.includes('postgres') ? await startBenchPostgres({ label: 'connect' }) : null;
  const servers = [];
  const runs = {};
  try {
    for (const store of stores) {
      for (const cacheSize of [null, 0]) {
        const name = `signalgate-${store}${cacheSize === 0 ? '-nocache' : ''}`;
        const s = await prepareStore({ store, pg, database: name.replaceAll('-', '_'), tokens: perServer, label: 'connect' });
        const env = { ...s.env, ...(cacheSize === 0 ? { SIGNALGATE_CONNECT_CACHE_SIZE: '0' } : {}) };
        servers.push({ ...(await startSignalGate({ dataDir: s.dataDir, env })), name, store, creds: s.creds });
      }
    }
    servers.push({ ...(await startBareAedes({ line: '2' })), creds: servers[0].creds });
    const mosq = mosquittoCredentials(perServer);
    servers.push({ ...(await startMosquitto(mosq)), creds: mosq });
    const packets = (s, from, count, tag) => s.creds.slice(from, from + count)
      .map((c, i) => connectPacket({ clientId: `${tag}-${i}`, username: c.username, password: c.password, protocolVersion }));
    // Warm-up (JIT, pools), then the hit set connected once: from here on it is in each cache.
    for (const s of servers) {
      for (const [from, count] of [[clients * (rounds + 1), 300], [0, clients]]) {
        const warm = await connectMany({ port: s.port, protocolVersion, concurrency, connects: packets(s, from, count, 'w') });
        if (warm.failures.length) throw new Error(`${s.name}: ${warm.failures.length} warm-up CONNECTs failed: ${warm.failures[0]}`);
        await closeAll(warm.clients);
      }
      runs[s.name] = { hit: [], miss: [] };
    }
    await sleep(500);
    const batch = async (s, kind, from, r) => {
      const connects = packets(s, from, clients, `${kind}${r}`);
      const cpu0 = cpuMs(s.pid);
      const pg0 = pg?.cpuMs() ?? 0;
      const res = await connectMany({ port: s.port, connects, concurrency, protocolVersion });
      await closeAll(res.clients);
      await sleep(500); // the server's disconnect work, inside the window as in runConnect
      const n = Math.max(1, res.clients.length);
      runs[s.name][kind].push({ rate: (res.clients.length / res.elapsedMs) * 1000, cpuUsPerSession: ((cpuMs(s.pid) - cpu0) * 1000) / n,
        pgCpuUsPerSession: pg ? ((pg.cpuMs() - pg0) * 1000) / n : null, failures: res.failures.length, firstFailure: res.failures[0], latencies: res.latencies });
    };
    for (let r = 0; r < rounds; r++) {
      for (const s of servers) {
        await batch(s, 'hit', 0, r);
        await batch(s, 'miss', clients * (r + 1), r);
      }
      load.push({ round: r + 1, ...loadAverage() });
    }
  } finally {
    for (const s of servers) await s.stop();
    await pg?.stop();
  }
  const keys = { rate: 'rate', cpu: 'cpuUsPerSession' };
  const out = {};
  for (const kind of ['hit', 'miss']) {
    const figures = {};
    for (const [name, byKind] of Object.entries(runs)) {
      const list = byKind[kind];
      const lat = latencySummary(list.flatMap((x) => x.latencies));
      figures[name] = { connectsPerSecond: Math.round(median(list.map((x) => x.rate))),
        serverCpuUsPerSession: Math.round(median(list.map((x) => x.cpuUsPerSession))), cpuRounds: list.map((x) => Math.round(x.cpuUsPerSession)),
        ...(pg ? { pgCpuUsPerSession: Math.round(median(list.map((x) => x.pgCpuUsPerSession))), pgCpuRounds: list.map((x) => Math.round(x.pgCpuUsPerSession)) } : {}),
        p50Ms: lat.p50, p99Ms: lat.p99, failures: list.reduce((a, x) => a + x.failures, 0), firstFailure: list.find((x) => x.firstFailure)?.firstFailure };
    }
    // SignalGate's broker CPU per session ÷ the peer's, median of the rounds' ratios (the issue's target: ≤ 1.1× bare aedes).
    const over = (a, b, withPg = false) => round(median(runs[a][kind].map((x, i) => (x.cpuUsPerSession + (withPg ? x.pgCpuUsPerSession : 0)) / runs[b][kind][i].cpuUsPerSession)), 3);
    const sg = Object.keys(runs).filter((n) => n.startsWith('signalgate'));
    out[kind] = {
      figures,
      cpuOverAedes2: Object.fromEntries(sg.map((n) => [n, over(n, 'aedes-2')])),
      cpuOverMosquitto: Object.fromEntries(sg.map((n) => [n, over(n, 'mosquitto')])),
      ...(pg ? { cpuWithPostgresOverAedes2: Object.fromEntries(sg.filter((n) => n.includes('postgres')).map((n) => [n, over(n, 'aedes-2', true)])) } : {}),
      vs: Object.fromEntries(sg.map((n) => [n, { 'aedes-2': compareRuns(runs[n][kind], runs['aedes-2'][kind], keys), mosquitto: compareRuns(runs[n][kind], runs.mosquitto[kind], keys) }])),
    };
  }
  return { params: { stores, clients, concurrency, rounds, protocolVersion, cacheSizes: ['default (10000)', 0] }, ...out, target: { cpuOverAedes2: 1.1 }, load };
}

if (import.meta.url === `file://${process.argv[1]}` && arg('store', null)) {
  const result = await runConnectStores({ stores: parseStores(arg('store', 'both')), clients: arg('clients', 1000), concurrency: arg('concurrency', 100),
    rounds: arg('rounds', 5), protocolVersion: parseProtocols(arg('protocol', '4'))[0] });
  saveResult('connect-stores', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runConnect({ clients: arg('clients', 1500), concurrency: arg('concurrency', 100), rounds: arg('rounds', 5),
    protocols: parseProtocols(arg('protocol', 'both')), before: arg('before', null) });
  saveResult(result.params.before ? 'connect-before-after' : 'connect', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
