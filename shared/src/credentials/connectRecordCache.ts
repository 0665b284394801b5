// The broker-local cache in front of the CONNECT lookup (one join per password hash, see
// store/connectRecords.ts): a reconnecting device costs a hash and a map read, not a store round
// trip. It holds only what the store answered for a real credential (an unknown hash is never
// cached, so guessing cannot fill it), at most `capacity` entries, least recently used out first.
// Whatever could change an answer arrives on the change feed and drops entries: a token's refresh
// or revoke drops that token's, a rule, org or user change drops the org's. Expiry needs nothing:
// the decision compares the cached expiry with the clock every time.
import type { ConnectRecord } from '../store/connectRecords.js';

export class ConnectRecordCache {
  private readonly byHash = new Map<string, ConnectRecord>();
  private readonly hashesOfToken = new Map<string, Set<string>>();
  private readonly hashesOfOrg = new Map<string, Set<string>>();
  /** Bumped by every drop: a lookup that began before one must not store what it read. */
  private generation = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.byHash.size;
  }

  get version(): number {
    return this.generation;
  }

  get(hash: string): ConnectRecord | undefined {
    const hit = this.byHash.get(hash);
    if (hit) {
      // Map order is insertion order: re-inserting makes it the most recently used.
      this.byHash.delete(hash);
      this.byHash.set(hash, hit);
    }
    return hit;
  }

  /** Stores `record` unless something was dropped since `version` was read (it may be stale). */
  set(hash: string, record: ConnectRecord, version: number): void {
    if (this.capacity === 0 || version !== this.generation || this.byHash.has(hash)) return;
    if (this.byHash.size >= this.capacity) this.remove(this.byHash.keys().next().value!);
    this.byHash.set(hash, record);
    index(this.hashesOfToken, record.token.id, hash);
    index(this.hashesOfOrg, record.token.orgId, hash);
  }

  dropToken(tokenId: string): void {
    this.generation++;
    for (const hash of this.hashesOfToken.get(tokenId) ?? []) this.remove(hash);
  }

  dropOrg(orgId: string): void {
    this.generation++;
    for (const hash of this.hashesOfOrg.get(orgId) ?? []) this.remove(hash);
  }

  clear(): void {
    this.generation++;
    this.byHash.clear();
    this.hashesOfToken.clear();
    this.hashesOfOrg.clear();
  }

  private remove(hash: string): void {
    const record = this.byHash.get(hash);
    if (!record) return;
    this.byHash.delete(hash);
    unindex(this.hashesOfToken, record.token.id, hash);
    unindex(this.hashesOfOrg, record.token.orgId, hash);
  }
}

function index(map: Map<string, Set<string>>, key: string, hash: string): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(hash);
}

function unindex(map: Map<string, Set<string>>, key: string, hash: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(hash);
  if (set.size === 0) map.delete(key);
}
