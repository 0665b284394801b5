// What every benchmark needs: where the build under test is, machine load, percentiles, and a
// place to leave results for bench/report.mjs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The checkout whose build is measured (`npm run build` first). BENCH_ROOT points at another one. */
export const root = path.resolve(process.env.BENCH_ROOT ?? path.join(benchDir, '..'));
export const cliPath = path.join(root, 'cli', 'dist', 'main.js');
export const resultsDir = path.join(benchDir, 'results');

export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return typeof fallback === 'number' ? Number(v) : v;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function loadAverage() {
  const [a, b, c] = os.loadavg();
  return { one: +a.toFixed(2), five: +b.toFixed(2), fifteen: +c.toFixed(2) };
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function latencySummary(values) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: round(percentile(s, 50)), p99: round(percentile(s, 99)), max: round(s[s.length - 1]) };
}

export const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export const round = (x, digits = 2) => (Number.isFinite(x) ? +x.toFixed(digits) : x);

const tempDirs = new Set();
// Removed when the benchmark exits (servers.mjs kills its children on 'exit' first: registered earlier).
process.on('exit', () => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

export function tempDir(label) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `signalgate-bench-${label}-`));
  tempDirs.add(dir);
  return dir;
}

/** Resident set size of a process in MB, from /proc (Linux). */
export function rssMb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return round(kb / 1024, 1);
}

/**
 * CPU time (user + system) a process has used so far, in ms, from /proc (clock ticks of 10 ms).
 * Unlike a rate, it barely moves when other jobs share the cores: the figure to compare builds by.
 */
export function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the command name may hold spaces
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14, 15)
}

export function openFileLimit() {
  // Node 20 has no process.getrlimit: ask the shell that started us.
  try {
    return Number(fs.readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+)\s+(\d+)/)?.slice(1, 3)[0]);
  } catch {
    return NaN;
  }
}

export function saveResult(name, data) {
  fs.mkdirSync(resultsDir, { recursive: true });
  const body = { name, at: new Date().toISOString(), cpus: os.cpus().length, node: process.version, ...data };
  fs.writeFileSync(path.join(resultsDir, `${name}.json`), JSON.stringify(body, null, 2) + '\n');
  return body;
}

/** Runs `fn` and gives up after `ms`: no benchmark phase may hang the run. */
export async function within(ms, what, fn) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: gave up after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
