// The write-behind of the sessions table, on a real SQLite file, windows flushed by hand: what the
// table holds after each window, whatever order connects, takeovers, closes and refreshes come in.
// The store is opened on a database handle the test keeps, to count what is written.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger, createServices, loadConfig, openDatabase, SqliteStore, type Db, type SessionRecord, type Services } from '@signalgate/shared';
import { SessionRowWriter } from '../src/sessionRows.js';

const BROKER = 'broker-rows';
let db: Db;
let services: Services;
let orgId: string;
let rows: SessionRowWriter;

beforeAll(async () => {
  const config = loadConfig({ SIGNALGATE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-rows-')) });
  db = openDatabase(config.dataDir);
  services = createServices(new SqliteStore(db), config);
  orgId = (await services.orgs.create('Rows Co')).org.id;
});
afterAll(() => services.store.close());
beforeEach(() => {
  db.prepare('DELETE FROM sessions').run();
  // A window far longer than a test: only flush() writes.
  rows = new SessionRowWriter(services.store, BROKER, createLogger('silent'), 60_000);
});

let clock = 1_000;
const session = (clientId: string, over: Partial<SessionRecord> = {}): SessionRecord => ({
  brokerId: BROKER, orgId, clientId, userRef: 'usr_rows', tokenId: 'tok_rows', address: '127.0.0.1:1', protocol: 'mqtt',
  connectedAt: ++clock, expiresAt: 9_000_000_000_000, ...over,
});
const table = async () => (await services.store.sessions.list(orgId)).map((r) => ({ clientId: r.clientId, connectedAt: r.connectedAt, expiresAt: r.expiresAt }));
const writes = () => (db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;

describe('SessionRowWriter', () => {
  test('nothing is written before the window ends; then the row, and after a close no row', async () => {
    const a = session('a');
    rows.upsert(a);
    expect(await table()).toEqual([]);
    await rows.flush();
    expect(await table()).toEqual([{ clientId: 'a', connectedAt: a.connectedAt, expiresAt: a.expiresAt }]);
    rows.remove(orgId, 'a', a.connectedAt, 'tok_rows');
    await rows.flush();
    expect(await table()).toEqual([]);
  });

  test('a session that opens and closes within one window is never written', async () => {
    const a = session('brief');
    rows.upsert(a);
    rows.remove(orgId, 'brief', a.connectedAt, 'tok_rows');
    const before = writes();
    await rows.flush();
    expect(writes()).toBe(before);
    expect(await table()).toEqual([]);
  });

  test("a close records when the session's token was last used, even for a session never written (replace_existing spares it)", async () => {
    const minted = await services.tokens.mint({ orgId, userId: 'last-used' });
    const brief = session('brief-with-token', { tokenId: minted.tokenId });
    rows.upsert(brief);
    const before = Date.now();
    rows.remove(orgId, 'brief-with-token', brief.connectedAt, minted.tokenId);
    await rows.flush();
    expect(await table()).toEqual([]);
    expect((await services.store.tokens.get(minted.tokenId))!.lastUsedAt).toBeGreaterThanOrEqual(before);
  });

  test('a takeover within a window: the old session’s close does not remove the new one', async () => {
    const old = session('phone');
    rows.upsert(old);
    await rows.flush();
    const next = session('phone');
    rows.upsert(next);
    rows.remove(orgId, 'phone', old.connectedAt, 'tok_rows');
    await rows.flush();
    expect(await table()).toEqual([expect.objectContaining({ clientId: 'phone', connectedAt: next.connectedAt })]);
  });

  test('a close that finds only a newer row leaves it tracked: a later brief session cannot strand that row', async () => {
    const a1 = session('c');
    rows.upsert(a1);
    await rows.flush();
    const a2 = session('c');
    rows.upsert(a2);
    await rows.flush();
    rows.remove(orgId, 'c', a1.connectedAt, 'tok_rows'); // a1 closes after a2 took over and was written
    await rows.flush();
    expect(await table()).toEqual([expect.objectContaining({ connectedAt: a2.connectedAt })]);
    const a3 = session('c');
    rows.upsert(a3);
    rows.remove(orgId, 'c', a2.connectedAt, 'tok_rows'); // ignored: a3 is pending
    rows.remove(orgId, 'c', a3.connectedAt, 'tok_rows'); // a3 is brief, but a2's row is in the table
    await rows.flush();
    expect(await table()).toEqual([]);
  });

  test('a refresh reaches the row whether it was pending or already written; a closed session is not brought back; other clients are untouched', async () => {
    const pending = session('pending');
    rows.upsert(pending);
    rows.refresh({ ...pending, expiresAt: 9_100_000_000_000 });
    const written = session('written');
    await rows.flush();
    expect(await table()).toEqual([expect.objectContaining({ clientId: 'pending', expiresAt: 9_100_000_000_000 })]);

    rows.upsert(written);
    await rows.flush();
    rows.refresh({ ...written, expiresAt: 9_200_000_000_000 });
    // (The registry refreshes only sessions open on this broker; one that closed meanwhile stays gone.)
    const closing = session('closing');
    rows.upsert(closing);
    await rows.flush();
    rows.remove(orgId, 'closing', closing.connectedAt, 'tok_rows');
    rows.refresh({ ...closing, expiresAt: 9_300_000_000_000 });
    await rows.flush();
    expect(await table()).toEqual([
      expect.objectContaining({ clientId: 'pending', expiresAt: 9_100_000_000_000 }),
      expect.objectContaining({ clientId: 'written', expiresAt: 9_200_000_000_000 }),
    ]);
  });

  test('a refresh after a takeover reaches the new row although the old connection’s removal is pending (helper-27)', async () => {
    const old = session('dev', { tokenId: 'tok_takeover' });
    rows.upsert(old);
    await rows.flush();
    const next = session('dev', { tokenId: 'tok_takeover' });
    rows.upsert(next); // takes over: opens before the old one closes
    await services.store.sessions.setExpiryOfToken('tok_takeover', 9_500_000_000_000); // the API's refresh, before the row is written
    await rows.flush(); // the new row, with the old expiry
    rows.remove(orgId, 'dev', old.connectedAt, 'tok_takeover');
    rows.refresh({ ...next, expiresAt: 9_500_000_000_000 });
    await rows.flush();
    expect(await table()).toEqual([{ clientId: 'dev', connectedAt: next.connectedAt, expiresAt: 9_500_000_000_000 }]);
  });

  test('a row another broker took over is not removed by this broker’s close', async () => {
    const a = session('roamer');
    rows.upsert(a);
    await rows.flush();
    await services.store.sessions.upsert({ ...session('roamer'), brokerId: 'other-broker' });
    rows.remove(orgId, 'roamer', a.connectedAt, 'tok_rows');
    await rows.flush();
    expect(await services.store.sessions.list(orgId)).toEqual([expect.objectContaining({ clientId: 'roamer', brokerId: 'other-broker' })]);
  });

  test('stop() drops pending changes (the broker clears its rows itself) and nothing is written after it', async () => {
    rows.upsert(session('late'));
    await rows.stop();
    rows.upsert(session('later'));
    await rows.flush();
    expect(await table()).toEqual([]);
  });
});
