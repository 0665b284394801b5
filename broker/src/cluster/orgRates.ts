// Organisation and token message rates across the cluster (issue 16): max_messages_per_second,
// max_bytes_per_second and token_messages_per_second are one token bucket each in Redis
// (`signalgate:rate:…`), and a node leases tokens from it in batches.
//
// Why leases, measured: a Redis script round trip per PUBLISH cost 22–68 µs of broker CPU and
// 6–42 µs of Redis CPU per call on this 2-core machine (20,000 calls of the script below, one at a
// time and 100 in flight; README, "What a limit means in a cluster"): at 10k messages/s that is
// 0.2–0.7 of a core in each broker for the limits alone. A per-node share (rate ÷ live nodes,
// EMQX's way) costs nothing but gives a client alone on its node only its share: a token's own
// limit (one device, one connection) would be halved by a second node. A lease of 1/20 of a second's rate costs one round trip per batch
// (at most ~20 a second per bucket and node at the limit, and after a refused lease none until a
// batch could have flowed in again, so publishing past the limit costs no round trip each) and
// keeps the single-process meaning: the cluster never admits more than the Redis bucket lets out
// (burst + rate × time), and leased tokens a node does not use within LEASE_MS go back. What it
// may admit less: the tokens other nodes hold at that instant, at most a batch per node.
//
// Callers that cannot wait (the REST publisher charges `available`/`take` synchronously) are judged
// on the leased credit, else on this node's share, and what they take is charged to the Redis
// bucket afterwards (which then owes it, so the cluster pays it back). A lease Redis does not
// answer within LEASE_TIMEOUT_MS falls back to the share as well: messages go on, at the share.
import type { Redis } from 'ioredis';
import { TokenBucket } from '@signalgate/shared';
import { rateKey } from './keys.js';
import type { ClusterNodes } from './nodes.js';

/**
 * KEYS[1] the bucket (hash: tokens, at). ARGV: rate per second, burst, tokens to add first (a
 * give-back; negative: a charge, down to -burst), tokens wanted, tokens needed. Refills by Redis'
 * own clock (nodes' clocks may differ), then grants up to `want` if at least `need` is there (a
 * need above the burst passes a full bucket and leaves it in debt, as TokenBucket does). Returns
 * the tokens granted. An idle bucket's key expires once full again.
 */
const LEASE = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local add, want, need = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(b[1]) or burst, tonumber(b[2]) or now
if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000); at = now end
tokens = math.max(-burst, math.min(burst, tokens + add))
local grant = 0
if need > 0 and tokens >= math.min(need, burst) then grant = math.max(need, math.min(want, math.floor(tokens))) end
tokens = tokens - grant
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return grant`;

/** Leased tokens unused this long after their lease go back to the cluster's bucket. */
const LEASE_MS = 100;
/** A lease asks for this fraction of a second's rate (at least the message's own cost). */
const BATCH_OF_RATE = 1 / 20;
/** A lease Redis does not answer by then is judged on the node's share instead. */
const LEASE_TIMEOUT_MS = 1000;

/** What a bucket limits: an organisation's messages or bytes, or a token's messages. */
export type RateOf = 'org_messages' | 'org_bytes' | 'token';

type Leasing = (key: string, rate: number, burst: number, add: number, want: number, need: number) => Promise<number>;

export class ClusterRates {
  private readonly leaseScript: Leasing;

  constructor(
    db: Redis,
    private readonly nodes: ClusterNodes,
    private readonly counted: (result: 'granted' | 'refused' | 'unanswered') => void,
    private readonly onError: (err: unknown) => void,
  ) {
    db.defineCommand('signalgateLease', { numberOfKeys: 1, lua: LEASE });
    const leaseCommand = (db as unknown as { signalgateLease: Leasing }).signalgateLease.bind(db);
    this.leaseScript = (key, ...args) => leaseCommand(key, ...args);
  }

  /** Live nodes as of the last beat (at least this one): a bucket's share is its rate divided by them. */
  get liveNodes(): number {
    return Math.max(1, this.nodes.liveNodes.size);
  }

  /** The cluster's bucket of `of` for the org or token `id`, at `ratePerSecond`, leased by this node. */
  bucket(of: RateOf, id: string, ratePerSecond: number): LeasedBucket {
    return new LeasedBucket(this, rateKey(of, id), ratePerSecond);
  }

  /** @internal Asks Redis; resolves with the tokens granted, or null when Redis did not answer in time. */
  ask(b: LeasedBucket, add: number, want: number, need: number): Promise<number | null> {
    const answer = this.leaseScript(b.key, b.ratePerSecond, b.ratePerSecond, add, want, need);
    if (need === 0) return answer.then(() => 0, (err) => (this.onError(err), 0));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), LEASE_TIMEOUT_MS).unref(); });
    // Granted after the timeout: the tokens are still this node's, kept as credit (given back if unused).
    const granted = answer.then((n) => {
      clearTimeout(timer);
      this.counted(n > 0 ? 'granted' : 'refused');
      return n;
    }, (err) => {
      clearTimeout(timer);
      this.onError(err);
      return null;
    });
    return Promise.race([granted, late]).then((n) => {
      if (n === null) this.counted('unanswered');
      else return n;
      void granted.then((g) => { if (g) b.credited(g); }); // (granted never rejects: its failure is null)
      return null;
    });
  }
}

/**
 * One cluster bucket as this node sees it: the credit it holds (leased, not yet used). The
 * MQTT path spends credit synchronously and waits for a lease only when it runs out.
 */
export class LeasedBucket {
  /** Marks a bucket of the cluster for limits.ts (whose publish path then may wait for a lease). */
  readonly leased = true;
  private credit = 0;
  private leasing: Promise<void> | null = null;
  private giveBack: NodeJS.Timeout | null = null;
  private share: { nodes: number; bucket: TokenBucket } | null = null;
  /** After a refused lease, none is asked for until a batch could have flowed in again. */
  private dryUntil = 0;

  constructor(private readonly rates: ClusterRates, readonly key: string, readonly ratePerSecond: number) {}

  /** Leased tokens on hand. */
  held(): number {
    return this.credit;
  }

  /** Spends `cost` of the leased credit (the caller checked `held()`; a cost above the burst leaves debt). */
  spend(cost: number): void {
    this.credit -= cost;
  }

  /** Leases at least `need` (a batch if Redis has it) unless held; true when `need` is held now. */
  async lease(need: number, now: number): Promise<boolean> {
    while (this.leasing) await this.leasing;
    if (this.credit >= need) return true;
    // A client publishing past the limit would otherwise cost a round trip per refused message.
    if (now < this.dryUntil) return false;
    let unanswered = false;
    const batch = Math.ceil(this.ratePerSecond * BATCH_OF_RATE);
    this.leasing = this.rates.ask(this, 0, Math.max(need, batch), need).then((n) => {
      if (n === null) unanswered = true;
      else if (n > 0) this.credited(n);
      else this.dryUntil = Date.now() + (1000 * Math.max(need, batch)) / this.ratePerSecond;
    }).finally(() => { this.leasing = null; });
    await this.leasing;
    if (this.credit >= need) return true;
    // Redis did not answer: this node's share decides, and the credit it gives is its own.
    if (unanswered && this.shareBucket(now).take(need, now)) {
      this.credit += need;
      return true;
    }
    return false;
  }

  /** @internal Tokens arrived from Redis: held until used, or given back LEASE_MS after the last lease. */
  credited(n: number): void {
    this.credit += n;
    if (this.giveBack) clearTimeout(this.giveBack);
    this.giveBack = setTimeout(() => {
      this.giveBack = null;
      const unused = Math.floor(this.credit);
      if (unused <= 0 || this.leasing) return;
      this.credit -= unused;
      void this.rates.ask(this, unused, 0, 0);
    }, LEASE_MS).unref();
  }

  // TokenBucket's interface, for callers that cannot wait (the REST publisher): the credit, else
  // this node's share, charged to the cluster's bucket after the fact.

  available(now: number): number {
    return Math.max(this.credit, this.shareBucket(now).available(now));
  }

  take(cost: number, now: number): boolean {
    if (this.credit >= cost) {
      this.credit -= cost;
      return true;
    }
    if (!this.shareBucket(now).take(cost, now)) return false;
    void this.rates.ask(this, -cost, 0, 0);
    return true;
  }

  /** rate ÷ live nodes, rebuilt when their number changes. */
  private shareBucket(now: number): TokenBucket {
    const nodes = this.rates.liveNodes;
    if (this.share?.nodes !== nodes) this.share = { nodes, bucket: new TokenBucket(this.ratePerSecond / nodes, this.ratePerSecond / nodes, now) };
    return this.share.bucket;
  }
}
