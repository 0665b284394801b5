// Two hashing regimes, chosen by what is being protected (DEPENDENCY-NOTES, "Costs measured here"):
// - tkn_ passwords are 256-bit random: SHA-256 is enough and costs ~1.4 µs, so CONNECT stays cheap.
// - sk_/cs_/adm_ keys are long-lived: argon2id, verified once and then cached under a keyed hash.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import argon2 from 'argon2';

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests of equal length. */
export function digestsEqual(aHex: string, bHex: string): boolean {
  const a = Buffer.from(aHex, 'hex');
  const b = Buffer.from(bHex, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

// OWASP's second argon2id profile (m=19 MiB, t=2, p=1): ~19 ms a verify here, against ~90 ms for
// the library defaults; the cache below means it is paid once per key per process.
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

export const hashLongLivedSecret = (secret: string) => argon2.hash(secret, ARGON2_OPTIONS);

export async function verifyLongLivedSecret(hash: string, secret: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, secret);
  } catch {
    return false; // a malformed stored hash is a failed verification, never a crash
  }
}

/**
 * Keyed hash for in-memory caches of verified secrets: the cache never holds a plain secret,
 * and the key is per process, so a heap dump cannot be used to test guesses offline later.
 */
export function createCacheKeyer(): (secret: string) => string {
  const processKey = randomBytes(32);
  return (secret) => createHmac('sha256', processKey).update(secret, 'utf8').digest('base64url');
}
