#!/usr/bin/env node
// The CONNECT lookup on PostgreSQL by driver (issue 17: "pg, its pipeline mode or pool; or
// postgres.js: measure and say why"). The statement is the store's own (shared/src/store/postgres/
// connectRecords.ts, taken from the build by running PgConnectRecords against a recording Sql), on a
// database the real store filled: one organisation with BENCH_RULES and `--tokens` (10,000) minted
// through services.tokens.mint, then ANALYZE (as autovacuum would soon). Each lookup is one random
// token's password hash, answered with its one row. Drivers, each with at most `--max` (10, the
// store's default pool) connections, all open for the whole run:
//   pg-pool-named   — pg.Pool, { name, text, values }: what the store does (guarded() in store.ts):
//                     parsed and planned once per connection
//   pg-pool-unnamed — pg.Pool, (text, values): the unnamed statement, parsed and planned per call
//   pg-pipeline     — `max` pg.Clients with `pipeline: true` (pg ≥ 8.21; a Pool cannot use it: it
//                     checks a client out per query), each lookup sent on the client with the fewest
//                     in flight, named statement
//   postgres.js     — postgres(url, { max }), sql.unsafe(text, [hash], { prepare: true }) (a tagged
//                     template is prepared by default; unsafe() needs it said): named statement, and
//                     queries pipelined on a busy connection when none is idle (max_pipeline 100)
// int8 parsed to Number on every driver, as the store's type parser does. Run at each of
// `--concurrency` (default 1,16,256) lookups in flight (async workers, each awaiting its lookup
// before the next) for `--seconds` per window, `--rounds` rounds after a 1 s warm-up per driver and
// level, the drivers' order rotated each round. Reported per driver and level: lookups/s, p50/p99
// latency (performance.now() around each lookup, so it includes waiting for a connection), client
// CPU per lookup (process.cpuUsage of this process: the driver plus the same small loop for all),
// PostgreSQL server CPU per lookup (the whole process tree, from /proc) and the connections the
// driver had open at the end of the window (pg_stat_activity by application_name).
//   node bench/pg-drivers.mjs [--tokens 10000] [--max 10] [--seconds 3] [--rounds 3] [--concurrency 1,16,256] [--only pg-pool-named,postgres.js]
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import postgres from 'postgres';
import { arg, latencySummary, loadAverage, median, root, round, saveResult, tempDir } from './lib/env.mjs';
import { BENCH_RULES, mintCredentials, openBuildServices } from './lib/servers.mjs';
import { startBenchPostgres } from './lib/postgres.mjs';

const sha256Hex = (s) => crypto.createHash('sha256').update(s).digest('hex');

/** The CONNECT statement exactly as the build under test sends it. */
async function connectStatement() {
  const { PgConnectRecords } = await import(path.join(root, 'shared', 'dist', 'store', 'postgres', 'connectRecords.js'));
  let text;
  await new PgConnectRecords({ query: async (t) => { text = t; return { rows: [] }; } }).byPasswordHash('x');
  return text;
}

// As the store (postgres/store.ts `types`): int8 and numeric as Number, for this driver's connections only.
const INT8 = 20;
const NUMERIC = 1700;
const pgTypes = { getTypeParser: (oid, format) => ((oid === INT8 || oid === NUMERIC) && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format ?? 'text')) };

async function openDrivers(url, sqlText, max, only) {
  const drivers = {};
  const want = (name) => !only || only.includes(name);
  if (want('pg-pool-named')) {
    const pool = new pg.Pool({ connectionString: url, max, types: pgTypes, application_name: 'pg-pool-named' });
    drivers['pg-pool-named'] = { lookup: async (h) => (await pool.query({ name: 'connect', text: sqlText, values: [h] })).rows, close: () => pool.end() };
  }
  if (want('pg-pool-unnamed')) {
    const pool = new pg.Pool({ connectionString: url, max, types: pgTypes, application_name: 'pg-pool-unnamed' });
    drivers['pg-pool-unnamed'] = { lookup: async (h) => (await pool.query(sqlText, [h])).rows, close: () => pool.end() };
  }
  if (want('pg-pipeline')) {
    const clients = [];
    for (let i = 0; i < max; i++) {
      const c = new pg.Client({ connectionString: url, types: pgTypes, application_name: 'pg-pipeline', pipeline: true });
      await c.connect();
      clients.push({ c, inFlight: 0 });
    }
    drivers['pg-pipeline'] = {
      async lookup(h) {
        let best = clients[0];
        for (const x of clients) if (x.inFlight < best.inFlight) best = x;
        best.inFlight++;
        try {
          return (await best.c.query({ name: 'connect', text: sqlText, values: [h] })).rows;
        } finally {
          best.inFlight--;
        }
      },
      close: () => Promise.all(clients.map((x) => x.c.end())),
    };
  }
  if (want('postgres.js')) {
    const sql = postgres(url, {
      max, prepare: true, onnotice: () => {}, connection: { application_name: 'postgres.js' },
      types: { bigint: { to: INT8, from: [INT8], serialize: (x) => x.toString(), parse: (x) => Number(x) } },
    });
    drivers['postgres.js'] = { lookup: (h) => sql.unsafe(sqlText, [h], { prepare: true }), close: () => sql.end({ timeout: 5 }) };
  }
  return drivers;
}

/** `concurrency` workers looking up random hashes for `ms`; every in-flight lookup is awaited before it returns. */
async function drive(server, lookup, hashes, concurrency, ms) {
  const latencies = [];
  let wrong = 0;
  const cpu0 = process.cpuUsage();
  const server0 = server.cpuMs();
  const t0 = performance.now();
  const until = t0 + ms;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      const h = hashes[Math.floor(Math.random() * hashes.length)];
      const s = performance.now();
      const rows = await lookup(h);
      latencies.push(performance.now() - s);
      if (rows.length !== 1 || rows[0].password_hash !== h) wrong++;
    }
  }));
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const n = latencies.length;
  return { lookups: n, perSecond: n / (elapsed / 1000), ...latencySummary(latencies), wrong,
    clientCpuUsPerLookup: (cpu.user + cpu.system) / n, serverCpuUsPerLookup: ((server.cpuMs() - server0) * 1000) / n };
}

export async function runPgDrivers({ tokens = 10_000, max = 10, seconds = 3, rounds = 3, levels = [1, 16, 256], only = null } = {}) {
  const load = [loadAverage()];
  const server = await startBenchPostgres({ label: 'drivers' });
  const url = await server.createDatabase('drivers');
  const settings = await server.settings();

  // Filled by the real store: the rows, indexes and statistics a deployment would have.
  const fillStart = performance.now();
  const services = await openBuildServices({ SIGNALGATE_DATA_DIR: tempDir('drivers'), SIGNALGATE_DATABASE_URL: url });
  const { org } = await services.orgs.create('bench');
  await services.rules.setDefault(org.id, BENCH_RULES);
  const creds = await mintCredentials(services, org.id, tokens);
  await services.store.close();
  const fillSeconds = round((performance.now() - fillStart) / 1000, 1);
  const hashes = creds.map((c) => sha256Hex(c.password));
  const sqlText = await connectStatement();

  const probe = new pg.Client({ connectionString: url });
  await probe.connect();
  await probe.query('ANALYZE');
  const plan = (await probe.query({ text: `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${sqlText}`, values: [hashes[0]] })).rows.map((r) => r['QUERY PLAN']);
  const connectionsOf = async () => Object.fromEntries((await probe.query(
    "SELECT application_name AS name, count(*)::int AS n FROM pg_stat_activity WHERE datname = 'drivers' GROUP BY 1",
  )).rows.map((r) => [r.name, r.n]));

  const drivers = await openDrivers(url, sqlText, max, only);
  const names = Object.keys(drivers);
  for (const name of names) { // every driver finds the same row
    const rows = await drivers[name].lookup(hashes[1]);
    if (rows.length !== 1 || rows[0].id !== creds[1].tokenId) throw new Error(`${name}: the lookup did not find token ${creds[1].tokenId}`);
  }

  const byLevel = {};
  try {
    for (const concurrency of levels) {
      for (const name of names) await drive(server, drivers[name].lookup, hashes, concurrency, 1000); // warm-up
      const runs = Object.fromEntries(names.map((n) => [n, []]));
      for (let r = 0; r < rounds; r++) {
        for (let k = 0; k < names.length; k++) {
          const name = names[(k + r) % names.length];
          const x = await drive(server, drivers[name].lookup, hashes, concurrency, seconds * 1000);
          runs[name].push({ ...x, connections: (await connectionsOf())[name] ?? 0 });
        }
        load.push({ concurrency, round: r + 1, ...loadAverage() });
      }
      byLevel[concurrency] = runs;
    }
  } finally {
    for (const d of Object.values(drivers)) await d.close();
    await probe.end();
    await server.stop();
  }

  const summary = (list) => ({
    perSecond: Math.round(median(list.map((x) => x.perSecond))), rounds: list.map((x) => Math.round(x.perSecond)),
    p50Ms: round(median(list.map((x) => x.p50)), 3), p99Ms: round(median(list.map((x) => x.p99)), 3),
    clientCpuUsPerLookup: round(median(list.map((x) => x.clientCpuUsPerLookup)), 1), clientCpuRounds: list.map((x) => round(x.clientCpuUsPerLookup, 1)),
    serverCpuUsPerLookup: round(median(list.map((x) => x.serverCpuUsPerLookup)), 1), serverCpuRounds: list.map((x) => round(x.serverCpuUsPerLookup, 1)),
    connections: Math.max(...list.map((x) => x.connections)), lookups: list.reduce((a, x) => a + x.lookups, 0), wrong: list.reduce((a, x) => a + x.wrong, 0),
  });
  const base = 'pg-pool-named';
  const out = {};
  for (const [concurrency, runs] of Object.entries(byLevel)) {
    out[concurrency] = {
      figures: Object.fromEntries(names.map((n) => [n, summary(runs[n])])),
      // vs the store's way, round by round: rate = this ÷ named; cpu = named's CPU per lookup ÷ this (below 1: this costs more).
      vsPoolNamed: runs[base] ? Object.fromEntries(names.filter((n) => n !== base).map((n) => [n, {
        rate: round(median(runs[n].map((x, i) => x.perSecond / runs[base][i].perSecond)), 3),
        clientCpu: round(median(runs[n].map((x, i) => runs[base][i].clientCpuUsPerLookup / x.clientCpuUsPerLookup)), 3),
        serverCpu: round(median(runs[n].map((x, i) => runs[base][i].serverCpuUsPerLookup / x.serverCpuUsPerLookup)), 3),
      }])) : null,
    };
  }
  return {
    params: { tokens, max, seconds, rounds, levels }, postgres: settings, fillSeconds,
    versions: Object.fromEntries(['pg', 'postgres'].map((p) => [p, JSON.parse(fs.readFileSync(new URL(`../node_modules/${p}/package.json`, import.meta.url), 'utf8')).version])),
    plan, levels: out, load,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = arg('only', null)?.split(',') ?? null;
  const result = await runPgDrivers({
    tokens: arg('tokens', 10_000), max: arg('max', 10), seconds: arg('seconds', 3), rounds: arg('rounds', 3),
    levels: String(arg('concurrency', '1,16,256')).split(',').map(Number), only,
  });
  saveResult(only ? 'pg-drivers-some' : 'pg-drivers', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
