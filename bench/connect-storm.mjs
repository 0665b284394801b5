#!/usr/bin/env node
// A cold-cache reconnect storm on each store (issue 17): `--clients` (10,000) distinct credentials
// are connected to `signalgate start --broker-only` (default cache settings), the broker is
// restarted (its credential cache is empty again), and every client reconnects at once: one
// process opening `--clients` sockets, each writing its CONNECT as soon as it is connected. A
// CONNACK 3 (server unavailable: the miss queue is full, README SIGNALGATE_CONNECT_CACHE_MISSES)
// or a socket closed before CONNACK is retried after 1 s ± 50 % (mqtt.js reconnects after 1 s),
// and so is a CONNECT with no CONNACK after `--connack-timeout` (30 s, mqtt.js's default): 10k SYNs at
// once overflow the listen queue (511), and a handshake the kernel drops there leaves the client
// believing it is connected to nothing. The kernel's ListenOverflows (/proc/net/netstat) over the
// storm are reported beside them.
// Recorded: time from the storm's first CONNECT until every client holds a CONNACK 0, the
// CONNACK 3 count and other failures, retries, the broker's CPU and the database's CPU over that
// time, and the store reads: on PostgreSQL the index scans of token_passwords (pg_stat_user_tables,
// one per CONNECT lookup; read after PostgreSQL's 10 s stats flush), on SQLite not observable
// from outside the process. SQLite: the data dir's file. PostgreSQL: a private durable server
// (bench/lib/postgres.mjs).
// The same storm against bare aedes 2 (a fresh process, no restart: nothing to be cold) follows as
// the baseline of what sockets, handshakes and CONNECT parsing cost alone (`--no-aedes`: left out).
//   node bench/connect-storm.mjs [--store sqlite|postgres|both] [--clients 10000] [--retry-ms 1000] [--connack-timeout 30000] [--no-aedes]
import fs from 'node:fs';
import pg from 'pg';
import { arg, cpuMs, latencySummary, loadAverage, openFileLimit, saveResult, sleep } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket, openClient } from './lib/mqttLoad.mjs';
import { startBareAedes, startSignalGate } from './lib/servers.mjs';
import { startBenchPostgres } from './lib/postgres.mjs';
import { parseStores, prepareStore } from './lib/stores.mjs';

/** Index scans of token_passwords so far: one per CONNECT lookup of a password hash. */
async function pgLookups(url) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(`SELECT idx_scan::int8::text AS n FROM pg_stat_user_tables WHERE relname = 'token_passwords'`);
    return Number(r.rows[0]?.n ?? NaN);
  } finally {
    await c.end();
  }
}

/** TcpExt ListenOverflows so far (handshakes dropped from a full accept queue, all sockets of this host). */
function listenOverflows() {
  const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0].split(' ');
  return Number(lines[1].split(' ')[names.indexOf('ListenOverflows')]);
}

/** Every client reconnects at once; each retries until CONNACK 0. */
async function storm(port, packets, retryMs, connackTimeoutMs) {
  const counts = { connack3: 0, otherRefusals: {}, connackTimeouts: 0, socketFailures: 0, retries: 0 };
  const attemptsOf = [];
  const clients = new Array(packets.length);
  const t0 = performance.now();
  const doneAt = [];
  await Promise.all(packets.map(async (packet, i) => {
    for (let attempt = 0; ; attempt++) {
      try {
        clients[i] = await openClient({ port, connect: packet, connackTimeoutMs });
        doneAt[i] = performance.now() - t0;
        attemptsOf[i] = attempt + 1;
        return;
      } catch (err) {
        if (err.returnCode === 3) counts.connack3++;
        else if (err.connackTimeout) counts.connackTimeouts++;
        else if (err.returnCode !== undefined) counts.otherRefusals[err.returnCode] = (counts.otherRefusals[err.returnCode] ?? 0) + 1;
        else counts.socketFailures++;
        if (attempt >= 60) throw new Error(`client ${i}: gave up after ${attempt + 1} attempts: ${err.message}`);
        counts.retries++;
        await sleep(retryMs * (0.5 + Math.random()));
      }
    }
  }));
  return { allConnectedMs: performance.now() - t0, connectedAt: latencySummary(doneAt), maxAttempts: Math.max(...attemptsOf), clients, ...counts };
}

/** The same storm at bare aedes 2 (no hooks, nothing to look up): what the sockets and the kernel cost alone. */
async function runBareAedes({ clients, retryMs, connackTimeoutMs }) {
  const server = await startBareAedes({ line: '2' });
  try {
    const packets = Array.from({ length: clients }, (_, i) => connectPacket({ clientId: `storm-${i}`, username: `u${i}`, password: 'x' }));
    const overflows0 = listenOverflows();
    const cpu0 = cpuMs(server.pid);
    const result = await storm(server.port, packets, retryMs, connackTimeoutMs);
    const kernelListenOverflows = listenOverflows() - overflows0;
    const brokerCpuMs = cpuMs(server.pid) - cpu0;
    const { clients: held, ...figures } = result;
    await closeAll(held);
    return { ...figures, kernelListenOverflows, brokerCpuMs, brokerCpuUsPerClient: Math.round((brokerCpuMs * 1000) / clients), load: loadAverage() };
  } finally {
    await server.stop();
  }
}

async function runStore({ store, pgServer, clients, retryMs, connackTimeoutMs }) {
  const s = await prepareStore({ store, pg: pgServer, database: `storm_${store}`, tokens: clients, label: 'storm' });
  const packets = s.creds.map((c, i) => connectPacket({ clientId: `storm-${i}`, username: c.username, password: c.password }));
  let broker = await startSignalGate({ dataDir: s.dataDir, env: s.env });
  const first = await connectMany({ port: broker.port, connects: packets, concurrency: 200, deadlineMs: 300_000 });
  if (first.failures.length) throw new Error(`${store}: ${first.failures.length} of the first connections failed: ${first.failures[0]}`);
  await broker.stop(); // every client's socket is closed by the broker going away
  await closeAll(first.clients, 1000);
  const port = broker.port;
  broker = await startSignalGate({ dataDir: s.dataDir, env: { ...s.env, SIGNALGATE_MQTT_PORT: String(port) } });
  try {
    await sleep(1000); // the new broker settled (its first feed read), cache empty
    const url = s.env.SIGNALGATE_DATABASE_URL;
    const reads0 = url ? await pgLookups(url) : NaN;
    const cpu0 = cpuMs(broker.pid);
    const db = store === 'postgres' ? pgServer : null;
    const pg0 = db?.cpuMs() ?? 0;
    const overflows0 = listenOverflows();
    const result = await storm(broker.port, packets, retryMs, connackTimeoutMs);
    const kernelListenOverflows = listenOverflows() - overflows0;
    const brokerCpuMs = cpuMs(broker.pid) - cpu0;
    const pgCpuMs = db ? db.cpuMs() - pg0 : null;
    const { clients: held, ...figures } = result;
    await closeAll(held);
    let storeReads = null;
    if (url) {
      await sleep(11_000); // backends flush their table statistics when idle, within 10 s
      storeReads = (await pgLookups(url)) - reads0;
    }
    return { ...figures, kernelListenOverflows, brokerCpuMs, brokerCpuUsPerClient: Math.round((brokerCpuMs * 1000) / clients), pgCpuMs,
      pgCpuUsPerClient: db ? Math.round((pgCpuMs * 1000) / clients) : null, storeReads, load: loadAverage() };
  } finally {
    await broker.stop();
  }
}

export async function runConnectStorm({ stores = ['sqlite', 'postgres'], clients = 10_000, retryMs = 1000, connackTimeoutMs = 30_000, withAedes = true } = {}) {
  const limit = openFileLimit();
  if (limit < clients + 200) throw new Error(`open-file limit ${limit} is below ${clients} connections: raise it (ulimit -n) first`);
  const load = [loadAverage()];
  const pgServer = stores.includes('postgres') ? await startBenchPostgres({ label: 'storm' }) : null;
  const figures = {};
  try {
    for (const store of stores) figures[store] = await runStore({ store, pgServer, clients, retryMs, connackTimeoutMs });
    if (withAedes) figures['aedes-2'] = await runBareAedes({ clients, retryMs, connackTimeoutMs });
  } finally {
    await pgServer?.stop();
  }
  load.push(loadAverage());
  return { params: { stores, withAedes, clients, retryMs, connackTimeoutMs, cacheSize: 10_000, concurrentMisses: 16, missQueue: 4096 }, figures, load };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runConnectStorm({ stores: parseStores(arg('store', 'both')), clients: arg('clients', 10_000), retryMs: arg('retry-ms', 1000), connackTimeoutMs: arg('connack-timeout', 30_000), withAedes: !process.argv.includes('--no-aedes') });
  saveResult('connect-storm', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
