#!/usr/bin/env node
// Token mint throughput over keep-alive HTTP, and the cost of API-key verification with and without
// the in-memory cache. The server runs in its own process (`signalgate start --api-only`) so the
// load generator (autocannon) does not share its event loop. Needs a build: `npm run build`.
//   node bench/mint.mjs [--seconds 10] [--connections 32]
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'cli', 'dist', 'main.js');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('seconds', 10);
const connections = arg('connections', 32);

async function waitReady(url, ms = 20_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try { if ((await fetch(`${url}/readyz`)).ok) return; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('token API did not become ready');
}

async function runScenario(label, extraEnv) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-bench-'));
  const env = { ...process.env, SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'warn', SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false',
    SIGNALGATE_MINT_RATE_PER_KEY: '100000000', SIGNALGATE_MINT_RATE_PER_IP: '100000000', ...extraEnv };
  const { organization_id: orgId, secret_key: key } = JSON.parse(execFileSync('node', [cli, 'org', 'create', '--name', 'bench', '--json'], { env }).toString());
  const port = 18000 + Math.floor(Math.random() * 1000);
  const server = spawn('node', [cli, 'start', '--api-only'], { env: { ...env, SIGNALGATE_API_PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(url);
    let n = 0;
    const result = await autocannon({
      url: `${url}/v2/tokens`, connections, duration: seconds, pipelining: 1,
      requests: [{
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ user_id: `user-${n++ % 5000}`, organization_id: orgId, ttl_seconds: 3600 }) }),
      }],
    });
    const ok = result['2xx'];
    return { label, rps: Math.round(ok / result.duration), non2xx: result.non2xx, errors: result.errors, p50: result.latency.p50, p99: result.latency.p99 };
  } finally {
    server.kill('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function verifyCost() {
  const { createServices, loadConfig } = await import(path.join(root, 'shared', 'dist', 'index.js'));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-bench-'));
  const out = {};
  for (const [label, cacheSeconds] of [['cached', '300'], ['uncached', '0']]) {
    const services = createServices(loadConfig({ SIGNALGATE_DATA_DIR: path.join(dataDir, label), SIGNALGATE_KEY_CACHE_SECONDS: cacheSeconds }));
    const { secretKey } = await services.orgs.create('verify');
    await services.keys.verify(secretKey); // warm-up (argon2 first call, statement caches)
    const n = label === 'cached' ? 20_000 : 100;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await services.keys.verify(secretKey);
    out[label] = Number(process.hrtime.bigint() - t0) / n / 1000; // µs per verify
    services.store.close();
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  return out;
}

const verify = await verifyCost();
console.log(`key verification: cached ${verify.cached.toFixed(1)} µs/request, uncached (argon2id m=19MiB,t=2,p=1) ${(verify.uncached / 1000).toFixed(1)} ms/request`);
for (const [label, env] of [['key cache on (default)', {}], ['key cache off', { SIGNALGATE_KEY_CACHE_SECONDS: '0' }]]) {
  const r = await runScenario(label, env);
  console.log(`mint ${r.label}: ${r.rps} tokens/s over ${connections} keep-alive connections for ${seconds}s; p50 ${r.p50} ms, p99 ${r.p99} ms; non-2xx ${r.non2xx}, errors ${r.errors}`);
}
