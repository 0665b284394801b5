// The broker's credential cache (shared/src/credentials/connectRecordCache.ts, used by
// ConnectService): a reconnect is answered from memory, and whatever makes a cached answer wrong
// (a revoke, a refresh, a rule change, made here or by another process on the same store) drops it
// through the change feed, so a password that stops being valid stops opening connections.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { openServices, type Services } from '@signalgate/shared';
import { connackCode, eventually, startTestBroker, subackCodes, type TestBroker } from './support/harness.js';

let b: TestBroker;
/** The same store opened by another "process" (its own services, caches and connections). */
let other: Services;

beforeAll(async () => {
  b = await startTestBroker('credential-cache');
  other = await openServices(b.config);
});

afterAll(async () => {
  await other?.store.close();
  await b?.stop();
});

const storeReads = () => {
  const spy = jest.spyOn(b.services.store.connectRecords, 'byPasswordHash');
  return { count: () => spy.mock.calls.length, restore: () => spy.mockRestore() };
};

describe('credential cache', () => {
  test('a reconnect with a cached password reads no store; each credential is cached once', async () => {
    const orgId = await b.newOrg();
    const t = await b.mint(orgId, 'cached');
    const before = b.services.connect.cachedCredentials;
    const reads = storeReads();
    try {
      expect(await connackCode(b.urls.mqtt, t.username, t.password)).toBe(0);
      expect(reads.count()).toBe(1);
      expect(b.services.connect.cachedCredentials).toBe(before + 1);
      for (let i = 0; i < 3; i++) expect(await connackCode(b.urls.mqtt, t.username, t.password, { protocolVersion: 5 })).toBe(0);
      expect(reads.count()).toBe(1);
    } finally {
      reads.restore();
    }
  });

  test('an unknown password is never cached (guessing cannot fill the cache)', async () => {
    const orgId = await b.newOrg();
    const before = b.services.connect.cachedCredentials;
    const bogus = `tkn_${'x'.repeat(43)}`;
    expect(await connackCode(b.urls.mqtt, `uabcdefghijk@${orgId}`, bogus)).toBe(4);
    expect(b.services.connect.cachedCredentials).toBe(before);
  });

  test('a revoke by another process stops the cached password within the feed latency', async () => {
    const orgId = await b.newOrg();
    const t = await b.mint(orgId, 'revoked-elsewhere');
    expect(await connackCode(b.urls.mqtt, t.username, t.password)).toBe(0);
    await other.tokens.revoke(orgId, t.tokenId);
    await eventually(async () => (await connackCode(b.urls.mqtt, t.username, t.password)) === 5);
  });

  test('a rule change by another process reaches a reconnect with a cached password', async () => {
    const orgId = await b.newOrg({ rules: { publish: ['chat/#'], subscribe: ['chat/#'], presence: false, history: false } });
    const t = await b.mint(orgId, 'narrowed');
    const c1 = await b.connect(b.urls.mqtt, t, { clientId: 'narrowed-1' });
    expect(await subackCodes(c1, ['chat/room'])).toEqual([0]);
    c1.end(true);
    await other.rules.setDefault(orgId, { publish: ['news/#'], subscribe: ['news/#'], presence: false, history: false });
    await eventually(async () => {
      const c = await b.connect(b.urls.mqtt, t, { clientId: `narrowed-${Math.random()}` });
      const codes = await subackCodes(c, ['chat/room', 'news/today']);
      c.end(true);
      return codes[0] === 0x80 && codes[1] === 0;
    });
  });

  test('a CONNECT arriving after a revoke does not join a lookup begun before it (a slow read answers a revoked token as live)', async () => {
    const orgId = await b.newOrg();
    const t = await b.mint(orgId, 'slow-read');
    const reader = b.services.store.connectRecords;
    const original = reader.byPasswordHash.bind(reader);
    let first = true;
    // The first read is answered late (a slow database), with what the store said before the revoke.
    const spy = jest.spyOn(reader, 'byPasswordHash').mockImplementation(async (hash) => {
      const answer = await original(hash);
      if (first) {
        first = false;
        await new Promise((r) => setTimeout(r, 600));
      }
      return answer;
    });
    try {
      const a = connackCode(b.urls.mqtt, t.username, t.password);
      await eventually(() => !first);
      await other.tokens.revoke(orgId, t.tokenId);
      await eventually(async () => (await b.services.store.changes.lastSeq()) > 0);
      await new Promise((r) => setTimeout(r, 150)); // the feed applied (50 ms poll)
      const c = await connackCode(b.urls.mqtt, t.username, t.password);
      expect(c).toBe(5);
      await a; // (A itself may be admitted or refused: its read began before the revoke)
    } finally {
      spy.mockRestore();
    }
  });

  test('a refresh elsewhere: the old password still opens the token (it is kept) and the new one too', async () => {
    const orgId = await b.newOrg();
    const t = await b.mint(orgId, 'refreshed');
    expect(await connackCode(b.urls.mqtt, t.username, t.password)).toBe(0);
    const fresh = await other.tokens.refresh(t.tokenId, t.password);
    expect(await connackCode(b.urls.mqtt, t.username, fresh.password)).toBe(0);
    expect(await connackCode(b.urls.mqtt, t.username, t.password)).toBe(0);
  });
});

describe('credential cache off (SIGNALGATE_CONNECT_CACHE_SIZE=0)', () => {
  let off: TestBroker;
  beforeAll(async () => {
    off = await startTestBroker('credential-cache-off', { SIGNALGATE_CONNECT_CACHE_SIZE: '0' });
  });
  afterAll(async () => off?.stop());

  test('every CONNECT reads the store', async () => {
    const orgId = await off.newOrg();
    const t = await off.mint(orgId, 'uncached');
    const spy = jest.spyOn(off.services.store.connectRecords, 'byPasswordHash');
    try {
      for (let i = 0; i < 3; i++) expect(await connackCode(off.urls.mqtt, t.username, t.password)).toBe(0);
      expect(spy.mock.calls.length).toBe(3);
      expect(off.services.connect.cachedCredentials).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });
});
