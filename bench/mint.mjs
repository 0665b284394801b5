#!/usr/bin/env node
// Token mint throughput over keep-alive HTTP (POST /v2/tokens, Bearer sk_…), with the server in its
// own process (`signalgate start --api-only`) and wrk (C, one thread; Debian's package, installed on
// first use) as the client: on two shared cores a lighter client leaves more CPU to the server.
// `--client autocannon` uses autocannon (Node, in this process) instead. Reference in the same
// run: the HTTP ceiling, a bare Express 5 + express.json() route answering the same request with a
// token-sized body (bench/servers/bare-express.mjs). Also the cost of API-key verification with and
// without the in-memory cache, in-process.
// `--before DIR` also runs another build (a checkout or worktree, built) on its own data dir and
// alternates rounds with it: before/after of a change measured in one run.
//   node bench/mint.mjs [--seconds 5] [--connections 32] [--rounds 3] [--client wrk|autocannon] [--before /path/to/other/checkout]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import autocannon from 'autocannon';
import { arg, benchDir, loadAverage, median, round, saveResult, tempDir } from './lib/env.mjs';
import { ensureDebianPackage, openBuildServices, prepareSignalGate, startSignalGate, track } from './lib/servers.mjs';

const WRK = '/usr/bin/wrk';

// One Lua state (one thread): request() numbers the users like the autocannon client; done() prints JSON.
const wrkScript = (key, orgId) => `
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer ${key}"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format('{"user_id":"user-%d","organization_id":"${orgId}","ttl_seconds":3600}', n % 5000))
end
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format('{"requests":%d,"durationUs":%d,"non2xx":%d,"errors":%d,"p50Us":%d,"p99Us":%d}\\n',
    s.requests, s.duration, e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
`;

async function hammer(url, key, orgId, opts) {
  return opts.client === 'autocannon' ? hammerAutocannon(url, key, orgId, opts) : hammerWrk(url, key, orgId, opts);
}

async function hammerWrk(url, key, orgId, { seconds, connections }) {
  const script = path.join(tempDir('wrk'), 'mint.lua');
  fs.writeFileSync(script, wrkScript(key, orgId));
  const out = await new Promise((resolve, reject) => {
    const child = track(spawn(WRK, ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, `${url}/v2/tokens`], { stdio: ['ignore', 'pipe', 'inherit'] }));
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`))));
  });
  const r = JSON.parse(out.trim().split('\n').at(-1));
  return { rps: (r.requests - r.non2xx) / (r.durationUs / 1e6), non2xx: r.non2xx, errors: r.errors, p50: r.p50Us / 1000, p99: r.p99Us / 1000 };
}

async function hammerAutocannon(url, key, orgId, { seconds, connections }) {
  let n = 0;
  const result = await autocannon({
    url: `${url}/v2/tokens`, connections, duration: seconds, pipelining: 1,
    requests: [{
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      setupRequest: (req) => ({ ...req, body: JSON.stringify({ user_id: `user-${n++ % 5000}`, organization_id: orgId, ttl_seconds: 3600 }) }),
    }],
  });
  return { rps: result['2xx'] / result.duration, non2xx: result.non2xx, errors: result.errors, p50: result.latency.p50, p99: result.latency.p99 };
}

async function startBareExpress() {
  const child = track(spawn(process.execPath, [path.join(benchDir, 'servers', 'bare-express.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bare express exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${JSON.parse(line).port}`, stop: () => child.kill('SIGTERM') };
}

async function verifyCost() {
  const dataDir = tempDir('verify');
  const out = {};
  for (const [label, cacheSeconds] of [['cachedUs', '300'], ['uncachedUs', '0']]) {
    const services = await openBuildServices({ SIGNALGATE_DATA_DIR: path.join(dataDir, label), SIGNALGATE_KEY_CACHE_SECONDS: cacheSeconds });
    const { secretKey } = await services.orgs.create('verify');
    await services.keys.verify(secretKey); // warm-up (argon2 first call, statement caches)
    const n = label === 'cachedUs' ? 20_000 : 50;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await services.keys.verify(secretKey);
    out[label] = round(Number(process.hrtime.bigint() - t0) / n / 1000, 1);
    await services.store.close();
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  return out;
}

export async function runMint({ seconds = 5, connections = 32, rounds = 3, before = null, client = 'wrk' } = {}) {
  if (client === 'wrk') ensureDebianPackage(WRK, 'wrk');
  const load = [loadAverage()];
  const verify = await verifyCost();
  const sg = await prepareSignalGate({ label: 'mint' });
  await sg.services.store.close();
  const server = await startSignalGate({ dataDir: sg.dataDir, api: true, env: { SIGNALGATE_MQTT_PORT: 'off' } });
  const bare = await startBareExpress();
  let old = null;
  if (before) {
    const sgOld = await prepareSignalGate({ label: 'mint-before' });
    await sgOld.services.store.close();
    old = { ...sgOld, server: await startSignalGate({ dataDir: sgOld.dataDir, api: true, env: { SIGNALGATE_MQTT_PORT: 'off' }, buildRoot: before }) };
  }
  const runs = { signalgate: [], express: [], before: [] };
  try {
    await hammer(server.apiUrl, sg.secretKey, sg.orgId, { seconds: 1, connections, client }); // warm-up
    await hammer(bare.url, sg.secretKey, sg.orgId, { seconds: 1, connections, client });
    if (old) await hammer(old.server.apiUrl, old.secretKey, old.orgId, { seconds: 1, connections, client });
    for (let r = 0; r < rounds; r++) {
      runs.signalgate.push(await hammer(server.apiUrl, sg.secretKey, sg.orgId, { seconds, connections, client }));
      runs.express.push(await hammer(bare.url, sg.secretKey, sg.orgId, { seconds, connections, client }));
      if (old) runs.before.push(await hammer(old.server.apiUrl, old.secretKey, old.orgId, { seconds, connections, client }));
      load.push(loadAverage());
    }
  } finally {
    await server.stop();
    await old?.server.stop();
    bare.stop();
  }
  const summary = (list) => ({ perSecond: Math.round(median(list.map((x) => x.rps))), rounds: list.map((x) => Math.round(x.rps)),
    p50Ms: median(list.map((x) => x.p50)), p99Ms: median(list.map((x) => x.p99)), non2xx: list.reduce((a, x) => a + x.non2xx, 0), errors: list.reduce((a, x) => a + x.errors, 0) });
  const sgFig = summary(runs.signalgate);
  return {
    params: { seconds, connections, rounds, client },
    figures: { signalgate: sgFig, bareExpress: summary(runs.express), keyVerification: verify },
    ratioVsBareExpress: round(median(runs.signalgate.map((x, i) => x.rps / runs.express[i].rps)), 3),
    ...(old ? { before: { root: before, ...summary(runs.before), afterOverBefore: round(median(runs.signalgate.map((x, i) => x.rps / runs.before[i].rps)), 3) } } : {}),
    target: { perSecond: 5000, met: sgFig.perSecond >= 5000 },
    load,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runMint({ seconds: arg('seconds', 5), connections: arg('connections', 32), rounds: arg('rounds', 3), before: arg('before', null), client: arg('client', 'wrk') });
  saveResult(result.before ? 'mint-before-after' : 'mint', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
