// The deployment files and the README's configuration table, checked against the configuration
// module they describe: every variable they set is one SignalGate reads, with a value it accepts;
// the two compose services share one data volume, the broker gets the certificates read-only, both
// have healthchecks; the image builds every workspace; and Debian's docker-compose (installed by
// scripts/ensure-debian-package.sh when missing; `config` needs no Docker engine) accepts the file
// with the admin key set and refuses it without.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, CONNECT_REFUSALS, loadConfig, parseStateFile, PUBLISH_DENIALS, SESSION_ENDS } from '@signalgate/shared';
import { REPO } from './faults/support/processes.js';

const COMPOSE = '/usr/bin/docker-compose';
const read = (file: string) => fs.readFileSync(path.join(REPO, file), 'utf8');

interface ComposeService {
  command: string[];
  environment: Record<string, string>;
  volumes: string[];
  ports: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

// `${NAME:?message}` / `${NAME:-default}` as compose interpolates them, from `vars`.
const interpolate = (value: string, vars: Record<string, string>) =>
  value.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_m, name: string, op?: string, rest?: string) => {
    if (vars[name] !== undefined && vars[name] !== '') return vars[name]!;
    if (op === '-') return rest ?? '';
    throw new Error(`compose would refuse: ${rest ?? name}`);
  });

const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
const envOf = (service: ComposeService, vars: Record<string, string>) =>
  Object.fromEntries(Object.entries(service.environment).map(([k, v]) => [k, interpolate(String(v), vars)]));

describe('README configuration table', () => {
  test('lists exactly the variables the configuration module reads', () => {
    const table = [...read('README.md').matchAll(/^\| `(SIGNALGATE_\w+)` \|/gm)].map((m) => m[1]);
    expect([...table].sort()).toEqual([...CONFIG_VARIABLES].sort());
    expect(new Set(table).size).toBe(table.length);
  });
});

describe("README's MQTT refusal tables", () => {
  const readme = read('README.md');
  const hex = (n: number) => `0x${n.toString(16).toUpperCase().padStart(2, '0')}`;

  test('the CONNECT table is CONNECT_REFUSALS, with both codes of every reason', () => {
    const rows = [...readme.matchAll(/^\| `(\w+)`: [^|]+\| (\d) \| (0x[0-9A-F]{2}) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
    expect(rows).toEqual(Object.entries(CONNECT_REFUSALS).map(([reason, c]) => [reason, c.v3, hex(c.v5)]));
  });

  test('the session-end and PUBLISH tables are SESSION_ENDS and PUBLISH_DENIALS', () => {
    const rows = [...readme.matchAll(/^\| `(\w+)`: [^|]+\| (0x[0-9A-F]{2}) \|$/gm)].map((m) => [m[1], m[2]]);
    const expected = [...Object.entries(SESSION_ENDS), ...Object.entries(PUBLISH_DENIALS)].map(([reason, code]) => [reason, hex(code)]);
    expect(rows).toEqual(expected);
  });
});

describe('docker-compose.yml', () => {
  const vars = { SIGNALGATE_ADMIN_KEY: 'adm_compose_check' };
  const emulatorVars = { CLOUDSIGNAL_SECRET_KEY: 'sk_compose_check_0123456789abcdef' };

  test('token API and two brokers from one image, on one data volume; the brokers one through the Redis service', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['broker', 'broker-2', 'emulator', 'redis', 'token-api']);
    const api = compose.services['token-api']!;
    const brokers = [compose.services.broker!, compose.services['broker-2']!];
    expect(api.command).toEqual(['start', '--api-only']);
    for (const b of brokers) {
      expect(b.command).toEqual(['start', '--broker-only', '--workers', '1']);
      expect(envOf(b, vars).SIGNALGATE_REDIS_URL).toBe('redis://redis:6379');
      expect(b.depends_on).toMatchObject({ redis: { condition: 'service_healthy' } });
    }
    for (const s of [api, ...brokers]) {
      const dataDir = envOf(s, vars).SIGNALGATE_DATA_DIR;
      expect(s.volumes).toContain(`signalgate-data:${dataDir}`);
    }
    expect((compose.services.redis as unknown as { command: string[] }).command).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
    expect(Object.keys(compose.volumes)).toEqual(['signalgate-data', 'redis-data']);
  });

  test('every variable set is one SignalGate reads, with a value it accepts; ports published are the ones configured', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (name === 'redis') continue; // not SignalGate
      const env = envOf(s, { ...vars, ...emulatorVars });
      // The emulator also reads the app's own settings (CLOUDSIGNAL_*: appEnv.ts, and ${VAR}s of its state file).
      for (const key of Object.keys(env)) expect([name, CONFIG_VARIABLES.includes(key) || (name === 'emulator' && key.startsWith('CLOUDSIGNAL_'))]).toEqual([name, true]);
      // TLS files are only checked for presence at start, so the compose paths parse here as they are.
      const config = loadConfig(env);
      const listening = [config.apiPort, config.mqttPort, config.wsPort, ...(config.tls ? [config.mqttsPort, config.wssPort] : [])]
        .filter((p): p is number => p !== null);
      const published = s.ports.map((p) => Number(p.split(':').at(-1)));
      const expected = name === 'token-api' ? [config.apiPort] : name === 'emulator' ? listening : listening.filter((p) => p !== config.apiPort);
      expect([name, published.sort()]).toEqual([name, [...expected].sort()]);
    }
    // No host port published twice (the second broker is on its own host ports).
    const hostPorts = Object.values(compose.services).filter((s) => !(s as { profiles?: string[] }).profiles).flatMap((s) => (s.ports ?? []).map((p) => p.split(':')[0]));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    {
    }
  });

  test.each(['broker', 'broker-2'])('the admin key must be given; %s (not the API) mounts the certificates, read-only, at the paths it is told', (name) => {
    expect(() => envOf(compose.services['token-api']!, {})).toThrow(/SIGNALGATE_ADMIN_KEY/);
    const broker = compose.services[name]!;
    const env = envOf(broker, vars);
    const certMount = broker.volumes.find((v) => v.endsWith(':ro'));
    expect(certMount).toBeDefined();
    const mountedAt = certMount!.split(':')[1]!;
    expect(env.SIGNALGATE_TLS_CERT!.startsWith(`${mountedAt}/`)).toBe(true);
    expect(env.SIGNALGATE_TLS_KEY!.startsWith(`${mountedAt}/`)).toBe(true);
    expect(compose.services['token-api']!.volumes.some((v) => v.includes(mountedAt))).toBe(false);
    // Only the API bootstraps the development organisation; the broker waits for a healthy API.
    expect(env.SIGNALGATE_BOOTSTRAP_DEV_ORG).toBe('false');
    expect(broker.depends_on).toEqual({ 'token-api': { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
  });

  test('the emulator: a throwaway run of a declared state mounted read-only, its secret from the environment, only with --profile emulator', () => {
    const emulator = compose.services.emulator!;
    expect((emulator as { profiles?: string[] }).profiles).toEqual(['emulator']);
    const [, mountedAt] = emulator.volumes.find((v) => v.endsWith(':ro'))!.split(':');
    expect(emulator.command).toEqual(['start', '--ephemeral', '--state', mountedAt]);
    expect(emulator.volumes).toHaveLength(1); // no data volume: nothing is kept
    // The mounted file is a valid state file once the app's key is in the environment, and
    // without it is refused with the line that needs it.
    const host = emulator.volumes[0]!.split(':')[0]!;
    const state = parseStateFile(read(host), { source: host, env: envOf(emulator, emulatorVars) });
    expect(state.organizations[0]!.secret_keys![0]!.secret).toBe(emulatorVars.CLOUDSIGNAL_SECRET_KEY);
    expect(() => parseStateFile(read(host), { source: host, env: envOf(emulator, {}) })).toThrow(/signalgate\.yaml:\d+: organizations\[0\]\.secret_keys\[0\]\.secret: must be a secret key/);
  });

  test('both services have a healthcheck that probes their own port', () => {
    const api = compose.services['token-api']!;
    const broker = compose.services.broker!;
    expect(api.healthcheck!.test.join(' ')).toContain(`:${envOf(api, vars).SIGNALGATE_API_PORT}/healthz`);
    expect(broker.healthcheck!.test.join(' ')).toContain(`connect(${envOf(broker, vars).SIGNALGATE_MQTT_PORT},`);
  });

  describe('docker-compose config', () => {
    beforeAll(() => {
      execFileSync('sh', [path.join(REPO, 'scripts/ensure-debian-package.sh'), COMPOSE, 'docker-compose'], { stdio: 'inherit', timeout: 10 * 60_000 });
    }, 10 * 60_000);

    test('accepts the file with the admin key and refuses it without', () => {
      const run = (env: Record<string, string>) =>
        spawnSync(COMPOSE, ['config', '-q'], { cwd: REPO, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env }, encoding: 'utf8' });
      expect(run(vars).status).toBe(0);
      const refused = run({});
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toMatch(/SIGNALGATE_ADMIN_KEY/);
    });
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  test('installs every workspace: each package.json is copied before `npm ci`', () => {
    const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
    const beforeCi = dockerfile.slice(0, dockerfile.indexOf('npm ci'));
    for (const w of workspaces) expect([w, beforeCi.includes(`COPY ${w}/package.json ${w}/`)]).toEqual([w, true]);
  });

  test('its environment is valid configuration, it exposes the default ports and keeps data in its volume as a non-root user', () => {
    const envBlock = /^ENV ((?:.*\\\n)*.*)$/m.exec(dockerfile)![1]!;
    const env = Object.fromEntries([...envBlock.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
    const signalgate = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('SIGNALGATE_')));
    for (const key of Object.keys(signalgate)) expect(CONFIG_VARIABLES).toContain(key);
    const config = loadConfig(signalgate);
    expect(/^EXPOSE (.+)$/m.exec(dockerfile)![1]!.split(/\s+/).map(Number))
      .toEqual([config.apiPort, config.mqttPort, config.wsPort, config.mqttsPort, config.wssPort]);
    expect(dockerfile).toContain(`VOLUME ["${signalgate.SIGNALGATE_DATA_DIR}"]`);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
  });
});
