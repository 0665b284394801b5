// The embedded store: the contract every store keeps (store.contract.ts), then what only the SQLite
// file does — its place on disk and its mode, migrations, WAL and several connections on one file
// (the API and the broker in different processes), and how a transaction's body and the calls made
// around it take turns on the one connection.
import { afterEach, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { DB_FILE_NAME, openDatabase } from '../src/store/db.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { sha256Hex } from '../src/credentials/hashing.js';
import { ORG_LIMITS } from '../src/orgLimits.js';
import type { Org } from '../src/store/orgs.js';
import type { Store } from '../src/store/types.js';
import { storeContract } from './store.contract.js';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-store-'));

storeContract('sqlite', async () => SqliteStore.open(tempDir()));

const opened: { close(): unknown }[] = [];
afterEach(async () => {
  while (opened.length) await opened.pop()!.close();
});
const openStore = (dir: string) => {
  const s = SqliteStore.open(dir);
  opened.push(s);
  return s;
};
const openDb = (dir: string) => {
  const db = openDatabase(dir);
  opened.push(db);
  return db;
};
const versions = (dir: string) => {
  const db = new Database(path.join(dir, DB_FILE_NAME), { readonly: true });
  try {
    return db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
  } finally {
    db.close();
  }
};
/** A data dir as an older version left it: the migrations up to `version` applied. */
const oldDataDir = (version: number) => {
  const dir = tempDir();
  const old = new Database(path.join(dir, DB_FILE_NAME));
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  for (const m of MIGRATIONS.filter((m) => m.version <= version)) {
    old.exec(m.sql);
    old.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, 1);
  }
  return { dir, old };
};
const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

function deferred() {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

describe('sqlite: the data directory', () => {
  test('opening creates the directory and the database file', () => {
    const dir = path.join(tempDir(), 'nested', 'data');
    openStore(dir);
    expect(fs.existsSync(path.join(dir, DB_FILE_NAME))).toBe(true);
  });

  test('the database and its WAL files are readable by their owner only, the directory it makes too', async () => {
    const dir = path.join(tempDir(), 'data');
    const s = openStore(dir);
    await s.settings.set('k', 'v'); // a write: the -wal and -shm files exist now
    const file = path.join(dir, DB_FILE_NAME);
    expect(modeOf(dir)).toBe(0o700);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) expect([f, modeOf(f)]).toEqual([f, 0o600]);
  });

  test('a database file left readable by others is narrowed to its owner when opened', () => {
    const dir = tempDir();
    const file = path.join(dir, DB_FILE_NAME);
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o644);
    openStore(dir);
    expect(modeOf(file)).toBe(0o600);
  });

  test('migrations are idempotent: two connections opened at once, and a third after, apply each version exactly once', async () => {
    const dir = tempDir();
    const a = openStore(dir);
    const b = openStore(dir); // a second connection while the first is open
    await a.close();
    const c = openStore(dir); // and again after a close
    expect(versions(dir)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await b.orgs.list()).toEqual([]);
    expect(await c.orgs.list()).toEqual([]);
  });

  test('data written before a reopen is still there (nothing is recreated)', async () => {
    const dir = tempDir();
    const a = openStore(dir);
    await a.orgs.insert('org_aaaaaaaaaaaa', randomUUID(), 'Kept', 1);
    await a.close();
    expect((await openStore(dir).orgs.get('org_aaaaaaaaaaaa'))?.name).toBe('Kept');
  });

  test('a data dir from before max_connects_per_second gains the column, unlimited, and keeps its other limits', async () => {
    const { dir, old } = oldDataDir(2);
    old.prepare("INSERT INTO orgs (id, name, created_at, max_connections, token_messages_per_second) VALUES ('org_aaaaaaaaaaaa', 'Old', 1, 7, 3)").run();
    old.close();
    const s = openStore(dir);
    expect(versions(dir)).toEqual(MIGRATIONS.map((m) => m.version));
    // Later quota columns arrive with their defaults (shared/src/orgLimits.ts).
    expect((await s.orgs.get('org_aaaaaaaaaaaa'))?.limits).toEqual({
      maxConnections: 7, maxMessagesPerSecond: null, maxBytesPerSecond: null, maxPayloadBytes: null, tokenMessagesPerSecond: 3, maxConnectsPerSecond: null,
      ...Object.fromEntries(ORG_LIMITS.filter((l) => l.default !== null).map((l) => [l.key, l.default])),
    });
  });

  test('a data dir from before org UUIDs: every org gets a distinct v4 UUID, and tokens minted before keep connecting', async () => {
    const { dir, old } = oldDataDir(3);
    const orgIds = Array.from({ length: 50 }, (_, i) => `org_${String(i).padStart(12, 'a')}`);
    for (const id of orgIds) old.prepare('INSERT INTO orgs (id, name, created_at) VALUES (?, ?, 1)').run(id, id);
    old.prepare("INSERT INTO users (org_id, user_ref, user_id, user_email, created_at) VALUES (?, 'uaaaaaaaaaaa', 'old-user', NULL, 1)").run(orgIds[0]);
    const password = `tkn_${'P'.repeat(43)}`;
    old.prepare(`INSERT INTO tokens (id, org_id, user_ref, password_hash, integration_id, scopes, api_key_id, issued_at, expires_at)
      VALUES ('00000000-0000-4000-8000-00000000000a', ?, 'uaaaaaaaaaaa', ?, NULL, '[]', NULL, ?, ?)`).run(orgIds[0], sha256Hex(password), Date.now(), Date.now() + 3_600_000);
    old.close();

    const s = openStore(dir);
    const orgs = await s.orgs.list();
    const uuids = orgs.map((o) => o.uuid);
    expect(uuids).toHaveLength(50);
    for (const u of uuids) expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(uuids).size).toBe(50);
    expect((await s.orgs.byRef(uuids[0]!))?.id).toBe(orgs[0]!.id);
    expect((await s.tokens.byPasswordHash(sha256Hex(password)))?.id).toBe('00000000-0000-4000-8000-00000000000a');
    expect((await s.connectRecords.byPasswordHash(sha256Hex(password)))?.org?.uuid).toBe((await s.orgs.get(orgIds[0]!))!.uuid);
  });

  test('the database runs in WAL mode, synchronous NORMAL, with foreign keys on and a busy timeout', () => {
    const db = openDb(tempDir());
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(Number(db.pragma('busy_timeout', { simple: true }))).toBeGreaterThan(0);
  });
});

describe('sqlite: two connections on one file (API and broker in different processes)', () => {
  test('a second store sees what the first committed, change feed included', async () => {
    const dir = tempDir();
    const api = openStore(dir);
    const broker = openStore(dir);
    const from = await broker.changes.lastSeq();
    await api.transaction(async (tx) => {
      await tx.orgs.insert('org_sharedshared', randomUUID(), 'Shared', 1);
      await tx.changes.append('org.changed', 'org_sharedshared', null, 2);
    });
    expect((await broker.orgs.get('org_sharedshared'))?.name).toBe('Shared');
    expect(await broker.changes.since(from)).toEqual([expect.objectContaining({ kind: 'org.changed', orgId: 'org_sharedshared' })]);
  });

  test('a writer waits while another connection holds the write lock, then commits (busy wait, not SQLITE_BUSY)', async () => {
    const dir = tempDir();
    const s = openStore(dir);
    const holdMs = 300;
    // The other connection in a thread of its own: in this one, its lock would block us both.
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const Database = require(workerData.driver);
      const db = new Database(workerData.file);
      db.exec('BEGIN IMMEDIATE');
      db.prepare("INSERT INTO settings (key, value) VALUES ('worker', 'first')").run();
      parentPort.postMessage('locked');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.holdMs);
      db.exec('COMMIT');
      db.close();
    `, { eval: true, workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), file: path.join(dir, DB_FILE_NAME), holdMs } });
    const exited = new Promise((resolve, reject) => worker.once('exit', resolve).once('error', reject));
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    const started = Date.now();
    await s.transaction((tx) => tx.settings.set('main', 'second'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(holdMs - 50);
    expect(await exited).toBe(0);
    expect(await s.settings.get('worker')).toBe('first');
    expect(await s.settings.get('main')).toBe('second');
  });
});

describe('sqlite: transactions on the one connection', () => {
  test('a store call made while a body awaits waits for the commit, then sees the committed rows', async () => {
    const s = openStore(tempDir());
    const hold = deferred();
    const inserted = deferred();
    const tx = s.transaction(async (x) => {
      await x.orgs.insert('org_pendingpendi', randomUUID(), 'Pending', 1);
      inserted.release();
      await hold.promise;
    });
    await inserted.promise;
    let answer: Org | undefined | 'none yet' = 'none yet';
    const outside = s.orgs.get('org_pendingpendi').then((o) => (answer = o));
    await new Promise((r) => setTimeout(r, 50));
    expect(answer).toBe('none yet');
    hold.release();
    await tx;
    await outside;
    expect(answer).toMatchObject({ name: 'Pending' });
  });

  test('a store call made from inside a body (not through its tx) rejects, and the body carries on', async () => {
    const s = openStore(tempDir());
    let inside: unknown;
    const value = await s.transaction(async (tx) => {
      inside = await s.orgs.list().then(() => 'answered', (err: unknown) => err);
      await tx.settings.set('after', 'yes');
      return 'done';
    });
    expect(value).toBe('done');
    expect(inside).toBeInstanceOf(Error);
    expect((inside as Error).message).toMatch(/inside a transaction body/);
    expect(await s.settings.get('after')).toBe('yes');
  });

  test('a transaction begun inside a body rejects (no nesting)', async () => {
    const s = openStore(tempDir());
    let nested: unknown;
    await s.transaction(async () => {
      nested = await s.transaction(async () => 'inner').then(() => 'ran', (err: unknown) => err);
    });
    expect(nested).toBeInstanceOf(Error);
    expect((nested as Error).message).toMatch(/nested/);
  });

  test("this process's appends wake the feed's readers after COMMIT (a rolled-back one does not); another process's are left to their poll", async () => {
    const dir = tempDir();
    const s: Store = openStore(dir);
    const other: Store = openStore(dir);
    let wakes = 0;
    const stop = s.onChange!(() => wakes++);
    const org = { id: 'org_wakeswakes01', uuid: '6f0b9a52-2a44-4c53-9d39-0a3c2f7d1e11' };
    await s.orgs.insert(org.id, org.uuid, 'Wakes', 1);
    await s.changes.append('rules.changed', org.id, null, 2);
    expect(wakes).toBe(1);
    let seenInside = -1;
    await s.transaction(async (tx) => {
      await tx.changes.append('rules.changed', org.id, null, 3);
      seenInside = wakes;
    });
    expect(seenInside).toBe(1);
    expect(wakes).toBe(2);
    await expect(s.transaction(async (tx) => {
      await tx.changes.append('rules.changed', org.id, null, 4);
      throw new Error('rolled back');
    })).rejects.toThrow('rolled back');
    await other.changes.append('rules.changed', org.id, null, 5);
    stop();
    await s.changes.append('rules.changed', org.id, null, 6);
    expect(wakes).toBe(2);
  });
});
