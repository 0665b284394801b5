// The write-behind of the sessions table, on a real SQLite file, windows flushed by hand: what the
// table holds after each window, whatever order connects, takeovers, closes and refreshes come in.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger, createServices, loadConfig, type SessionRecord, type Services } from '@signalgate/shared';
import { SessionRowWriter } from '../src/sessionRows.js';

const BROKER = 'broker-rows';
let services: Services;
let orgId: string;
let rows: SessionRowWriter;

beforeAll(async () => {
  services = createServices(loadConfig({ SIGNALGATE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-rows-')) }));
  orgId = (await services.orgs.create('Rows Co')).org.id;
});
afterAll(() => services.store.close());
beforeEach(() => {
  services.store.db.prepare('DELETE FROM sessions').run();
  // A window far longer than a test: only flush() writes.
  rows = new SessionRowWriter(services.store, BROKER, createLogger('silent'), 60_000);
});

let clock = 1_000;
const session = (clientId: string, over: Partial<SessionRecord> = {}): SessionRecord => ({
  brokerId: BROKER, orgId, clientId, userRef: 'usr_rows', tokenId: 'tok_rows', address: '127.0.0.1:1', protocol: 'mqtt',
  connectedAt: ++clock, expiresAt: 9_000_000_000_000, ...over,
});
const table = () => services.store.sessions.list(orgId).map((r) => ({ clientId: r.clientId, connectedAt: r.connectedAt, expiresAt: r.expiresAt }));
const writes = () => (services.store.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;

describe('SessionRowWriter', () => {
  test('nothing is written before the window ends; then the row, and after a close no row', () => {
    const a = session('a');
    rows.upsert(a);
    expect(table()).toEqual([]);
    rows.flush();
    expect(table()).toEqual([{ clientId: 'a', connectedAt: a.connectedAt, expiresAt: a.expiresAt }]);
    rows.remove(orgId, 'a', a.connectedAt, 'tok_rows');
    rows.flush();
    expect(table()).toEqual([]);
  });

  test('a session that opens and closes within one window is never written', () => {
    const a = session('brief');
    rows.upsert(a);
    rows.remove(orgId, 'brief', a.connectedAt, 'tok_rows');
    const before = writes();
    rows.flush();
    expect(writes()).toBe(before);
    expect(table()).toEqual([]);
  });

  test("a close records when the session's token was last used, even for a session never written (replace_existing spares it)", async () => {
    const minted = services.tokens.mint({ orgId, userId: 'last-used' });
    const brief = session('brief-with-token', { tokenId: minted.tokenId });
    rows.upsert(brief);
    const before = Date.now();
    rows.remove(orgId, 'brief-with-token', brief.connectedAt, minted.tokenId);
    rows.flush();
    expect(table()).toEqual([]);
    expect(services.store.tokens.get(minted.tokenId)!.lastUsedAt).toBeGreaterThanOrEqual(before);
  });

  test('a takeover within a window: the old session’s close does not remove the new one', () => {
    const old = session('phone');
    rows.upsert(old);
    rows.flush();
    const next = session('phone');
    rows.upsert(next);
    rows.remove(orgId, 'phone', old.connectedAt, 'tok_rows');
    rows.flush();
    expect(table()).toEqual([expect.objectContaining({ clientId: 'phone', connectedAt: next.connectedAt })]);
  });

  test('a close that finds only a newer row leaves it tracked: a later brief session cannot strand that row', () => {
    const a1 = session('c');
    rows.upsert(a1);
    rows.flush();
    const a2 = session('c');
    rows.upsert(a2);
    rows.flush();
    rows.remove(orgId, 'c', a1.connectedAt, 'tok_rows'); // a1 closes after a2 took over and was written
    rows.flush();
    expect(table()).toEqual([expect.objectContaining({ connectedAt: a2.connectedAt })]);
    const a3 = session('c');
    rows.upsert(a3);
    rows.remove(orgId, 'c', a2.connectedAt, 'tok_rows'); // ignored: a3 is pending
    rows.remove(orgId, 'c', a3.connectedAt, 'tok_rows'); // a3 is brief, but a2's row is in the table
    rows.flush();
    expect(table()).toEqual([]);
  });

  test('a refresh reaches the row whether it was pending or already written; a closed session is not brought back; other clients are untouched', () => {
    const pending = session('pending');
    rows.upsert(pending);
    rows.refresh({ ...pending, expiresAt: 9_100_000_000_000 });
    const written = session('written');
    rows.flush();
    expect(table()).toEqual([expect.objectContaining({ clientId: 'pending', expiresAt: 9_100_000_000_000 })]);

    rows.upsert(written);
    rows.flush();
    rows.refresh({ ...written, expiresAt: 9_200_000_000_000 });
    // (The registry refreshes only sessions open on this broker; one that closed meanwhile stays gone.)
    const closing = session('closing');
    rows.upsert(closing);
    rows.flush();
    rows.remove(orgId, 'closing', closing.connectedAt, 'tok_rows');
    rows.refresh({ ...closing, expiresAt: 9_300_000_000_000 });
    rows.flush();
    expect(table()).toEqual([
      expect.objectContaining({ clientId: 'pending', expiresAt: 9_100_000_000_000 }),
      expect.objectContaining({ clientId: 'written', expiresAt: 9_200_000_000_000 }),
    ]);
  });

  test('a refresh after a takeover reaches the new row although the old connection’s removal is pending (helper-27)', () => {
    const old = session('dev', { tokenId: 'tok_takeover' });
    rows.upsert(old);
    rows.flush();
    const next = session('dev', { tokenId: 'tok_takeover' });
    rows.upsert(next); // takes over: opens before the old one closes
    services.store.sessions.setExpiryOfToken('tok_takeover', 9_500_000_000_000); // the API's refresh, before the row is written
    rows.flush(); // the new row, with the old expiry
    rows.remove(orgId, 'dev', old.connectedAt, 'tok_takeover');
    rows.refresh({ ...next, expiresAt: 9_500_000_000_000 });
    rows.flush();
    expect(table()).toEqual([{ clientId: 'dev', connectedAt: next.connectedAt, expiresAt: 9_500_000_000_000 }]);
  });

  test('a row another broker took over is not removed by this broker’s close', () => {
    const a = session('roamer');
    rows.upsert(a);
    rows.flush();
    services.store.sessions.upsert({ ...session('roamer'), brokerId: 'other-broker' });
    rows.remove(orgId, 'roamer', a.connectedAt, 'tok_rows');
    rows.flush();
    expect(services.store.sessions.list(orgId)).toEqual([expect.objectContaining({ clientId: 'roamer', brokerId: 'other-broker' })]);
  });

  test('stop() drops pending changes (the broker clears its rows itself) and nothing is written after it', () => {
    rows.upsert(session('late'));
    rows.stop();
    rows.upsert(session('later'));
    rows.flush();
    expect(table()).toEqual([]);
  });
});
