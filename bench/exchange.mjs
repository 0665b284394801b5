#!/usr/bin/env node
// The token service of issue 12 against the mint it sits beside and the HTTP floor, in the same
// rounds: requests/s and p50/p99 latency over `--connections` keep-alive connections (wrk, one
// thread, as bench/mint.mjs) for
//   bare       — bare Express 5 + express.json() answering a token-sized body (bench/servers/bare-express.mjs)
//   create     — POST /v2/tokens/create, secret key in the body, key cache on (the default 300 s): after
//                the warm-up every request is a cache hit, so no argon2 in the measured rounds
//   create-nocache — the same on a second server with SIGNALGATE_KEY_CACHE_SECONDS=0: argon2id on
//                every request (what a cache miss costs); `--no-uncached` leaves it out
//   hs256      — POST /v2/tokens/exchange with a Supabase-style HS256 JWT (shared-secret provider)
//   rs256      — POST /v2/tokens/exchange with an RS256 JWT from an `oidc` provider whose JWKS is
//                served on loopback by this process (fetched once by the API, then cached: counted)
// Every request is a different user: create numbers user_id/user_email, and each exchange sends
// its own pre-signed JWT (distinct `sub`, signed between rounds, so signing never competes with the
// server). Variants take turns in that order (create-nocache last) each round, with a 1.5 s pause
// after each; beside the rate, the server's CPU time per answered request (from /proc, over the
// window and the pause), steadier than rates on shared cores. Ratios are medians of per-round
// ratios, against create and against bare, for the rate and (as `cpu`, other ÷ this) for CPU. Also in-process:
// microseconds per IdentityVerifier.verify for each provider (the JWT check alone, 32 in flight).
//   node bench/exchange.mjs [--seconds 5] [--connections 32] [--rounds 3] [--no-uncached] [--only create,rs256]
// (`--only` runs some variants, saved apart as bench/results/exchange-some.json; with
// BENCH_PROFILE_DIR=dir, one variant per run gives a CPU profile of the API under that load alone.)
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { arg, cpuMs, loadAverage, median, round, saveResult, sleep, tempDir } from './lib/env.mjs';
import { LUA_DONE, runWrk, startBareExpress, WRK } from './lib/wrk.mjs';
import { ensureDebianPackage, prepareSignalGate, sharedPackage, startSignalGate } from './lib/servers.mjs';

const SUPABASE_ISSUER = 'https://benchproject.supabase.co/auth/v1';
const SUPABASE_SECRET = crypto.randomBytes(48).toString('base64'); // Supabase's legacy JWT secrets are 40+ characters
const OIDC_AUDIENCE = 'signalgate-bench';
const KID = 'bench-rs256-1';
const SETTLE_MS = 1500; // after each window: requests still in flight finish before the next window starts

/** The static JWKS on loopback, counting how often the API fetched it. */
async function startJwksServer(publicJwk) {
  const body = JSON.stringify({ keys: [{ ...publicJwk, kid: KID, alg: 'RS256', use: 'sig' }] });
  let fetches = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/jwks.json') {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    } else res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { issuer: base, jwksUrl: `${base}/jwks.json`, fetches: () => fetches, stop: () => new Promise((r) => server.close(r)) };
}

/** Signers of the two providers' tokens: a fresh user (sub, email) per call. */
function tokenSigners(rsaPrivateKey, oidcIssuer) {
  const hsKey = new TextEncoder().encode(SUPABASE_SECRET);
  const now = () => Math.floor(Date.now() / 1000);
  return {
    // The claims of a Supabase access token (supabase.com/docs/guides/auth/jwt-fields).
    hs256: (n) => new SignJWT({ email: `hs-${n}@bench.example`, phone: '', role: 'authenticated', aal: 'aal1', session_id: crypto.randomUUID(),
      is_anonymous: false, app_metadata: { provider: 'email', providers: ['email'] }, user_metadata: {} })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuer(SUPABASE_ISSUER).setSubject(crypto.randomUUID()).setAudience('authenticated')
      .setIssuedAt(now()).setExpirationTime(now() + 3600).sign(hsKey),
    rs256: (n) => new SignJWT({ email: `rs-${n}@bench.example`, email_verified: true, name: `Bench User ${n}` })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: KID }).setIssuer(oidcIssuer).setSubject(`oidc|${n}`).setAudience(OIDC_AUDIENCE)
      .setIssuedAt(now()).setExpirationTime(now() + 3600).sign(rsaPrivateKey),
  };
}

async function signMany(sign, from, count) {
  const out = new Array(count);
  for (let i = 0; i < count; i++) out[i] = await sign(from + i);
  return out;
}

// One Lua state (one thread). Exchange: one token per request from a file, wrapping around (and
// saying how many were reused) only if the round outran the tokens signed for it.
const createScript = ({ orgId, secretKey, from }) => `
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
local n = ${from}
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format('{"organization_id":"${orgId}","secret_key":"${secretKey}","user_id":"create-%d","user_email":"create-%d@bench.example","ttl_seconds":3600}', n, n))
end
${LUA_DONE}`;

const exchangeScript = ({ orgId, tokensFile }) => `
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
local tokens = {}
for line in io.lines("${tokensFile}") do tokens[#tokens + 1] = line end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"organization_id":"${orgId}","token":"' .. tokens[((n - 1) % #tokens) + 1] .. '"}')
end
${LUA_DONE}`;

const wrk = (url, script, opts) => runWrk(url, script, { ...opts, name: 'exchange' });

/** One request of each kind before any load: the routes answer 200 (and the API fetches the JWKS here). */
async function checkOnce(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200 || !JSON.parse(text).mqtt_credentials?.password) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 300)}`);
}

/**
 * Microseconds of wall time per verify, in-process, 32 verifies in flight (jose's WebCrypto calls
 * are asynchronous, so this is the inverse of one core's verify throughput), with the verifier the
 * exchange service uses. For reference, jose's jwtVerify on the same HS256 tokens with the secret
 * imported once as a CryptoKey: IdentityVerifier passes the secret's bytes, which jose imports again
 * on every call.
 */
async function verifyCost(shared, providers, signers) {
  const verifier = new shared.IdentityVerifier();
  const hsKey = await crypto.webcrypto.subtle.importKey('raw', new TextEncoder().encode(SUPABASE_SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const kinds = {
    hs256: ['hs256', (jwt) => verifier.verify(providers.hs256, jwt)],
    rs256: ['rs256', (jwt) => verifier.verify(providers.rs256, jwt)],
    hs256PreimportedKeyJose: ['hs256', (jwt) => jwtVerify(jwt, hsKey, { issuer: SUPABASE_ISSUER, audience: 'authenticated', algorithms: ['HS256'] })],
  };
  const n = 3000;
  const jwts = { hs256: await signMany(signers.hs256, 10_000_000, n), rs256: await signMany(signers.rs256, 10_000_000, n) };
  const out = {};
  for (let rep = 0; rep < 3; rep++) { // the last of three passes (the first warms up; RS256 fetches the JWKS)
    for (const [label, [kind, verify]] of Object.entries(kinds)) {
      const list = jwts[kind];
      let next = 0;
      const t0 = process.hrtime.bigint();
      await Promise.all(Array.from({ length: 32 }, async () => { while (next < list.length) await verify(list[next++]); }));
      out[`${label}Us`] = round(Number(process.hrtime.bigint() - t0) / n / 1000, 1);
    }
  }
  return out;
}

export async function runExchange({ seconds = 5, connections = 32, rounds = 3, uncached = true, only = null } = {}) {
  ensureDebianPackage(WRK, 'wrk');
  const load = [loadAverage()];
  const { publicKey, privateKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const jwks = await startJwksServer(await exportJWK(publicKey));
  const signers = tokenSigners(privateKey, jwks.issuer);

  const setUp = async (label) => {
    const sg = await prepareSignalGate({ label });
    const hs256 = await sg.services.providers.add(sg.orgId, { name: 'supabase', type: 'supabase', issuer: SUPABASE_ISSUER, secret: SUPABASE_SECRET }, 'operator');
    const rs256 = await sg.services.providers.add(sg.orgId, { name: 'oidc', type: 'oidc', issuer: jwks.issuer, jwksUrl: jwks.jwksUrl, audience: OIDC_AUDIENCE }, 'operator');
    await sg.services.store.close();
    return { ...sg, providers: { hs256, rs256 } };
  };
  const sg = await setUp('exchange');
  const shared = await sharedPackage();
  const verify = await verifyCost(shared, sg.providers, signers);
  const fetchesBefore = jwks.fetches(); // the in-process verifier's own fetch

  const server = await startSignalGate({ dataDir: sg.dataDir, api: true, env: { SIGNALGATE_MQTT_PORT: 'off' } });
  const bare = await startBareExpress();
  let cold = null;
  if (uncached) {
    const sgCold = await setUp('exchange-nocache');
    cold = { ...sgCold, server: await startSignalGate({ dataDir: sgCold.dataDir, api: true, env: { SIGNALGATE_MQTT_PORT: 'off', SIGNALGATE_KEY_CACHE_SECONDS: '0' } }) };
  }

  let users = 0; // create's user counter, across rounds
  let signed = 0; // JWT subjects used so far, across rounds and providers
  const exchangeUrl = `${server.apiUrl}/v2/tokens/exchange`;
  // create-nocache last: its argon2 calls still in flight when wrk stops would otherwise run into
  // the next variant's window (each variant is also followed by a pause, and measured by CPU time).
  const variants = [
    { name: 'bare', pid: bare.pid, url: `${bare.url}/v2/tokens`, script: () => createScript({ orgId: sg.orgId, secretKey: sg.secretKey, from: 0 }) },
    { name: 'create', pid: server.pid, url: `${server.apiUrl}/v2/tokens/create`, script: (expected) => { const s = createScript({ orgId: sg.orgId, secretKey: sg.secretKey, from: users }); users += expected; return s; } },
    ...['hs256', 'rs256'].map((kind) => ({
      name: kind, pid: server.pid, url: exchangeUrl, tokens: 0,
      async script(expected) {
        const jwts = await signMany(signers[kind], signed, expected);
        signed += expected;
        this.tokens = expected;
        const tokensFile = path.join(tempDir(`jwt-${kind}`), 'tokens.txt');
        fs.writeFileSync(tokensFile, jwts.join('\n') + '\n');
        return exchangeScript({ orgId: sg.orgId, tokensFile });
      },
    })),
    ...(cold ? [{ name: 'create-nocache', pid: cold.server.pid, url: `${cold.server.apiUrl}/v2/tokens/create`, script: (expected) => { const s = createScript({ orgId: cold.orgId, secretKey: cold.secretKey, from: users }); users += expected; return s; } }] : []),
  ];
  if (only) variants.splice(0, variants.length, ...variants.filter((v) => only.includes(v.name)));
  /** One measured window: the server's CPU time from the start until it has settled, per answered request. */
  const measure = async (v, script, seconds) => {
    const cpu0 = cpuMs(v.pid);
    const r = await wrk(v.url, script, { seconds, connections });
    await sleep(SETTLE_MS);
    return { ...r, cpuUsPerRequest: ((cpuMs(v.pid) - cpu0) * 1000) / Math.max(1, r.requests - r.non2xx) };
  };
  const runs = Object.fromEntries(variants.map((v) => [v.name, []]));
  try {
    await checkOnce(`${server.apiUrl}/v2/tokens/create`, { organization_id: sg.orgId, secret_key: sg.secretKey, user_email: 'check@bench.example', user_id: 'check' });
    if (cold) await checkOnce(`${cold.server.apiUrl}/v2/tokens/create`, { organization_id: cold.orgId, secret_key: cold.secretKey, user_email: 'check@bench.example', user_id: 'check' });
    await checkOnce(exchangeUrl, { organization_id: sg.orgId, token: await signers.hs256('check') });
    await checkOnce(exchangeUrl, { organization_id: sg.orgId, token: await signers.rs256('check') });
    // Warm-up (JIT, statement caches, the key cache): 1 s each, tokens for up to 4,000 requests/s.
    const rate = {};
    for (const v of variants) {
      const r = await measure(v, await v.script(4000), 1);
      rate[v.name] = r.rps;
    }
    for (let round_ = 0; round_ < rounds; round_++) {
      for (const v of variants) {
        // Enough distinct users for 1.5× the best rate seen so far, plus a margin.
        const expected = Math.ceil(Math.max(rate[v.name], ...runs[v.name].map((x) => x.rps)) * seconds * 1.5) + 1000;
        const script = await v.script(expected);
        const r = await measure(v, script, seconds);
        runs[v.name].push({ ...r, ...(v.tokens ? { tokens: v.tokens, reused: Math.max(0, r.requests - v.tokens) } : {}) });
      }
      load.push(loadAverage());
    }
  } finally {
    await server.stop();
    await cold?.server.stop();
    bare.stop();
    await jwks.stop();
  }
  const summary = (list) => ({
    perSecond: Math.round(median(list.map((x) => x.rps))), rounds: list.map((x) => Math.round(x.rps)),
    p50Ms: median(list.map((x) => x.p50)), p99Ms: median(list.map((x) => x.p99)),
    serverCpuUsPerRequest: Math.round(median(list.map((x) => x.cpuUsPerRequest))), cpuRounds: list.map((x) => Math.round(x.cpuUsPerRequest)),
    non2xx: list.reduce((a, x) => a + x.non2xx, 0), errors: list.reduce((a, x) => a + x.errors, 0),
    ...(list[0]?.tokens !== undefined ? { reusedTokens: list.reduce((a, x) => a + x.reused, 0) } : {}),
  });
  // rate: a's requests/s ÷ b's; cpu: b's server CPU per request ÷ a's (as bench/lib/compare.mjs: below 1 = a costs more).
  const ratio = (a, b) => (!runs[a] || !runs[b] ? null : { rate: round(median(runs[a].map((x, i) => x.rps / runs[b][i].rps)), 3),
    cpu: round(median(runs[a].map((x, i) => runs[b][i].cpuUsPerRequest / x.cpuUsPerRequest)), 3),
  });
  const names = variants.map((v) => v.name);
  return {
    params: { seconds, connections, rounds, uncached, keyCacheSeconds: 300 },
    figures: Object.fromEntries(names.map((n) => [n, summary(runs[n])])),
    vsCreate: Object.fromEntries(names.filter((n) => n !== 'create').map((n) => [n, ratio(n, 'create')])),
    vsBare: Object.fromEntries(names.filter((n) => n !== 'bare').map((n) => [n, ratio(n, 'bare')])),
    verifyInProcess: verify,
    jwksFetchesByApi: jwks.fetches() - fetchesBefore,
    load,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = arg('only', null)?.split(',') ?? null;
  const result = await runExchange({ seconds: arg('seconds', 5), connections: arg('connections', 32), rounds: arg('rounds', 3),
    uncached: !process.argv.includes('--no-uncached') && (!only || only.includes('create-nocache')), only });
  saveResult(only ? 'exchange-some' : 'exchange', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
