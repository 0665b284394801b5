// Moving an embedded install to PostgreSQL: `signalgate store copy --to postgres://…` copies the
// data dir's SQLite store into an empty database, and everything issued before keeps working on
// it (the org's secret key, a minted token's password, the admin key, rules, the change feed's
// position); `signalgate migrate` on both stores. Through the built CLI, as an operator runs it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { loadConfig, openServices, SqliteStore, type Services } from '@signalgate/shared';
import { buildCli, runCli, runJson, tempDataDir } from '../../cli/test/support.js';
import { startPostgres, type PrivatePostgres } from '../support/postgres.js';

let db: PrivatePostgres;
const opened: Services[] = [];

beforeAll(async () => {
  buildCli();
  db = await startPostgres('store-copy');
}, 120_000);

afterAll(async () => {
  for (const s of opened) await s.store.close();
  await db?.stop();
});

const open = async (env: Record<string, string>) => {
  const s = await openServices(loadConfig({ SIGNALGATE_LOG_LEVEL: 'silent', ...env }));
  opened.push(s);
  return s;
};

describe('signalgate store copy', () => {
  test('a SQLite store copied into PostgreSQL: keys, tokens, rules, users, audit and the change position carry over', async () => {
    const dataDir = tempDataDir('store-copy');
    const sqlite = await open({ SIGNALGATE_DATA_DIR: dataDir });
    const { org, secretKey } = await sqlite.orgs.create('Moving Co');
    await sqlite.rules.setDefault(org.id, { publish: ['chat/#'], subscribe: ['chat/#', 'news/#'], presence: true, history: false });
    const kept = await sqlite.tokens.mint({ orgId: org.id, userId: 'alice', userEmail: 'alice@example.com' });
    const refreshed = await sqlite.tokens.refresh(kept.tokenId, kept.password); // two passwords now, in order
    const revoked = await sqlite.tokens.mint({ orgId: org.id, userId: 'bob' });
    await sqlite.tokens.revoke(org.id, revoked.tokenId);
    const lastSeq = await sqlite.store.changes.lastSeq();
    const audit = await sqlite.store.audit.query({ orgId: org.id, limit: 1000 });
    await sqlite.store.close();
    opened.pop();

    const url = await db.newDatabase();
    const copied = await runJson<{ copied: Record<string, number> }>(dataDir, ['store', 'copy', '--to', url]);
    expect(copied.copied.orgs).toBe(1);
    expect(copied.copied.tokens).toBe(2);
    expect(copied.copied.token_passwords).toBe(3);

    const pg = await open({ SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_DATABASE_URL: url });
    expect(pg.store.kind).toBe('postgres');
    expect((await pg.keys.verify(secretKey)).orgId).toBe(org.id);
    for (const password of [kept.password, refreshed.password]) expect((await pg.connect.checkConnect(kept.username, password)).ok).toBe(true);
    expect(await pg.connect.checkConnect(revoked.username, revoked.password)).toEqual({ ok: false, reason: 'revoked' });
    expect((await pg.rules.getDefault(org.id)).subscribe).toEqual(['chat/#', 'news/#']);
    expect((await pg.tokens.findUser(org.id, 'alice@example.com'))?.userId).toBe('alice');
    expect(await pg.store.audit.query({ orgId: org.id, limit: 1000 })).toEqual(audit);
    // The feed continues after the copied rows: a broker on the new store starts from there.
    expect(await pg.store.changes.lastSeq()).toBe(lastSeq);
    await pg.tokens.revoke(org.id, kept.tokenId);
    expect(await pg.store.changes.lastSeq()).toBeGreaterThan(lastSeq);
    // New rows get new ids after the copied ones (identity sequences moved past them).
    const after = await pg.tokens.mint({ orgId: org.id, userId: 'carol' });
    expect((await pg.connect.checkConnect(after.username, after.password)).ok).toBe(true);
  }, 60_000);

  test('into a database that already holds organisations: refused, nothing written', async () => {
    const dataDir = tempDataDir('store-copy-twice');
    const sqlite = await open({ SIGNALGATE_DATA_DIR: dataDir });
    await sqlite.orgs.create('Twice');
    const url = await db.newDatabase();
    const target = await open({ SIGNALGATE_DATA_DIR: tempDataDir('store-copy-other'), SIGNALGATE_DATABASE_URL: url });
    await target.orgs.create('Already here');
    const r = await runCli(dataDir, ['store', 'copy', '--to', url]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/already holds organizations/);
    expect((await target.orgs.list()).map((o) => o.name)).toEqual(['Already here']);
  }, 60_000);

  test('a --to that is not a postgres:// URL is refused before anything is opened', async () => {
    const r = await runCli(tempDataDir('store-copy-bad'), ['store', 'copy', '--to', 'mysql://x']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/postgres:\/\//);
  });
});

describe('signalgate migrate', () => {
  test('brings a new SQLite data dir and a new PostgreSQL database to the current schema', async () => {
    const dataDir = tempDataDir('migrate');
    const sqlite = await runJson<{ store: string }>(dataDir, ['migrate']);
    expect(sqlite.store).toBe('sqlite');
    const file = SqliteStore.open(dataDir); // opens without migrating anything new
    await file.close();
    const url = await db.newDatabase();
    const r = await runCli(dataDir, ['migrate', '--json'], { SIGNALGATE_DATABASE_URL: url });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim()).store).toBe('postgres');
    const pg = await open({ SIGNALGATE_DATA_DIR: dataDir, SIGNALGATE_DATABASE_URL: url });
    expect(await pg.store.orgs.list()).toEqual([]); // the schema is there, empty
  }, 60_000);
});
