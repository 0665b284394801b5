// Request logs are structured and never carry a secret: not the API key, not a tkn_ password.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import crypto from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { loadConfig, openServices, type Services } from '@signalgate/shared';
import { storeEnv } from '../../tests/support/database.js';
import { startTokenApi, type TokenApiHandle } from '@signalgate/token-api';
import { call, tempDataDir } from './support/server.js';

const lines: string[] = [];
let api: TokenApiHandle;
let services: Services;

beforeAll(async () => {
  const dataDir = tempDataDir('logging');
  const config = loadConfig({ SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_API_PORT: '0', ...(await storeEnv(dataDir)) });
  services = await openServices(config);
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  api = await startTokenApi({ config, services, logger: pino({ level: 'trace' }, sink) });
});
afterAll(async () => {
  await api.close();
  await services.store.close();
});

test('one JSON line per request with route and status, and no secret anywhere in the log', async () => {
  const { org, secretKey } = await services.orgs.create('Logged');
  const minted = (await call(`${api.url}/v2/tokens/create`, { body: { organization_id: org.id, secret_key: secretKey, user_email: 'l@example.com' } })).body;
  const refreshed = (await call(`${api.url}/v2/tokens/refresh`, { body: { token_id: minted.token_id, current_token_password: minted.password } })).body;
  await call(`${api.url}/v2/tokens/refresh`, { body: { token_id: minted.token_id, current_token_password: minted.password } });
  await call(`${api.url}/v2/tokens?user_email=l@example.com`, { key: secretKey });
  await call(`${api.url}/v2/tokens/create`, { body: `{"secret_key":"${secretKey}",`, headers: { 'Content-Type': 'application/json' } });

  const requests = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
  expect(requests.map((r) => [r.route, r.status])).toEqual([
    ['/v2/tokens/create', 200], ['/v2/tokens/refresh', 200], ['/v2/tokens/refresh', 401], ['/v2/tokens', 200], ['/v2/tokens/create', 400],
  ]);
  const all = lines.join('\n');
  for (const secret of [secretKey, minted.password, refreshed.password]) expect(all).not.toContain(secret);
});

test("a provider whose keys cannot be fetched: the client gets 503 with the URL only, the log gets the cause", async () => {
  const { org } = await services.orgs.create('Unreachable IdP');
  // A port nothing listens on (bound, then closed).
  const dead = await new Promise<string>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(`http://127.0.0.1:${port}`));
    });
  });
  await services.providers.add(org.id, { type: 'oidc', issuer: 'https://unreachable-idp.example.com', jwksUrl: `${dead}/jwks`, audience: 'app' });
  const jwt = await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://unreachable-idp.example.com')
    .setAudience('app').setExpirationTime('5m').sign(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
  const res = await call(`${api.url}/v2/tokens/exchange`, { body: { organization_id: org.id, token: jwt } });
  expect([res.status, res.body.error]).toEqual([503, 'provider_unavailable']);
  expect(res.body.error_description).toContain(`${dead}/jwks`);
  expect(res.body.error_description).not.toMatch(/ECONNREFUSED|fetch failed/);
  const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.code === 'provider_unavailable');
  expect(String(logged?.diagnostic)).toMatch(/ECONNREFUSED|fetch failed/);
});

test('refusals are sampled per address and status, with the count so far; a long path is clipped', async () => {
  const before = lines.length;
  for (let i = 0; i < 20; i++) await call(`${api.url}/v2/tokens`, { key: `sk_${'q'.repeat(40)}${i}`, body: { user_id: 'x' } });
  await call(`${api.url}/v2/${'p'.repeat(5000)}`);
  const requests = lines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
  // (the address's failure budget turns later ones into 429s: sampled on their own)
  const refused = requests.filter((r) => r.route === '/v2/tokens');
  expect(refused.length).toBeLessThanOrEqual(10);
  for (const r of refused) expect(typeof r.refused_so_far).toBe('number');
  const unknown = requests.find((r) => r.route === 'unmatched');
  expect(String(unknown?.path).length).toBeLessThan(200);
});

test('past SIGNALGATE_MAX_CONNECTIONS_PER_IP open sockets, a new one is closed before HTTP reads it', async () => {
  const dataDir = tempDataDir('logging-sockets');
  const config = loadConfig({ SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_API_PORT: '0', SIGNALGATE_MAX_CONNECTIONS_PER_IP: '3', ...(await storeEnv(dataDir)) });
  const svc = await openServices(config);
  const small = await startTokenApi({ config, services: svc, logger: pino({ level: 'silent' }) });
  try {
    const port = Number(new URL(small.url).port);
    const open = (): Promise<{ socket: net.Socket; closed: () => boolean }> => new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let closed = false;
      socket.on('close', () => (closed = true));
      socket.on('error', () => {});
      socket.once('connect', () => resolve({ socket, closed: () => closed }));
    });
    const idle = [await open(), await open(), await open()];
    const fourth = await open();
    const until = Date.now() + 3000;
    while (!fourth.closed() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(fourth.closed()).toBe(true);
    expect(idle.map((s) => s.closed())).toEqual([false, false, false]);
    idle[0]!.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect((await fetch(`${small.url}/healthz`)).status).toBe(200);
    for (const s of idle) s.socket.destroy();
  } finally {
    await small.close();
    await svc.store.close();
  }
});
