#!/usr/bin/env node
// Broker RSS with 1k and 10k idle authenticated connections (each its own credential and client
// id; keep-alive 300 s so nothing is sent while idle), for SignalGate, the same aedes without
// hooks and mosquitto. RSS is read from /proc/<pid>/status after the connections have settled.
// Each process holds ≤ ~10k sockets: the hard open-file limit here is 20000 and an unprivileged
// `ulimit -n 65536` is refused, so the load generator and each server stay in separate processes.
//   node bench/memory.mjs [--connections 10000] [--settle 3]
import { arg, loadAverage, openFileLimit, rssMb, saveResult, sleep } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket } from './lib/mqttLoad.mjs';
import { mosquittoCredentials, prepareSignalGate, startBareAedes, startMosquitto, startSignalGate } from './lib/servers.mjs';

const STEPS = [1000, 10_000];

export async function runMemory({ connections = 10_000, settleSeconds = 3 } = {}) {
  const limit = openFileLimit();
  if (limit < connections + 100) throw new Error(`open-file limit ${limit} is below ${connections} connections: raise it (ulimit -n) first`);
  const steps = STEPS.filter((n) => n <= connections);
  const load = [loadAverage()];
  const sg = await prepareSignalGate({ tokens: connections, label: 'memory' });
  sg.services.store.close();
  const mosq = mosquittoCredentials(connections);
  const starters = [
    async () => ({ ...(await startSignalGate({ dataDir: sg.dataDir })), creds: sg.creds }),
    async () => ({ ...(await startBareAedes()), creds: sg.creds }),
    async () => ({ ...(await startMosquitto(mosq)), creds: mosq }),
  ];
  const figures = {};
  for (const start of starters) {
    const server = await start();
    const clients = [];
    try {
      await sleep(1000);
      const row = { idleMb: rssMb(server.pid) };
      for (const n of steps) {
        const connects = server.creds.slice(clients.length, n).map((c, i) => connectPacket({ clientId: `m${clients.length + i}`, username: c.username, password: c.password }));
        const res = await connectMany({ port: server.port, connects, concurrency: 100 });
        clients.push(...res.clients);
        if (res.failures.length) row[`failuresAt${n}`] = res.failures.length;
        await sleep(settleSeconds * 1000);
        row[`rssMbAt${n}`] = rssMb(server.pid);
        row[`openAt${n}`] = clients.filter((c) => !c.socket.destroyed).length;
      }
      figures[server.name] = row;
    } finally {
      await closeAll(clients, 20_000);
      await server.stop();
    }
    load.push(loadAverage());
  }
  const top = steps[steps.length - 1];
  const sgTop = figures.signalgate[`rssMbAt${top}`];
  return {
    params: { connections, settleSeconds, openFileLimit: limit }, figures,
    perConnectionKb: Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Math.round(((v[`rssMbAt${top}`] - v.rssMbAt1000) * 1024) / (top - 1000))])),
    target: { rssMbAt10000: 400, measured: sgTop, met: top === 10_000 && sgTop <= 400 },
    load,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runMemory({ connections: arg('connections', 10_000), settleSeconds: arg('settle', 3) });
  saveResult('memory', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
