import { describe, expect, test } from '@jest/globals';
import { bucketFor, TokenBucket } from '@signalgate/shared';

describe('token bucket', () => {
  test('starts full, refuses when empty and refills at the rate', () => {
    const b = new TokenBucket(10, 10, 0);
    for (let i = 0; i < 10; i++) expect(b.take(1, 0)).toBe(true);
    expect(b.take(1, 0)).toBe(false);
    expect(b.take(1, 50)).toBe(false);
    expect(b.take(1, 100)).toBe(true);
    expect(b.take(1, 100)).toBe(false);
  });

  test('never holds more than the burst', () => {
    const b = new TokenBucket(5, 5, 0);
    expect(b.available(60_000)).toBe(5);
  });

  test('a cost above the burst passes once when full and leaves debt', () => {
    const b = new TokenBucket(100, 100, 0);
    expect(b.take(250, 0)).toBe(true);
    expect(b.available(0)).toBe(-150);
    expect(b.take(1, 1000)).toBe(false); // -150 + 100 = -50
    expect(b.take(1, 2000)).toBe(true);
  });

  test('time going backwards does not mint tokens', () => {
    const b = new TokenBucket(1, 1, 1000);
    expect(b.take(1, 1000)).toBe(true);
    expect(b.take(1, 500)).toBe(false);
  });

  test('an absent limit has no bucket', () => {
    expect(bucketFor(null, 0)).toBeNull();
    expect(bucketFor(3, 0)?.ratePerSecond).toBe(3);
  });
});
