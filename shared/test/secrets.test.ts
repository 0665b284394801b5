// Secrets are cut from a pool of CSPRNG bytes: every byte handed out once, slices never rewritten.
import { describe, expect, test } from '@jest/globals';
import { freshRandomBytes, newTokenPassword, TOKEN_PASSWORD_PATTERN } from '@signalgate/shared';

describe('the random pool', () => {
  test('5,000 token passwords (some 40 pool refills) are distinct, well-formed and carry 32 bytes each', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const p = newTokenPassword();
      expect(p).toMatch(TOKEN_PASSWORD_PATTERN);
      expect(Buffer.from(p.slice(4), 'base64url')).toHaveLength(32);
      seen.add(p);
    }
    expect(seen.size).toBe(5000);
  });

  test('a slice handed out keeps its bytes while later draws refill the pool; sizes beyond the pool work too', () => {
    const early = Array.from({ length: 10 }, () => freshRandomBytes(32));
    const copies = early.map((b) => Buffer.from(b));
    for (let i = 0; i < 1000; i++) freshRandomBytes(100);
    early.forEach((b, i) => expect(b.equals(copies[i]!)).toBe(true));
    expect(freshRandomBytes(10_000)).toHaveLength(10_000);
    expect(freshRandomBytes(4096)).toHaveLength(4096);
    // Two draws never share bytes: no 16-byte window of one reappears in the next.
    const a = freshRandomBytes(64).toString('hex');
    const b = freshRandomBytes(64).toString('hex');
    expect(b.includes(a.slice(0, 32))).toBe(false);
  });
});
