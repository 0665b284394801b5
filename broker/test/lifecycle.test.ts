// Live sessions end when their credential does: expiry, revoke (in this process or another one
// on the same SQLite file), replace_existing, and an admin kick; a refresh keeps them going.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { connackCode, eventually, inbox, onTopic, sleep, startTestBroker, whenClosed, type TestBroker } from './support/harness.js';

let tb: TestBroker;
let orgId: string;
let shortOrg: string;

beforeAll(async () => {
  tb = await startTestBroker('lifecycle');
  orgId = await tb.newOrg();
  shortOrg = await tb.newOrg({ minTtlSeconds: 1 });
});
afterAll(async () => tb?.stop());

const sharedDist = fileURLToPath(new URL('../../shared/dist/index.js', import.meta.url));

/** Revokes a token from a separate node process with its own database connection. */
function revokeFromAnotherProcess(dataDir: string, org: string, tokenId: string): Promise<void> {
  const databaseUrl = tb.config.databaseUrl ?? '';
  const script = `
    const { loadConfig, openServices } = await import(${JSON.stringify(sharedDist)});
    const services = await openServices(loadConfig({ SIGNALGATE_DATA_DIR: process.argv[1], ...(process.argv[4] ? { SIGNALGATE_DATABASE_URL: process.argv[4] } : {}) }));
    await services.tokens.revoke(process.argv[2], process.argv[3], 'revoked by another process');
    await services.store.close();
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, dataDir, org, tokenId, databaseUrl], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`revoking process failed (${code}): ${stderr}`))));
  });
}

describe('revocation', () => {
  test('a token revoked while connected is disconnected, and cannot reconnect (5)', async () => {
    const t = await tb.mint(orgId, 'revoked-live');
    const c = await tb.connect(tb.urls.mqtt, t);
    const other = await tb.connect(tb.urls.mqtt, await tb.mint(orgId, 'bystander'));
    await tb.services.tokens.revoke(orgId, t.tokenId);
    await whenClosed(c, 1500);
    expect(other.connected).toBe(true);
    expect(await connackCode(tb.urls.mqtt, t.username, t.password)).toBe(5);
  });

  test('a revoke made by another process on the same SQLite file disconnects the session', async () => {
    const t = await tb.mint(orgId, 'revoked-elsewhere');
    const c = await tb.connect(tb.urls.ws, t);
    await revokeFromAnotherProcess(tb.dataDir, orgId, t.tokenId);
    await whenClosed(c, 1500);
  });

  test('replace_existing leaves a token in a live session alone: its session goes on beside the new one', async () => {
    const old = await tb.mint(orgId, 'replaced-user');
    const c = await tb.connect(tb.urls.mqtt, old);
    await new Promise((r) => setTimeout(r, 100)); // the session row is written behind (≤ 50 ms)
    const fresh = await tb.mint(orgId, 'replaced-user', { replaceExisting: true });
    expect(fresh.replacedTokenIds).toEqual([]);
    await expect(whenClosed(c, 600)).rejects.toThrow();
    expect(await connackCode(tb.urls.mqtt, fresh.username, fresh.password)).toBe(0);
  });

  test('a session.kick change ends that client only', async () => {
    const t = await tb.mint(orgId, 'kicked');
    const kicked = await tb.connect(tb.urls.mqtt, t, { clientId: 'kick-me' });
    const kept = await tb.connect(tb.urls.mqtt, t, { clientId: 'keep-me' });
    await tb.services.store.changes.append('session.kick', orgId, 'kick-me', Date.now());
    await whenClosed(kicked, 1500);
    expect(kept.connected).toBe(true);
  });
});

describe('expiry', () => {
  test('a session ends when its token expires', async () => {
    const t = await tb.mint(shortOrg, 'expiring', { ttlSeconds: 1 });
    const c = await tb.connect(tb.urls.mqtt, t);
    await whenClosed(c, 2500);
    expect(await connackCode(tb.urls.mqtt, t.username, t.password)).toBe(5);
  });

  test('a refresh moves the session’s end to the new expiry', async () => {
    const t = await tb.mint(shortOrg, 'refreshed-live', { ttlSeconds: 3 });
    const c = await tb.connect(tb.urls.mqtt, t);
    await sleep(1500);
    const r = await tb.services.tokens.refresh(t.tokenId, t.password); // now expires ~4.5 s after mint
    await sleep(2000); // past the original expiry (3 s), well before the new one
    expect(c.connected).toBe(true);
    await whenClosed(c, r.expiresAt - Date.now() + 1500);
  });

  test('a will is published when a live session drops, but not when the broker ends it for expiry', async () => {
    const watcher = await tb.connect(tb.urls.mqtt, await tb.mint(shortOrg, 'will-watcher'));
    const box = inbox(watcher);
    await watcher.subscribeAsync('wills/#');
    const dropped = await tb.connect(tb.urls.mqtt, await tb.mint(shortOrg, 'will-dropped'), { will: { topic: 'wills/dropped', payload: Buffer.from('gone'), qos: 1, retain: false } });
    (dropped.stream as unknown as { destroy(): void }).destroy();
    await box.waitFor(onTopic('wills/dropped', 'gone'));

    const expiring = await tb.connect(tb.urls.mqtt, await tb.mint(shortOrg, 'will-expired', { ttlSeconds: 1 }), { will: { topic: 'wills/expired', payload: Buffer.from('expired'), qos: 1, retain: false } });
    await whenClosed(expiring, 2500);
    const sentinel = await tb.connect(tb.urls.mqtt, await tb.mint(shortOrg, 'will-sentinel'));
    await sentinel.publishAsync('wills/sentinel', 'after');
    await box.waitFor(onTopic('wills/sentinel', 'after'));
    expect(box.messages.map((m) => m.topic)).toEqual(['wills/dropped', 'wills/sentinel']);
  });
});

describe('the last use of a token (what replace_existing spares)', () => {
  test('a session that ends, and every session of a broker that shuts down, mark their token as used', async () => {
    const own = await startTestBroker('last-used');
    try {
      const org = await own.newOrg();
      const ended = await own.mint(org, 'ends-itself');
      const c = await own.connect(own.urls.mqtt, ended);
      await c.endAsync();
      await eventually(async () => (await own.services.store.tokens.get(ended.tokenId))!.lastUsedAt !== null);

      const atShutdown = await own.mint(org, 'broker-stops');
      await own.connect(own.urls.mqtt, atShutdown);
      const before = Date.now();
      await own.broker.close();
      expect((await own.services.store.tokens.get(atShutdown.tokenId))!.lastUsedAt).toBeGreaterThanOrEqual(before);
    } finally {
      await own.stop();
    }
  });
});

