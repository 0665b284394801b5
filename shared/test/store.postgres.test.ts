// The PostgreSQL store keeps the same contract as the embedded one (store.contract.ts), on a
// private cluster started for this suite, in a database of its own; then what only PostgreSQL
// does: it pushes changes to other processes.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { openPostgresStore } from '../src/store/postgres/store.js';
import type { Store } from '../src/store/types.js';
import { startPostgres } from '../../tests/support/postgres.js';
import { storeContract } from './store.contract.js';

let pg: Awaited<ReturnType<typeof startPostgres>> | undefined;
let url: string;

beforeAll(async () => {
  pg = await startPostgres('store-contract');
  url = await pg.newDatabase();
}, 120_000);

storeContract('postgres', () => openPostgresStore(url));

// Declared after the contract: top-level afterAll hooks run in order, and its store closes first.
afterAll(async () => {
  await pg?.stop();
});

describe('postgres: change push', () => {
  const opened: Store[] = [];
  afterAll(async () => {
    for (const s of opened) await s.close();
  });
  const open = async () => {
    const s = await openPostgresStore(url);
    opened.push(s);
    return s;
  };

  test('a store is woken soon after another process appends to the change feed, and no more once it stops listening', async () => {
    const [writer, reader] = [await open(), await open()];
    expect(reader.onChange).toBeDefined();
    let wakes = 0;
    let woken!: () => void;
    const first = new Promise<void>((resolve) => (woken = resolve));
    const stop = reader.onChange!(() => {
      wakes++;
      woken();
    });
    // LISTEN may take a round trip to be in place; append until it is heard (at most a few seconds).
    for (let i = 0; wakes === 0 && i < 50; i++) {
      await writer.changes.append('org.changed', 'org_pushpushpush', String(i), Date.now());
      await Promise.race([first, new Promise((r) => setTimeout(r, 100))]);
    }
    expect(wakes).toBeGreaterThan(0);
    stop();
    await new Promise((r) => setTimeout(r, 200));
    const before = wakes;
    await writer.changes.append('org.changed', 'org_pushpushpush', 'after stop', Date.now());
    await new Promise((r) => setTimeout(r, 300));
    expect(wakes).toBe(before);
  });

  test('a wake comes after the commit: a reader woken by a transaction\'s change reads it', async () => {
    const [writer, reader] = [await open(), await open()];
    let heard = 0;
    let onWake: () => void = () => heard++;
    const stop = reader.onChange!(() => onWake());
    try {
      for (let i = 0; heard === 0 && i < 50; i++) {
        await writer.changes.append('org.changed', 'org_pushpushpush', 'warm-up', Date.now());
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(heard).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 200)); // late warm-up wakes
      const from = await reader.changes.lastSeq();
      const reads: (string | null)[][] = [];
      onWake = () => void reader.changes.since(from).then((cs) => reads.push(cs.map((c) => c.ref)));
      await writer.transaction(async (tx) => {
        await tx.changes.append('token.revoked', 'org_pushpushpush', 'in-tx', Date.now());
        await new Promise((r) => setTimeout(r, 200));
      });
      for (let i = 0; reads.length === 0 && i < 30; i++) await new Promise((r) => setTimeout(r, 100));
      expect(reads[0]).toEqual(['in-tx']);
    } finally {
      stop();
    }
  });
});
