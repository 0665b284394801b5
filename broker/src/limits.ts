// Per-organisation and per-token limits on PUBLISH (the buckets are shared/src/limits). At a limit
// the message is dropped and counted (signalgate_broker_rate_limited_total{kind}); the connection
// stays. "bytes" are topic + payload bytes. Limits are enforced per broker process.
import type { ClientSession, SessionRegistry } from './sessions.js';

export type LimitKind = 'payload_size' | 'token_messages' | 'org_messages' | 'org_bytes';

/** The first limit this publish would exceed, or null; only a publish that passes all of them consumes tokens. */
export function checkPublishLimits(sessions: SessionRegistry, s: ClientSession, bytes: number, payloadBytes: number, now: number): LimitKind | null {
  const org = sessions.orgLimits(s.orgId);
  if (!org) return null;
  const maxPayload = org.limits.maxPayloadBytes;
  if (maxPayload !== null && payloadBytes > maxPayload) return 'payload_size';
  const token = sessions.tokenBucket(s.tokenId);
  if (token && token.available(now) < 1) return 'token_messages';
  if (org.messages && org.messages.available(now) < 1) return 'org_messages';
  if (org.bytes && !org.bytes.take(bytes, now)) return 'org_bytes';
  token?.take(1, now);
  org.messages?.take(1, now);
  return null;
}
