// Runs `signalgate start` as a separate process (the built bin), so a suite can kill -9 it, restart
// it on the same data dir, and run an API and a broker as two processes over one SQLite file.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { DB_FILE_NAME } from '@signalgate/shared';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(REPO, 'cli/dist/main.js');

/** `npm test` has built already (then this is a quick up-to-date check); a direct jest run gets a fresh bin. */
export function buildCli(): void {
  execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-b', 'cli'], { cwd: REPO, stdio: 'pipe' });
}

export interface Running {
  child: ChildProcess;
  pid: number;
  /** The JSON line `start --json` prints first: where everything listens, the dev org's key on first start. */
  summary: Record<string, string | null>;
  /** Everything printed to stdout so far (the summary, then pino's JSON log lines). */
  stdout(): string;
  stderr(): string;
  /** kill -9, resolved once the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (clean shutdown), resolved with the exit code. */
  stop(): Promise<number | null>;
}

export function startSignalgate(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<Running> {
  const child = spawn(process.execPath, [BIN, 'start', '--json', ...args], {
    env: {
      PATH: process.env.PATH, HOME: process.env.HOME, SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'warn',
      SIGNALGATE_API_PORT: '0', SIGNALGATE_MQTT_PORT: '0', SIGNALGATE_WS_PORT: '0', SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`start printed no summary in time; stderr:\n${err}`)); }, 15_000);
    let settled = false;
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      // Log lines (pino writes to stdout too) may come before the summary: it is the line with data_dir.
      const line = settled ? undefined : out.split('\n').slice(0, -1).find((l) => l.startsWith('{"data_dir"'));
      if (line === undefined) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        child, pid: child.pid!, summary: JSON.parse(line) as Record<string, string | null>, stdout: () => out, stderr: () => err,
        kill9: async () => { child.kill('SIGKILL'); await exited; },
        stop: async () => { child.kill('SIGTERM'); return exited; },
      });
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`start exited with ${code} before its summary; stderr:\n${err}`)); });
  });
}

/** `PRAGMA integrity_check` of the data dir's database, through a connection of its own. */
export function integrityCheck(dataDir: string): string {
  const db = new Database(path.join(dataDir, DB_FILE_NAME));
  try {
    db.pragma('busy_timeout = 5000');
    return (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('\n');
  } finally {
    db.close();
  }
}

/** A small seeded PRNG (mulberry32): kill moments are random but the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
