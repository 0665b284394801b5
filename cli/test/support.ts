// Runs the built `signalgate` bin as a user would: a child process with its own environment and a
// temp data dir. Tests then look at the data dir through the shared services, as another process.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO, 'cli/dist/main.js');

/**
 * Builds what the bin runs (cli/dist imports shared, token-api and broker from their dist/). `npm test`
 * has built already, so this is an up-to-date check there; a direct jest run gets a fresh bin too.
 */
export function buildCli(): void {
  const tsc = path.join(REPO, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-b', 'cli'], { cwd: REPO, stdio: 'pipe' });
  } catch (err) {
    const out = (err as { stdout?: Buffer }).stdout?.toString() ?? '';
    throw new Error(`building the CLI failed:\n${out}`);
  }
}

export function tempDataDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `signalgate-cli-${label}-`));
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of a child: only what it needs, so the developer's SIGNALGATE_* never leak in. */
export function cliEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_LOG_LEVEL: 'silent', ...extra };
}

export function runCli(dataDir: string, args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: cliEnv(dataDir, extraEnv), timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed with --json and returns its single JSON object. */
export async function runJson<T = Record<string, unknown>>(dataDir: string, args: string[]): Promise<T> {
  const r = await runCli(dataDir, [...args, '--json']);
  if (r.code !== 0) throw new Error(`signalgate ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  if (lines.length !== 1) throw new Error(`expected one JSON line from signalgate ${args.join(' ')}, got:\n${r.stdout}`);
  return JSON.parse(lines[0]!) as T;
}

export interface RunningCli {
  child: ChildProcess;
  /** The first line `start --json` prints: where everything listens and what was bootstrapped. */
  summary: Record<string, string | null>;
  stdout(): string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns `signalgate start --json …` and waits for its summary line. */
export function startCli(dataDir: string, args: string[], extraEnv: Record<string, string> = {}): Promise<RunningCli> {
  const child = spawn(process.execPath, [BIN, 'start', '--json', ...args], {
    env: cliEnv(dataDir, {
      SIGNALGATE_API_PORT: '0', SIGNALGATE_MQTT_PORT: '0', SIGNALGATE_WS_PORT: '0',
      SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off', ...extraEnv,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let settled = false;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`start printed no summary in time; stderr:\n${err}`)); }, 15_000);
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0 || settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        const summary = JSON.parse(out.slice(0, nl)) as Record<string, string | null>;
        resolve({
          child, summary, stdout: () => out,
          stop: async (signal = 'SIGTERM') => { child.kill(signal); return exited; },
        });
      } catch (e) {
        child.kill('SIGKILL');
        reject(new Error(`start printed a first line that is not JSON: ${out.slice(0, nl)}`));
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`start exited with ${code} before its summary; stderr:\n${err}`)); });
  });
}
