// Runs the built `signalgate` bin as a user would: a child process with its own environment and a
// temp data dir. Tests then look at the data dir through the shared services, as another process.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO, 'cli/dist/main.js');

/**
 * Builds what the bin runs: shared (imported at runtime from shared/dist) and the cli itself. Only
 * these two, so a half-finished token-api or broker elsewhere in the tree does not stop the CLI suite.
 */
export function buildCli(): void {
  const tsc = path.join(REPO, 'node_modules/typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', 'shared'], { cwd: REPO, stdio: 'pipe' });
  execFileSync(process.execPath, [tsc, '-p', 'cli'], { cwd: REPO, stdio: 'pipe' });
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
