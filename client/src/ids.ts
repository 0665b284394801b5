// Random identifiers: client ids as the official SDK makes them (`cs_` + 8 letters or digits) and
// the correlation ids of requests. crypto.getRandomValues exists in browsers and Node ≥ 19.

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
// 256 is not a multiple of 62: bytes at or above 248 are drawn again, so every character is equally likely.
const UNBIASED_LIMIT = 256 - (256 % ALPHANUMERIC.length);

export function randomAlphanumeric(length: number): string {
  let out = '';
  const bytes = new Uint8Array(length * 2);
  while (out.length < length) {
    globalThis.crypto.getRandomValues(bytes);
    for (const b of bytes) {
      if (b < UNBIASED_LIMIT && out.length < length) out += ALPHANUMERIC[b % ALPHANUMERIC.length];
    }
  }
  return out;
}

/** `cs_` + 8 random letters or digits (about 48 bits): the official SDK's client ids. */
export const randomClientId = (): string => `cs_${randomAlphanumeric(8)}`;
