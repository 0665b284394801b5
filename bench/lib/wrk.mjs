// wrk (Debian's) as the HTTP load generator, and the bare Express route it is compared with: shared
// by the benches that drive the token API (exchange.mjs, mint-stores.mjs).
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import { benchDir, tempDir } from './env.mjs';
import { track } from './servers.mjs';

export const WRK = '/usr/bin/wrk';

/** A wrk script's `done`: one JSON line with the counts and latency percentiles runWrk reads. */
export const LUA_DONE = `
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format('{"requests":%d,"durationUs":%d,"non2xx":%d,"errors":%d,"p50Us":%d,"p99Us":%d}\\n',
    s.requests, s.duration, e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
`;

/** One wrk run (one thread) of the Lua `script` (ending in LUA_DONE) against `url`. */
export async function runWrk(url, script, { seconds, connections, name = 'bench' }) {
  const file = path.join(tempDir('wrk'), `${name}.lua`);
  fs.writeFileSync(file, script);
  const out = await new Promise((resolve, reject) => {
    const child = track(spawn(WRK, ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', file, url], { stdio: ['ignore', 'pipe', 'inherit'] }));
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`))));
  });
  const r = JSON.parse(out.trim().split('\n').at(-1));
  return { rps: (r.requests - r.non2xx) / (r.durationUs / 1e6), requests: r.requests, non2xx: r.non2xx, errors: r.errors, p50: r.p50Us / 1000, p99: r.p99Us / 1000 };
}

/** bench/servers/bare-express.mjs in its own process: the baseline route. */
export async function startBareExpress() {
  const child = track(spawn(process.execPath, [path.join(benchDir, 'servers', 'bare-express.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bare express exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${JSON.parse(line).port}`, pid: child.pid, stop: () => child.kill('SIGTERM') };
}
