// Secret API keys (sk_, legacy cs_): argon2id at rest, looked up by a public prefix, and cached in
// memory once verified so a busy integration pays argon2 once per key per process, not per request.
import { SignalGateError, notFound } from '../errors.js';
import { newKeyId, newSecretKey, publicPrefixOf, SECRET_KEY_PATTERN } from '../credentials/secrets.js';
import { createCacheKeyer, hashLongLivedSecret, verifyLongLivedSecret } from '../credentials/hashing.js';
import type { BeforeSlowCheck, SlowChecks } from '../credentials/slowChecks.js';
import { isKeyUsable, isLastUseStale, type ApiKey } from '../store/apiKeys.js';
import type { Store, StoreTx } from '../store/types.js';
import { systemClock, type Clock } from './clock.js';
import type { ChangeFollower } from './changeFollower.js';

const MAX_CACHED_KEYS = 10_000;
/** Rotation keeps the old key working this long unless told otherwise (24 h). */
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 86_400;

/** A key drafted outside a transaction, stored inside one. */
export interface KeyDraft {
  secretKey: string;
  hash: string;
  name: string | null;
  expiresAt: number | null;
}

export interface IssuedKey {
  secretKey: string;
  key: ApiKey;
}

export class ApiKeyService {
  private readonly cacheKeyOf = createCacheKeyer();
  /** keyed hash of a verified secret → its key row as last read and when the secret was verified */
  private readonly verified = new Map<string, { key: ApiKey; at: number }>();
  /** Bumped by every forget(): a check that began before one must not cache what it read. */
  private forgotten = 0;

  constructor(
    private readonly store: Store,
    private readonly slowChecks: SlowChecks,
    private readonly cacheMs = 300_000,
    private readonly clock: Clock = systemClock,
    private readonly changes?: ChangeFollower,
  ) {
    // A revoke or rotation anywhere drops the key's row here within the feed's latency.
    changes?.subscribeCache((batch) => {
      for (const c of batch) if ((c.kind === 'key.revoked' || c.kind === 'key.rotated') && c.ref !== null) this.forget(c.ref);
    });
  }

  /** Creates a key; the secret is returned once and never stored. */
  async create(orgId: string, name: string | null = null, expiresAt: number | null = null): Promise<IssuedKey> {
    const draft = await this.draft(name, expiresAt);
    const key = await this.store.transaction((tx) => this.insertDraft(tx, orgId, draft));
    return { secretKey: draft.secretKey, key };
  }

  /**
   * A new key's secret and argon2 hash, made before the transaction that stores it (insertDraft):
   * argon2 takes tens of milliseconds, which no transaction should hold.
   */
  async draft(name: string | null = null, expiresAt: number | null = null): Promise<KeyDraft> {
    const secretKey = newSecretKey();
    return { secretKey, hash: await hashLongLivedSecret(secretKey), name, expiresAt };
  }

  /** Stores a drafted key of `orgId` in the transaction `tx`; a 404 when the org is gone. */
  async insertDraft(tx: StoreTx, orgId: string, draft: KeyDraft): Promise<ApiKey> {
    const now = this.clock();
    const id = newKeyId();
    const prefix = publicPrefixOf(draft.secretKey);
    if (!await tx.orgs.get(orgId)) throw notFound('organization_not_found', `organization ${orgId} not found`);
    await tx.apiKeys.insert({ id, orgId, prefix, hash: draft.hash, name: draft.name, createdAt: now, expiresAt: draft.expiresAt });
    await tx.audit.record({ event: 'key.created', orgId, detail: { key_id: id, prefix } }, now);
    return (await tx.apiKeys.get(id))!;
  }

  /**
   * Stores a key whose secret the operator chose (a declared state file, an app's
   * CLOUDSIGNAL_SECRET_KEY) instead of one drawn here; hashed like any other.
   */
  async import(orgId: string, secretKey: string, name: string | null = null): Promise<ApiKey> {
    if (!SECRET_KEY_PATTERN.test(secretKey)) throw new SignalGateError('invalid_request', 'secret_key: must be sk_ or cs_ and 20-200 letters, digits, _ or -');
    const hash = await hashLongLivedSecret(secretKey);
    const now = this.clock();
    const id = newKeyId();
    return this.store.transaction(async (tx) => {
      if (!await tx.orgs.get(orgId)) throw notFound('organization_not_found', `organization ${orgId} not found`);
      await tx.apiKeys.insert({ id, orgId, prefix: publicPrefixOf(secretKey), hash, name, createdAt: now, expiresAt: null });
      await tx.audit.record({ event: 'key.created', orgId, detail: { key_id: id, prefix: publicPrefixOf(secretKey), imported: true } }, now);
      return (await tx.apiKeys.get(id))!;
    });
  }

  /** The stored key (usable or not) this secret is, if any: argon2 against the keys sharing its prefix. */
  async find(secretKey: string): Promise<ApiKey | undefined> {
    if (!SECRET_KEY_PATTERN.test(secretKey)) return undefined;
    for (const candidate of await this.store.apiKeys.findByPrefix(publicPrefixOf(secretKey))) {
      if (await verifyLongLivedSecret(candidate.hash, secretKey)) return candidate;
    }
    return undefined;
  }

  list(orgId: string): Promise<ApiKey[]> {
    return this.store.apiKeys.list(orgId);
  }

  async get(orgId: string, keyId: string): Promise<ApiKey> {
    const k = await this.store.apiKeys.get(keyId);
    if (!k || k.orgId !== orgId) throw notFound('api_key_not_found', `API key ${keyId} not found in ${orgId}`);
    return k;
  }

  async revoke(orgId: string, keyId: string): Promise<ApiKey> {
    const now = this.clock();
    const key = await this.store.transaction(async (tx) => {
      const k = await tx.apiKeys.get(keyId);
      if (!k || k.orgId !== orgId) throw notFound('api_key_not_found', `API key ${keyId} not found in ${orgId}`);
      await tx.apiKeys.revoke(keyId, now);
      // Backends logged into the broker with this key (`server@<org>`) end within a poll.
      await tx.changes.append('key.revoked', orgId, keyId, now);
      await tx.audit.record({ event: 'key.revoked', orgId, detail: { key_id: keyId } }, now);
      return (await tx.apiKeys.get(keyId))!;
    });
    this.forget(keyId);
    return key;
  }

  /** Issues a successor; the old key keeps working for `overlapSeconds` (0 = stops now). */
  async rotate(orgId: string, keyId: string, overlapSeconds = DEFAULT_ROTATION_OVERLAP_SECONDS): Promise<IssuedKey & { previous: ApiKey }> {
    const old = await this.get(orgId, keyId);
    if (!isKeyUsable(old, this.clock())) throw new SignalGateError('conflict', `API key ${keyId} is revoked or expired`);
    const draft = await this.draft(old.name);
    const now = this.clock();
    const until = now + overlapSeconds * 1000;
    // The successor and the old key's end in one transaction: a crash leaves both or neither.
    const [key, previous] = await this.store.transaction(async (tx) => {
      const key = await this.insertDraft(tx, orgId, draft);
      const current = (await tx.apiKeys.get(keyId))!;
      const expiresAt = current.expiresAt === null ? until : Math.min(current.expiresAt, until);
      await tx.apiKeys.setExpiry(keyId, expiresAt, key.id);
      // Its broker sessions end when the overlap does (at once for an overlap of 0), like a token's expiry.
      await tx.changes.append('key.rotated', orgId, keyId, now);
      await tx.audit.record({ event: 'key.rotated', orgId, detail: { key_id: keyId, successor: key.id, old_key_valid_until: expiresAt } }, now);
      return [key, (await tx.apiKeys.get(keyId))!] as const;
    });
    if (overlapSeconds === 0) this.forget(keyId);
    return { secretKey: draft.secretKey, key, previous };
  }

  /**
   * The usable key this secret belongs to, or a 401. A secret not cached yet whose public prefix
   * names keys is checked with argon2 (slowChecks.ts: `beforeSlowCheck` runs first); a 503
   * server_busy when too many such checks are under way.
   */
  async verify(secret: unknown, beforeSlowCheck?: BeforeSlowCheck): Promise<ApiKey> {
    const fail = () => new SignalGateError('invalid_api_key', 'invalid, revoked or expired API key');
    if (typeof secret !== 'string' || !SECRET_KEY_PATTERN.test(secret)) throw fail();
    const now = this.clock();
    const cacheKey = this.cacheKeyOf(secret);
    const hit = this.verified.get(cacheKey);
    if (hit && now - hit.at < this.cacheMs) {
      // The row as last read while the change feed is followed (it drops a revoked or rotated
      // key's); else read again, so a revoke from another process applies at once.
      const key = this.changes?.fresh === true ? hit.key : await this.store.apiKeys.get(hit.key.id);
      if (key && isKeyUsable(key, now)) return this.used(key, now, hit);
      this.verified.delete(cacheKey);
      throw fail();
    }
    const forgottenBefore = this.forgotten;
    const candidates = await this.store.apiKeys.findByPrefix(publicPrefixOf(secret));
    if (candidates.length === 0) throw fail();
    const matchId = await this.slowChecks.run(cacheKey, async () => {
      for (const candidate of candidates) if (await verifyLongLivedSecret(candidate.hash, secret)) return candidate.id;
      return null;
    }, beforeSlowCheck);
    // Read again: the check may have shared one started before a revoke.
    const key = matchId === null ? undefined : await this.store.apiKeys.get(matchId);
    const at = this.clock();
    if (!key || !isKeyUsable(key, at)) throw fail();
    const entry = this.cacheMs > 0 && this.forgotten === forgottenBefore ? this.remember(cacheKey, key, at) : undefined;
    return this.used(key, at, entry);
  }

  private async used(key: ApiKey, now: number, entry?: { key: ApiKey }): Promise<ApiKey> {
    // Skip the UPDATE (a write transaction, even when it changes nothing) while the last use is recent.
    if (isLastUseStale(key, now)) {
      await this.store.apiKeys.touch(key.id, now);
      if (entry) entry.key = { ...key, lastUsedAt: now };
    }
    return key;
  }

  private remember(cacheKey: string, key: ApiKey, now: number): { key: ApiKey; at: number } {
    if (this.verified.size >= MAX_CACHED_KEYS) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    const entry = { key, at: now };
    this.verified.set(cacheKey, entry);
    return entry;
  }

  private forget(keyId: string): void {
    this.forgotten++;
    for (const [k, v] of this.verified) if (v.key.id === keyId) this.verified.delete(k);
  }
}
