#!/usr/bin/env node
// Where the bytes of one idle authenticated connection go (issue 14): the broker runs in a child
// process (SignalGate via @signalgate/broker's startBroker on a fresh data dir, or bare aedes 2 as
// bench/servers/bare-aedes.mjs builds it), this process connects N idle clients to it with minted
// tokens (bench/lib/mqttLoad.mjs: raw sockets, keep-alive 300 s), and the server takes a V8 heap
// snapshot and process.memoryUsage() after a forced GC at 0 connections (after a warm-up of a few
// connects) and at N. The two snapshots are compared per constructor: for each category the growth
// in objects and bytes ÷ N, where a category's bytes are its objects' own size plus the helper
// nodes they dominate (arrays, hidden/system nodes, Map/Set tables, strings, contexts of closures).
// Plain objects are named by their first property names ("Object{orgId,userId,…}"), closures by
// function name and source location, so per-client closures show one line each.
//   node bench/memory-profile.mjs [--connections 2000] [--protocol 4|5] [--targets signalgate,aedes-2]
//                                 [--keep DIR] (keeps the .heapsnapshot files there)
// (RSS is not reported here: taking the first snapshot grows it; bench/memory.mjs measures RSS.)
// Per-IP limit: SIGNALGATE_MAX_CONNECTIONS_PER_IP=10000000 (on, as in production, but never binding).
import { fork } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, root, round, saveResult, sleep, tempDir } from './lib/env.mjs';
import { closeAll, connectMany, connectPacket } from './lib/mqttLoad.mjs';
import { BENCH_RULES, mintCredentials, openBuildServices, sharedPackage } from './lib/servers.mjs';

const self = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------- server side (child process)
async function serve(target, dataDir, snapDir) {
  const inspector = await import('node:inspector');
  const v8 = await import('node:v8');
  const session = new inspector.Session();
  session.connect();
  const scripts = {};
  session.on('Debugger.scriptParsed', ({ params }) => { scripts[params.scriptId] = params.url; });
  session.post('Debugger.enable');
  let port;
  if (target === 'signalgate') {
    const { createLogger, loadConfig } = await sharedPackage();
    const env = {
      SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'warn', SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false',
      SIGNALGATE_MQTT_PORT: '0', SIGNALGATE_WS_PORT: 'off', SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off', SIGNALGATE_API_PORT: 'off',
      SIGNALGATE_MAX_CONNECTIONS_PER_IP: process.env.SIGNALGATE_MAX_CONNECTIONS_PER_IP ?? '10000000',
    };
    const config = loadConfig(env);
    const services = await openBuildServices(env);
    const { startBroker } = await import(path.join(root, 'broker', 'dist', 'index.js')); // the build under test (BENCH_ROOT)
    const broker = await startBroker({ config, services, logger: createLogger('warn') });
    port = broker.ports.mqtt;
  } else {
    const { Aedes } = await import('aedes');
    const aedes = await Aedes.createBroker();
    const server = net.createServer((socket) => { socket.setNoDelay(true); aedes.handle(socket); });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    port = server.address().port;
  }
  process.on('message', async ({ label }) => {
    for (let i = 0; i < 4; i++) { global.gc(); await sleep(100); }
    const mem = process.memoryUsage();
    const file = path.join(snapDir, `${target}-${label}.heapsnapshot`);
    v8.writeHeapSnapshot(file);
    process.send({ mem, file, scripts });
  });
  process.send({ port });
}

// ---------------------------------------------------------------- snapshot analysis
function analyse(file, scripts) {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
  const m = snap.snapshot.meta;
  const NF = m.node_fields.length, EF = m.edge_fields.length;
  const nTypes = m.node_types[0], eTypes = m.edge_fields.length && m.edge_types[0];
  const [fType, fName, , fSize, fEdges] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => m.node_fields.indexOf(f));
  const [feType, feName, feTo] = ['type', 'name_or_index', 'to_node'].map((f) => m.edge_fields.indexOf(f));
  const { nodes, edges, strings } = snap;
  const N = nodes.length / NF;
  const firstEdge = new Uint32Array(N + 1);
  for (let i = 0, e = 0; i < N; i++) { firstEdge[i] = e; e += nodes[i * NF + fEdges]; firstEdge[i + 1] = e; }
  const typeOf = (i) => nTypes[nodes[i * NF + fType]];
  const nameOf = (i) => strings[nodes[i * NF + fName]];
  const sizeOf = (i) => nodes[i * NF + fSize];
  const isWeak = (e) => eTypes[edges[e * EF + feType]] === 'weak' || eTypes[edges[e * EF + feType]] === 'shortcut';
  const edgeName = (e) => { const t = eTypes[edges[e * EF + feType]]; const v = edges[e * EF + feName]; return t === 'element' || t === 'hidden' ? String(v) : strings[v]; };
  const toOf = (e) => edges[e * EF + feTo] / NF;
  // closure locations: object_index, script_id, line, column
  const loc = new Map();
  const lf = snap.snapshot.meta.location_fields ?? [];
  for (let k = 0; k < (snap.locations ?? []).length; k += lf.length) loc.set(snap.locations[k] / NF, snap.locations.slice(k + 1, k + 4));
  const short = (url) => (url ?? '?').replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '').replace(/^\/tmp\/[^/]+\//, '');
  const keyOf = (i) => {
    const t = typeOf(i), name = nameOf(i);
    if (t === 'closure') {
      const l = loc.get(i);
      return `closure ${name || '(anon)'} @ ${l ? `${short(scripts[l[0]])}:${l[1] + 1}` : '?'}`;
    }
    if (t === 'object' && (name === 'Object' || name === 'system / Context')) {
      const props = [];
      const isCtx = name === 'system / Context';
      for (let e = firstEdge[i]; e < firstEdge[i + 1] && props.length < 6; e++) {
        const et = eTypes[edges[e * EF + feType]];
        if (et === 'property' || (isCtx && et === 'context')) { const n = edgeName(e); if (!n.startsWith('__proto__') && n !== 'map') props.push(n); }
      }
      return `${isCtx ? 'Context' : 'Object'}{${props.join(',')}}`;
    }
    if (t === 'object' && CONTAINERS.has(name)) return `${name} ← ${via(i)}`;
    if (t === 'object' || t === 'native') return `${t} ${name}`;
    return null; // helper node: attributed to its dominator
  };
  // A container (Array, Map, Set…) is named by what holds it: `Map ← SessionRegistry.byToken`.
  const CONTAINERS = new Set(['Array', 'Map', 'Set', 'WeakMap', 'WeakSet']);
  const plainName = (i) => {
    const t = typeOf(i), name = nameOf(i);
    if (t === 'closure') { const l = loc.get(i); return `closure ${name || '(anon)'}${l ? `@${short(scripts[l[0]]).split('/').pop()}:${l[1] + 1}` : ''}`; }
    if (name === 'Object' || name === 'system / Context') {
      const props = [];
      for (let e = firstEdge[i]; e < firstEdge[i + 1] && props.length < 3; e++) {
        const et = eTypes[edges[e * EF + feType]];
        if (et === 'property' || et === 'context') props.push(edgeName(e));
      }
      return `${name === 'Object' ? 'Object' : 'Context'}{${props.join(',')}}`;
    }
    return name;
  };
  function via(i, depth = 0) {
    for (let p = predStart[i]; p < predStart[i + 1]; p++) {
      const u = preds[p];
      if (u === 0) continue;
      let en = '?';
      for (let e = firstEdge[u]; e < firstEdge[u + 1]; e++) if (toOf(e) === i && !isWeak(e)) { en = edgeName(e); break; }
      if (en.includes('part of key')) en = '(weak map entry)'; // the edge name holds object ids
      // skip helper hops (property arrays, tables) to the object that owns them
      if (depth < 3 && (typeOf(u) === 'array' || typeOf(u) === 'hidden' || nameOf(u).startsWith('system /'))) {
        const up = via(u, depth + 1);
        return /^\d+$/.test(en) ? up : `${up}.${en}`;
      }
      return `${plainName(u)}.${en}`;
    }
    return '?';
  }
  // dominators (Cooper–Harvey–Kennedy), weak edges excluded, root = node 0
  const order = new Int32Array(N).fill(-1), post = new Uint32Array(N);
  let count = 0;
  { const stack = [0], it = new Uint32Array(N); order[0] = -2; it[0] = firstEdge[0];
    while (stack.length) {
      const v = stack[stack.length - 1];
      if (it[v] < firstEdge[v + 1]) {
        const e = it[v]++;
        if (isWeak(e)) continue;
        const w = toOf(e);
        if (order[w] === -1) { order[w] = -2; it[w] = firstEdge[w]; stack.push(w); }
      } else { stack.pop(); order[v] = count; post[count++] = v; }
    } }
  const predStart = new Uint32Array(N + 1), predCount = new Uint32Array(N);
  for (let v = 0; v < N; v++) if (order[v] >= 0) for (let e = firstEdge[v]; e < firstEdge[v + 1]; e++) if (!isWeak(e)) predCount[toOf(e)]++;
  for (let v = 0; v < N; v++) predStart[v + 1] = predStart[v] + predCount[v];
  const preds = new Uint32Array(predStart[N]); const fill = predStart.slice(0, N);
  for (let v = 0; v < N; v++) if (order[v] >= 0) for (let e = firstEdge[v]; e < firstEdge[v + 1]; e++) if (!isWeak(e)) preds[fill[toOf(e)]++] = v;
  const idom = new Int32Array(N).fill(-1); idom[0] = 0;
  const intersect = (a, b) => { while (a !== b) { while (order[a] < order[b]) a = idom[a]; while (order[b] < order[a]) b = idom[b]; } return a; };
  for (let changed = true; changed;) {
    changed = false;
    for (let k = count - 1; k >= 0; k--) {
      const v = post[k]; if (v === 0) continue;
      let d = -1;
      for (let p = predStart[v]; p < predStart[v + 1]; p++) { const u = preds[p]; if (idom[u] === -1) continue; d = d === -1 ? u : intersect(u, d); }
      if (d !== -1 && idom[v] !== d) { idom[v] = d; changed = true; }
    }
  }
  // owner of each node: itself if it has a key, else its nearest keyed dominator
  const owner = new Int32Array(N).fill(-1), keys = new Array(N);
  for (let k = count - 1; k >= 0; k--) { // reverse postorder: dominators first
    const v = post[k]; keys[v] = keyOf(v);
    owner[v] = keys[v] !== null || v === 0 ? v : owner[idom[v]];
  }
  const byKey = new Map();
  for (let v = 0; v < N; v++) {
    if (order[v] < 0) continue;
    const o = owner[v]; const key = o === 0 ? `(root) ${typeOf(v)}${typeOf(v) === 'object' || typeOf(v) === 'array' || typeOf(v) === 'hidden' ? ` ${nameOf(v)}` : ''}` : keys[o];
    let r = byKey.get(key); if (!r) byKey.set(key, (r = { n: 0, bytes: 0 }));
    r.bytes += sizeOf(v); if (o === v) r.n++;
  }
  return byKey;
}

// ---------------------------------------------------------------- driver
async function main() {
  const connections = arg('connections', 2000);
  const protocol = arg('protocol', 4);
  const targets = String(arg('targets', 'signalgate,aedes-2')).split(',');
  const keep = process.argv.includes('--keep') ? arg('keep', null) : null;
  const snapDir = keep ?? tempDir('snapshots');
  fs.mkdirSync(snapDir, { recursive: true });
  const warm = 20;
  const dataDir = tempDir('memprofile');
  const services = await openBuildServices({ SIGNALGATE_DATA_DIR: dataDir });
  const { org } = await services.orgs.create('bench');
  await services.rules.setDefault(org.id, BENCH_RULES);
  const creds = await mintCredentials(services, org.id, connections + warm);
  await services.store.close();
  const out = { params: { connections, protocol, warmup: warm, maxConnectionsPerIp: process.env.SIGNALGATE_MAX_CONNECTIONS_PER_IP ?? '10000000' }, targets: {} };
  for (const target of targets) {
    const child = fork(self, ['--serve', target, dataDir, snapDir], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const next = () => new Promise((r) => child.once('message', r));
    const { port } = await next();
    const packets = (from, to) => creds.slice(from, to).map((c, i) => connectPacket({ clientId: `p-${from + i}`, username: c.username, password: c.password, protocolVersion: protocol }));
    // warm-up: code paths compiled, lazy singletons built, before the baseline
    const w = await connectMany({ port, connects: packets(0, warm), concurrency: 10, protocolVersion: protocol });
    await sleep(500); await closeAll(w.clients); await sleep(1500);
    child.send({ label: '0' }); const at0 = await next();
    const res = await connectMany({ port, connects: packets(warm, warm + connections), concurrency: 100, protocolVersion: protocol });
    if (res.failures.length) throw new Error(`${target}: ${res.failures.length} connects failed (${res.failures[0]})`);
    await sleep(3000);
    child.send({ label: String(connections) }); const atN = await next();
    await closeAll(res.clients); child.kill('SIGKILL');
    const per = (a, b) => round((b - a) / connections, 0);
    const mem = Object.fromEntries(['heapUsed', 'heapTotal', 'external', 'arrayBuffers'].map((k) => [k, { at0: at0.mem[k], atN: atN.mem[k], perConnection: per(at0.mem[k], atN.mem[k]) }]));
    const [a, b] = [analyse(at0.file, at0.scripts), analyse(atN.file, atN.scripts)];
    const rows = [];
    let total = 0;
    for (const key of new Set([...a.keys(), ...b.keys()])) {
      const x = a.get(key) ?? { n: 0, bytes: 0 }, y = b.get(key) ?? { n: 0, bytes: 0 };
      const bytes = (y.bytes - x.bytes) / connections;
      total += bytes;
      if (Math.abs(bytes) >= 4) rows.push({ key, objectsPerConnection: round((y.n - x.n) / connections, 2), bytesPerConnection: round(bytes, 1) });
    }
    rows.sort((p, q) => q.bytesPerConnection - p.bytesPerConnection);
    const snapshotTotal = round(total, 0);
    out.targets[target] = { memory: mem, snapshotBytesPerConnection: snapshotTotal, categories: rows };
    if (!keep) for (const f of [at0.file, atN.file]) fs.rmSync(f, { force: true });
    console.error(`${target}: heapUsed ${mem.heapUsed.perConnection} B/conn, snapshot ${snapshotTotal} B/conn`);
  }
  if (out.targets.signalgate && out.targets['aedes-2']) out.signalgateMinusAedes = attribute(out.targets.signalgate, out.targets['aedes-2']);
  return out;
}

// What SignalGate's extra bytes per connection are, grouped by the code that allocates them (the
// categories are matched by name; read with broker/src open). Unmatched differences stay in `other`.
const ITEMS = [
  ['socket close listeners: once() wrappers + closures + contexts (sessions.ts open, sessionOwners.ts claim, listeners.ts trackSockets, connectionsPerAddress.ts admit) and the close listener array',
    /^closure native_bind|^Object\{fired,wrapFn|sessions\.js:89$|sessionOwners\.js:27$|listeners\.js:43$|connectionsPerAddress\.js:17$|^Context\{this,client\}$|^Context\{s\}$|^Context\{this,address\}$|^Array ← Object\{close,error,prefinish\}\.close$|^Set ← closure \(anon\)@listeners\.js/],
  ['socket error no-op listener (index.ts accept) and the error listener array', /index\.js:85$|^Array ← Object\{close,error,prefinish\}\.error$/],
  ['parser hooks: onParsed ×2 (decideSubscribes, rewriteUnsubscribes), gatePackets, answerUnsupportedVersion', /parsedPackets|hooks\/subscribe\.js|hooks\/unsubscribe\.js|packetGate|hooks\/connect\.js:101$|^Context\{rewrite|^Context\{client,ctx,metrics|^Context\{client,ctx\}$|^Context\{client,ctx,parser|^Array ← Object\{error,packet,__proto__\}\.error$/],
  ['ClientSession object (with the strings only it holds)', /^Object\{orgId,userId,userRef,tokenId/],
  ['EffectiveRights per connection (object, layers array, layer object, expanded publish/subscribe arrays)', /^object EffectiveRights$|^Array ← EffectiveRights|^Object\{publish,subscribe,presence,history\}$|^Array ← Object\{publish,subscribe,presence\}/],
  ['expiry timer per session (Timeout, TimersList per distinct duration, closure + context)', /^object Timeout$|^object TimersList$|sessions\.js:307$|^Context\{this,s,client\}$|PriorityQueue/],
  ['per-token Sets (SessionRegistry.byToken, SessionOwners.idsOfToken) and those Maps\' entries', /^Set ← Map\.table$|^Map ← SessionRegistry\.byToken$|^Map ← SessionOwners\.idsOfToken$/],
  ['hardenClient: prototype-less (dictionary-mode) subscriptions and duplicates objects', /^Object\{\}$/],
  ['wireCorrections: a Map per connection + WeakMap entry', /^Map ← Socket\.\(weak map entry\)$|^WeakMap ← .*corrections$/],
  ['session owner record + SessionOwners.byId entry', /^Object\{userRef,tokenId,client,revoked\}$|^Map ← SessionOwners\.byId$/],
  ['presence: user record + PresencePublisher.users entry', /^Object\{subject,announced\}$|^Map ← PresencePublisher\.users$/],
  ['session rows: SessionRowWriter.written key', /^Set ← SessionRowWriter\.written$/],
  ['connection info (protocol, address) + SessionRegistry WeakMap entries (connections, byClient)', /^Object\{protocol,address\}$|^WeakMap ← SessionRegistry/],
  ['socket.remoteAddress read (per-IP limits, connection info): Node caches the peer name object', /^Object\{address,family\}$/],
  ['org state clients Set entry', /^Set ← Object\{limits,clients,messages\}\.clients$/],
  ['strings and code held by several owners (token ids, org/client ids as keys, …)', /^\(root\)/],
];

export function attribute(sg, aedes) {
  const a = new Map(aedes.categories.map((c) => [c.key, c.bytesPerConnection]));
  const s = new Map(sg.categories.map((c) => [c.key, c.bytesPerConnection]));
  const items = ITEMS.map(([item]) => ({ item, bytesPerConnection: 0 }));
  const other = { item: 'other (each difference below 4 B per connection is not listed per category; module caches, noise)', bytesPerConnection: 0, largest: [] };
  for (const key of new Set([...a.keys(), ...s.keys()])) {
    const d = (s.get(key) ?? 0) - (a.get(key) ?? 0);
    const i = ITEMS.findIndex(([, re]) => re.test(key));
    if (i >= 0) items[i].bytesPerConnection += d;
    else { other.bytesPerConnection += d; if (Math.abs(d) >= 20) other.largest.push([key, round(d, 1)]); }
  }
  const total = sg.snapshotBytesPerConnection - aedes.snapshotBytesPerConnection;
  other.bytesPerConnection = total - items.reduce((t, x) => t + x.bytesPerConnection, 0);
  for (const x of [...items, other]) x.bytesPerConnection = round(x.bytesPerConnection, 0);
  return { totalBytesPerConnection: total, heapUsedBytesPerConnection: sg.memory.heapUsed.perConnection - aedes.memory.heapUsed.perConnection, items: [...items.sort((x, y) => y.bytesPerConnection - x.bytesPerConnection), other] };
}

if (process.argv[2] === '--serve') {
  await serve(process.argv[3], process.argv[4], process.argv[5]);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await main();
  saveResult(`memory-profile-v${result.params.protocol}`, result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
