// The PostgreSQL store's machinery, on a private server: migrations, serializable transactions and
// their retry, what a caller sees while the database is away (and that it comes back by itself), and
// the LISTEN wake-up of change-feed readers. The repositories' behaviour is the contract suite's.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { isSignalGateError } from '../src/errors.js';
import { ORG_LIMITS } from '../src/orgLimits.js';
import { migratePostgres, PG_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { PostgresStore } from '../src/store/postgres/store.js';
import { startPostgres, type PrivatePostgres } from '../../tests/support/postgres.js';

let server: PrivatePostgres;
const opened: PostgresStore[] = [];
const quiet = { warn: () => undefined };

async function freshStore(): Promise<{ store: PostgresStore; url: string }> {
  const url = await server.newDatabase();
  const store = await PostgresStore.open(url, { log: quiet });
  opened.push(store);
  return { store, url };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const storeUnavailable = (err: unknown) => isSignalGateError(err) && err.code === 'store_unavailable' && err.status === 503;

async function eventually(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  const started = Date.now();
  server = await startPostgres('store-core');
  process.stderr.write(`private PostgreSQL started in ${Date.now() - started} ms\n`);
}, 120_000);

afterAll(async () => {
  for (const s of opened) await s.close();
  await server?.stop();
});

test('a new database gets the whole schema; rows come back as the SQLite mappers expect', async () => {
  const { store } = await freshStore();
  await store.orgs.insert('org_aaaaaaaaaaaa', '00000000-0000-4000-8000-000000000000', 'Acme', 1_700_000_000_123);
  const org = await store.orgs.byRef('00000000-0000-4000-8000-000000000000');
  expect(org?.createdAt).toBe(1_700_000_000_123);
  expect(org?.maxTokenLifetimeSeconds).toBe(604800);
  for (const l of ORG_LIMITS) expect(org?.limits[l.key]).toBe(l.default);
  await store.ruleSets.insert({ id: 'rs_1', orgId: org!.id, name: 'default', isDefault: true, publish: ['a/#'], subscribe: [], presence: true, history: false }, 5);
  expect(await store.ruleSets.getDefault(org!.id)).toMatchObject({ isDefault: true, presence: true, history: false, publish: ['a/#'], denyPublish: [] });
  expect(await store.integrations.countUsingRuleSet(org!.id, 'rs_1')).toBe(0);
});

test('text sorts in byte order, as in SQLite, whatever the database locale', async () => {
  const { store } = await freshStore();
  await store.orgs.insert('org_b', 'b0000000-0000-4000-8000-000000000000', 'B', 1);
  for (const name of ['b', 'B', 'a', '_x', 'Z']) {
    await store.ruleSets.insert({ id: `rs_${name}`, orgId: 'org_b', name, isDefault: false, publish: [], subscribe: [], presence: false, history: false }, 1);
  }
  expect((await store.ruleSets.list('org_b')).map((r) => r.name)).toEqual(['B', 'Z', '_x', 'a', 'b']);
});

test('two processes migrating one database at once apply each version once', async () => {
  const url = await server.newDatabase();
  const pools = [0, 1, 2].map(() => new pg.Pool({ connectionString: url, max: 2 }));
  try {
    await Promise.all(pools.map((p) => migratePostgres(p)));
    await migratePostgres(pools[0]!); // and again later: nothing to do
    const { rows } = await pools[0]!.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => Number(r.version))).toEqual(PG_MIGRATIONS.map((m) => m.version));
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
  // Stores opened together on it as well.
  const stores = await Promise.all([1, 2].map(() => PostgresStore.open(url, { log: quiet })));
  opened.push(...stores);
  await Promise.all(stores.map((s) => s.ping()));
});

test('a transaction commits its writes together, or none of them when its body throws', async () => {
  const { store } = await freshStore();
  await store.transaction(async (tx) => {
    await tx.settings.set('a', '1');
    await tx.settings.set('b', '2');
  });
  expect([await store.settings.get('a'), await store.settings.get('b')]).toEqual(['1', '2']);

  await expect(store.transaction(async (tx) => {
    await tx.settings.set('a', 'changed');
    await tx.settings.set('c', '3');
    throw new Error('body failed');
  })).rejects.toThrow('body failed');
  expect([await store.settings.get('a'), await store.settings.get('c')]).toEqual(['1', undefined]);

  // A statement error is the caller's, unchanged (not "unavailable"), and the pool carries on.
  const err = await store.transaction(async (tx) => tx.orgs.insert('org_x', 'u', 'X', 1).then(() => tx.orgs.insert('org_x', 'u2', 'X', 1))).catch((e: unknown) => e);
  expect((err as { code?: string }).code).toBe('23505');
  expect(await store.orgs.get('org_x')).toBeUndefined();
  await expect(store.transaction(() => store.transaction(async () => 1))).rejects.toThrow('nested');
});

test('a serialization failure runs the body again, and both transactions end committed', async () => {
  const { store } = await freshStore();
  // Write skew: each reads the key the other writes. SERIALIZABLE lets only one of the first attempts commit.
  let bothRead: () => void;
  const barrier = new Promise<void>((r) => (bothRead = r));
  let reads = 0;
  const attempts = { a: 0, b: 0 };
  const body = (me: 'a' | 'b', other: 'a' | 'b') => store.transaction(async (tx) => {
    attempts[me]++;
    const seen = await tx.settings.get(other);
    if (attempts[me] === 1 && ++reads === 2) bothRead();
    if (attempts[me] === 1) await barrier;
    await tx.settings.set(me, `saw ${other}=${seen ?? 'nothing'}`);
    return attempts[me];
  });
  const [a, b] = await Promise.all([body('a', 'b'), body('b', 'a')]);
  expect(a + b).toBe(3); // one of them ran twice
  const values = [await store.settings.get('a'), await store.settings.get('b')];
  // Serial: whichever went second saw the first's write.
  expect(values.filter((v) => /^saw .=nothing$/.test(v ?? ''))).toHaveLength(1);
});

test('while the database is down every call fails as store_unavailable; afterwards the same store works again', async () => {
  const { store, url } = await freshStore();
  await store.settings.set('k', 'v');
  const wakes: number[] = [];
  const stop = store.onChange(() => wakes.push(Date.now()));
  await eventually(() => wakes.length > 0);

  await server.down();
  let wakesWhileDown: number;
  try {
    for (const call of [() => store.ping(), () => store.settings.get('k'), () => store.transaction((tx) => tx.settings.get('k'))]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'store_unavailable' });
      expect(storeUnavailable(err)).toBe(true);
    }
    wakesWhileDown = wakes.length;
  } finally {
    await server.up();
  }

  await store.ping();
  expect(await store.settings.get('k')).toBe('v');
  expect(await store.transaction((tx) => tx.settings.get('k'))).toBe('v');
  // The listener reconnected by itself and woke its readers (notifications may have been missed).
  await eventually(() => wakes.length > wakesWhileDown, 8000);
  const before = wakes.length;
  await withClient(url, (c) => c.query("INSERT INTO changes (at, kind, org_id, ref) VALUES (1, 'org.changed', 'org_a', NULL)"));
  await eventually(() => wakes.length > before);
  stop();
}, 30_000);

test('a transaction whose connection is cut fails as store_unavailable, is not retried, and leaves nothing behind', async () => {
  const { store, url } = await freshStore();
  let attempts = 0;
  const err = await store.transaction(async (tx) => {
    attempts++;
    await tx.settings.set('half', 'written');
    await withClient(url, (c) => c.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'"));
    await tx.settings.set('other', 'half');
  }).catch((e: unknown) => e);
  expect(storeUnavailable(err)).toBe(true);
  expect(attempts).toBe(1);
  expect(await store.settings.get('half')).toBeUndefined();
  await store.transaction((tx) => tx.settings.set('after', 'ok'));
  expect(await store.settings.get('after')).toBe('ok');
});

test('opening a store while the database is down fails as store_unavailable', async () => {
  const url = await server.newDatabase();
  await server.down();
  try {
    const err = await PostgresStore.open(url, { log: quiet }).catch((e: unknown) => e);
    expect(storeUnavailable(err)).toBe(true);
  } finally {
    await server.up();
  }
});

test('readers are woken by an insert into the change feed, and again after their connection is killed', async () => {
  const { store, url } = await freshStore();
  let woken = 0;
  const stop = store.onChange(() => woken++);
  await eventually(() => woken > 0); // the first wake, once it listens

  let before = woken;
  // One wake per statement, however many rows it inserts.
  await withClient(url, (c) => c.query("INSERT INTO changes (at, kind, org_id, ref) VALUES (1, 'org.changed', 'org_a', NULL), (2, 'org.changed', 'org_b', NULL)"));
  await eventually(() => woken > before);
  await new Promise((r) => setTimeout(r, 100));
  expect(woken).toBe(before + 1);

  const killed = await withClient(url, (c) => c.query<{ n: string }>(
    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"));
  expect(Number(killed.rows[0]!.n)).toBe(1);
  before = woken;
  await eventually(() => woken > before); // reconnected and woke (what was sent meanwhile is lost)

  before = woken;
  await withClient(url, (c) => c.query("INSERT INTO changes (at, kind, org_id, ref) VALUES (3, 'org.changed', 'org_a', NULL)"));
  await eventually(() => woken > before);

  // Stopped: no more wakes, and its connection is gone.
  stop();
  await eventually(async () => Number((await withClient(url, (c) => c.query<{ n: string }>(
    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"))).rows[0]!.n) === 0);
  before = woken;
  await withClient(url, (c) => c.query("INSERT INTO changes (at, kind, org_id, ref) VALUES (4, 'org.changed', 'org_a', NULL)"));
  await new Promise((r) => setTimeout(r, 200));
  expect(woken).toBe(before);
});
