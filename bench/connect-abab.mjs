#!/usr/bin/env node
// Two builds through the unchanged connect benchmark (bench/connect.mjs), alternating whole runs:
// A B A B … (`--pairs` of them), each run a separate process with BENCH_ROOT at its build, so each
// build prepares its own data dir with its own migrations and store code (unlike `connect.mjs
// --before`, where the build under test sets up both). Every run also measures bare aedes 2, bare
// aedes 1.2 and Mosquitto in its rounds, so each build's ratio to bare aedes 2 cancels the drift
// between runs. Reported per run and as medians: connects/s, server CPU µs per session
// (connect + disconnect), p50/p99, and B ÷ A of each. Results go to bench/results/connect-abab.json
// (bench/results/connect.json, the full run's, is left alone).
// `--interleaved` instead runs connect.mjs once on B with `--before A` (both builds in the same
// rounds, a few seconds apart: tighter against drift, but B's code sets up A's data dir too) and
// saves it as bench/results/connect-abab-interleaved.json (connect-before-after.json is left alone).
//   node bench/connect-abab.mjs --a /path/to/before/checkout [--b /path/to/after] [--pairs 2] [--protocol 4|5|both] [--clients 1500] [--rounds 5] [--interleaved]
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { arg, benchDir, loadAverage, median, round, saveResult } from './lib/env.mjs';

const connectModule = path.join(benchDir, 'connect.mjs');

function runOnce(buildRoot, opts) {
  const code = `const m = await import(${JSON.stringify(`file://${connectModule}`)});
    const r = await m.runConnect(${JSON.stringify(opts)});
    process.stdout.write(JSON.stringify(r) + '\\n'); process.exit(0);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, BENCH_ROOT: buildRoot }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (c) => (c === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`connect run on ${buildRoot} exited with ${c}`))));
  });
}

const commitOf = (dir) => {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
};

export async function runConnectAbab({ a, b = path.resolve(benchDir, '..'), pairs = 2, protocols = [4], clients = 1500, rounds = 5, concurrency = 100 }) {
  const builds = { A: { root: a, commit: commitOf(a) }, B: { root: b, commit: commitOf(b) } };
  const runs = [];
  for (let p = 0; p < pairs; p++) {
    for (const side of ['A', 'B']) {
      console.error(`connect-abab: pair ${p + 1}, ${side} (${builds[side].commit ?? builds[side].root})…`);
      const r = await runOnce(builds[side].root, { clients, rounds, concurrency, protocols });
      runs.push({ side, pair: p + 1, at: new Date().toISOString(), result: r });
    }
  }
  const byProtocol = {};
  for (const v of protocols) {
    const row = (r) => {
      const f = r.result.protocols[v].figures;
      const sg = f.signalgate;
      return { side: r.side, pair: r.pair, connectsPerSecond: sg.connectsPerSecond, serverCpuUsPerSession: sg.serverCpuUsPerSession,
        p50Ms: sg.p50Ms, p99Ms: sg.p99Ms, failures: sg.failures, aedes2ConnectsPerSecond: f['aedes-2'].connectsPerSecond,
        aedes2CpuUsPerSession: f['aedes-2'].serverCpuUsPerSession, vsAedes2: r.result.protocols[v].vs['aedes-2'], load: r.result.load };
    };
    const rows = runs.map(row);
    const side = (s) => rows.filter((x) => x.side === s);
    const med = (s, key) => median(side(s).map((x) => (typeof key === 'function' ? key(x) : x[key])));
    const pairsOf = (f) => side('B').map((x, i) => f(x, side('A')[i]));
    byProtocol[v] = {
      runs: rows,
      A: { connectsPerSecond: Math.round(med('A', 'connectsPerSecond')), serverCpuUsPerSession: Math.round(med('A', 'serverCpuUsPerSession')),
        vsAedes2Rate: round(med('A', (x) => x.vsAedes2.rate), 3), vsAedes2Cpu: round(med('A', (x) => x.vsAedes2.cpu), 3) },
      B: { connectsPerSecond: Math.round(med('B', 'connectsPerSecond')), serverCpuUsPerSession: Math.round(med('B', 'serverCpuUsPerSession')),
        vsAedes2Rate: round(med('B', (x) => x.vsAedes2.rate), 3), vsAedes2Cpu: round(med('B', (x) => x.vsAedes2.cpu), 3) },
      // Per pair (A then B, minutes apart), then the median over pairs.
      bOverA: {
        rate: round(median(pairsOf((x, y) => x.connectsPerSecond / y.connectsPerSecond)), 3),
        cpu: round(median(pairsOf((x, y) => y.serverCpuUsPerSession / x.serverCpuUsPerSession)), 3),
        rateVsAedes2: round(median(pairsOf((x, y) => x.vsAedes2.rate / y.vsAedes2.rate)), 3),
        cpuVsAedes2: round(median(pairsOf((x, y) => x.vsAedes2.cpu / y.vsAedes2.cpu)), 3),
      },
    };
  }
  return { params: { pairs, protocols, clients, rounds, concurrency }, builds, protocols: byProtocol, loadAtEnd: loadAverage() };
}

/** connect.mjs --before A on build B, in a child process (its result is not saved under connect.mjs's names). */
export async function runInterleaved({ a, b = path.resolve(benchDir, '..'), protocols = [4], clients = 1500, rounds = 5, concurrency = 100 }) {
  const r = await runOnce(b, { clients, rounds, concurrency, protocols, before: a });
  const summary = Object.fromEntries(protocols.map((v) => {
    const f = r.protocols[v].figures;
    return [v, { before: f['signalgate-before'], after: f.signalgate, aedes2: f['aedes-2'],
      afterVsBefore: r.protocols[v].vs['signalgate-before'], afterVsAedes2: r.protocols[v].vs['aedes-2'], beforeVsAedes2: r.protocols[v].beforeVsAedes2 }];
  }));
  return { builds: { before: { root: a, commit: commitOf(a) }, after: { root: b, commit: commitOf(b) } }, summary, full: r };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const a = arg('a', null);
  if (!a) {
    console.error('usage: node bench/connect-abab.mjs --a /path/to/before/checkout [--b /path/to/after] [--pairs 2] [--protocol 4]');
    process.exit(2);
  }
  const protocol = arg('protocol', '4');
  const protocols = protocol === 'both' ? [4, 5] : [Number(protocol)];
  if (process.argv.includes('--interleaved')) {
    const result = await runInterleaved({ a: path.resolve(a), b: path.resolve(arg('b', path.resolve(benchDir, '..'))), protocols, clients: arg('clients', 1500), rounds: arg('rounds', 5) });
    saveResult('connect-abab-interleaved', result);
    console.log(JSON.stringify(result, null, 2));
    process.exit(0);
  }
  const result = await runConnectAbab({ a: path.resolve(a), b: path.resolve(arg('b', path.resolve(benchDir, '..'))), pairs: arg('pairs', 2), protocols,
    clients: arg('clients', 1500), rounds: arg('rounds', 5) });
  saveResult('connect-abab', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
