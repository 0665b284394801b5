// Identifiers and secrets. Every secret is drawn from the OS CSPRNG (node:crypto) and encoded
// base64url; nothing here is hand-rolled cryptography.
import { randomBytes, randomUUID, randomInt } from 'node:crypto';
import { isCompactJws } from '../identity/claims.js';

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

function randomFrom(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** `org_` + 12 chars of [a-z0-9] (SPEC: identifiers). */
export const newOrgId = () => `org_${randomFrom(LOWER_ALNUM, 12)}`;
export const ORG_ID_PATTERN = /^org_[a-z0-9]{12}$/;
/** Every organisation also has a UUID (random, version 4). */
export const newOrgUuid = () => randomUUID();
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Stable per-user handle inside an org, the part before `@` in the MQTT username. */
export const newUserRef = () => `u${randomFrom(LOWER_ALNUM, 11)}`;
export const USER_REF_PATTERN = /^u[a-z0-9]{11}$/;

export const newTokenId = () => randomUUID();
export const newKeyId = () => `key_${randomFrom(LOWER_ALNUM, 12)}`;
export const newRuleSetId = () => `rs_${randomFrom(LOWER_ALNUM, 12)}`;

// Each randomBytes call is a trip to the OS CSPRNG: 8 µs here for 32 bytes, ~5% of a mint under
// load. Secrets are cut from a pool drawn 4 KiB at a time instead, each byte handed out once (what
// Node's own randomUUID does); a spent pool is replaced, never refilled in place, so a handed-out
// slice never changes.
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

export function freshRandomBytes(n: number): Buffer {
  if (n > POOL_BYTES) return randomBytes(n);
  if (poolOffset + n > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

const secret = (prefix: string, bytes: number) => `${prefix}${freshRandomBytes(bytes).toString('base64url')}`;

/** API secret key: 32 random bytes (256 bits). */
export const newSecretKey = () => secret('sk_', 32);
/** MQTT password: 32 random bytes (256 bits). */
export const newTokenPassword = () => secret('tkn_', 32);
/** Operator key for the admin API. */
export const newAdminKey = () => secret('adm_', 32);

/** Characters of a key that are stored in clear for lookup and listing (prefix + 8 chars). */
export function publicPrefixOf(key: string): string {
  const cut = key.indexOf('_') + 1;
  return key.slice(0, cut + 8);
}

export const SECRET_KEY_PATTERN = /^(sk|cs)_[A-Za-z0-9_-]{20,200}$/;
export const TOKEN_PASSWORD_PATTERN = /^tkn_[A-Za-z0-9_-]{20,200}$/;

/**
 * What kind of credential a presented string claims to be, from its form alone (nothing is
 * verified): an organisation key, an MQTT password, a compact JWS (an identity provider's token),
 * or none of them. Routes dispatch on it; each kind is then verified by its own service.
 */
export type CredentialKind = 'org_key' | 'mqtt_password' | 'jwt' | 'unknown';
export function credentialKindOf(s: string): CredentialKind {
  if (s.startsWith('sk_') || s.startsWith('cs_')) return 'org_key';
  if (s.startsWith('tkn_')) return 'mqtt_password';
  if (isCompactJws(s)) return 'jwt';
  return 'unknown';
}
