// How `signalgate start` logs: JSON lines for collectors, readable lines for a person at a terminal,
// secrets redacted in both, and with --json stdout carries the one summary line and nothing else.
// A pty is not available here, so `auto` is checked through logFormatFor and as a child's stderr
// is a pipe (JSON); the formats themselves are checked end to end on the built bin.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { loadConfig, logFormatFor } from '@signalgate/shared';
import { BIN, buildCli, cliEnv, REPO, runCli, tempDataDir } from '../cli/test/support.js';

beforeAll(() => buildCli(), 120_000);

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `start --json …` until its summary line, then SIGTERM; resolved once every byte of both streams is read. */
function startThenStop(env: Record<string, string>, args: string[] = []): Promise<Finished> {
  const child = spawn(process.execPath, [BIN, 'start', '--json', ...args], {
    env: cliEnv(tempDataDir('log-format'), {
      SIGNALGATE_LOG_LEVEL: 'info', SIGNALGATE_API_PORT: '0', SIGNALGATE_MQTT_PORT: '0', SIGNALGATE_WS_PORT: '0',
      SIGNALGATE_MQTTS_PORT: 'off', SIGNALGATE_WSS_PORT: 'off', ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('\n')) child.kill('SIGTERM');
  });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.once('close', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

const linesOf = (text: string) => text.split('\n').filter((l) => l !== '');
const isJson = (line: string) => {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
};

/** stdout holds the summary and nothing else. */
function expectOnlySummary(stdout: string): void {
  const lines = linesOf(stdout);
  expect(lines).toHaveLength(1);
  expect(Object.keys(JSON.parse(lines[0]!) as object)).toContain('api_url');
}

// A child that logs through createLogger (the built one `start` uses), then exits at once.
const LOGGING_CHILD = `
  const { createLogger } = await import(${JSON.stringify(pathToFileURL(path.join(REPO, 'shared/dist/log.js')).href)});
  const [format, count] = process.argv.slice(1);
  const log = createLogger('info', 'signalgate', true, format);
  log.info({ password: 'pw-hunter2', user: { token: 'tkn_nested', email: 'a@example.com' }, secret_key: 'sk_live_abc',
    req: { headers: { authorization: 'Bearer eyJ-header' } } }, 'secrets inside');
  for (let i = 0; i < Number(count); i++) log.info({ i }, 'line ' + i);
  process.exit(0);
`;
function runLoggingChild(format: string, count: number): Promise<Finished> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', LOGGING_CHILD, format, String(count)], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}
const SECRETS = ['pw-hunter2', 'tkn_nested', 'sk_live_abc', 'eyJ-header'];

describe('choosing the format', () => {
  test('auto: pretty at a terminal, JSON into a pipe or a file; an explicit format wins either way', () => {
    expect(logFormatFor('auto', true)).toBe('pretty');
    expect(logFormatFor('auto', false)).toBe('json');
    for (const tty of [true, false]) {
      expect(logFormatFor('pretty', tty)).toBe('pretty');
      expect(logFormatFor('json', tty)).toBe('json');
    }
  });

  test('SIGNALGATE_LOG_FORMAT defaults to auto, takes pretty or json, and a bad value names the variable', () => {
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(loadConfig({ SIGNALGATE_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(loadConfig({ SIGNALGATE_LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(() => loadConfig({ SIGNALGATE_LOG_FORMAT: 'xml' })).toThrow(/SIGNALGATE_LOG_FORMAT/);
  });

  test('start --log-format refuses anything but pretty or json', async () => {
    const r = await runCli(tempDataDir('log-format'), ['start', '--log-format', 'xml']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--log-format.*xml.*pretty, json/);
  });
});

describe('start --json', () => {
  test('json: every stderr line is a JSON log line, stdout is the summary alone', async () => {
    const r = await startThenStop({ SIGNALGATE_LOG_FORMAT: 'json' });
    expect(r.code).toBe(0);
    expectOnlySummary(r.stdout);
    const logs = linesOf(r.stderr);
    expect(logs.every(isJson)).toBe(true);
    expect(logs.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(expect.arrayContaining(['token API listening', 'broker started', 'shutting down']));
  });

  test('auto, with stderr a pipe: JSON lines, as a collector expects', async () => {
    const r = await startThenStop({});
    expectOnlySummary(r.stdout);
    expect(linesOf(r.stderr).length).toBeGreaterThan(0);
    expect(linesOf(r.stderr).every(isJson)).toBe(true);
  });

  test('pretty: readable stderr lines, none of them JSON, up to the last one logged before exit; stdout is the summary alone', async () => {
    const r = await startThenStop({ SIGNALGATE_LOG_FORMAT: 'pretty' });
    expect(r.code).toBe(0);
    expectOnlySummary(r.stdout);
    const logs = linesOf(r.stderr);
    expect(logs.some(isJson)).toBe(false);
    for (const l of logs) expect(l).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR) \(signalgate\): /);
    expect(r.stderr).toContain('token API listening');
    expect(r.stderr).not.toContain('\x1b['); // no colours into a pipe
    // Logged just before process.exit: the synchronous stream has written it by then.
    expect(logs.at(-1)).toMatch(/broker stopped/);
    expect(r.stderr).toContain('shutting down');
  });

  test('--log-format overrides SIGNALGATE_LOG_FORMAT', async () => {
    const r = await startThenStop({ SIGNALGATE_LOG_FORMAT: 'pretty' }, ['--log-format', 'json']);
    expectOnlySummary(r.stdout);
    expect(linesOf(r.stderr).every(isJson)).toBe(true);
  });
});

describe('secrets and exit', () => {
  test('pretty: secret fields are redacted, nested ones and the authorization header too', async () => {
    const r = await runLoggingChild('pretty', 0);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('secrets inside');
    expect(r.stderr).toContain('[redacted]');
    expect(r.stderr).toContain('a@example.com');
    for (const s of SECRETS) expect(r.stderr).not.toContain(s);
  });

  test('json: the same fields are redacted', async () => {
    const r = await runLoggingChild('json', 0);
    const line = JSON.parse(linesOf(r.stderr)[0]!) as { password: string; user: { token: string } };
    expect([line.password, line.user.token]).toEqual(['[redacted]', '[redacted]']);
    for (const s of SECRETS) expect(r.stderr).not.toContain(s);
  });

  test('pretty: no line is lost when the process exits right after logging', async () => {
    const r = await runLoggingChild('pretty', 20_000);
    expect(r.code).toBe(0);
    const logs = linesOf(r.stderr);
    expect(logs).toHaveLength(20_001);
    expect(logs.at(-1)).toContain('line 19999');
  });
});
