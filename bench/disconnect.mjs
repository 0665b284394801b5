#!/usr/bin/env node
// How fast a live session ends when its credential stops being valid (SignalGate only: the peers
// have no revocation). `signalgate start` (API + broker in one process, default settings:
// SIGNALGATE_CHANGE_POLL_MS=200) on a fresh data dir.
//   revoke → disconnect: `--sessions` clients, each with its own token, are connected; the tokens
//     are revoked one at a time through the API (DELETE /v2/tokens/{id}, one every `--spacing`
//     ms) and the latency is "DELETE sent" → "client socket closed".
//   expiry → disconnect: as many clients whose tokens expire at staggered instants (every
//     `--spacing` ms, starting ~3 s out); the latency is "expires_at" → "client socket closed".
//     The tokens are minted with a clock set back by (TTL − wait), so the org's minimum TTL of
//     60 s holds and the bench still takes seconds.
//   node bench/disconnect.mjs [--sessions 250] [--spacing 10]
// Across processes, on each store (issue 17): `--store sqlite|postgres|both` runs instead the
// revoke → disconnect part with the broker (`start --broker-only`) and the API (`start --api-only`)
// as two processes on one store, so that the revoke reaches the broker only through the change
// feed: on SQLite the SIGNALGATE_CHANGE_POLL_MS poll (200 ms default) of the shared file, on
// PostgreSQL (a private durable server, bench/lib/postgres.mjs) the NOTIFY that wakes the broker's
// LISTEN connection. Two latencies per revoke: "DELETE sent" → "socket closed" (includes the API's
// durable COMMIT) and "200 received" → "socket closed" (the change feed and the broker alone).
//   node bench/disconnect.mjs --store both [--sessions 250] [--spacing 10] [--rounds 1]
import { arg, latencySummary, loadAverage, saveResult, sleep, within } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket } from './lib/mqttLoad.mjs';
import { mintCredentials, openBuildServices, prepareSignalGate, startSignalGate } from './lib/servers.mjs';
import { startBenchPostgres } from './lib/postgres.mjs';
import { parseStores, prepareStore } from './lib/stores.mjs';

async function connectAll(server, creds, prefix) {
  const res = await connectMany({ port: server.port, concurrency: 50, connects: creds.map((c, i) => connectPacket({ clientId: `${prefix}${i}`, username: c.username, password: c.password })) });
  if (res.failures.length) throw new Error(`${res.failures.length} clients could not connect: ${res.failures[0]}`);
  for (const c of res.clients) c.cred = creds[c.index];
  return res.clients;
}

/** Resolves with the close time (performance.now()) of each client, or NaN if still open after `ms`. */
function closeTimes(clients, ms) {
  return Promise.all(clients.map((c) => new Promise((resolve) => {
    if (c.socket.destroyed) return resolve(c.closedAt);
    const timer = setTimeout(() => resolve(NaN), ms);
    c.socket.once('close', () => {
      clearTimeout(timer);
      resolve(c.closedAt);
    });
  })));
}

export async function runDisconnect({ sessions = 250, spacingMs = 10 } = {}) {
  const load = [loadAverage()];
  const sg = await prepareSignalGate({ tokens: sessions, label: 'disconnect' });
  const server = await startSignalGate({ dataDir: sg.dataDir, api: true });
  try {
    // --- revoke → disconnect
    const clients = await connectAll(server, sg.creds, 'r');
    const closed = closeTimes(clients, 30_000);
    const sentAt = [];
    const statuses = [];
    await within(120_000, 'revokes', async () => {
      for (let i = 0; i < clients.length; i++) {
        const c = clients[i];
        sentAt[i] = performance.now();
        const res = await fetch(`${server.apiUrl}/v2/tokens/${c.cred.tokenId}`, { method: 'DELETE', headers: { authorization: `Bearer ${sg.secretKey}` } });
        statuses.push(res.status);
        await res.arrayBuffer();
        await sleep(spacingMs);
      }
    });
    const revokeTimes = await closed;
    const revokeLat = revokeTimes.map((t, i) => t - sentAt[i]);
    const revoke = { ...latencySummary(revokeLat.filter(Number.isFinite)), stillOpen: revokeLat.filter((x) => !Number.isFinite(x)).length, non200: statuses.filter((s) => s !== 200).length };
    load.push(loadAverage());

    // --- expiry → disconnect
    const ttlSeconds = 60;
    let fakeNow = null;
    await sg.services.store.close();
    const services = await openBuildServices({ SIGNALGATE_DATA_DIR: sg.dataDir }, () => fakeNow ?? Date.now());
    const firstIn = 3000 + sessions * 2; // time to connect them all first
    const base = Date.now() + firstIn;
    const expCreds = [];
    for (let i = 0; i < sessions; i++) {
      fakeNow = base + i * spacingMs - ttlSeconds * 1000;
      expCreds.push(...(await mintCredentials(services, sg.orgId, 1, ttlSeconds, `exp-${i}`)));
    }
    fakeNow = null;
    await services.store.close();
    const expClients = await connectAll(server, expCreds, 'e');
    const connectedBeforeExpiry = Date.now() < base;
    const expClosed = await closeTimes(expClients, firstIn + sessions * spacingMs + 10_000);
    // performance.now() → epoch ms for comparing with expires_at
    const offset = Date.now() - performance.now();
    const expLat = expClients.map((c, i) => expClosed[i] + offset - c.cred.expiresAt);
    const expiry = { ...latencySummary(expLat.filter(Number.isFinite)), stillOpen: expLat.filter((x) => !Number.isFinite(x)).length, connectedBeforeExpiry };
    load.push(loadAverage());
    await closeAll([...clients, ...expClients]);
    return {
      params: { sessions, spacingMs, changePollMs: 200 },
      figures: { revokeToDisconnect: revoke, expiryToDisconnect: expiry },
      target: { revokeP99Ms: 1000, met: revoke.p99 <= 1000 && revoke.stillOpen === 0 },
      load,
    };
  } finally {
    await server.stop();
  }
}

/** Revokes through an API process, sessions on a broker process, both on `store`'s data. */
async function revokeAcrossProcesses({ store, pg, sessions, spacingMs, round }) {
  const s = await prepareStore({ store, pg, database: `disconnect_${round}`, tokens: sessions, label: 'disconnect' });
  const broker = await startSignalGate({ dataDir: s.dataDir, env: s.env });
  const api = await startSignalGate({ dataDir: s.dataDir, apiOnly: true, env: { ...s.env, SIGNALGATE_MQTT_PORT: 'off' } });
  try {
    const clients = await connectAll(broker, s.creds, `r${round}-`);
    // One GET first: the API's key cache (argon2) and its pool are warm before the first DELETE.
    const warm = await fetch(`${api.apiUrl}/v2/tokens/${clients[0].cred.tokenId}`, { method: 'GET', headers: { authorization: `Bearer ${s.secretKey}` } });
    await warm.arrayBuffer();
    const closed = closeTimes(clients, 30_000);
    const sentAt = [];
    const answeredAt = [];
    const statuses = [];
    await within(300_000, 'revokes', async () => {
      for (let i = 0; i < clients.length; i++) {
        sentAt[i] = performance.now();
        const res = await fetch(`${api.apiUrl}/v2/tokens/${clients[i].cred.tokenId}`, { method: 'DELETE', headers: { authorization: `Bearer ${s.secretKey}` } });
        await res.arrayBuffer();
        answeredAt[i] = performance.now();
        statuses.push(res.status);
        await sleep(spacingMs);
      }
    });
    const times = await closed;
    await closeAll(clients);
    return { fromSent: times.map((t, i) => t - sentAt[i]), fromAnswered: times.map((t, i) => t - answeredAt[i]), deleteMs: answeredAt.map((t, i) => t - sentAt[i]), non200: statuses.filter((x) => x !== 200).length };
  } finally {
    await api.stop();
    await broker.stop();
  }
}

export async function runDisconnectStores({ stores = ['sqlite', 'postgres'], sessions = 250, spacingMs = 10, rounds = 1 } = {}) {
  const load = [loadAverage()];
  const pg = stores.includes('postgres') ? await startBenchPostgres({ label: 'disconnect' }) : null;
  const figures = {};
  try {
    for (const store of stores) {
      const all = { fromSent: [], fromAnswered: [], deleteMs: [], non200: 0 };
      for (let r = 0; r < rounds; r++) {
        const res = await revokeAcrossProcesses({ store, pg, sessions, spacingMs, round: r });
        for (const k of ['fromSent', 'fromAnswered', 'deleteMs']) all[k].push(...res[k]);
        all.non200 += res.non200;
        load.push({ store, round: r + 1, ...loadAverage() });
      }
      const summary = (list) => ({ ...latencySummary(list.filter(Number.isFinite)), stillOpen: list.filter((x) => !Number.isFinite(x)).length });
      figures[store] = { revokeSentToDisconnect: summary(all.fromSent), revokeAnsweredToDisconnect: summary(all.fromAnswered), deleteRequest: latencySummary(all.deleteMs), non200: all.non200 };
    }
  } finally {
    await pg?.stop();
  }
  return {
    params: { stores, sessions, spacingMs, rounds, changePollMs: 200, processes: 'broker and API apart', postgres: pg ? 'private, fsync on, synchronous_commit on' : undefined },
    figures,
    target: figures.postgres ? { postgresRevokeP99Ms: 50, met: figures.postgres.revokeSentToDisconnect.p99 <= 50 && figures.postgres.revokeSentToDisconnect.stillOpen === 0 } : undefined,
    load,
  };
}

if (import.meta.url === `file://${process.argv[1]}` && arg('store', null)) {
  const result = await runDisconnectStores({ stores: parseStores(arg('store', 'both')), sessions: arg('sessions', 250), spacingMs: arg('spacing', 10), rounds: arg('rounds', 1) });
  saveResult('disconnect-stores', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runDisconnect({ sessions: arg('sessions', 250), spacingMs: arg('spacing', 10) });
  saveResult('disconnect', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
