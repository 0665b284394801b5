// Per-organisation and per-token limits on PUBLISH (the buckets are shared/src/limits). At a limit
// the message is dropped and counted (signalgate_broker_rate_limited_total{kind}); the connection
// stays. "bytes" are topic + payload bytes. Alone, a broker process enforces them with its own
// buckets; in a cluster (SIGNALGATE_REDIS_URL) the buckets are the cluster's, leased in batches
// (cluster/orgRates.ts), and a publish waits for a lease only when this node's credit ran out.
import type { ClientSession, SessionRegistry } from './sessions.js';
import type { LeasedBucket } from './cluster/orgRates.js';

export type LimitKind = 'payload_size' | 'token_messages' | 'org_messages' | 'org_bytes';

/**
 * The first limit this publish would exceed, or null; only a publish that passes all of them consumes tokens.
 * A Promise only in a cluster, when a bucket's leased credit ran out.
 */
export function checkPublishLimits(sessions: SessionRegistry, s: ClientSession, bytes: number, payloadBytes: number, now: number): LimitKind | null | Promise<LimitKind | null> {
  const org = sessions.orgLimits(s.orgId);
  if (!org) return null;
  const maxPayload = org.limits.maxPayloadBytes;
  if (maxPayload !== null && payloadBytes > maxPayload) return 'payload_size';
  const token = sessions.tokenBucket(s.tokenId);
  if (sessions.leasedRates) return checkLeased(token as LeasedBucket | undefined, org.messages as LeasedBucket | null, org.bytes as LeasedBucket | null, bytes, now);
  if (token && token.available(now) < 1) return 'token_messages';
  if (org.messages && org.messages.available(now) < 1) return 'org_messages';
  if (org.bytes && !org.bytes.take(bytes, now)) return 'org_bytes';
  token?.take(1, now);
  org.messages?.take(1, now);
  return null;
}

/** The cluster's buckets: spent from this node's credit at once; otherwise leased, in the order of the checks above. */
function checkLeased(token: LeasedBucket | undefined, messages: LeasedBucket | null, bytesBucket: LeasedBucket | null, bytes: number, now: number): LimitKind | null | Promise<LimitKind | null> {
  const short = (): LimitKind | null =>
    token && token.held() < 1 ? 'token_messages'
      : messages && messages.held() < 1 ? 'org_messages'
        : bytesBucket && bytesBucket.held() < bytes ? 'org_bytes' : null;
  const spend = () => {
    token?.spend(1);
    messages?.spend(1);
    bytesBucket?.spend(bytes);
    return null;
  };
  if (short() === null) return spend();
  return (async () => {
    // Each bucket at most twice (another publish of this node may spend a lease before this one does).
    for (let round = 0; round < 6; round++) {
      const kind = short();
      if (kind === null) return spend();
      const bucket = kind === 'token_messages' ? token! : kind === 'org_messages' ? messages! : bytesBucket!;
      if (!(await bucket.lease(kind === 'org_bytes' ? bytes : 1, Date.now()))) return kind;
    }
    return short() ?? spend();
  })();
}
