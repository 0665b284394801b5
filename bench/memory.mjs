#!/usr/bin/env node
// Broker RSS with 1k and 10k idle authenticated connections (each its own credential and client
// id; keep-alive 300 s so nothing is sent while idle), at MQTT 3.1.1 and at MQTT 5, for SignalGate,
// bare aedes 2.0.0-beta.1, bare aedes 1.2.0 and mosquitto: a fresh server process per peer and
// protocol level. RSS is read from /proc/<pid>/status after the connections have settled; the
// figure per idle connection is the slope from 1k to 10k. aedes 1.2 refuses v5 (CONNACK 1): n/a.
// Each process holds ≤ ~10k sockets: the hard open-file limit here is 20000 and an unprivileged
// `ulimit -n 65536` is refused, so the load generator and each server stay in separate processes.
//   node bench/memory.mjs [--connections 10000] [--settle 3] [--protocol 4|5|both] [--peers signalgate,aedes-2] [--rounds 1]
import { arg, loadAverage, openFileLimit, round, rssMb, saveResult, sleep } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket, parseProtocols } from './lib/mqttLoad.mjs';
import { mosquittoCredentials, peerStarters, prepareSignalGate, protocolRefusal } from './lib/servers.mjs';

const STEPS = [1000, 10_000];

export async function runMemory({ connections = 10_000, settleSeconds = 3, protocols = [4, 5], peers = null, rounds = 1 } = {}) {
  const limit = openFileLimit();
  if (limit < connections + 100) throw new Error(`open-file limit ${limit} is below ${connections} connections: raise it (ulimit -n) first`);
  const steps = [...STEPS.filter((n) => n < connections), connections].filter((n, i, a) => a.indexOf(n) === i); // smoke runs: --connections 3000 → 1k, 3k
  const load = [loadAverage()];
  const sg = await prepareSignalGate({ tokens: connections, label: 'memory' });
  await sg.services.store.close();
  const mosq = mosquittoCredentials(connections);
  const starters = Object.fromEntries(Object.entries(peerStarters({ sg, mosq })).filter(([name]) => !peers || peers.includes(name)));
  const byProtocol = Object.fromEntries(protocols.map((v) => [v, { figures: {} }]));
  const versions = {};
  for (const v of protocols) {
    // With rounds > 1 the peers alternate round by round (load drifts hit all alike); a peer's row
    // is then its median round, with every round's slope listed.
    const byPeer = {};
    for (let r = 0; r < rounds; r++) for (const start of Object.values(starters)) {
      const server = await start();
      if (server.version) versions[server.name] = server.version;
      const clients = [];
      try {
        const why = await protocolRefusal(server, server.creds[0], v);
        if (why) {
          (byPeer[server.name] ??= []).push({ na: why });
          continue;
        }
        await sleep(1000);
        const row = { idleMb: rssMb(server.pid) };
        for (const n of steps) {
          const connects = server.creds.slice(clients.length, n)
            .map((c, i) => connectPacket({ clientId: `m${v}-${clients.length + i}`, username: c.username, password: c.password, protocolVersion: v }));
          const res = await connectMany({ port: server.port, connects, concurrency: 100, protocolVersion: v });
          clients.push(...res.clients);
          if (res.failures.length) row[`failuresAt${n}`] = res.failures.length;
          await sleep(settleSeconds * 1000);
          row[`rssMbAt${n}`] = rssMb(server.pid);
          row[`openAt${n}`] = clients.filter((c) => !c.socket.destroyed).length;
        }
        const top = steps[steps.length - 1];
        if (top > 1000) row.perConnectionKb = round(((row[`rssMbAt${top}`] - row.rssMbAt1000) * 1024) / (top - 1000), 1);
        (byPeer[server.name] ??= []).push(row);
      } finally {
        await closeAll(clients, 20_000);
        await server.stop();
      }
      load.push(loadAverage());
    }
    for (const [name, rows] of Object.entries(byPeer)) {
      if (rows.length === 1 || rows[0].na) {
        byProtocol[v].figures[name] = rows[0];
        continue;
      }
      const sorted = [...rows].sort((a, b) => a.perConnectionKb - b.perConnectionKb);
      byProtocol[v].figures[name] = { ...sorted[(sorted.length - 1) >> 1], perConnectionKbRounds: rows.map((r) => r.perConnectionKb) };
    }
    // SignalGate ÷ each peer (lower is better: 1.35× = 35 % more RSS), at the top step and per connection.
    const top = steps[steps.length - 1];
    const f = byProtocol[v].figures;
    byProtocol[v].vs = Object.fromEntries(Object.entries(f).filter(([name, row]) => name !== 'signalgate' && !row.na && !f.signalgate.na)
      .map(([name, row]) => [name, { rss: round(f.signalgate[`rssMbAt${top}`] / row[`rssMbAt${top}`], 3),
        ...(row.perConnectionKb ? { perConnection: round(f.signalgate.perConnectionKb / row.perConnectionKb, 3) } : {}) }]));
  }
  const top = steps[steps.length - 1];
  const worst = Math.max(...protocols.map((v) => byProtocol[v].figures.signalgate[`rssMbAt${top}`]));
  return {
    params: { connections, settleSeconds, protocols, openFileLimit: limit }, versions, protocols: byProtocol,
    target: { rssMbAt10000: 400, measured: worst, met: top === 10_000 && worst <= 400 },
    load,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const peers = arg('peers', null)?.split(',') ?? null;
  const result = await runMemory({ connections: arg('connections', 10_000), settleSeconds: arg('settle', 3), protocols: parseProtocols(arg('protocol', 'both')), peers, rounds: arg('rounds', 1) });
  saveResult('memory', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
