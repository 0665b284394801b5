// SignalGate as a developer's emulator, through the published bin (the bundle, as `npx signalgate`
// runs it): ephemeral runs side by side, a declared state and an app's own .env.local served as
// given, a changed state file applied to a running instance, and bad files refused with the line.
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { buildCli, REPO } from '../cli/test/support.js';
import { subackCodes } from '../broker/test/support/harness.js';
import { connectClient, eventually, nextMessage, postJson } from './support/stack.js';

const BUNDLE = path.join(REPO, 'cli/dist/bundle/signalgate.mjs');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-emulator-test-'));
const clients: MqttClient[] = [];

beforeAll(() => {
  buildCli();
  const bundled = spawnSync(process.execPath, [path.join(REPO, 'cli/scripts/bundle.mjs')], { cwd: REPO, encoding: 'utf8' });
  if (bundled.status !== 0) throw new Error(`bundling the CLI failed: ${bundled.stderr}`);
}, 120_000);
afterAll(() => {
  for (const c of clients) c.end(true);
  fs.rmSync(work, { recursive: true, force: true });
});

interface Instance {
  summary: Record<string, any>;
  stop(): Promise<number | null>;
}

/** Only what a shell would pass: no SIGNALGATE_DATA_DIR, no ports (ephemeral picks them). */
const childEnv = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, HOME: process.env.HOME, SIGNALGATE_LOG_LEVEL: 'silent', ...extra });

function startEphemeral(args: string[] = [], env: Record<string, string> = {}): Promise<Instance> {
  const child = spawn(process.execPath, [BUNDLE, 'start', '--ephemeral', '--json', ...args], { env: childEnv(env), cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no summary in time; stderr:\n${err}`)); }, 15_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      resolve({ summary: JSON.parse(out.slice(0, out.indexOf('\n'))), stop: async () => { child.kill('SIGTERM'); return exited; } });
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`exited ${code} before its summary; stderr:\n${err}`)); });
  });
}

function runBundle(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BUNDLE, ...args], { env: childEnv(env), cwd: work, timeout: 30_000 }, (e, stdout, stderr) =>
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout, stderr }));
  });
}

/** The SDK's connectWithToken({ secretKey, userEmail }) call (CLOUDSIGNAL-WIRE.md), field for field. */
async function sdkCreate(apiUrl: string, organizationId: string, secretKey: string, userEmail: string): Promise<Record<string, any>> {
  const res = await postJson(`${apiUrl}/v2/tokens/create`, { organization_id: organizationId, secret_key: secretKey, user_email: userEmail, replace_existing: true });
  const body = (await res.json()) as Record<string, any>;
  expect([res.status, body.error]).toEqual([200, undefined]);
  return body;
}

/** The SDK's desktop preset: MQTT 5, persistent session, `cs_` client id. */
async function sdkConnect(url: string, creds: Record<string, any>): Promise<MqttClient> {
  const client = await connectClient(url, {
    protocolVersion: 5, clean: false, keepalive: 60, clientId: `cs_${Math.random().toString(36).slice(2, 10).padEnd(8, '0')}`, reconnectPeriod: 0,
    username: creds.mqtt_credentials.username, password: creds.mqtt_credentials.password, properties: { sessionExpiryInterval: 3600 },
  });
  clients.push(client);
  return client;
}

describe('ephemeral runs', () => {
  test('four started at once never collide: own ports, own data dir, each serves, and each leaves nothing behind', async () => {
    const runs = await Promise.all([0, 1, 2, 3].map(() => startEphemeral()));
    const ports = runs.flatMap((r) => [r.summary.ports.api, r.summary.ports.mqtt, r.summary.ports.ws]);
    expect(new Set(ports).size).toBe(12);
    expect(new Set(runs.map((r) => r.summary.data_dir)).size).toBe(4);
    for (const { summary: s } of runs) {
      expect(s).toMatchObject({ ephemeral: true, mqtts_url: null, wss_url: null, dev_organization_id: expect.stringMatching(/^org_/) });
      expect(fs.existsSync(s.data_dir)).toBe(true);
      expect((await fetch(`${s.api_url}/healthz`)).status).toBe(200);
      // The seeded credentials work, with a TTL far below a normal org's 60 s minimum.
      const creds = await sdkCreate(s.api_url, s.dev_organization_id, s.dev_secret_key, 'dev@example.com');
      const short = await postJson(`${s.api_url}/v2/tokens/create`, { organization_id: s.dev_organization_id, secret_key: s.dev_secret_key, user_email: 'x@example.com', ttl_seconds: 2 });
      expect(short.status).toBe(200);
      const c = await sdkConnect(s.mqtt_url, creds);
      c.end(true);
    }
    expect(await Promise.all(runs.map((r) => r.stop()))).toEqual([0, 0, 0, 0]);
    for (const { summary: s } of runs) expect(fs.existsSync(s.data_dir)).toBe(false);
  }, 60_000);

  test('a bad state file is refused with its line, and the run does not start', async () => {
    const bad = path.join(work, 'bad.yaml');
    fs.writeFileSync(bad, 'organizations:\n  - id: org_k7xm4pqr2n5t\n    colour: red\n    secret_keys:\n      - secret: pk_short\n');
    const r = await runBundle(['start', '--ephemeral', '--json', '--state', bad], {});
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${bad}:3: organizations[0].colour: unknown key`);
    expect(r.stderr).toContain(`${bad}:5: organizations[0].secret_keys[0].secret: must be a secret key`);
  }, 30_000);
});

describe('declared state', () => {
  const KEY = 'sk_emulatorstatekey000000001';
  const file = (subscribe: string) => `organizations:
  - id: org_k7xm4pqr2n5t
    name: Acme
    secret_keys:
      - secret: \${ACME_SECRET_KEY}
    default_rules:
      publish: ['#']
      subscribe: ${subscribe}
`;

  test('served as declared; a changed file applied to the running data dir moves connected clients to the new rules; export → apply changes nothing', async () => {
    const stateFile = path.join(work, 'signalgate.yaml');
    fs.writeFileSync(stateFile, file("['news/#', 'chat/#']"));
    const run = await startEphemeral(['--state', stateFile], { ACME_SECRET_KEY: KEY });
    const s = run.summary;
    try {
      expect(s.organizations).toEqual([expect.objectContaining({ id: 'org_k7xm4pqr2n5t', name: 'Acme', secret_keys: [KEY] })]);
      expect(s.dev_organization_id).toBeNull();
      const creds = await sdkCreate(s.api_url, 'org_k7xm4pqr2n5t', KEY, 'reader@example.com');
      const reader = await sdkConnect(s.mqtt_url, creds);
      await reader.subscribeAsync(['news/#', 'chat/#'], { qos: 1 });
      const publish = (topic: string) => postJson(`${s.api_url}/v1/publish`, { topic, payload: { topic } }, { authorization: `Bearer ${KEY}` });

      const onData = { SIGNALGATE_DATA_DIR: s.data_dir, ACME_SECRET_KEY: KEY };
      fs.writeFileSync(stateFile, file("['chat/#']"));
      const applied = await runBundle(['apply', '-f', stateFile, '--json'], onData);
      expect([applied.code, applied.stderr]).toEqual([0, '']);
      expect(JSON.parse(applied.stdout).changes).toEqual(['org_k7xm4pqr2n5t: default rules updated']);

      // The running broker follows (change feed): new subscriptions to news/# are refused, and the
      // connected reader's news/# subscription is gone while chat/# still delivers.
      const probe = await sdkConnect(s.mqtt_url, await sdkCreate(s.api_url, 'org_k7xm4pqr2n5t', KEY, 'probe@example.com'));
      await eventually(async () => (await subackCodes(probe, [['news/#', 1]]))[0] === 0x87, 5000);
      // The broker re-reads rules within a change poll (SIGNALGATE_CHANGE_POLL_MS): from then on a
      // news message published before a chat marker never reaches the reader.
      const seen: string[] = [];
      reader.on('message', (topic) => seen.push(topic));
      let round = 0;
      await eventually(async () => {
        round++;
        seen.length = 0;
        expect((await publish(`news/${round}`)).status).toBe(200);
        const marker = nextMessage(reader);
        expect((await publish(`chat/${round}`)).status).toBe(200);
        await marker;
        return seen.length > 0 && seen.every((t) => t.startsWith('chat/'));
      }, 5000);

      const exported = await runBundle(['export', '-o', path.join(work, 'exported.yaml')], onData);
      expect(exported.code).toBe(0);
      expect(fs.readFileSync(path.join(work, 'exported.yaml'), 'utf8')).not.toContain(KEY);
      const again = await runBundle(['apply', '-f', path.join(work, 'exported.yaml')], onData);
      expect([again.code, again.stdout.trim()]).toEqual([0, 'no changes']);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 60_000);
});

describe("an app's own CloudSignal settings", () => {
  test('a .env.local with NEXT_PUBLIC_CLOUDSIGNAL_ORG_ID (a UUID) and CLOUDSIGNAL_SECRET_KEY mints and connects with the SDK calls, only the URLs changed', async () => {
    const orgUuid = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
    const secret = 'cs_live_appsownkey0123456789ab';
    const envFile = path.join(work, '.env.local');
    fs.writeFileSync(envFile, `# the app's file, as CloudSignal's examples write it\nNEXT_PUBLIC_CLOUDSIGNAL_ORG_ID=${orgUuid}\nCLOUDSIGNAL_SECRET_KEY="${secret}"\nNEXT_PUBLIC_SUPABASE_URL=https://example.supabase.co\n`);
    const run = await startEphemeral(['--env-file', envFile]);
    const s = run.summary;
    try {
      expect(s.organizations).toEqual([expect.objectContaining({ uuid: orgUuid, secret_keys: [secret] })]);
      const app = s.app_settings as Record<string, string>;
      expect(app).toMatchObject({ NEXT_PUBLIC_TOKEN_SERVICE_URL: s.api_url, CLOUDSIGNAL_REST_PUBLISHER_URL: s.api_url, NEXT_PUBLIC_CLOUDSIGNAL_WSS_URL: s.ws_url, CLOUDSIGNAL_MQTTS_URL: s.mqtt_url });

      // The app's code, unchanged but for the URLs: it names its org by the UUID it always had.
      const creds = await sdkCreate(app.NEXT_PUBLIC_TOKEN_SERVICE_URL!, orgUuid, secret, 'alice@example.com');
      const browser = await sdkConnect(app.NEXT_PUBLIC_CLOUDSIGNAL_WSS_URL!, creds);
      await browser.subscribeAsync('$notifications/alice/inbox/#', { qos: 1 });
      const got = nextMessage(browser);
      const res = await postJson(`${app.CLOUDSIGNAL_REST_PUBLISHER_URL}/v1/publish`, { topic: '$notifications/alice/inbox/hello', payload: { hi: 1 } }, { authorization: `Bearer ${secret}` });
      expect(res.status).toBe(200);
      expect(await got).toEqual({ topic: '$notifications/alice/inbox/hello', payload: '{"hi":1}' });
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 60_000);

  test("the compose emulator's invocation: examples/emulator/signalgate.yaml with only CLOUDSIGNAL_SECRET_KEY set starts and serves its org", async () => {
    const key = 'sk_composeemulatorkey00000001';
    const run = await startEphemeral(['--state', path.join(REPO, 'examples/emulator/signalgate.yaml')], { CLOUDSIGNAL_SECRET_KEY: key });
    try {
      expect(run.summary.organizations).toEqual([expect.objectContaining({ id: 'org_k7xm4pqr2n5t', name: 'My App (local)', secret_keys: [key] })]);
      const res = await postJson(`${run.summary.api_url}/v2/tokens/create`, { organization_id: 'org_k7xm4pqr2n5t', secret_key: key, user_email: 'a@example.com', integration_id: 'web' });
      expect(res.status).toBe(200);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 30_000);

  test('values an app has not filled in yet are refused with the variable named', async () => {
    const envFile = path.join(work, '.env.placeholder');
    fs.writeFileSync(envFile, 'CLOUDSIGNAL_ORG_ID=your-org-uuid\nCLOUDSIGNAL_SECRET_KEY=sk_your_secret_key\n');
    const r = await runBundle(['start', '--ephemeral', '--json', '--env-file', envFile], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("CLOUDSIGNAL_ORG_ID: 'your-org-uuid' is neither an organisation id");
  }, 30_000);
});
