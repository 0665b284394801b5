#!/usr/bin/env node
// Cold start of the emulator (issue 15): wall time from spawning `signalgate start --ephemeral
// --json` to its one JSON line on stdout (every listener up, the dev organisation and admin key
// hashed), for the published bin (the esbuild bundle, cli/dist/bundle/signalgate.mjs) and the
// unbundled tsc output (cli/dist/main.js), alternated run by run so machine load hits both alike;
// plus the same with a declared state file (one org, one imported key) and the in-process testing
// API (startSignalGate, after its module is loaded once). `npm run build` first.
//   node bench/coldstart.mjs [--runs 15]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { arg, latencySummary, loadAverage, root, saveResult, tempDir } from './lib/env.mjs';

const BINS = { bundle: path.join(root, 'cli/dist/bundle/signalgate.mjs'), unbundled: path.join(root, 'cli/dist/main.js') };
const env = { PATH: process.env.PATH, HOME: process.env.HOME, SIGNALGATE_LOG_LEVEL: 'warn' };

function once(bin, args = []) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [bin, 'start', '--ephemeral', '--json', ...args], { env: { ...env, ACME_KEY: 'sk_coldstartbenchkey0000000001' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.once('data', () => {
      const ms = performance.now() - t0;
      child.once('exit', (code) => (code === 0 ? resolve(ms) : reject(new Error(`exit ${code}: ${err}`))));
      child.kill('SIGTERM');
    });
    child.once('error', reject);
  });
}

const runs = arg('runs', 15);
const state = path.join(tempDir('coldstart'), 'state.yaml');
fs.writeFileSync(state, 'organizations:\n  - id: org_k7xm4pqr2n5t\n    secret_keys:\n      - secret: ${ACME_KEY}\n');
const samples = { bundle: [], unbundled: [], bundleWithState: [] };
const load = [loadAverage()];
for (let i = 0; i < runs; i++) {
  samples.bundle.push(await once(BINS.bundle));
  samples.unbundled.push(await once(BINS.unbundled));
  samples.bundleWithState.push(await once(BINS.bundle, ['--state', state]));
}
load.push(loadAverage());
// In-process: what a test file pays per startSignalGate() once the module is loaded.
const { startSignalGate } = await import(path.join(root, 'cli/dist/testing.js'));
const inProcess = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const sg = await startSignalGate();
  inProcess.push(performance.now() - t0);
  await sg.stop();
}
const result = {
  params: { runs }, load,
  msToReady: Object.fromEntries(Object.entries({ ...samples, testingApiInProcess: inProcess }).map(([k, v]) => [k, latencySummary(v)])),
};
saveResult('coldstart', result);
console.log(JSON.stringify(result, null, 2));
