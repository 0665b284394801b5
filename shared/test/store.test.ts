// The SQLite store on a real file: schema migrations, WAL, several connections on one file, and
// the promise that no secret ever reaches the audit table.
import { afterEach, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServices, DB_FILE_NAME, loadConfig, ORG_LIMITS, sha256Hex, Store, type OrgLimits, type Services } from '@signalgate/shared';
import { MIGRATIONS } from '../src/store/migrations.js';

const opened: { close(): void }[] = [];
afterEach(() => {
  while (opened.length) opened.pop()!.close();
});

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-store-'));
const openStore = (dir: string) => {
  const s = Store.open(dir);
  opened.push(s);
  return s;
};
const openServices = (dir: string): Services => {
  const s = createServices(loadConfig({ SIGNALGATE_DATA_DIR: dir }));
  opened.push(s.store);
  return s;
};

describe('opening the data dir', () => {
  test('creates the directory and the database file', () => {
    const dir = path.join(tempDir(), 'nested', 'data');
    openStore(dir);
    expect(fs.existsSync(path.join(dir, DB_FILE_NAME))).toBe(true);
  });

  test('migrations are idempotent: opening twice (even at once) applies each version exactly once', () => {
    const dir = tempDir();
    const a = openStore(dir);
    const b = openStore(dir); // second connection while the first is open
    a.close();
    const c = openStore(dir); // and again after a close
    const rows = c.db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    expect(rows).toEqual(MIGRATIONS.map((m) => m.version));
    expect(b.orgs.list()).toEqual([]);
  });

  test('data written before a reopen is still there (nothing is recreated)', () => {
    const dir = tempDir();
    const a = openStore(dir);
    a.orgs.insert('org_aaaaaaaaaaaa', '00000000-0000-4000-8000-000000000001', 'Kept', 1);
    a.close();
    expect(openStore(dir).orgs.get('org_aaaaaaaaaaaa')?.name).toBe('Kept');
  });

  test('a data dir from before max_connects_per_second gains the column, unlimited, and keeps its other limits', () => {
    const dir = tempDir();
    const old = new Database(path.join(dir, DB_FILE_NAME));
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of MIGRATIONS.filter((m) => m.version <= 2)) {
      old.exec(m.sql);
      old.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, 1);
    }
    old.prepare("INSERT INTO orgs (id, name, created_at, max_connections, token_messages_per_second) VALUES ('org_aaaaaaaaaaaa', 'Old', 1, 7, 3)").run();
    old.close();
    const s = openStore(dir);
    expect(s.db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual(MIGRATIONS.map((m) => m.version));
    // Later quota columns arrive with their defaults (shared/src/orgLimits.ts).
    expect(s.orgs.get('org_aaaaaaaaaaaa')?.limits).toEqual({
      maxConnections: 7, maxMessagesPerSecond: null, maxBytesPerSecond: null, maxPayloadBytes: null, tokenMessagesPerSecond: 3, maxConnectsPerSecond: null,
      ...Object.fromEntries(ORG_LIMITS.filter((l) => l.default !== null).map((l) => [l.key, l.default])),
    });
  });

  test('a data dir from before org UUIDs: every org gets a distinct v4 UUID, and tokens minted before keep connecting', () => {
    const dir = tempDir();
    const old = new Database(path.join(dir, DB_FILE_NAME));
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of MIGRATIONS.filter((m) => m.version <= 3)) {
      old.exec(m.sql);
      old.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, 1);
    }
    const orgIds = Array.from({ length: 50 }, (_, i) => `org_${String(i).padStart(12, 'a')}`);
    for (const id of orgIds) old.prepare('INSERT INTO orgs (id, name, created_at) VALUES (?, ?, 1)').run(id, id);
    old.prepare("INSERT INTO users (org_id, user_ref, user_id, user_email, created_at) VALUES (?, 'uaaaaaaaaaaa', 'old-user', NULL, 1)").run(orgIds[0]);
    const password = `tkn_${'P'.repeat(43)}`;
    old.prepare(`INSERT INTO tokens (id, org_id, user_ref, password_hash, integration_id, scopes, api_key_id, issued_at, expires_at)
      VALUES ('00000000-0000-4000-8000-00000000000a', ?, 'uaaaaaaaaaaa', ?, NULL, '[]', NULL, ?, ?)`).run(orgIds[0], sha256Hex(password), Date.now(), Date.now() + 3_600_000);
    old.close();

    const s = openStore(dir);
    const uuids = s.orgs.list().map((o) => o.uuid);
    expect(uuids).toHaveLength(50);
    for (const u of uuids) expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(uuids).size).toBe(50);
    expect(s.orgs.byRef(uuids[0]!)?.id).toBe(s.orgs.list()[0]!.id);
    expect(s.tokens.byPasswordHash(sha256Hex(password))?.id).toBe('00000000-0000-4000-8000-00000000000a');
    expect(s.connectRecords.byPasswordHash(sha256Hex(password))?.org?.uuid).toBe(s.orgs.get(orgIds[0]!)!.uuid);
  });

  test('the database runs in WAL mode with foreign keys on', () => {
    const s = openStore(tempDir());
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(Number(s.db.pragma('busy_timeout', { simple: true }))).toBeGreaterThan(0);
  });
});

describe('two connections on one file (API and broker in different processes)', () => {
  test('a second Store sees what the first committed', async () => {
    const dir = tempDir();
    const api = openServices(dir);
    const broker = openServices(dir);
    const { org, secretKey } = await api.orgs.create('Shared');
    expect(broker.orgs.get(org.id).name).toBe('Shared');
    expect((await broker.keys.verify(secretKey)).orgId).toBe(org.id);

    const t = api.tokens.mint({ orgId: org.id, userId: 'u1' });
    expect(broker.connect.checkConnect(t.username, t.password)).toMatchObject({ ok: true });
    const seq = broker.store.changes.lastSeq();
    api.tokens.revoke(org.id, t.tokenId);
    expect(broker.connect.checkConnect(t.username, t.password)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(broker.store.changes.since(seq)).toEqual([expect.objectContaining({ kind: 'token.revoked', ref: t.tokenId })]);
  });

  test('a key revoked through another connection is refused even while cached as verified', async () => {
    const dir = tempDir();
    const api = openServices(dir);
    const admin = openServices(dir);
    const { org, secretKey, key } = await api.orgs.create('Cache');
    await api.keys.verify(secretKey); // now cached in `api`
    admin.keys.revoke(org.id, key.id);
    await expect(api.keys.verify(secretKey)).rejects.toMatchObject({ code: 'invalid_api_key' });
  });

  test('a write transaction in one connection does not fail a writer in the other (busy wait, not SQLITE_BUSY)', async () => {
    const dir = tempDir();
    const a = openServices(dir);
    const b = openServices(dir);
    const { org } = await a.orgs.create('Busy');
    for (let i = 0; i < 20; i++) {
      a.tokens.mint({ orgId: org.id, userId: `a${i}` });
      b.tokens.mint({ orgId: org.id, userId: `b${i}` });
    }
    expect(a.tokens.list(org.id)).toHaveLength(40);
  });
});

describe('what a CONNECT is decided on', () => {
  test("the connect record carries every one of the org's limits (one value per ORG_LIMITS row)", async () => {
    const s = openServices(tempDir());
    const { org } = await s.orgs.create('Limited');
    const limits = Object.fromEntries(ORG_LIMITS.map((l, i) => [l.key, 10 + i])) as unknown as OrgLimits;
    s.orgs.update(org.id, { limits });
    const t = s.tokens.mint({ orgId: org.id, userId: 'u1' });
    expect(s.store.connectRecords.byPasswordHash(sha256Hex(t.password))?.org?.limits).toEqual(limits);
    s.orgs.update(org.id, { limits: { maxConnectsPerSecond: null } });
    expect(s.store.connectRecords.byPasswordHash(sha256Hex(t.password))?.org?.limits).toEqual({ ...limits, maxConnectsPerSecond: null });
  });
});

describe('the audit trail never holds a secret', () => {
  test('no column of any audit row contains a password, an sk_ key or their hashes', async () => {
    const dir = tempDir();
    const s = openServices(dir);
    const secrets: string[] = [];
    const { org, secretKey, key } = await s.orgs.create('Audit');
    secrets.push(secretKey);
    const second = await s.keys.create(org.id, 'second');
    secrets.push(second.secretKey);
    const rotated = await s.keys.rotate(org.id, key.id, 0);
    secrets.push(rotated.secretKey);

    const t = s.tokens.mint({ orgId: org.id, userEmail: 'a@example.com' }, { ip: '198.51.100.4', userAgent: 'agent/1' });
    secrets.push(t.password);
    const r = s.tokens.refresh(t.tokenId, t.password, { ip: '198.51.100.4' });
    secrets.push(r.password);
    expect(() => s.tokens.refresh(t.tokenId, t.password)).toThrow(); // old password: a refresh_failed row
    const t2 = s.tokens.mint({ orgId: org.id, userId: 'x', replaceExisting: true });
    secrets.push(t2.password);
    s.tokens.revoke(org.id, t2.tokenId);

    const hashes = s.store.db.prepare('SELECT password_hash FROM tokens UNION ALL SELECT hash FROM api_keys').pluck().all() as string[];
    const rows = s.store.db.prepare('SELECT * FROM audit').all() as Record<string, unknown>[];
    expect(rows.length).toBeGreaterThanOrEqual(9);
    const events = new Set(rows.map((r) => r.event));
    for (const e of ['org.created', 'key.created', 'key.rotated', 'token.minted', 'token.refreshed', 'token.refresh_failed', 'token.revoked']) expect(events).toContain(e);
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        if (value === null || typeof value === 'number') continue;
        const text = String(value);
        for (const secret of [...secrets, ...hashes]) {
          if (text.includes(secret)) throw new Error(`audit.${column} of a ${String(row.event)} row holds a secret`);
        }
        expect(text).not.toMatch(/tkn_[A-Za-z0-9_-]{20}/);
        expect(text).not.toMatch(/sk_[A-Za-z0-9_-]{20}/);
      }
    }
  });
});
