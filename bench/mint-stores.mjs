#!/usr/bin/env node
// Mints per second on each store (issue 17), against the HTTP floor, in the same rounds:
// `POST /v2/tokens/create` (secret key in the body, key cache warm: no argon2 after the first
// request; every request a new user) on
//   sqlite         — the embedded store in the data dir (WAL, synchronous=NORMAL: a 200 survives a
//                    kill -9 of the API, not a power cut)
//   postgres       — SIGNALGATE_DATABASE_URL on a private PostgreSQL 15 (bench/lib/postgres.mjs):
//                    fsync on, synchronous_commit on, data on the disk: a 200 means the COMMIT's WAL
//                    was flushed; SERIALIZABLE transactions, the store's default pool (10)
//   postgres-async — the same server, its own database with `synchronous_commit = off` (ALTER
//                    DATABASE): what the WAL flush per commit costs (`--no-async` leaves it out)
//   bare           — bare Express 5 + express.json() answering the same body (bench/servers/bare-express.mjs)
// each API as `signalgate start --api-only`, wrk (one thread) as the client, at each of
// `--connections` (default 1,32,256: same levels for every variant). Variants take turns each round
// with a 1.5 s pause after each. Beside the rate: p50/p99, the API process's CPU per mint and the
// PostgreSQL server's CPU per mint (the whole process tree: postmaster, backends, WAL writer,
// checkpointer, autovacuum; from /proc, over the window and the pause; for sqlite and bare it is the
// idle server's own background, shown as a control), and the serialization failures PostgreSQL
// logged in the window (one ERROR line per refused attempt: the store retries each one, up to 30
// attempts). The store exposes no retry counter, so these are counted from the server's log;
// pg_stat_database's xact_rollback per database over the whole run is reported beside them.
//   node bench/mint-stores.mjs [--seconds 5] [--rounds 3] [--connections 1,32,256] [--pool 10] [--no-async] [--user-ids sequential|random]
// (`--user-ids random` is saved apart, as bench/results/mint-stores-random-users.json.)
import { arg, cpuMs, loadAverage, median, round, saveResult, sleep, tempDir } from './lib/env.mjs';
import { LUA_DONE, runWrk, startBareExpress, WRK } from './lib/wrk.mjs';
import { BENCH_RULES, ensureDebianPackage, openBuildServices, startSignalGate } from './lib/servers.mjs';
import { countRetryable, startBenchPostgres } from './lib/postgres.mjs';

const SETTLE_MS = 1500;

// One Lua state (one thread): a new user per request. `sequential`: numbered from `from` (distinct
// across rounds: mint-1, mint-2, …, so every new user lands on the right-most leaf page of the
// (org_id, user_id) index); `random`: 64 random bits in hex (new users spread over the index's leaf pages).
const createScript = ({ orgId, secretKey, from, userIds }) => `
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
local n = ${from}
math.randomseed(${from % 2147483647} + os.time())
request = function()
  n = n + 1
  local id = ${userIds === 'random' ? "string.format('%08x%08x', math.random(0, 2147483646), math.random(0, 2147483646))" : "string.format('mint-%d', n)"}
  return wrk.format(nil, nil, nil, string.format('{"organization_id":"${orgId}","secret_key":"${secretKey}","user_id":"%s","user_email":"%s@bench.example","ttl_seconds":3600}', id, id))
end
${LUA_DONE}`;

const wrk = (url, script, opts) => runWrk(url, script, { ...opts, name: 'mint' });

/** A data dir (and, with `databaseUrl`, a PostgreSQL database) holding one organisation with BENCH_RULES. */
async function prepareStore(label, databaseUrl) {
  const dataDir = tempDir(label);
  const env = { SIGNALGATE_DATA_DIR: dataDir, ...(databaseUrl ? { SIGNALGATE_DATABASE_URL: databaseUrl } : {}) };
  const services = await openBuildServices(env);
  const { org, secretKey } = await services.orgs.create('bench');
  await services.rules.setDefault(org.id, BENCH_RULES);
  await services.store.close();
  return { dataDir, env, orgId: org.id, secretKey };
}

async function checkOnce(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200 || !JSON.parse(text).mqtt_credentials?.password) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 300)}`);
}

export async function runMintStores({ seconds = 5, rounds = 3, levels = [1, 32, 256], pool = 10, async: withAsync = true, userIds = 'sequential' } = {}) {
  ensureDebianPackage(WRK, 'wrk');
  const load = [loadAverage()];
  const pg = await startBenchPostgres({ label: 'mint' });
  const pgSettings = await pg.settings();
  const stores = {
    sqlite: await prepareStore('mint-sqlite', null),
    postgres: await prepareStore('mint-pg', await pg.createDatabase('mint_sync')),
    ...(withAsync ? { 'postgres-async': await prepareStore('mint-pg-async', await pg.createDatabase('mint_async', { set: { synchronous_commit: 'off' } })) } : {}),
  };
  const servers = {};
  for (const [name, s] of Object.entries(stores)) {
    servers[name] = await startSignalGate({ dataDir: s.dataDir, apiOnly: true, env: { ...s.env, SIGNALGATE_MQTT_PORT: 'off', SIGNALGATE_DATABASE_POOL: String(pool) } });
  }
  const bare = await startBareExpress();
  const xactStats = () => pg.admin(async (c) => Object.fromEntries((await c.query(
    "SELECT datname, xact_commit::int8::text AS commit, xact_rollback::int8::text AS rollback FROM pg_stat_database WHERE datname LIKE 'mint_%'",
  )).rows.map((r) => [r.datname, { commit: Number(r.commit), rollback: Number(r.rollback) }])));

  let users = 0; // distinct user ids across every window
  const variants = [
    { name: 'bare', pid: bare.pid, url: `${bare.url}/v2/tokens`, store: stores.sqlite },
    ...Object.keys(stores).map((name) => ({ name, pid: servers[name].pid, url: `${servers[name].apiUrl}/v2/tokens/create`, store: stores[name] })),
  ];
  const measure = async (v, connections, secs) => {
    const script = createScript({ orgId: v.store.orgId, secretKey: v.store.secretKey, from: users, userIds });
    users += 1_000_000; // more than any window mints
    const api0 = cpuMs(v.pid);
    const pg0 = pg.cpuMs();
    const err0 = pg.errors().length;
    const r = await wrk(v.url, script, { seconds: secs, connections });
    await sleep(SETTLE_MS);
    const mints = Math.max(1, r.requests - r.non2xx);
    const retries = countRetryable(pg.errors().slice(err0));
    return { ...r, apiCpuUsPerMint: ((cpuMs(v.pid) - api0) * 1000) / mints, pgCpuUsPerMint: ((pg.cpuMs() - pg0) * 1000) / mints,
      serializationFailures: retries.serialization, deadlocks: retries.deadlock, otherPgErrors: retries.other };
  };

  const byLevel = {};
  const xact0 = await xactStats();
  try {
    for (const v of variants.filter((x) => x.name !== 'bare')) {
      await checkOnce(v.url, { organization_id: v.store.orgId, secret_key: v.store.secretKey, user_id: `check-${v.name}`, user_email: `check-${v.name}@bench.example` });
    }
    for (const connections of levels) {
      for (const v of variants) await measure(v, connections, 1); // warm-up (JIT, pools at this level, key cache)
      const runs = Object.fromEntries(variants.map((v) => [v.name, []]));
      for (let r = 0; r < rounds; r++) {
        for (const v of variants) runs[v.name].push(await measure(v, connections, seconds));
        load.push({ connections, round: r + 1, ...loadAverage() });
      }
      byLevel[connections] = runs;
    }
  } finally {
    for (const s of Object.values(servers)) await s.stop();
    bare.stop();
  }
  await sleep(11_000); // backends flush their statistics when idle, within PGSTAT_IDLE_INTERVAL (10 s)
  const xact1 = await xactStats();
  await pg.stop();

  const sum = (list, k) => list.reduce((a, x) => a + x[k], 0);
  const summary = (list) => ({
    perSecond: Math.round(median(list.map((x) => x.rps))), rounds: list.map((x) => Math.round(x.rps)),
    p50Ms: round(median(list.map((x) => x.p50))), p99Ms: round(median(list.map((x) => x.p99))),
    apiCpuUsPerMint: Math.round(median(list.map((x) => x.apiCpuUsPerMint))), apiCpuRounds: list.map((x) => Math.round(x.apiCpuUsPerMint)),
    pgCpuUsPerMint: Math.round(median(list.map((x) => x.pgCpuUsPerMint))), pgCpuRounds: list.map((x) => Math.round(x.pgCpuUsPerMint)),
    mints: sum(list, 'requests') - sum(list, 'non2xx'), non2xx: sum(list, 'non2xx'), errors: sum(list, 'errors'),
    serializationFailures: sum(list, 'serializationFailures'), deadlocks: sum(list, 'deadlocks'), otherPgErrors: sum(list, 'otherPgErrors'),
  });
  // rate: a's mints/s ÷ b's; apiCpu: b's API CPU per request ÷ a's (below 1: a costs more), as elsewhere in RESULTS.md.
  const ratio = (runs, a, b) => ({
    rate: round(median(runs[a].map((x, i) => x.rps / runs[b][i].rps)), 3),
    apiCpu: round(median(runs[a].map((x, i) => runs[b][i].apiCpuUsPerMint / x.apiCpuUsPerMint)), 3),
  });
  const levelsOut = {};
  for (const [connections, runs] of Object.entries(byLevel)) {
    const names = Object.keys(runs);
    levelsOut[connections] = {
      figures: Object.fromEntries(names.map((n) => [n, summary(runs[n])])),
      vsBare: Object.fromEntries(names.filter((n) => n !== 'bare').map((n) => [n, ratio(runs, n, 'bare')])),
      vsSqlite: Object.fromEntries(names.filter((n) => n.startsWith('postgres')).map((n) => [n, ratio(runs, n, 'sqlite')])),
    };
  }
  const xact = Object.fromEntries(Object.keys(xact1).map((db) => [db, { commits: xact1[db].commit - (xact0[db]?.commit ?? 0), rollbacks: xact1[db].rollback - (xact0[db]?.rollback ?? 0) }]));
  return { params: { seconds, rounds, levels, pool, userIds, settleMs: SETTLE_MS }, postgres: pgSettings, levels: levelsOut, pgStatDatabaseWholeRun: xact, load };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runMintStores({
    seconds: arg('seconds', 5), rounds: arg('rounds', 3), pool: arg('pool', 10),
    levels: String(arg('connections', '1,32,256')).split(',').map(Number), async: !process.argv.includes('--no-async'), userIds: arg('user-ids', 'sequential'),
  });
  saveResult(result.params.userIds === 'random' ? 'mint-stores-random-users' : 'mint-stores', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
