// The broker's one-timer expiry queue (deadlines.ts) against a sorted list: whatever order entries
// are queued, moved and removed in, they fall due in deadline order, each once, none early.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { Deadlines } from '../src/deadlines.js';

type Entry = { name: string; expiresAt: number; heapIndex: number };
const entry = (name: string, expiresAt: number): Entry => ({ name, expiresAt, heapIndex: -1 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Deadlines', () => {
  test('entries fall due in deadline order, once each; moved entries fall due at their new deadline; removed ones never', async () => {
    const fired: string[] = [];
    const q = new Deadlines<Entry>((e) => fired.push(e.name));
    const now = Date.now();
    const [a, b, c, d] = [entry('a', now + 60), entry('b', now + 20), entry('c', now + 40), entry('d', now + 30)];
    for (const e of [a, b, c, d]) q.set(e);
    c.expiresAt = now + 10; // moved earlier
    q.set(c);
    b.expiresAt = now + 80; // moved later
    q.set(b);
    q.delete(d);
    expect(q.size).toBe(3);
    await sleep(120);
    expect(fired).toEqual(['c', 'a', 'b']);
    expect(q.size).toBe(0);
    expect([a, b, c, d].map((e) => e.heapIndex)).toEqual([-1, -1, -1, -1]);
  });

  test('an entry queued earlier than the armed one re-arms the timer; none fires before its deadline', async () => {
    const fired: Array<[string, number]> = [];
    const q = new Deadlines<Entry>((e) => fired.push([e.name, Date.now() - e.expiresAt]));
    q.set(entry('late', Date.now() + 2_000_000)); // armed far away (and below setTimeout's ceiling)
    q.set(entry('soon', Date.now() + 15));
    await sleep(60);
    expect(fired.map(([n]) => n)).toEqual(['soon']);
    expect(fired[0]![1]).toBeGreaterThanOrEqual(0);
    q.stop();
  });

  test('a deadline beyond setTimeout\'s 24.8-day ceiling does not fire at once (Node would clamp it to 1 ms)', async () => {
    const fired: string[] = [];
    const q = new Deadlines<Entry>((e) => fired.push(e.name));
    q.set(entry('never-soon', Date.now() + 40 * 86_400_000));
    await sleep(30);
    expect(fired).toEqual([]);
    q.stop();
  });

  test('the heap order holds under any sequence of sets, moves and deletes (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), id: fc.nat(15), at: fc.integer({ min: 1, max: 1000 }) }),
      fc.record({ kind: fc.constant('delete' as const), id: fc.nat(15) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      let t = 0;
      const fired: Entry[] = [];
      const q = new Deadlines<Entry>((e) => fired.push(e), () => t);
      q.stop(); // timers off: the test drains by hand below
      const entries = Array.from({ length: 16 }, (_, i) => entry(`e${i}`, 0));
      const live = new Map<Entry, number>();
      for (const o of ops) {
        const e = entries[o.id]!;
        if (o.kind === 'set') {
          e.expiresAt = 10_000 + o.at; // all in the future of t = 0
          q.set(e);
          live.set(e, e.expiresAt);
        } else {
          q.delete(e);
          live.delete(e);
        }
      }
      expect(q.size).toBe(live.size);
      // Drain: fire() is private; advance the clock and let a due run happen through the public path.
      t = 20_000;
      (q as unknown as { fire(): void }).fire();
      const expected = [...live].sort((x, y) => x[1] - y[1]).map(([e]) => e.expiresAt);
      expect(fired.map((e) => e.expiresAt)).toEqual(expected);
      expect(new Set(fired).size).toBe(live.size);
    }));
  });
});
