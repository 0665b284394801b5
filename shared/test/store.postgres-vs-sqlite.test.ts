// The PostgreSQL tokens, changes, audit, sessions, history, connect-record and retention repositories
// against their SQLite classes, call for call: each call is made on both and must answer the same.
// Beyond the store contract (shared/test/store.contract.ts) it drives the paths where the PostgreSQL
// statements differ in shape from SQLite's: a history batch holding more messages of one topic than
// it keeps, password pruning across many rotations, the change feed's append lock against an open
// transaction, retention past one batch.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Database from 'better-sqlite3';
import pg from 'pg';
import { migrate } from '../src/store/db.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { migratePostgres } from '../src/store/postgres/migrations.js';
import { PgTokens } from '../src/store/postgres/tokens.js';
import { PgChanges } from '../src/store/postgres/changes.js';
import { PgAudit } from '../src/store/postgres/audit.js';
import { PgSessions } from '../src/store/postgres/sessions.js';
import { PgHistory } from '../src/store/postgres/history.js';
import { PgConnectRecords } from '../src/store/postgres/connectRecords.js';
import { PgRetention } from '../src/store/postgres/retention.js';
import { PASSWORDS_KEPT_PER_TOKEN } from '../src/store/tokens.js';
import { startPostgres, type PrivatePostgres } from '../../tests/support/postgres.js';

const PER_TOPIC = 3;

const SEED = `
INSERT INTO orgs (id, uuid, name, created_at, max_connections) VALUES ('org_a', 'u-a', 'A', 1, 5), ('org_b', 'u-b', 'B', 2, NULL);
INSERT INTO rule_sets (id, org_id, name, is_default, publish, subscribe, presence, history, created_at, updated_at, deny_publish)
  VALUES ('rs_def', 'org_a', 'default', 1, '["a/#"]', '["b/#"]', 1, 0, 1, 1, '["a/x"]'),
         ('rs_int', 'org_a', 'int', 0, '["c/#"]', '[]', 0, 1, 1, 1, '[]');
INSERT INTO integrations (org_id, id, rule_set_id, description, created_at) VALUES ('org_a', 'int_1', 'rs_int', NULL, 1);
INSERT INTO users (org_id, user_ref, user_id, user_email, created_at) VALUES ('org_a', 'ref1', 'alice', 'a@x', 10), ('org_b', 'ref9', 'zed', NULL, 10);
`;

let server: PrivatePostgres;
let pool: pg.Pool;
let lite: SqliteStore;
let sqlite: Database.Database;

const pgRepos = () => ({
  tokens: new PgTokens(pool), changes: new PgChanges(pool), audit: new PgAudit(pool), sessions: new PgSessions(pool),
  history: new PgHistory(pool, PER_TOPIC), connectRecords: new PgConnectRecords(pool), retention: new PgRetention(pool),
});
let pgs: ReturnType<typeof pgRepos>;

beforeAll(async () => {
  pg.types.setTypeParser(20, (v) => Number(v));
  server = await startPostgres('repos-scratch');
  pool = new pg.Pool({ connectionString: await server.newDatabase() });
  await migratePostgres(pool);
  await pool.query(SEED);
  sqlite = new Database(':memory:');
  sqlite.pragma('foreign_keys = ON');
  migrate(sqlite);
  sqlite.exec(SEED);
  lite = new SqliteStore(sqlite, { historyPerTopic: PER_TOPIC });
  pgs = pgRepos();
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await lite?.close();
  await server?.stop();
});

/** Runs `f` on both stores and expects the same answer. */
async function same<T>(f: (s: typeof lite | ReturnType<typeof pgRepos>) => Promise<T>, strip?: (v: T) => unknown): Promise<T> {
  const a = await f(lite);
  const b = await f(pgs as unknown as typeof lite);
  expect(strip ? strip(b) : b).toEqual(strip ? strip(a) : a);
  return b;
}

const token = (id: string, over: Record<string, unknown> = {}) => ({
  id, orgId: 'org_a', userRef: 'ref1', passwordHash: `h_${id}_0`, integrationId: null, provider: null,
  scopes: [{ publish: ['x'], subscribe: [] }] as never, apiKeyId: 'key1', issuedAt: 100, expiresAt: 10_000, ...over,
});

describe('tokens', () => {
  it('behave like SQLite', async () => {
    await same((s) => s.tokens.insert(token('t1')));
    await same((s) => s.tokens.insert(token('t2', { integrationId: 'int_1', apiKeyId: null, provider: 'okta', issuedAt: 110, expiresAt: 500 })));
    await same((s) => s.tokens.insert(token('t3', { userRef: 'ghost', integrationId: 'gone', issuedAt: 120 })));
    await same((s) => s.tokens.get('t1'));
    await same((s) => s.tokens.get('nope'));
    await same((s) => s.tokens.byPasswordHash('h_t2_0'));
    for (let i = 1; i <= PASSWORDS_KEPT_PER_TOKEN + 4; i++) {
      expect(await same((s) => s.tokens.rotate('t1', `h_t1_${i - 1}`, `h_t1_${i}`, 20_000 + i, 200 + i))).toBe(true);
      const kept = async (q: (sql: string) => Promise<string[]>) => q('SELECT password_hash AS h FROM token_passwords WHERE token_id = \'t1\' ORDER BY created_at');
      const a = await kept(async (sql) => (sqlite.prepare(sql).all() as { h: string }[]).map((r) => r.h));
      const b = await kept(async (sql) => (await pool.query<{ h: string }>(sql)).rows.map((r) => r.h));
      expect(b).toEqual(a);
      expect(b.length).toBe(Math.min(i + 1, PASSWORDS_KEPT_PER_TOKEN));
    }
    expect(await same((s) => s.tokens.rotate('t1', 'h_t1_0', 'h_again', 1, 300))).toBe(false);
    await same((s) => s.tokens.byPasswordHash('h_t1_0')); // the first is kept
    await same((s) => s.tokens.byPasswordHash('h_t1_2')); // pruned
    await same((s) => s.tokens.touch('t1', 50));
    await same((s) => s.tokens.touch('t1', 40));
    await same((s) => s.tokens.get('t1'));
    await same((s) => s.tokens.liveOfUser('org_a', 'ref1', 400));
    await same((s) => s.tokens.liveOfUser('org_a', 'ref1', 600));
    await same((s) => s.tokens.liveOfKey('org_a', 'key1', 400));
    await same((s) => s.tokens.listOfUser('org_a', 'ref1'));
    await same((s) => s.tokens.listOfUser('org_a', 'ref1', 1));
    expect(await same((s) => s.tokens.revoke('t3', 'because', 300))).toBe(true);
    expect(await same((s) => s.tokens.revoke('t3', 'again', 301))).toBe(false);
    await same((s) => s.tokens.listOfOrg('org_a', true, 400));
    await same((s) => s.tokens.listOfOrg('org_a', false, 400));
    expect(await same((s) => s.tokens.rotate('t3', 'h_t3_0', 'h_t3_1', 1, 302))).toBe(false); // revoked
  });

  it('read the connect record like SQLite', async () => {
    for (const h of ['h_t1_0', 'h_t1_11', 'h_t2_0', 'h_t3_0', 'nope']) await same((s) => s.connectRecords.byPasswordHash(h));
    const r = await pgs.connectRecords.byPasswordHash('h_t2_0');
    expect(r?.integrationRules).toMatchObject({ publish: ['c/#'], history: true });
    expect(r?.org?.limits.maxConnections).toBe(5);
    expect((await pgs.connectRecords.byPasswordHash('h_t3_0'))?.integrationRules).toBeNull();
  });
});

describe('changes', () => {
  it('behave like SQLite', async () => {
    await same((s) => s.changes.lastSeq());
    await same((s) => s.changes.append('token.revoked', 'org_a', 't1', 10));
    await same((s) => s.changes.append('rules.changed', 'org_a', null, 20));
    await same((s) => s.changes.append('org.changed', 'org_b', null, 30));
    await same((s) => s.changes.since(0));
    await same((s) => s.changes.since(2));
    await same((s) => s.changes.lastSeq());
    await same((s) => s.changes.trim(25));
    await same((s) => s.changes.since(0));
  });

  it('an append waits for an earlier uncommitted one: a lower seq never commits after a higher one is seen', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await new PgChanges(client).append('session.kick', 'org_a', 'first', 40);
      let second = false;
      const other = pgs.changes.append('session.kick', 'org_a', 'second', 41).then(() => { second = true; });
      await new Promise((r) => setTimeout(r, 300));
      expect(second).toBe(false);
      await client.query('COMMIT');
      await other;
    } finally {
      client.release();
    }
    const refs = (await pgs.changes.since(0)).map((c) => c.ref);
    expect(refs.slice(-2)).toEqual(['first', 'second']);
    await lite.changes.append('session.kick', 'org_a', 'first', 40);
    await lite.changes.append('session.kick', 'org_a', 'second', 41);
    await same((s) => s.changes.since(0));
  });
});

describe('audit', () => {
  it('behaves like SQLite', async () => {
    await same((s) => s.audit.record({ event: 'token.minted', orgId: 'org_a', userId: 'alice', userRef: 'ref1', tokenId: 't1', expiresAt: 5, detail: { a: 1 } }, 10));
    await same((s) => s.audit.record({ event: 'auth.failed', ip: '1.2.3.4', userAgent: 'x'.repeat(600) }, 20));
    await same((s) => s.audit.record({ event: 'key.created', orgId: 'org_b', userId: 'ref9' }, 30));
    await same((s) => s.audit.query({}));
    await same((s) => s.audit.query({ orgId: 'org_a' }));
    await same((s) => s.audit.query({ userId: 'ref1' }));
    await same((s) => s.audit.query({ userId: 'ref9' }));
    await same((s) => s.audit.query({ event: 'auth.failed' }));
    await same((s) => s.audit.query({ beforeId: 3, limit: 1 }));
    await same(async (s) => [...await s.audit.all({ orgId: null, before: null })]);
    await same(async (s) => [...await s.audit.all({ orgId: 'org_b', before: null })]);
    await same(async (s) => [...await s.audit.all({ orgId: null, before: 25 })]);
  });
});

describe('sessions', () => {
  const session = (clientId: string, over: Record<string, unknown> = {}) => ({
    brokerId: 'b1', orgId: 'org_a', clientId, userRef: 'ref1', tokenId: 't1', address: '1.1.1.1', protocol: 'mqtt', connectedAt: 100, expiresAt: 900, ...over,
  });
  it('behave like SQLite', async () => {
    await same((s) => s.sessions.upsert(session('c1')));
    await same((s) => s.sessions.upsert(session('c2', { connectedAt: 50, userRef: 'ref2', tokenId: 't2' })));
    await same((s) => s.sessions.upsert(session('c1', { brokerId: 'b2', connectedAt: 200, address: null })));
    await same((s) => s.sessions.list('org_a'));
    await same((s) => s.sessions.ofUser('org_a', 'ref1'));
    await same((s) => s.sessions.countOfUser('org_a', 'ref1'));
    await same((s) => s.sessions.countOfUser('org_a', 'nobody'));
    await same(async (s) => (await s.sessions.brokerIds()).sort());
    expect(await same((s) => s.sessions.removeUpTo('org_a', 'c1', 'b1', 300))).toBe(false);
    expect(await same((s) => s.sessions.removeUpTo('org_a', 'c1', 'b2', 150))).toBe(false);
    await same((s) => s.sessions.setExpiryOfToken('t2', 1234));
    await same((s) => s.sessions.list('org_a'));
    expect(await same((s) => s.sessions.removeUpTo('org_a', 'c1', 'b2', 200))).toBe(true);
    await same((s) => s.sessions.clearBroker('b1'));
    await same((s) => s.sessions.list('org_a'));
  });
});

describe('history', () => {
  const msg = (topic: string, n: number, orgId = 'org_a') => ({ orgId, topic, payload: Buffer.from(`${topic}:${n}`), qos: n % 2, at: 1000 + n });
  const noIds = (ms: { id: number }[]) => ms.map(({ id: _id, ...m }) => m);
  it('behaves like SQLite', async () => {
    expect(pgs.history.capacity).toBe(PER_TOPIC);
    await same((s) => s.history.usage('org_a'));
    await same((s) => s.history.appendBatch([]));
    await same((s) => s.history.appendBatch([msg('a', 1), msg('b', 1), msg('a', 2)]));
    await same((s) => s.history.read('org_a', 'a', 10), noIds);
    await same((s) => s.history.appendBatch([msg('a', 3), msg('a', 4), msg('b', 2), msg('a', 5, 'org_b')]));
    await same((s) => s.history.read('org_a', 'a', 10), noIds);
    await same((s) => s.history.read('org_a', 'b', 10), noIds);
    // More messages of a topic than it keeps, in one batch.
    await same((s) => s.history.appendBatch([msg('b', 3), msg('a', 6), msg('b', 4), msg('b', 5), msg('b', 6), msg('b', 7), msg('a', 7)]));
    await same((s) => s.history.read('org_a', 'a', 10), noIds);
    await same((s) => s.history.read('org_a', 'b', 2), noIds);
    await same((s) => s.history.read('org_b', 'a', 10), noIds);
    const ids = (await pgs.history.read('org_a', 'b', 10)).map((m) => m.id);
    expect(ids).toEqual([...ids].sort((x, y) => y - x));
    await same((s) => s.history.usage('org_a'));
    await same((s) => s.history.usage('org_none'));
    await same((s) => s.history.hasTopic('org_a', 'a'));
    await same((s) => s.history.hasTopic('org_a', 'zzz'));
    const counts = await pool.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM history');
    expect(counts.rows[0]!.n).toBe(PER_TOPIC * 2 + 1);
  });

  it('keeps nothing with a bound of 0', async () => {
    const none = new PgHistory(pool, 0);
    await none.appendBatch([msg('z', 1)]);
    expect(await none.hasTopic('org_a', 'z')).toBe(false);
  });
});

describe('retention', () => {
  it('purges like SQLite', async () => {
    await same((s) => s.retention.purge({ tokensEndedBefore: 600, usersCreatedBefore: 11, auditBefore: 25, changesBefore: 1000, historyBefore: 1004 }));
    await same((s) => s.tokens.listOfOrg('org_a', false, 0));
    await same((s) => s.changes.lastSeq(), () => undefined);
    expect((await pgs.changes.since(0)).length).toBe(1);
    await same((s) => s.retention.purge({ tokensEndedBefore: 0, usersCreatedBefore: 0, auditBefore: null, changesBefore: 0, historyBefore: 0 }));
    await same((s) => s.audit.query({}));
  });

  it('deletes past one batch, batch by batch', async () => {
    await pool.query(`INSERT INTO audit (at, event) SELECT 7, 'auth.failed' FROM generate_series(1, 12001)`);
    const counts = await pgs.retention.purge({ tokensEndedBefore: 0, usersCreatedBefore: 0, auditBefore: 8, changesBefore: 0, historyBefore: 0 });
    expect(counts.audit).toBe(12001);
  });
});
