// max_retained_messages / max_retained_bytes across the cluster (issue 16). Retained messages live in
// Redis (aedes-persistence-redis), shared by every node, so the ledger does too: per organisation a
// hash topic → bytes (topic and payload) and the sum of its values, changed by one script that
// admits a retained PUBLISH only within the quota, atomically across nodes. The rules are those of
// the in-process ledger (retainedLedger.ts): an empty payload clears the topic, clearing or
// shrinking always fits, an expired retained message counts until its topic is cleared or
// replaced. A round trip per retained PUBLISH: they are rare next to ordinary ones.
import type { Redis } from 'ioredis';
import type { OrgLimits } from '@signalgate/shared';
import { retainedBytesKey, retainedTopicsKey } from './keys.js';

/**
 * KEYS[1] the org's topics hash, KEYS[2] its byte total. ARGV: topic, size (0: clear), max
 * messages, max bytes (-1: none). Returns 1 when admitted (and recorded), 0 when past the quota.
 */
const ADMIT = `local before = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local size = tonumber(ARGV[2])
local count = redis.call('HLEN', KEYS[1])
local bytes = tonumber(redis.call('GET', KEYS[2]) or '0')
local newCount = count + (before and -1 or 0) + (size > 0 and 1 or 0)
local newBytes = bytes - (before or 0) + size
local maxCount, maxBytes = tonumber(ARGV[3]), tonumber(ARGV[4])
if (newCount > count or newBytes > bytes) and ((maxCount >= 0 and newCount > maxCount) or (maxBytes >= 0 and newBytes > maxBytes)) then return 0 end
if size > 0 then redis.call('HSET', KEYS[1], ARGV[1], size) elseif before then redis.call('HDEL', KEYS[1], ARGV[1]) end
redis.call('SET', KEYS[2], newBytes)
return 1`;

export class ClusterRetainedQuota {
  constructor(private readonly db: Redis) {}

  /** Whether a retained message on `topic` (client-visible) with `payloadBytes` fits `limits`; recorded when it does. */
  async admit(orgId: string, topic: string, payloadBytes: number, limits: Pick<OrgLimits, 'maxRetainedMessages' | 'maxRetainedBytes'>): Promise<boolean> {
    const size = payloadBytes === 0 ? 0 : Buffer.byteLength(topic) + payloadBytes;
    const admitted = await this.db.eval(ADMIT, 2, retainedTopicsKey(orgId), retainedBytesKey(orgId), topic, size, limits.maxRetainedMessages ?? -1, limits.maxRetainedBytes ?? -1);
    return admitted === 1;
  }

  async usage(orgId: string): Promise<{ count: number; bytes: number }> {
    const [count, bytes] = await Promise.all([this.db.hlen(retainedTopicsKey(orgId)), this.db.get(retainedBytesKey(orgId))]);
    return { count, bytes: Number(bytes ?? 0) };
  }
}
